//! Reads a JSON array of objects, or JSON Lines, into worklist entries, one
//! record at a time. A malformed record is reported and skipped; a missing
//! file, or an array that is not valid JSON, fails the read.

use crate::config::KIND;
use file_sources::{hash_id, mapped_field, report_skipped};
use pylantir_plugin_api::entry::SOURCE_RECORD_ID;
use pylantir_plugin_api::serde_json::{self, Map, Value};
use pylantir_plugin_api::{log, Entry, FieldMapping, Skipped};
use serde::de::{Deserializer, SeqAccess, Visitor};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// The mapping, checked: (dotted path, worklist field).
type Paths = Vec<(String, String)>;

/// Reads `path` into entries with `mapping` (`{dotted.path: worklist_field}`),
/// and the malformed records it skipped, with why.
pub fn read_entries(
    path: &Path,
    mapping: &FieldMapping,
    record_id_path: Option<&str>,
) -> Result<(Vec<Entry>, Vec<Skipped>), String> {
    let shown = path.display().to_string();
    let paths = check_mapping(mapping)?;
    let file = File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    skip_bom(&mut reader).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut records = Records {
        file: &shown,
        paths: &paths,
        record_id_path,
        entries: Vec::new(),
        skipped: Vec::new(),
    };
    if starts_with_bracket(&mut reader).map_err(|e| format!("cannot read {shown}: {e}"))? {
        let mut de = serde_json::Deserializer::from_reader(reader);
        de.deserialize_seq(ArrayVisitor(&mut records))
            .and_then(|()| de.end())
            .map_err(|e| {
                format!(
                    "{shown}: malformed JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                )
            })?;
    } else {
        read_lines(reader, &mut records)?;
    }
    if !records.skipped.is_empty() {
        log::warn!(
            "{shown}: {} malformed records skipped, {} entries read",
            records.skipped.len(),
            records.entries.len()
        );
    }
    Ok((records.entries, records.skipped))
}

/// The mapping's paths to worklist fields; an entry with another target has
/// no effect, as in Python pylantir (the host warns about it at start).
fn check_mapping(mapping: &FieldMapping) -> Result<Paths, String> {
    KIND.check_mapping_not_empty(mapping)?;
    mapping
        .iter()
        .filter_map(|(path, target)| {
            mapped_field(path, target)
                .map(|field| field.map(|field| (path.clone(), field)))
                .transpose()
        })
        .collect()
}

fn skip_bom(reader: &mut BufReader<File>) -> std::io::Result<()> {
    if reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(())
}

/// Whether the first non-blank byte is `[` (a JSON array; else JSON Lines).
fn starts_with_bracket(reader: &mut BufReader<File>) -> std::io::Result<bool> {
    let buffer = reader.fill_buf()?;
    Ok(buffer
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'['))
}

/// Collects entries and what was skipped.
struct Records<'a> {
    file: &'a str,
    paths: &'a Paths,
    record_id_path: Option<&'a str>,
    entries: Vec<Entry>,
    skipped: Vec<Skipped>,
}

impl Records<'_> {
    fn add(&mut self, place: &str, record: &Value) {
        match build_entry(record, self.paths, self.record_id_path) {
            Ok(Some(entry)) => self.entries.push(entry),
            Ok(None) => {}
            Err(problem) => {
                let record_id = self
                    .record_id_path
                    .and_then(|p| lookup(record, p))
                    .and_then(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    });
                self.skip(
                    record_id,
                    format!("{} {place}: {problem}; skipped", self.file),
                );
            }
        }
    }

    /// Logs a skipped record (the first few only) and keeps it for the host.
    fn skip(&mut self, record_id: Option<String>, reason: String) {
        report_skipped(&mut self.skipped, record_id, reason);
    }
}

/// Streams the elements of the top-level array into [`Records`].
struct ArrayVisitor<'r, 'a>(&'r mut Records<'a>);

impl<'de> Visitor<'de> for ArrayVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        while let Some(record) = seq.next_element::<Value>()? {
            index += 1;
            self.0.add(&format!("record {index}"), &record);
        }
        Ok(())
    }
}

/// JSON Lines: one object per line; blank lines are ignored.
fn read_lines(mut reader: BufReader<File>, records: &mut Records<'_>) -> Result<(), String> {
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read {}: {e}", records.file))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(&line) {
            Ok(record) => records.add(&format!("line {number}"), &record),
            Err(e) => {
                let reason = format!(
                    "{} line {number}: malformed JSON at column {}: {e}; skipped",
                    records.file,
                    e.column()
                );
                records.skip(None, reason);
            }
        }
    }
}

/// The value at a dotted path (`patient.name.family`, `visits.0.date`).
pub fn lookup<'v>(record: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(record, |value, key| match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// A leaf value as entry text: strings as they are, numbers and booleans
/// written out; `None` for null; an error for objects and arrays.
fn text(value: &Value, path: &str) -> Result<Option<String>, String> {
    match value {
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Null => Ok(None),
        Value::Array(_) | Value::Object(_) => {
            Err(format!("'{path}' holds an object or array, not a value"))
        }
    }
}

/// One record as an entry; `None` when no mapped path has a value.
fn build_entry(
    record: &Value,
    paths: &Paths,
    record_id_path: Option<&str>,
) -> Result<Option<Entry>, String> {
    if !record.is_object() {
        return Err("not a JSON object".to_string());
    }
    let mut entry = Map::new();
    for (path, field) in paths {
        if let Some(value) = lookup(record, path) {
            if let Some(text) = text(value, path)?.filter(|t| !t.is_empty()) {
                entry.insert(field.clone(), Value::String(text));
            }
        }
    }
    if entry.is_empty() {
        return Ok(None);
    }
    let id = match record_id_path {
        Some(path) => lookup(record, path)
            .map(|v| text(v, path))
            .transpose()?
            .flatten()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("no record id at '{path}'"))?,
        None => hash_id(
            entry
                .iter()
                .filter_map(|(field, value)| Some((field.as_str(), value.as_str()?))),
        ),
    };
    entry.insert(SOURCE_RECORD_ID.to_string(), Value::String(id));
    Ok(Some(entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pylantir_plugin_api::serde_json::json;

    #[test]
    fn dotted_paths_reach_into_objects_and_arrays() {
        let record =
            json!({"patient": {"name": {"family": "Müller"}}, "visits": [{"date": "2026-11-25"}]});
        assert_eq!(
            lookup(&record, "patient.name.family"),
            Some(&json!("Müller"))
        );
        assert_eq!(lookup(&record, "visits.0.date"), Some(&json!("2026-11-25")));
        assert_eq!(lookup(&record, "patient.age"), None);
    }

    #[test]
    fn numbers_become_text() {
        assert_eq!(text(&json!(150), "w"), Ok(Some("150".to_string())));
        assert!(text(&json!({"a": 1}), "w").is_err());
    }
}
