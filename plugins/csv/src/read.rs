//! Reads a CSV file row by row into worklist entries. The file is streamed:
//! only the entries are kept. A malformed row is reported and skipped; a
//! missing file or a mapped column missing from the header fails the read.

use pylantir_plugin_api::entry::{is_worklist_field, SOURCE_RECORD_ID};
use pylantir_plugin_api::serde_json::Value;
use pylantir_plugin_api::{log, Entry, FieldMapping};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use xxhash_rust::xxh3::xxh3_128;

/// How many malformed rows are reported one by one before only counting.
const REPORTED_ROWS: usize = 10;

/// Which columns feed which worklist fields.
struct Columns {
    /// (column index, worklist field)
    mapped: Vec<(usize, String)>,
    record_id: Option<usize>,
}

/// Reads `path` into entries with `mapping` (`{column: worklist_field}`).
pub fn read_entries(
    path: &Path,
    delimiter: u8,
    mapping: &FieldMapping,
    record_id_column: Option<&str>,
) -> Result<Vec<Entry>, String> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(BufReader::with_capacity(256 * 1024, file));
    let header = reader
        .headers()
        .map_err(|e| format!("{shown}: cannot read the header row: {e}"))?
        .clone();
    let columns =
        resolve_columns(&header, mapping, record_id_column).map_err(|e| format!("{shown}: {e}"))?;

    let mut entries = Vec::new();
    let mut skipped = 0usize;
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => match build_entry(&record, &columns) {
                Ok(Some(entry)) => entries.push(entry),
                Ok(None) => {}
                Err(problem) => {
                    skipped += 1;
                    report(
                        skipped,
                        &format!(
                            "{shown} line {}: {problem}; row skipped",
                            row_line(&record, line)
                        ),
                    );
                }
            },
            Err(e) => match e.kind() {
                csv::ErrorKind::Utf8 { pos, err } => {
                    skipped += 1;
                    let line = pos.as_ref().map_or(line, |p| p.line());
                    report(
                        skipped,
                        &format!(
                            "{shown} line {line}: column {} is not valid UTF-8; row skipped",
                            err.field() + 1
                        ),
                    );
                }
                csv::ErrorKind::UnequalLengths {
                    pos,
                    expected_len,
                    len,
                } => {
                    skipped += 1;
                    let line = pos.as_ref().map_or(line, |p| p.line());
                    report(
                        skipped,
                        &format!(
                            "{shown} line {line}: {len} fields, the header has {expected_len}; row skipped"
                        ),
                    );
                }
                _ => return Err(format!("{shown}: read failed near line {line}: {e}")),
            },
        }
    }
    if skipped > 0 {
        log::warn!(
            "{shown}: {skipped} malformed rows skipped, {} entries read",
            entries.len()
        );
    }
    Ok(entries)
}

fn row_line(record: &csv::StringRecord, fallback: u64) -> u64 {
    record.position().map_or(fallback, |p| p.line())
}

fn report(count: usize, message: &str) {
    if count <= REPORTED_ROWS {
        log::warn!("{message}");
    }
}

/// Finds the column of every mapped name in the header.
fn resolve_columns(
    header: &csv::StringRecord,
    mapping: &FieldMapping,
    record_id_column: Option<&str>,
) -> Result<Columns, String> {
    let find = |name: &str, role: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            format!(
                "column '{name}' ({role}) is not in the header row (columns: {})",
                header.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let mut mapped = Vec::with_capacity(mapping.len());
    for (column, target) in mapping {
        let field = match target {
            Value::String(field) if is_worklist_field(field) => field.clone(),
            Value::String(field) => {
                return Err(format!(
                    "field_mapping maps '{column}' to '{field}', which is not a worklist field"
                ))
            }
            other => {
                return Err(format!(
                    "field_mapping['{column}'] must be a worklist field name, got {other}"
                ))
            }
        };
        mapped.push((find(column, "field_mapping")?, field));
    }
    let record_id = record_id_column
        .map(|c| find(c, "config.record_id_column"))
        .transpose()?;
    Ok(Columns { mapped, record_id })
}

/// One row as an entry; `None` for a row whose mapped cells are all empty.
fn build_entry(record: &csv::StringRecord, columns: &Columns) -> Result<Option<Entry>, String> {
    let mut entry = Entry::new();
    for (index, field) in &columns.mapped {
        let value = record.get(*index).unwrap_or("");
        if !value.is_empty() {
            entry.insert(field.clone(), Value::String(value.to_string()));
        }
    }
    if entry.is_empty() {
        return Ok(None);
    }
    let id = match columns.record_id {
        Some(index) => match record.get(index) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => return Err("the record id column is empty".to_string()),
        },
        None => hash_id(&entry),
    };
    entry.insert(SOURCE_RECORD_ID.to_string(), Value::String(id));
    Ok(Some(entry))
}

/// A stable id from an entry's fields and values (xxh3-128, hex): the same
/// mapped values give the same id in every run and on every platform.
pub fn hash_id(entry: &Entry) -> String {
    let mut bytes = Vec::new();
    for (field, value) in entry {
        if let Value::String(value) = value {
            bytes.extend_from_slice(field.as_bytes());
            bytes.push(0x1f);
            bytes.extend_from_slice(value.as_bytes());
            bytes.push(0x1e);
        }
    }
    format!("{:032x}", xxh3_128(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pylantir_plugin_api::serde_json::json;

    #[test]
    fn the_hash_id_is_a_fixed_function_of_the_values() {
        let entry = json!({"patient_id": "P1", "patient_name": "Müller^Jürgen"});
        let id = hash_id(entry.as_object().unwrap());
        assert_eq!(id, "1eae73b4ab5c6ced060329af610820dc");
    }
}
