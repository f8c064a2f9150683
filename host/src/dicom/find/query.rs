//! Parsing an MWL C-FIND query identifier (PS3.4 Annex K) into a store
//! filter: the matching types of C.2.2.2, validated, and the keys we cannot
//! match on.

use crate::dicom::dimse::status;
use crate::dicom::options::ServerOptions;
use crate::store::find::{Range, Text, WorklistFilter};
use dicom_core::header::Header;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::mem::InMemElement;
use dicom_object::InMemDicomObject;

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

/// Whether an element is a sequence.
pub(super) fn is_sequence(element: &InMemElement) -> bool {
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
pub(super) fn time_digits(value: &str) -> Option<String> {
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
}
