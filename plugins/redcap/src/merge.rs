//! Record merging, as Python pylantir does it: rows are grouped by record id;
//! the first row without a repeat instrument is the baseline; every row of
//! the visit instrument that has an instance, a date and a time is one
//! visit, whose blank fields are filled from the baseline.
//!
//! Rows are merged as they arrive. A record keeps only its baseline (packed
//! in one string) and the visit rows that came before it; a visit is handed
//! over as soon as its record's baseline is known, and visits of a record
//! that has none are handed over at the end. A record's visits keep their
//! order; REDCap exports a record's rows together, baseline first, so the
//! visits come out in export order.

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
    layout: Layout,
    records: HashMap<Box<str>, Record>,
}

/// Where a row's cells are, and what makes a row a visit.
struct Layout {
    fields: Vec<String>,
    instrument: String,
    /// The columns a row brings, in order (see [`Merger::columns`]).
    columns: Vec<String>,
    record: usize,
    repeat_instrument: usize,
    repeat_instance: usize,
    required: [usize; 3],
    /// The column of each field.
    field_columns: Vec<usize>,
}

/// What is kept of one record while its rows arrive.
struct Record {
    /// The record's place among the records, by first row.
    order: usize,
    /// The baseline's fields, once a baseline row has come.
    baseline: Option<Packed>,
    /// Visits that came before the baseline: repeat instance, then fields.
    waiting: Vec<Packed>,
}

/// Strings packed into one: a record's kept cells in one allocation.
struct Packed {
    text: Box<str>,
    ends: Box<[usize]>,
}

impl Packed {
    fn new<'a>(cells: impl Iterator<Item = &'a str>) -> Packed {
        let mut text = String::new();
        let mut ends = Vec::new();
        for cell in cells {
            text.push_str(cell);
            ends.push(text.len());
        }
        Packed {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// Cell `i` ("" past the end).
    fn get(&self, i: usize) -> &str {
        let start = i
            .checked_sub(1)
            .and_then(|before| self.ends.get(before))
            .map_or(0, |&end| end);
        self.ends
            .get(i)
            .and_then(|&end| self.text.get(start..end))
            .unwrap_or_default()
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
        let mut columns: Vec<String> = Vec::new();
        let mut column = |name: &str| match columns.iter().position(|c| c == name) {
            Some(i) => i,
            None => {
                columns.push(name.to_string());
                columns.len() - 1
            }
        };
        let record = column(record_field);
        let repeat_instrument = column("redcap_repeat_instrument");
        let repeat_instance = column("redcap_repeat_instance");
        let required = [
            column(&format!("{instrument}_instance")),
            column(&format!("{instrument}_date")),
            column(&format!("{instrument}_time")),
        ];
        let field_columns = fields.iter().map(|f| column(f)).collect();
        Merger {
            layout: Layout {
                fields,
                instrument: instrument.to_string(),
                columns,
                record,
                repeat_instrument,
                repeat_instance,
                required,
                field_columns,
            },
            records: HashMap::new(),
        }
    }

    /// The fields a visit's `values` follow.
    pub fn fields(&self) -> &[String] {
        &self.layout.fields
    }

    /// The columns [`Merger::push`] takes a row's cells of, in this order.
    pub fn columns(&self) -> &[String] {
        &self.layout.columns
    }

    /// Takes one row (cells of [`Merger::columns`]) and hands `visit` the
    /// visits it completes.
    pub fn push(
        &mut self,
        row: Vec<String>,
        visit: &mut dyn FnMut(Visit) -> Result<(), String>,
    ) -> Result<(), String> {
        let layout = &self.layout;
        let cell = |column: usize| row.get(column).map(String::as_str).unwrap_or_default();
        let record_id = cell(layout.record);
        let next = self.records.len();
        let record = self
            .records
            .entry(record_id.into())
            .or_insert_with(|| Record {
                order: next,
                baseline: None,
                waiting: Vec::new(),
            });
        let instrument = cell(layout.repeat_instrument);
        if instrument.is_empty() {
            if record.baseline.is_none() {
                let baseline = Packed::new(layout.field_columns.iter().map(|&c| cell(c)));
                for waiting in std::mem::take(&mut record.waiting) {
                    visit(layout.merge_waiting(record_id, &waiting, Some(&baseline)))?;
                }
                record.baseline = Some(baseline);
            }
            return Ok(());
        }
        if instrument != layout.instrument || layout.required.iter().any(|&c| cell(c).is_empty()) {
            return Ok(());
        }
        match &record.baseline {
            Some(baseline) => {
                let own = |i: usize| cell(layout.field_columns[i]);
                let instance = cell(layout.repeat_instance);
                visit(layout.merge(record_id, instance, own, Some(baseline)))
            }
            None => {
                let kept = std::iter::once(layout.repeat_instance)
                    .chain(layout.field_columns.iter().copied())
                    .map(cell);
                record.waiting.push(Packed::new(kept));
                Ok(())
            }
        }
    }

    /// Hands `visit` the visits of records that had no baseline, records in
    /// order of their first row.
    pub fn finish(
        mut self,
        visit: &mut dyn FnMut(Visit) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut left: Vec<(Box<str>, Record)> = self
            .records
            .drain()
            .filter(|(_, record)| !record.waiting.is_empty())
            .collect();
        left.sort_by_key(|(_, record)| record.order);
        for (id, record) in left {
            for waiting in &record.waiting {
                visit(self.layout.merge_waiting(&id, waiting, None))?;
            }
        }
        Ok(())
    }
}

impl Layout {
    /// The visit of a row kept while waiting for its baseline.
    fn merge_waiting(&self, record_id: &str, row: &Packed, baseline: Option<&Packed>) -> Visit {
        self.merge(record_id, row.get(0), |i| row.get(i + 1), baseline)
    }

    /// The visit of a repeat row whose field `i` is `own(i)`.
    fn merge<'a>(
        &self,
        record_id: &str,
        repeat_instance: &str,
        own: impl Fn(usize) -> &'a str,
        baseline: Option<&Packed>,
    ) -> Visit {
        let values = (0..self.field_columns.len())
            .map(|i| {
                let value = own(i);
                if blank(value) {
                    baseline.map_or("", |b| b.get(i)).to_string()
                } else {
                    value.to_string()
                }
            })
            .collect();
        Visit {
            record_id: record_id.to_string(),
            repeat_instance: repeat_instance.to_string(),
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::read_rows;
    use pylantir_plugin_api::serde_json::{json, Value};

    /// The visits of the export `rows`, in the order they are handed over.
    fn visits(rows: Vec<Value>) -> Vec<Visit> {
        let fields = [
            "record_id",
            "study_id",
            "mri_instance",
            "mri_date",
            "mri_time",
            "demo_sex",
        ]
        .map(String::from)
        .to_vec();
        let mut merger = Merger::new(fields, "record_id", "mri");
        let columns = merger.columns().to_vec();
        let mut visits = Vec::new();
        let text = Value::Array(rows).to_string();
        read_rows(text.as_bytes(), &columns, &mut |row| {
            merger.push(row, &mut |v| {
                visits.push(v);
                Ok(())
            })
        })
        .unwrap();
        merger
            .finish(&mut |v| {
                visits.push(v);
                Ok(())
            })
            .unwrap();
        visits
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
        let visits = visits(rows);
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
        assert!(visits(rows).is_empty());
    }

    #[test]
    fn a_visit_before_its_baseline_or_apart_from_it_is_still_filled_from_it() {
        let rows = vec![
            json!({"record_id": "1", "redcap_repeat_instrument": "mri", "redcap_repeat_instance": "1",
                       "mri_instance": "1", "mri_date": "2026-02-01", "mri_time": "09:00"}),
            json!({"record_id": "2", "redcap_repeat_instrument": "", "study_id": "S-2"}),
            json!({"record_id": "1", "redcap_repeat_instrument": "", "study_id": "S-1", "demo_sex": "F"}),
            json!({"record_id": "1", "redcap_repeat_instrument": "", "study_id": "second baseline"}),
            json!({"record_id": "2", "redcap_repeat_instrument": "mri", "redcap_repeat_instance": "4",
                       "mri_instance": "4", "mri_date": "2026-02-02", "mri_time": "10:00"}),
            json!({"record_id": "1", "redcap_repeat_instrument": "mri", "redcap_repeat_instance": "2",
                       "mri_instance": "2", "mri_date": "2026-02-03", "mri_time": "11:00"}),
        ];
        let visits: Vec<(String, String, String)> = visits(rows)
            .into_iter()
            .map(|v| (v.record_id, v.repeat_instance, v.values[1].clone()))
            .collect();
        let expected = [("1", "1", "S-1"), ("2", "4", "S-2"), ("1", "2", "S-1")];
        assert_eq!(
            visits,
            expected.map(|(a, b, c)| (a.into(), b.into(), c.into()))
        );
    }

    #[test]
    fn visits_of_records_without_a_baseline_come_last_in_record_order() {
        let rows = vec![
            json!({"record_id": "9", "redcap_repeat_instrument": "mri", "redcap_repeat_instance": "1",
                       "mri_instance": "1", "mri_date": "2026-02-01", "mri_time": "09:00", "study_id": "S-9"}),
            json!({"record_id": "3", "redcap_repeat_instrument": "mri", "redcap_repeat_instance": "1",
                       "mri_instance": "1", "mri_date": "2026-02-01", "mri_time": "09:00", "study_id": "S-3"}),
            json!({"record_id": "5", "redcap_repeat_instrument": "", "study_id": "S-5"}),
            json!({"record_id": "5", "redcap_repeat_instrument": "mri", "redcap_repeat_instance": "1",
                       "mri_instance": "1", "mri_date": "2026-02-01", "mri_time": "09:00"}),
        ];
        let order: Vec<(String, String)> = visits(rows)
            .into_iter()
            .map(|v| (v.record_id, v.values[1].clone()))
            .collect();
        let expected = [("5", "S-5"), ("9", "S-9"), ("3", "S-3")];
        assert_eq!(order, expected.map(|(a, b)| (a.into(), b.into())));
    }
}
