//! Record merging, as Python pylantir does it: rows are grouped by record id;
//! the row without a repeat instrument is the baseline; every row of the
//! visit instrument that has an instance, a date and a time is one visit,
//! whose blank fields are filled from the baseline.

use crate::api::Row;
use pylantir_plugin_api::serde_json::Value;
use std::collections::HashMap;

/// One visit: a repeat row merged with its record's baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    pub record_id: String,
    /// `redcap_repeat_instance` of the repeat row.
    pub repeat_instance: String,
    /// The merged value of each exported field, in the order of [`Merger::fields`].
    pub values: Vec<String>,
}

/// Merges rows into visits for one set of exported fields.
pub struct Merger {
    fields: Vec<String>,
    record_field: String,
    instrument: String,
    required: [String; 3],
}

/// A cell as text: strings as they are, numbers printed, anything else blank.
pub fn cell<'a>(row: &'a Row, column: &str) -> std::borrow::Cow<'a, str> {
    match row.get(column) {
        Some(Value::String(s)) => std::borrow::Cow::Borrowed(s.as_str()),
        Some(Value::Number(n)) => std::borrow::Cow::Owned(n.to_string()),
        Some(Value::Bool(b)) => std::borrow::Cow::Owned(b.to_string()),
        _ => std::borrow::Cow::Borrowed(""),
    }
}

/// Whether a value counts as blank (Python: None, '' or 'NaN').
fn blank(value: &str) -> bool {
    value.is_empty() || value == "NaN"
}

impl Merger {
    /// `fields` are the exported fields; `record_field` is the record id
    /// field; visits are rows of `instrument` with `<instrument>_instance`,
    /// `<instrument>_date` and `<instrument>_time` filled.
    pub fn new(fields: Vec<String>, record_field: &str, instrument: &str) -> Merger {
        Merger {
            fields,
            record_field: record_field.to_string(),
            instrument: instrument.to_string(),
            required: [
                format!("{instrument}_instance"),
                format!("{instrument}_date"),
                format!("{instrument}_time"),
            ],
        }
    }

    /// The fields a visit's `values` follow.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The visits in `rows`, records in order of first appearance.
    pub fn visits(&self, rows: &[Row]) -> Vec<Visit> {
        let mut order: Vec<&str> = Vec::new();
        let mut groups: HashMap<&str, Vec<&Row>> = HashMap::new();
        for row in rows {
            let id = match row.get(&self.record_field) {
                Some(Value::String(s)) => s.as_str(),
                _ => "",
            };
            groups
                .entry(id)
                .or_insert_with(|| {
                    order.push(id);
                    Vec::new()
                })
                .push(row);
        }
        let mut visits = Vec::new();
        for id in order {
            let group = &groups[id];
            let baseline = group
                .iter()
                .find(|row| cell(row, "redcap_repeat_instrument").is_empty());
            for row in group {
                if cell(row, "redcap_repeat_instrument") != self.instrument.as_str()
                    || self.required.iter().any(|f| cell(row, f).is_empty())
                {
                    continue;
                }
                let values = self
                    .fields
                    .iter()
                    .map(|field| {
                        let own = cell(row, field);
                        if !blank(&own) {
                            own.into_owned()
                        } else {
                            baseline
                                .map(|b| cell(b, field).into_owned())
                                .unwrap_or_default()
                        }
                    })
                    .collect();
                visits.push(Visit {
                    record_id: id.to_string(),
                    repeat_instance: cell(row, "redcap_repeat_instance").into_owned(),
                    values,
                });
            }
        }
        visits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pylantir_plugin_api::serde_json::json;

    fn row(v: Value) -> Row {
        v.as_object().cloned().unwrap()
    }

    fn fields() -> Vec<String> {
        [
            "record_id",
            "study_id",
            "mri_instance",
            "mri_date",
            "mri_time",
            "demo_sex",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn repeat_rows_become_visits_filled_from_the_baseline() {
        let rows = vec![
            row(
                json!({"record_id": "1", "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
                       "study_id": "S-1", "mri_instance": "", "mri_date": "", "mri_time": "", "demo_sex": "F"}),
            ),
            row(
                json!({"record_id": "1", "redcap_repeat_instrument": "mri", "redcap_repeat_instance": "1",
                       "study_id": "", "mri_instance": "1", "mri_date": "2026-02-01", "mri_time": "09:00", "demo_sex": ""}),
            ),
            row(
                json!({"record_id": "1", "redcap_repeat_instrument": "mri", "redcap_repeat_instance": "2",
                       "study_id": "", "mri_instance": "2", "mri_date": "2026-03-01", "mri_time": "10:30", "demo_sex": "M"}),
            ),
        ];
        let visits = Merger::new(fields(), "record_id", "mri").visits(&rows);
        assert_eq!(visits.len(), 2);
        assert_eq!(visits[0].repeat_instance, "1");
        assert_eq!(
            visits[0].values,
            ["1", "S-1", "1", "2026-02-01", "09:00", "F"]
        );
        assert_eq!(
            visits[1].values,
            ["1", "S-1", "2", "2026-03-01", "10:30", "M"]
        );
    }

    #[test]
    fn repeat_rows_without_instance_date_or_time_are_not_visits() {
        let rows = vec![
            row(
                json!({"record_id": "1", "redcap_repeat_instrument": "mri", "redcap_repeat_instance": "1",
                       "mri_instance": "1", "mri_date": "", "mri_time": "09:00"}),
            ),
            row(
                json!({"record_id": "1", "redcap_repeat_instrument": "other", "redcap_repeat_instance": "1",
                       "mri_instance": "1", "mri_date": "2026-02-01", "mri_time": "09:00"}),
            ),
        ];
        assert!(Merger::new(fields(), "record_id", "mri")
            .visits(&rows)
            .is_empty());
    }
}
