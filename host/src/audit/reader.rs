//! Reading the audit trail back: every file of an `audit_log` (the rotated
//! ones too), oldest first, filtered by patient, time and kind.

use super::file::all_files;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Which records to keep.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Records that name this patient ID (in `patients`).
    pub patient_id: Option<String>,
    /// Records at or after this time.
    pub since: Option<jiff::Timestamp>,
    /// Records before this time.
    pub until: Option<jiff::Timestamp>,
    /// Records of these kinds (all when empty).
    pub kinds: Vec<String>,
}

impl Filter {
    /// Whether `record` passes.
    pub fn keeps(&self, record: &Value) -> bool {
        let time = record
            .get("time")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        if let Some(since) = self.since {
            if time.is_none_or(|t| t < since) {
                return false;
            }
        }
        if let Some(until) = self.until {
            if time.is_none_or(|t| t >= until) {
                return false;
            }
        }
        if !self.kinds.is_empty() {
            let kind = record.get("kind").and_then(Value::as_str).unwrap_or("");
            if !self.kinds.iter().any(|k| k == kind) {
                return false;
            }
        }
        match &self.patient_id {
            None => true,
            Some(id) => record
                .get("patients")
                .and_then(Value::as_array)
                .is_some_and(|patients| {
                    patients
                        .iter()
                        .any(|p| p.get("id").and_then(Value::as_str) == Some(id))
                }),
        }
    }
}

/// What was read.
#[derive(Debug, Default)]
pub struct Found {
    /// The records kept, oldest file first, in file order.
    pub records: Vec<Value>,
    /// Lines that were not audit records (`file:line`), e.g. a line cut
    /// short by a crash.
    pub unreadable: Vec<String>,
    /// How many files were read.
    pub files: usize,
}

/// Reads every audit file of `path` and keeps what `filter` keeps.
pub fn read(path: &Path, filter: &Filter) -> Result<Found, String> {
    let files = all_files(path).map_err(|e| format!("audit log {}: {e}", path.display()))?;
    if files.is_empty() {
        return Err(format!(
            "audit log {}: no such file (nor rotated ones beside it)",
            path.display()
        ));
    }
    let mut found = Found {
        files: files.len(),
        ..Found::default()
    };
    for file in files {
        let open =
            std::fs::File::open(&file).map_err(|e| format!("audit log {}: {e}", file.display()))?;
        for (index, line) in BufReader::new(open).lines().enumerate() {
            let line = line.map_err(|e| format!("audit log {}: {e}", file.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&line) {
                Ok(record) if record.get("kind").is_some() => {
                    if filter.keeps(&record) {
                        found.records.push(record);
                    }
                }
                _ => found
                    .unreadable
                    .push(format!("{}:{}", file.display(), index + 1)),
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_filter_keeps_the_patients_records_in_the_time_range() {
        let filter = Filter {
            patient_id: Some("P1".into()),
            since: Some("2026-12-05T00:00:00Z".parse().unwrap()),
            until: Some("2026-12-06T00:00:00Z".parse().unwrap()),
            kinds: vec!["query".into()],
        };
        let record = |time: &str, kind: &str, id: &str| json!({"time": time, "kind": kind, "patients": [{"id": id, "name": null}]});
        assert!(filter.keeps(&record("2026-12-05T10:00:00Z", "query", "P1")));
        assert!(!filter.keeps(&record("2026-12-04T23:59:59Z", "query", "P1")));
        assert!(!filter.keeps(&record("2026-12-06T00:00:00Z", "query", "P1")));
        assert!(!filter.keeps(&record("2026-12-05T10:00:00Z", "write", "P1")));
        assert!(!filter.keeps(&record("2026-12-05T10:00:00Z", "query", "P10")));
    }
}
