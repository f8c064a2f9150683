//! Normalising a fetched entry before it is written: dates, times and sex in
//! the forms Python pylantir stores, lengths within the DICOM VR limits (a
//! longer value is truncated with a warning; the entry is kept).

use crate::store::items::{field_index, Item};
use pylantir_plugin_api::entry::{REQUIRED_FIELD, SOURCE_RECORD_ID, SOURCE_STATUSES, STATUS};
use pylantir_plugin_api::{Entry, WORKLIST_FIELDS};
use serde_json::Value;

const SCHEDULED_DATE: usize = field_index("scheduled_start_date");
const SCHEDULED_TIME: usize = field_index("scheduled_start_time");
const BIRTH_DATE: usize = field_index("patient_birth_date");
const SEX: usize = field_index("patient_sex");
/// The field an entry must carry (the entry schema's `required`).
const REQUIRED: usize = field_index(REQUIRED_FIELD);
/// A UID cut short is another UID: too long a one rejects the entry.
const STUDY_UID: usize = field_index("study_instance_uid");

/// The longest `source_record_id` accepted.
const RECORD_ID_MAX: usize = 255;

/// A normalised entry, with notes about values that were dropped or mapped
/// and warnings about values that were truncated.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalised {
    pub item: Item,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

/// Normalises one entry, or says why it is rejected (naming the field).
pub fn normalise(entry: &Entry) -> Result<Normalised, String> {
    let mut item = Item::new();
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    for (key, value) in entry {
        let Some(text) = text_value(key, value)? else {
            continue;
        };
        if key == SOURCE_RECORD_ID {
            check_length(key, &text, RECORD_ID_MAX)?;
            item.record_id = Some(text);
        } else if key == STATUS {
            item.status = Some(status(&text)?);
        } else if let Some(index) = WORKLIST_FIELDS.iter().position(|(f, _)| f == key) {
            let value = match index {
                SCHEDULED_DATE => Some(date(&text).ok_or_else(|| {
                    format!("scheduled_start_date {text:?} is not a date (YYYY-MM-DD, YYYYMMDD or YYYY/MM/DD)")
                })?),
                SCHEDULED_TIME => Some(time(&text).ok_or_else(|| {
                    format!("scheduled_start_time {text:?} is not a time (HH:MM, HH:MM:SS, HHMM or HHMMSS)")
                })?),
                BIRTH_DATE => {
                    let parsed = date(&text);
                    if parsed.is_none() {
                        notes.push(format!(
                            "patient_birth_date {text:?} is not a date; left out"
                        ));
                    }
                    parsed
                }
                SEX => Some(sex(&text, &mut notes)),
                _ => Some(text),
            };
            if let Some(value) = value {
                let max = WORKLIST_FIELDS[index].1;
                let value = if index == STUDY_UID {
                    check_length(key, &value, max)?;
                    value
                } else {
                    fit(key, value, max, &mut warnings)
                };
                item.values[index] = Some(value);
            }
        }
    }
    if item.value(REQUIRED).is_none() {
        return Err(format!("no {REQUIRED_FIELD}"));
    }
    Ok(Normalised {
        item,
        notes,
        warnings,
    })
}

/// A status a source may set, in upper case, or why not.
fn status(text: &str) -> Result<String, String> {
    let upper = text.to_ascii_uppercase();
    if SOURCE_STATUSES.contains(&upper.as_str()) {
        return Ok(upper);
    }
    Err(format!(
        "{STATUS} {text:?} is not a status a source may set (SCHEDULED or DISCONTINUED; \
         IN_PROGRESS and COMPLETED come from MPPS only)"
    ))
}

/// A name for the entry in messages: its record id, else its patient id.
pub fn label(entry: &Entry) -> String {
    for key in [SOURCE_RECORD_ID, "patient_id"] {
        if let Some(value) = entry.get(key).filter(|v| !v.is_null()) {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            return format!("{key} {text:?}");
        }
    }
    "an entry without source_record_id or patient_id".to_string()
}

/// The text of a value; `None` for null or blank (not sent).
fn text_value(key: &str, value: &Value) -> Result<Option<String>, String> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(_) | Value::Object(_) => {
            return Err(format!("{key} must be a text value, not {value}"))
        }
    };
    Ok(Some(text).filter(|t| !t.is_empty()))
}

fn check_length(key: &str, value: &str, max: usize) -> Result<(), String> {
    let length = value.chars().count();
    if length > max {
        return Err(format!(
            "{key} is {length} characters long, more than the {max} allowed"
        ));
    }
    Ok(())
}

/// `value` cut to the `max` characters its DICOM VR allows (trailing spaces
/// dropped), with a warning naming the field, when it is longer.
fn fit(key: &str, value: String, max: usize, warnings: &mut Vec<String>) -> String {
    let length = value.chars().count();
    if length <= max {
        return value;
    }
    let short: String = value.chars().take(max).collect();
    let short = short.trim_end().to_string();
    warnings.push(format!(
        "{key} {value:?} is {length} characters long, more than the {max} its DICOM VR allows; truncated to {short:?}"
    ));
    short
}

/// `YYYY-MM-DD`, `YYYYMMDD` or `YYYY/MM/DD` (a trailing time is ignored) as `YYYY-MM-DD`.
pub fn date(text: &str) -> Option<String> {
    let digits: String = if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        text.to_string()
    } else {
        let head = text.get(..10)?;
        let rest = &text[10..];
        if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('T')) {
            return None;
        }
        let bytes = head.as_bytes();
        let sep = bytes[4];
        if !(sep == b'-' || sep == b'/') || bytes[7] != sep {
            return None;
        }
        format!("{}{}{}", &head[..4], &head[5..7], &head[8..10])
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() != 8 {
        return None;
    }
    let year = digits[..4].parse().ok()?;
    let month = digits[4..6].parse().ok()?;
    let day = digits[6..8].parse().ok()?;
    jiff::civil::Date::new(year, month, day).ok()?;
    Some(format!(
        "{}-{}-{}",
        &digits[..4],
        &digits[4..6],
        &digits[6..8]
    ))
}

/// `HH:MM`, `HH:MM:SS`, `HHMM` or `HHMMSS` (fractions dropped) as `HH:MM`,
/// or `HH:MM:SS` when the seconds are not zero.
pub fn time(text: &str) -> Option<String> {
    let text = text.split('.').next().unwrap_or(text);
    let parts: Vec<&str> = if text.contains(':') {
        text.split(':').collect()
    } else if text.len() == 4 || text.len() == 6 {
        (0..text.len() / 2)
            .map(|i| text.get(i * 2..i * 2 + 2))
            .collect::<Option<_>>()?
    } else {
        return None;
    };
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let mut numbers = Vec::with_capacity(3);
    for part in &parts {
        if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        numbers.push(part.parse::<u32>().ok()?);
    }
    let (hour, minute) = (numbers[0], numbers[1]);
    let second = numbers.get(2).copied().unwrap_or(0);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if second == 0 {
        Some(format!("{hour:02}:{minute:02}"))
    } else {
        Some(format!("{hour:02}:{minute:02}:{second:02}"))
    }
}

/// Patient sex as DICOM's `M`, `F` or `O`.
fn sex(text: &str, notes: &mut Vec<String>) -> String {
    match text.to_ascii_uppercase().as_str() {
        "M" | "MALE" => "M".to_string(),
        "F" | "FEMALE" => "F".to_string(),
        "O" | "OTHER" => "O".to_string(),
        _ => {
            notes.push(format!(
                "patient_sex {text:?} is not M, F or O; stored as O"
            ));
            "O".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(value: Value) -> Entry {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn dates_in_the_three_accepted_forms_are_stored_as_yyyy_mm_dd() {
        for text in [
            "2025-03-07",
            "20250307",
            "2025/03/07",
            "2025-03-07 10:00:00",
        ] {
            assert_eq!(date(text).as_deref(), Some("2025-03-07"), "{text}");
        }
    }

    #[test]
    fn impossible_or_malformed_dates_are_refused() {
        for text in [
            "2025-02-30",
            "2025-3-7",
            "07/03/2025",
            "2025",
            "2025-03-07x",
        ] {
            assert_eq!(date(text), None, "{text}");
        }
    }

    #[test]
    fn times_in_the_four_accepted_forms_are_stored_as_hh_mm() {
        for text in ["14:30", "14:30:00", "1430", "143000", "14:30:00.000"] {
            assert_eq!(time(text).as_deref(), Some("14:30"), "{text}");
        }
        assert_eq!(time("9:05").as_deref(), Some("09:05"));
        assert_eq!(time("143015").as_deref(), Some("14:30:15"));
    }

    #[test]
    fn impossible_times_are_refused() {
        for text in ["24:00", "12:60", "12345", "noon", "12:30:61"] {
            assert_eq!(time(text), None, "{text}");
        }
    }

    #[test]
    fn sex_is_mapped_to_m_f_or_o() {
        let normalised = |s: &str| {
            normalise(&entry(json!({"patient_id": "P", "patient_sex": s})))
                .expect("accepted")
                .item
                .values[SEX]
                .clone()
        };
        assert_eq!(normalised("male").as_deref(), Some("M"));
        assert_eq!(normalised("F").as_deref(), Some("F"));
        assert_eq!(normalised("unknown").as_deref(), Some("O"));
    }

    #[test]
    fn a_value_longer_than_its_vr_allows_is_truncated_with_a_warning_naming_the_field() {
        let project = format!("BRISKP {}", "x".repeat(80));
        let n = normalise(&entry(json!({
            "patient_id": "P",
            "station_name": "3T Diagnostic Scanner",
            "study_description": project,
        })))
        .expect("kept");
        let station = field_index("station_name");
        let study = field_index("study_description");
        assert_eq!(n.item.values[station].as_deref(), Some("3T Diagnostic Sc"));
        assert_eq!(n.item.values[study].as_deref(), Some(&project[..64]));
        assert_eq!(n.warnings.len(), 2, "{:?}", n.warnings);
        assert_eq!(
            n.warnings[0],
            "station_name \"3T Diagnostic Scanner\" is 21 characters long, more than the 16 its DICOM VR allows; truncated to \"3T Diagnostic Sc\""
        );
        assert!(n.warnings[1].starts_with("study_description \"BRISKP "));
    }

    #[test]
    fn a_study_uid_longer_than_64_rejects_the_entry() {
        let uid = format!("1.2.{}", "3".repeat(61));
        let error = normalise(&entry(
            json!({"patient_id": "P", "study_instance_uid": uid}),
        ))
        .expect_err("rejected");
        assert_eq!(
            error,
            "study_instance_uid is 65 characters long, more than the 64 allowed"
        );
    }

    #[test]
    fn an_entry_without_patient_id_is_rejected() {
        let error = normalise(&entry(json!({"patient_name": "DOE^JANE"}))).expect_err("rejected");
        assert_eq!(error, "no patient_id");
    }

    #[test]
    fn blank_and_null_values_count_as_not_sent() {
        let n = normalise(&entry(
            json!({"patient_id": "P", "modality": " ", "station_name": null}),
        ))
        .expect("accepted");
        assert!(n.item.values.iter().filter(|v| v.is_some()).count() == 1);
    }

    #[test]
    fn keys_that_are_not_worklist_fields_are_ignored() {
        let n = normalise(&entry(json!({"patient_id": "P", "study_id": "S1"}))).expect("accepted");
        assert_eq!(n.item.value(REQUIRED), Some("P"));
    }

    #[test]
    fn a_source_status_is_scheduled_or_discontinued_and_anything_else_rejects_the_entry() {
        let n = normalise(&entry(
            json!({"patient_id": "P", "performed_procedure_step_status": "discontinued"}),
        ))
        .expect("accepted");
        assert_eq!(n.item.status.as_deref(), Some("DISCONTINUED"));
        let error = normalise(&entry(
            json!({"patient_id": "P", "performed_procedure_step_status": "COMPLETED"}),
        ))
        .expect_err("rejected");
        assert!(
            error.starts_with(
                "performed_procedure_step_status \"COMPLETED\" is not a status a source may set"
            ),
            "{error}"
        );
    }
}
