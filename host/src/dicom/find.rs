//! MWL C-FIND (PS3.4 Annex K): parsing the query identifier into a store
//! filter (matching types of C.2.2.2, validated), and building each response
//! identifier with exactly the requested keys, valid DA/TM/CS values, derived
//! Type 1 values and the right Specific Character Set.

use crate::store::find::{ItemRow, Range, Text, WorklistFilter};
use dicom_core::header::Header;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::mem::InMemElement;
use dicom_object::InMemDicomObject;

use super::dimse::status;
use super::options::ServerOptions;

/// A parsed C-FIND request.
pub struct FindRequest {
    /// The SQL-side filter.
    pub filter: WorklistFilter,
    /// The query identifier (it decides which keys each response holds).
    pub identifier: InMemDicomObject,
    /// The query constrained an optional key we cannot match on (0xFF01).
    pub unsupported_keys: bool,
    /// The station AE title reported for items that have none.
    pub default_station_aet: String,
}

/// A query we refuse, with the status and the offending key.
#[derive(Debug)]
pub struct QueryError {
    /// The C-FIND failure status.
    pub status: u16,
    /// What is wrong, for the Error Comment and the log.
    pub comment: String,
    /// The offending element.
    pub offending: Option<Tag>,
}

fn invalid(tag: Tag, comment: String) -> QueryError {
    QueryError {
        status: status::IDENTIFIER_DOES_NOT_MATCH,
        comment,
        offending: Some(tag),
    }
}

/// The query value of an element: `None` for zero length or a lone `*`
/// (universal matching).
fn query_value(element: &InMemElement) -> Option<String> {
    let value = element.to_str().ok()?;
    let value = value.trim_matches(|c: char| c == ' ' || c == '\0');
    (!value.is_empty() && value != "*").then(|| value.to_string())
}

fn is_sequence(element: &InMemElement) -> bool {
    element.vr() == VR::SQ || element.items().is_some()
}

/// Whether a nested query sequence constrains anything (a non-empty value
/// anywhere in its items).
fn constrains(element: &InMemElement) -> bool {
    element.items().is_some_and(|items| {
        items.iter().any(|item| {
            item.iter().any(|e| {
                if is_sequence(e) {
                    constrains(e)
                } else {
                    query_value(e).is_some()
                }
            })
        })
    })
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

/// Parses a DA matching value: single date or range (`a-b`, `-b`, `a-`).
pub fn parse_date_range(value: &str) -> Option<Range<String>> {
    let date = |d: &str| -> Option<String> {
        let d = d.trim();
        if d.len() != 8 || !d.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (y, m, day) = (
            d[0..4].parse().ok()?,
            d[4..6].parse().ok()?,
            d[6..8].parse().ok()?,
        );
        jiff::civil::Date::new(y, m, day).ok()?;
        Some(d.to_string())
    };
    match value.split_once('-') {
        None => {
            let d = date(value)?;
            Some(Range {
                lower: Some(d.clone()),
                upper: Some(d),
            })
        }
        Some((a, b)) => {
            let lower = if a.trim().is_empty() {
                None
            } else {
                Some(date(a)?)
            };
            let upper = if b.trim().is_empty() {
                None
            } else {
                Some(date(b)?)
            };
            if lower.is_none() && upper.is_none() {
                return None;
            }
            if let (Some(l), Some(u)) = (&lower, &upper) {
                if l > u {
                    return None;
                }
            }
            Some(Range { lower, upper })
        }
    }
}

/// Parses a TM value (`HH`, `HHMM`, `HHMMSS`, optional fraction) to its
/// digits, checking each field.
fn time_digits(value: &str) -> Option<String> {
    let value = value.trim();
    let (whole, fraction) = match value.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (value, None),
    };
    let digits = whole.replace(':', "");
    if !matches!(digits.len(), 2 | 4 | 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A fraction of a second follows whole seconds only: 1 to 6 digits.
    if let Some(fraction) = fraction {
        let valid = digits.len() == 6
            && (1..=6).contains(&fraction.len())
            && fraction.bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return None;
        }
    }
    let field = |i: usize| digits.get(i..i + 2).map(|s| s.parse::<u8>().unwrap_or(99));
    if field(0)? > 23 || field(2).is_some_and(|m| m > 59) || field(4).is_some_and(|s| s > 60) {
        return None;
    }
    Some(digits)
}

/// Parses a TM matching value: single time or range. A partial time covers
/// its whole hour or minute.
pub fn parse_time_range(value: &str) -> Option<Range<String>> {
    let low = |d: String| format!("{d:0<6}");
    let high = |d: String| format!("{d:9<6}");
    match value.split_once('-') {
        None => {
            let d = time_digits(value)?;
            Some(Range {
                lower: Some(low(d.clone())),
                upper: Some(high(d)),
            })
        }
        Some((a, b)) => {
            let lower = if a.trim().is_empty() {
                None
            } else {
                Some(low(time_digits(a)?))
            };
            let upper = if b.trim().is_empty() {
                None
            } else {
                Some(high(time_digits(b)?))
            };
            if lower.is_none() && upper.is_none() {
                return None;
            }
            Some(Range { lower, upper })
        }
    }
}

/// Whether a time range's lower bound is after its upper bound.
fn inverted(range: &Range<String>) -> bool {
    matches!((&range.lower, &range.upper), (Some(l), Some(u)) if l > u)
}

/// Whether an SPS Start Time range that ends before it starts is refused: it
/// is, unless a date range over several days makes it one combined period
/// (K.6-1: dates 20250705-20250707 with times 1800-1000 run from July 5
/// 18:00 to July 7 10:00).
fn time_order_refused(time: &Range<String>, date: Option<&Range<String>>) -> bool {
    let spans_days =
        date.is_some_and(|d| d.lower.is_none() || d.upper.is_none() || d.lower < d.upper);
    inverted(time) && !spans_days
}

/// Parses the identifier of a C-FIND-RQ.
pub fn parse(
    identifier: InMemDicomObject,
    options: &ServerOptions,
    calling_aet: &str,
) -> Result<FindRequest, QueryError> {
    let default_station_aet = options
        .default_station_aet
        .clone()
        .unwrap_or_else(|| calling_aet.to_string());
    let mut filter = WorklistFilter {
        visible_statuses: options.visible_statuses.clone(),
        windows: options.resolve_windows(),
        default_station_aet: default_station_aet.clone(),
        ..WorklistFilter::default()
    };
    let mut unsupported = false;
    for element in identifier.iter() {
        let tag = element.tag();
        if tag.element() == 0
            || tag == tags::SPECIFIC_CHARACTER_SET
            || tag == tags::TIMEZONE_OFFSET_FROM_UTC
        {
            continue;
        }
        if tag == tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE {
            let items = element.items().unwrap_or(&[]);
            match items {
                [] => {}
                [item] => unsupported |= parse_sps(item, &mut filter)?,
                _ => {
                    return Err(invalid(
                        tag,
                        "Scheduled Procedure Step Sequence must hold exactly one item".into(),
                    ))
                }
            }
            continue;
        }
        if is_sequence(element) {
            unsupported |= constrains(element);
            continue;
        }
        let Some(value) = query_value(element) else {
            continue;
        };
        match tag {
            tags::PATIENT_NAME => filter.patient_name = Some(Text::from_query(&value)),
            tags::PATIENT_ID => filter.patient_id = Some(Text::from_query(&value)),
            tags::PATIENT_SEX => filter.patient_sex = Some(Text::from_query(&value.to_uppercase())),
            tags::ACCESSION_NUMBER => filter.accession_number = Some(Text::from_query(&value)),
            tags::REQUESTED_PROCEDURE_ID => {
                filter.requested_procedure_id = Some(Text::from_query(&value))
            }
            tags::REFERRING_PHYSICIAN_NAME => {
                filter.referring_physician = Some(Text::from_query(&value))
            }
            tags::PATIENT_BIRTH_DATE => {
                filter.birth_date = Some(parse_date_range(&value).ok_or_else(|| {
                    invalid(tag, format!("invalid Patient's Birth Date '{value}'"))
                })?)
            }
            tags::STUDY_INSTANCE_UID => {
                let uids: Vec<String> = element
                    .to_multi_str()
                    .map(|v| {
                        v.iter()
                            .map(|u| u.trim_matches(|c: char| c == ' ' || c == '\0').to_string())
                            .filter(|u| !u.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                if uids.iter().any(|u| u.contains(['*', '?'])) {
                    return Err(invalid(tag, "wildcards are not allowed in UIDs".into()));
                }
                filter.study_uids = Some(uids);
            }
            _ => unsupported = true,
        }
    }
    let station_unset = filter.station_aet.is_none();
    if options.filter_by_calling_aet && station_unset {
        filter.station_aet = Some(Text::Exact(calling_aet.to_string()));
    }
    Ok(FindRequest {
        filter,
        identifier,
        unsupported_keys: unsupported,
        default_station_aet,
    })
}

/// Parses the one query item of the Scheduled Procedure Step Sequence;
/// returns whether it constrained a key we do not match on.
fn parse_sps(item: &InMemDicomObject, filter: &mut WorklistFilter) -> Result<bool, QueryError> {
    let mut unsupported = false;
    for element in item.iter() {
        let tag = element.tag();
        if tag.element() == 0 {
            continue;
        }
        if is_sequence(element) {
            unsupported |= constrains(element);
            continue;
        }
        let Some(value) = query_value(element) else {
            continue;
        };
        match tag {
            tags::SCHEDULED_STATION_AE_TITLE => filter.station_aet = Some(Text::from_query(&value)),
            tags::MODALITY => filter.modality = Some(Text::from_query(&value)),
            tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME => {
                filter.performing_physician = Some(Text::from_query(&value))
            }
            tags::SCHEDULED_PROCEDURE_STEP_ID => filter.sps_id = Some(Text::from_query(&value)),
            tags::SCHEDULED_PROCEDURE_STEP_STATUS => {
                let stored = match value.to_uppercase().as_str() {
                    "STARTED" | "IN PROGRESS" | "IN_PROGRESS" => "IN_PROGRESS".to_string(),
                    other => other.to_string(),
                };
                filter.sps_status = Some(vec![stored]);
            }
            tags::SCHEDULED_PROCEDURE_STEP_START_DATE => {
                filter.sps_date = Some(parse_date_range(&value).ok_or_else(|| {
                    invalid(
                        tag,
                        format!("invalid Scheduled Procedure Step Start Date '{value}'"),
                    )
                })?)
            }
            tags::SCHEDULED_PROCEDURE_STEP_START_TIME => {
                // Items iterate in tag order: the start date (0040,0002) is
                // already parsed.
                let time = parse_time_range(&value)
                    .filter(|time| !time_order_refused(time, filter.sps_date.as_ref()))
                    .ok_or_else(|| {
                        invalid(
                            tag,
                            format!("invalid Scheduled Procedure Step Start Time '{value}'"),
                        )
                    })?;
                filter.sps_time = Some(time);
            }
            _ => unsupported = true,
        }
    }
    Ok(unsupported)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_ranges_accept_the_three_forms_and_refuse_garbage() {
        assert_eq!(parse_date_range("20250101-").unwrap().upper, None);
        assert_eq!(parse_date_range("-20250101").unwrap().lower, None);
        assert!(parse_date_range("20250101,").is_none());
        assert!(parse_date_range("20251301").is_none());
        assert!(parse_date_range("20250102-20250101").is_none());
        assert!(parse_date_range("-").is_none());
    }

    #[test]
    fn partial_times_cover_their_hour() {
        let r = parse_time_range("10").unwrap();
        assert_eq!(r.lower.as_deref(), Some("100000"));
        assert_eq!(r.upper.as_deref(), Some("109999"));
        assert!(parse_time_range("2500").is_none());
    }

    #[test]
    fn malformed_fractions_of_a_second_are_refused() {
        assert!(parse_time_range("10.abc").is_none());
        assert!(parse_time_range("1000.5").is_none());
        assert!(parse_time_range("100000.").is_none());
        assert!(parse_time_range("100000.1234567").is_none());
        assert!(parse_time_range("100000.25").is_some());
    }

    #[test]
    fn an_inverted_time_range_is_refused_unless_dates_span_several_days() {
        let time = parse_time_range("1000-0900").unwrap();
        let one_day = parse_date_range("20250705").unwrap();
        let days = parse_date_range("20250705-20250707").unwrap();
        assert!(time_order_refused(&time, None));
        assert!(time_order_refused(&time, Some(&one_day)));
        assert!(!time_order_refused(&time, Some(&days)));
        assert!(!time_order_refused(
            &parse_time_range("0900-1000").unwrap(),
            None
        ));
    }

    #[test]
    fn stored_dates_and_times_of_both_formats_become_da_and_tm() {
        assert_eq!(dicom_date(Some(&"2025-01-30".into())), "20250130");
        assert_eq!(dicom_date(Some(&"20250130".into())), "20250130");
        assert_eq!(dicom_date(Some(&"30/01/2025".into())), "");
        assert_eq!(dicom_time(Some(&"14:30".into())), "143000");
        assert_eq!(dicom_time(Some(&"143000".into())), "143000");
    }
}
