//! Building each MWL C-FIND response identifier: exactly the requested
//! keys, valid DA/TM/CS values, derived Type 1 values and the right Specific
//! Character Set.

use super::query::{is_sequence, parse_date_range, time_digits, FindRequest};
use crate::store::find::ItemRow;
use dicom_core::header::Header;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::mem::InMemElement;
use dicom_object::InMemDicomObject;

/// A response value: text (possibly empty) or a sequence.
enum Val {
    Text(String),
    Seq(Vec<InMemDicomObject>),
}

fn text(value: Option<&String>) -> Val {
    Val::Text(value.map(|s| s.trim().to_string()).unwrap_or_default())
}

fn first_non_empty<'a>(values: &[Option<&'a String>]) -> Option<&'a String> {
    values
        .iter()
        .flatten()
        .find(|v| !v.trim().is_empty())
        .copied()
}

/// A stored date as DICOM DA, or empty when it is not a valid date.
pub fn dicom_date(value: Option<&String>) -> String {
    let digits: String = value
        .map(|v| v.trim().replace(['-', '/', '.'], ""))
        .unwrap_or_default();
    parse_date_range(&digits)
        .filter(|_| digits.len() == 8)
        .map(|_| digits)
        .unwrap_or_default()
}

/// A stored time as DICOM TM `HHMMSS`, or empty when it is not a valid time.
pub fn dicom_time(value: Option<&String>) -> String {
    value
        .and_then(|v| time_digits(v))
        .map(|d| format!("{d:0<6}"))
        .unwrap_or_default()
}

fn sex(value: Option<&String>) -> String {
    match value.map(|v| v.trim().to_uppercase()).as_deref() {
        Some("M" | "MALE") => "M".into(),
        Some("F" | "FEMALE") => "F".into(),
        Some("O" | "OTHER") => "O".into(),
        _ => String::new(),
    }
}

/// A CS value: upper case, only characters CS allows.
fn code_string(value: &str) -> String {
    value
        .trim()
        .to_uppercase()
        .chars()
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == ' ' || *c == '_')
        .take(16)
        .collect()
}

/// The value of a top-level key for an item; `None` for keys we do not hold.
fn top_value(tag: Tag, row: &ItemRow) -> Option<Val> {
    let unknown = "UNKNOWN".to_string();
    let id = row.id.to_string();
    Some(match tag {
        tags::PATIENT_NAME => {
            text(first_non_empty(&[row.patient_name.as_ref()]).or(Some(&unknown)))
        }
        tags::PATIENT_ID => text(first_non_empty(&[row.patient_id.as_ref()]).or(Some(&unknown))),
        tags::PATIENT_BIRTH_DATE => Val::Text(dicom_date(row.patient_birth_date.as_ref())),
        tags::PATIENT_SEX => Val::Text(sex(row.patient_sex.as_ref())),
        tags::PATIENT_WEIGHT => Val::Text(
            row.patient_weight_lb
                .as_ref()
                .map(|w| w.trim().to_string())
                .filter(|w| w.parse::<f64>().is_ok() && w.len() <= 16)
                .unwrap_or_default(),
        ),
        tags::ACCESSION_NUMBER => text(row.accession_number.as_ref()),
        tags::REFERRING_PHYSICIAN_NAME => text(row.referring_physician_name.as_ref()),
        tags::STUDY_INSTANCE_UID => text(row.study_instance_uid.as_ref()),
        tags::STUDY_DESCRIPTION => text(row.study_description.as_ref()),
        tags::REQUESTED_PROCEDURE_ID => {
            text(first_non_empty(&[row.requested_procedure_id.as_ref()]).or(Some(&id)))
        }
        tags::REQUESTED_PROCEDURE_DESCRIPTION => text(first_non_empty(&[
            row.procedure_description.as_ref(),
            row.study_description.as_ref(),
        ])),
        tags::REQUESTED_PROCEDURE_CODE_SEQUENCE
        | tags::REFERENCED_STUDY_SEQUENCE
        | tags::REFERENCED_PATIENT_SEQUENCE => Val::Seq(Vec::new()),
        _ => return None,
    })
}

/// Every Scheduled Procedure Step return key of PS3.4 Table K.6-1: what a
/// zero-length SPS Sequence, or one holding an empty item, gets back (Type 2
/// keys we do not know are sent empty).
const SPS_KEYS: [Tag; 13] = [
    tags::MODALITY,
    tags::REQUESTED_CONTRAST_AGENT,
    tags::SCHEDULED_STATION_AE_TITLE,
    tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
    tags::SCHEDULED_PROCEDURE_STEP_START_TIME,
    tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME,
    tags::SCHEDULED_PROCEDURE_STEP_DESCRIPTION,
    tags::SCHEDULED_PROTOCOL_CODE_SEQUENCE,
    tags::SCHEDULED_PROCEDURE_STEP_ID,
    tags::SCHEDULED_STATION_NAME,
    tags::SCHEDULED_PROCEDURE_STEP_LOCATION,
    tags::PRE_MEDICATION,
    tags::SCHEDULED_PROCEDURE_STEP_STATUS,
];

fn sps_value(tag: Tag, row: &ItemRow, default_station: &str) -> Option<Val> {
    let id = row.id.to_string();
    Some(match tag {
        tags::SCHEDULED_STATION_AE_TITLE => Val::Text(
            first_non_empty(&[row.scheduled_station_aetitle.as_ref()])
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| default_station.to_string()),
        ),
        tags::SCHEDULED_PROCEDURE_STEP_START_DATE => Val::Text(dicom_date(row.sps_date.as_ref())),
        tags::SCHEDULED_PROCEDURE_STEP_START_TIME => Val::Text(dicom_time(row.sps_time.as_ref())),
        tags::MODALITY => Val::Text(
            row.modality
                .as_deref()
                .map(code_string)
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "MR".into()),
        ),
        tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME => text(row.performing_physician.as_ref()),
        tags::SCHEDULED_PROCEDURE_STEP_DESCRIPTION => Val::Text(
            first_non_empty(&[
                row.protocol_name.as_ref(),
                row.procedure_description.as_ref(),
            ])
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "DEFAULT_PROCEDURE".into()),
        ),
        tags::SCHEDULED_PROTOCOL_CODE_SEQUENCE => {
            let items = match first_non_empty(&[row.protocol_name.as_ref()]) {
                Some(protocol) => {
                    let protocol = protocol.trim().to_string();
                    let scheme = row
                        .hisris_coding_designator
                        .clone()
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    vec![InMemDicomObject::from_element_iter([
                        DataElement::new(
                            tags::CODE_VALUE,
                            VR::SH,
                            PrimitiveValue::from(protocol.clone()),
                        ),
                        DataElement::new(
                            tags::CODING_SCHEME_DESIGNATOR,
                            VR::SH,
                            PrimitiveValue::from(scheme),
                        ),
                        DataElement::new(
                            tags::CODE_MEANING,
                            VR::LO,
                            PrimitiveValue::from(protocol),
                        ),
                    ])]
                }
                None => Vec::new(),
            };
            Val::Seq(items)
        }
        tags::SCHEDULED_PROCEDURE_STEP_ID => {
            text(first_non_empty(&[row.scheduled_procedure_step_id.as_ref()]).or(Some(&id)))
        }
        tags::SCHEDULED_STATION_NAME => text(row.station_name.as_ref()),
        tags::SCHEDULED_PROCEDURE_STEP_STATUS => Val::Text(
            match row.status.as_deref().map(str::trim).unwrap_or("SCHEDULED") {
                "IN_PROGRESS" | "IN PROGRESS" => "STARTED".into(),
                other => code_string(other),
            },
        ),
        tags::SCHEDULED_PROCEDURE_STEP_LOCATION
        | tags::PRE_MEDICATION
        | tags::REQUESTED_CONTRAST_AGENT => Val::Text(String::new()),
        _ => return None,
    })
}

/// The VR we send for a tag: the query's, else the dictionary's.
fn vr_for(tag: Tag, query_vr: VR) -> VR {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    if query_vr != VR::UN {
        return query_vr;
    }
    dicom_dictionary_std::StandardDataDictionary
        .by_tag(tag)
        .map(|entry| entry.vr().relaxed())
        .unwrap_or(VR::UN)
}

fn element(tag: Tag, vr: VR, value: Val, non_ascii: &mut bool) -> InMemElement {
    match value {
        Val::Seq(items) => {
            DataElement::new(tag, VR::SQ, DataSetSequence::new(items, Length::UNDEFINED))
        }
        Val::Text(s) if s.is_empty() => DataElement::new(tag, vr, PrimitiveValue::Empty),
        Val::Text(s) => {
            *non_ascii |= !s.is_ascii();
            DataElement::new(tag, vr, PrimitiveValue::from(s))
        }
    }
}

fn empty_like(query: &InMemElement) -> Val {
    if is_sequence(query) {
        Val::Seq(Vec::new())
    } else {
        Val::Text(String::new())
    }
}

fn sps_item(
    query_item: Option<&InMemDicomObject>,
    row: &ItemRow,
    default_station: &str,
    non_ascii: &mut bool,
) -> InMemDicomObject {
    let mut out = InMemDicomObject::new_empty();
    match query_item.filter(|item| item.iter().next().is_some()) {
        Some(item) => {
            for q in item.iter() {
                let tag = q.tag();
                if tag.element() == 0 {
                    continue;
                }
                let value = match sps_value(tag, row, default_station) {
                    Some(Val::Seq(items)) => Val::Seq(restrict(items, q)),
                    Some(v) => v,
                    None => empty_like(q),
                };
                out.put(element(tag, vr_for(tag, q.vr()), value, non_ascii));
            }
        }
        None => {
            for tag in SPS_KEYS {
                if let Some(value) = sps_value(tag, row, default_station) {
                    out.put(element(tag, vr_for(tag, VR::UN), value, non_ascii));
                }
            }
        }
    }
    out
}

/// Builds the response identifier for one matching item.
pub fn response_identifier(request: &FindRequest, row: &ItemRow) -> InMemDicomObject {
    let mut out = InMemDicomObject::new_empty();
    let mut non_ascii = false;
    let mut charset_asked = false;
    for q in request.identifier.iter() {
        let tag = q.tag();
        if tag.element() == 0 || tag == tags::TIMEZONE_OFFSET_FROM_UTC {
            continue;
        }
        if tag == tags::SPECIFIC_CHARACTER_SET {
            charset_asked = true;
            continue;
        }
        let value = if tag == tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE {
            let item = sps_item(
                q.items().and_then(|i| i.first()),
                row,
                &request.default_station_aet,
                &mut non_ascii,
            );
            Val::Seq(vec![item])
        } else {
            top_value(tag, row).unwrap_or_else(|| empty_like(q))
        };
        out.put(element(tag, vr_for(tag, q.vr()), value, &mut non_ascii));
    }
    if non_ascii || charset_asked {
        out.put(DataElement::new(
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            PrimitiveValue::from("ISO_IR 192"),
        ));
    }
    out
}

/// Keeps only the requested keys of each response item (empty when absent).
fn restrict(items: Vec<InMemDicomObject>, query: &InMemElement) -> Vec<InMemDicomObject> {
    let Some(wanted) = query
        .items()
        .and_then(|i| i.first())
        .filter(|i| i.iter().next().is_some())
    else {
        return items;
    };
    items
        .into_iter()
        .map(|item| {
            let mut out = InMemDicomObject::new_empty();
            for q in wanted.iter() {
                let tag = q.tag();
                match item.get(tag) {
                    Some(e) => out.put(e.clone()),
                    None => out.put(DataElement::new(
                        tag,
                        vr_for(tag, q.vr()),
                        PrimitiveValue::Empty,
                    )),
                };
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_dates_and_times_of_both_formats_become_da_and_tm() {
        assert_eq!(dicom_date(Some(&"2025-01-30".into())), "20250130");
        assert_eq!(dicom_date(Some(&"20250130".into())), "20250130");
        assert_eq!(dicom_date(Some(&"30/01/2025".into())), "");
        assert_eq!(dicom_time(Some(&"14:30".into())), "143000");
        assert_eq!(dicom_time(Some(&"143000".into())), "143000");
    }
}
