//! Reads a CSV file row by row into worklist entries. The file is streamed:
//! each row goes straight into the output (entry maps, or the JSON text
//! that crosses the plugin boundary). A malformed row is reported and
//! skipped; a missing file or a mapped column missing from the header fails
//! the read.

use crate::config::KIND;
use file_sources::{hash_id, mapped_field, report_skipped};
use pylantir_plugin_api::entry::SOURCE_RECORD_ID;
use pylantir_plugin_api::serde_json::{self, Value};
use pylantir_plugin_api::{log, Entry, EntrySink, FieldMapping, Skipped};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// Which columns feed which worklist fields.
struct Columns {
    /// (column index, worklist field), sorted by field.
    mapped: Vec<(usize, String)>,
    record_id: Option<usize>,
}

/// One row as (worklist field, value) pairs sorted by field, empty values left out.
type Row<'r> = [(&'r str, &'r str)];

/// Reads `path` into entry maps with `mapping` (`{column: worklist_field}`):
/// what a source built into the host would produce (the bench's baseline).
pub fn read_entries(
    path: &Path,
    delimiter: u8,
    mapping: &FieldMapping,
    record_id_column: Option<&str>,
) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for_each_row(
        path,
        delimiter,
        mapping,
        record_id_column,
        &mut skipped,
        |row, id| {
            let mut entry = Entry::with_capacity(row.len() + 1);
            for (field, value) in row {
                entry.insert(field.to_string(), Value::String(value.to_string()));
            }
            entry.insert(SOURCE_RECORD_ID.to_string(), Value::String(id.to_string()));
            entries.push(entry);
            Ok(())
        },
    )?;
    Ok(entries)
}

/// Reads `path` straight into the JSON array of entries that crosses the
/// plugin boundary, without building entry maps; malformed rows go to `skipped`.
pub fn read_entries_json(
    path: &Path,
    delimiter: u8,
    mapping: &FieldMapping,
    record_id_column: Option<&str>,
    skipped: &mut Vec<Skipped>,
) -> Result<String, String> {
    // Entries as JSON run about twice the size of their CSV rows.
    let estimate = std::fs::metadata(path).map_or(0, |m| m.len() as usize);
    let mut out = String::with_capacity(estimate.saturating_mul(2).saturating_add(64));
    out.push('[');
    for_each_entry_json(
        path,
        delimiter,
        mapping,
        record_id_column,
        skipped,
        |entry| {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(entry);
            Ok(())
        },
    )?;
    out.push(']');
    Ok(out)
}

/// Reads `path` row by row into `sink` (see [`read_entries_json`]);
/// malformed rows go to `skipped`.
pub fn stream_entries(
    path: &Path,
    delimiter: u8,
    mapping: &FieldMapping,
    record_id_column: Option<&str>,
    skipped: &mut Vec<Skipped>,
    sink: &mut EntrySink,
) -> Result<(), String> {
    for_each_entry_json(
        path,
        delimiter,
        mapping,
        record_id_column,
        skipped,
        |entry| sink.push_json(entry),
    )
}

/// Streams the entry of each row of `path` to `each` as a JSON object.
fn for_each_entry_json(
    path: &Path,
    delimiter: u8,
    mapping: &FieldMapping,
    record_id_column: Option<&str>,
    skipped: &mut Vec<Skipped>,
    mut each: impl FnMut(&str) -> Result<(), String>,
) -> Result<(), String> {
    let mut out = Vec::with_capacity(512);
    for_each_row(
        path,
        delimiter,
        mapping,
        record_id_column,
        skipped,
        |row, id| {
            out.clear();
            write_entry(&mut out, row, id);
            let entry = std::str::from_utf8(&out)
                .map_err(|e| format!("{}: an entry is not UTF-8: {e}", path.display()))?;
            each(entry)
        },
    )
}

/// Appends the entry of one row as a JSON object.
fn write_entry(out: &mut Vec<u8>, row: &Row<'_>, id: &str) {
    out.extend_from_slice(b"{\"source_record_id\":");
    write_json_string(out, id);
    for (field, value) in row {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b"\":");
        write_json_string(out, value);
    }
    out.push(b'}');
}

/// Appends `text` as a JSON string literal (quoted and escaped).
fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// Streams the rows of `path` to `sink` with their record id; the malformed
/// ones go to `skipped_rows` with the reason.
fn for_each_row(
    path: &Path,
    delimiter: u8,
    mapping: &FieldMapping,
    record_id_column: Option<&str>,
    skipped_rows: &mut Vec<Skipped>,
    mut sink: impl FnMut(&Row<'_>, &str) -> Result<(), String>,
) -> Result<(), String> {
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

    let mut read = 0usize;
    let mut skipped = 0usize;
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let row: Vec<(&str, &str)> = columns
                    .mapped
                    .iter()
                    .filter_map(|(index, field)| {
                        record
                            .get(*index)
                            .filter(|v| !v.is_empty())
                            .map(|v| (field.as_str(), v))
                    })
                    .collect();
                if row.is_empty() {
                    continue;
                }
                let hashed;
                let id = match columns.record_id {
                    Some(index) => match record.get(index) {
                        Some(id) if !id.is_empty() => id,
                        _ => {
                            skipped += 1;
                            let line = record.position().map_or(line, |p| p.line());
                            report_skipped(
                                skipped_rows,
                                None,
                                format!("{shown} line {line}: the record id column is empty; row skipped"),
                            );
                            continue;
                        }
                    },
                    None => {
                        hashed = hash_id(row.iter().copied());
                        hashed.as_str()
                    }
                };
                sink(&row, id)?;
                read += 1;
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Utf8 { pos, err } => {
                    skipped += 1;
                    let line = pos.as_ref().map_or(line, |p| p.line());
                    report_skipped(
                        skipped_rows,
                        None,
                        format!(
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
                    report_skipped(
                        skipped_rows,
                        None,
                        format!(
                            "{shown} line {line}: {len} fields, the header has {expected_len}; row skipped"
                        ),
                    );
                }
                _ => return Err(format!("{shown}: read failed near line {line}: {e}")),
            },
        }
    }
    if skipped > 0 {
        log::warn!("{shown}: {skipped} malformed rows skipped, {read} entries read");
    }
    Ok(())
}

/// Finds the column of every mapped name in the header.
fn resolve_columns(
    header: &csv::StringRecord,
    mapping: &FieldMapping,
    record_id_column: Option<&str>,
) -> Result<Columns, String> {
    KIND.check_mapping_not_empty(mapping)?;
    let find = |name: &str, role: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            format!(
                "column '{name}' ({role}) is not in the header row (columns: {})",
                header.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let mut mapped: Vec<(usize, String)> = Vec::with_capacity(mapping.len());
    for (column, target) in mapping {
        let Some(field) = mapped_field(column, target)? else {
            continue;
        };
        if let Some((other, _)) = mapping
            .iter()
            .find(|(other, t)| *other != column && t.as_str() == Some(field.as_str()))
        {
            return Err(format!(
                "field_mapping maps both '{other}' and '{column}' to '{field}'"
            ));
        }
        mapped.push((find(column, "field_mapping")?, field));
    }
    mapped.sort_by(|a, b| a.1.cmp(&b.1));
    let record_id = record_id_column
        .map(|c| find(c, "config.record_id_column"))
        .transpose()?;
    Ok(Columns { mapped, record_id })
}
