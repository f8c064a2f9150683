//! Record merging, as Python pylantir does it: rows are grouped by record id;
//! the row without a repeat instrument is the baseline; every row of the
//! visit instrument that has an instance, a date and a time is one visit,
//! whose blank fields are filled from the baseline.

use crate::table::Table;
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

    /// The visits in `table`, records in order of first appearance.
    pub fn visits(&self, table: &Table) -> Vec<Visit> {
        let record = table.column(&self.record_field);
        let instrument = table.column("redcap_repeat_instrument");
        let instance = table.column("redcap_repeat_instance");
        let required: Vec<Option<usize>> = self.required.iter().map(|f| table.column(f)).collect();
        let columns: Vec<Option<usize>> = self.fields.iter().map(|f| table.column(f)).collect();

        let mut order: Vec<&str> = Vec::new();
        let mut groups: HashMap<&str, Vec<&[String]>> = HashMap::new();
        for row in &table.rows {
            let id = Table::cell(row, record);
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
                .find(|row| Table::cell(row, instrument).is_empty());
            for row in group {
                if Table::cell(row, instrument) != self.instrument
                    || required.iter().any(|&c| Table::cell(row, c).is_empty())
                {
                    continue;
                }
                let values = columns
                    .iter()
                    .map(|&column| {
                        let own = Table::cell(row, column);
                        if blank(own) {
                            baseline.map_or("", |b| Table::cell(b, column)).to_string()
                        } else {
                            own.to_string()
                        }
                    })
                    .collect();
                visits.push(Visit {
                    record_id: id.to_string(),
                    repeat_instance: Table::cell(row, instance).to_string(),
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
    use pylantir_plugin_api::serde_json::{json, Value};

    fn table(rows: Vec<Value>) -> Table {
        Table::parse(&Value::Array(rows).to_string()).unwrap()
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
            json!({"record_id": "1", "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
                       "study_id": "S-1", "mri_instance": "", "mri_date": "", "mri_time": "", "demo_sex": "F"}),
            json!({"record_id": "1", "redcap_repeat_instrument": "mri", "redcap_repeat_instance": "1",
                       "study_id": "", "mri_instance": "1", "mri_date": "2026-02-01", "mri_time": "09:00", "demo_sex": ""}),
            json!({"record_id": "1", "redcap_repeat_instrument": "mri", "redcap_repeat_instance": "2",
                       "study_id": "", "mri_instance": "2", "mri_date": "2026-03-01", "mri_time": "10:30", "demo_sex": "M"}),
        ];
        let visits = Merger::new(fields(), "record_id", "mri").visits(&table(rows));
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
            json!({"record_id": "1", "redcap_repeat_instrument": "mri", "redcap_repeat_instance": "1",
                       "mri_instance": "1", "mri_date": "", "mri_time": "09:00"}),
            json!({"record_id": "1", "redcap_repeat_instrument": "other", "redcap_repeat_instance": "1",
                       "mri_instance": "1", "mri_date": "2026-02-01", "mri_time": "09:00"}),
        ];
        assert!(Merger::new(fields(), "record_id", "mri")
            .visits(&table(rows))
            .is_empty());
    }
}
