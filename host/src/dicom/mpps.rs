//! Modality Performed Procedure Step SCP (PS3.4 Annex F): N-CREATE and
//! N-SET with their failure statuses, persisted through `store::mpps`.
//! With `mpps_lenient` every request is answered Success (pylantir 0.4's
//! behaviour) while the store is updated exactly as in strict mode.

use super::association::{End, Peer};
use super::dimse::{self, status, Message, ResponseFields};
use super::transport::Transport;
use crate::store::mpps::{self as store, Created, LinkKeys};
use crate::store::outcomes::{Performed, WriteBack};
use dicom_core::header::Header;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::TransferSyntax;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN;

/// The PPS statuses of PS3.3 C.4.14.
const STATUSES: [&str; 3] = ["IN PROGRESS", "COMPLETED", "DISCONTINUED"];

/// Error ID of "Performed Procedure Step Object may no longer be updated".
const MAY_NO_LONGER_BE_UPDATED: u16 = 0xA710;

/// The outcome of one request, before lenient mode is applied.
struct Outcome {
    status: u16,
    comment: Option<String>,
    error_id: Option<u16>,
    offending: Option<Tag>,
}

impl Outcome {
    fn success() -> Outcome {
        Outcome {
            status: status::SUCCESS,
            comment: None,
            error_id: None,
            offending: None,
        }
    }

    fn failure(status: u16, comment: impl Into<String>) -> Outcome {
        Outcome {
            status,
            comment: Some(comment.into()),
            error_id: None,
            offending: None,
        }
    }
}

fn respond<S: Transport>(
    peer: &mut Peer<'_, S>,
    request: &Message,
    uid: &str,
    outcome: Outcome,
) -> Result<(), End> {
    let verb = if request.field() == dimse::field::N_CREATE_RQ {
        "N-CREATE"
    } else {
        "N-SET"
    };
    let mut outcome = outcome;
    if outcome.status != status::SUCCESS {
        log::warn!(
            "MPPS {verb} {uid} from {} ('{}'): status 0x{:04X}: {}{}",
            peer.addr,
            peer.aet,
            outcome.status,
            outcome.comment.as_deref().unwrap_or(""),
            if peer.shared.options.mpps_lenient {
                " (answered Success: mpps_lenient)"
            } else {
                ""
            }
        );
        if peer.shared.options.mpps_lenient {
            outcome = Outcome::success();
        }
    }
    peer.respond(
        request,
        outcome.status,
        &ResponseFields {
            sop_class: Some(uids::MODALITY_PERFORMED_PROCEDURE_STEP),
            sop_instance: Some(uid),
            error_comment: outcome.comment.as_deref(),
            error_id: outcome.error_id,
            offending: outcome.offending,
        },
    )
}

fn decode(request: &Message, ts: &TransferSyntax) -> Result<InMemDicomObject, Outcome> {
    match request.data.as_deref() {
        Some(bytes) => dimse::decode_data(bytes, ts)
            .map_err(|e| Outcome::failure(status::PROCESSING_FAILURE, e)),
        None => Err(Outcome::failure(status::MISSING_ATTRIBUTE, "no data set")),
    }
}

/// Stored form: explicit VR little endian, UTF-8.
fn encode_stored(object: &mut InMemDicomObject) -> Result<Vec<u8>, Outcome> {
    object.put(DataElement::new(
        tags::SPECIFIC_CHARACTER_SET,
        VR::CS,
        PrimitiveValue::from("ISO_IR 192"),
    ));
    dimse::encode_data(object, &EXPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| Outcome::failure(status::PROCESSING_FAILURE, e))
}

fn pps_status(object: &InMemDicomObject) -> Option<String> {
    dimse::str_of(object, tags::PERFORMED_PROCEDURE_STEP_STATUS)
}

fn invalid_status(value: Option<&str>) -> Outcome {
    Outcome {
        status: status::INVALID_ATTRIBUTE_VALUE,
        comment: Some(format!(
            "Performed Procedure Step Status '{}' is not allowed here",
            value.unwrap_or("")
        )),
        error_id: None,
        offending: Some(tags::PERFORMED_PROCEDURE_STEP_STATUS),
    }
}

/// The link keys of an N-CREATE data set.
fn link_keys(object: &InMemDicomObject) -> Vec<LinkKeys> {
    let patient_id = dimse::str_of(object, tags::PATIENT_ID);
    let patient_name = dimse::str_of(object, tags::PATIENT_NAME);
    let items = object
        .get(tags::SCHEDULED_STEP_ATTRIBUTES_SEQUENCE)
        .and_then(|e| e.items())
        .unwrap_or(&[]);
    let mut keys: Vec<LinkKeys> = items
        .iter()
        .map(|item| LinkKeys {
            study_uid: dimse::str_of(item, tags::STUDY_INSTANCE_UID),
            sps_id: dimse::str_of(item, tags::SCHEDULED_PROCEDURE_STEP_ID),
            accession_number: dimse::str_of(item, tags::ACCESSION_NUMBER),
            patient_id: patient_id.clone(),
            patient_name: patient_name.clone(),
        })
        .collect();
    if keys.is_empty() {
        keys.push(LinkKeys {
            patient_id,
            patient_name,
            ..LinkKeys::default()
        });
    }
    keys
}

/// `YYYY-MM-DDTHH:MM:SS` from a DICOM date and time (`HH`, `HHMM` or
/// `HHMMSS`, fraction dropped); the date alone without a time; `None`
/// without a well-formed date.
fn date_time(date: Option<String>, time: Option<String>) -> Option<String> {
    let date = date?;
    let date = date.trim();
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day = format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..]);
    let digits: String = time
        .as_deref()
        .unwrap_or_default()
        .trim()
        .split('.')
        .next()
        .unwrap_or_default()
        .replace(':', "");
    if digits.is_empty() || digits.len() > 6 || digits.len() % 2 == 1 {
        return Some(day);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(day);
    }
    let padded = format!("{digits:0<6}");
    Some(format!(
        "{day}T{}:{}:{}",
        &padded[..2],
        &padded[2..4],
        &padded[4..]
    ))
}

/// What the data set says about the performed step, for the write-back.
fn performed(object: &InMemDicomObject) -> Performed {
    let text = |tag| dimse::str_of(object, tag).filter(|s| !s.is_empty());
    Performed {
        start: date_time(
            text(tags::PERFORMED_PROCEDURE_STEP_START_DATE),
            text(tags::PERFORMED_PROCEDURE_STEP_START_TIME),
        ),
        end: date_time(
            text(tags::PERFORMED_PROCEDURE_STEP_END_DATE),
            text(tags::PERFORMED_PROCEDURE_STEP_END_TIME),
        ),
        station_ae_title: text(tags::PERFORMED_STATION_AE_TITLE),
        station_name: text(tags::PERFORMED_STATION_NAME),
    }
}

/// Handles N-CREATE-RQ.
pub fn handle_create<S: Transport>(
    peer: &mut Peer<'_, S>,
    request: &Message,
    ts: &TransferSyntax,
) -> Result<(), End> {
    let uid = dimse::str_of(&request.command, tags::AFFECTED_SOP_INSTANCE_UID)
        .unwrap_or_else(|| format!("2.25.{}", uuid::Uuid::new_v4().as_u128()));
    let outcome = create(peer, &uid, request, ts).unwrap_or_else(|failure| failure);
    let answer = (outcome.status, outcome.comment.as_deref());
    crate::audit::dicom::mpps(peer, "N-CREATE", &uid, (request, ts), answer);
    respond(peer, request, &uid, outcome)
}

fn create<S: Transport>(
    peer: &mut Peer<'_, S>,
    uid: &str,
    request: &Message,
    ts: &TransferSyntax,
) -> Result<Outcome, Outcome> {
    let mut object = decode(request, ts)?;
    let value = pps_status(&object);
    if value.as_deref() != Some("IN PROGRESS") {
        return Err(invalid_status(value.as_deref()));
    }
    let links = link_keys(&object);
    let performed = performed(&object);
    let bytes = encode_stored(&mut object)?;
    let shared = peer.shared;
    let conn = shared
        .store
        .get()
        .map_err(|e| Outcome::failure(status::PROCESSING_FAILURE, format!("database: {e}")))?;
    let write_back = WriteBack {
        sources: &shared.options.write_back_sources,
        performed: &performed,
    };
    match store::create(
        &*conn,
        uid,
        "IN PROGRESS",
        &peer.aet,
        &bytes,
        &links,
        &write_back,
    ) {
        Ok(Created::Stored(Some(item))) => {
            log::info!(
                "MPPS {uid} from {} ('{}') IN PROGRESS, worklist item {item}",
                peer.addr,
                peer.aet
            );
            Ok(Outcome::success())
        }
        Ok(Created::Stored(None)) => {
            log::warn!(
                "MPPS {uid} from {} ('{}') IN PROGRESS matches no worklist item: stored as unscheduled",
                peer.addr,
                peer.aet
            );
            Ok(Outcome::success())
        }
        Ok(Created::Duplicate) => Err(Outcome::failure(
            status::DUPLICATE_SOP_INSTANCE,
            "an MPPS instance with this UID exists",
        )),
        Err(e) => {
            log::error!("MPPS {uid}: storing failed: {e}");
            Err(Outcome::failure(
                status::PROCESSING_FAILURE,
                "database write failed",
            ))
        }
    }
}

/// Handles N-SET-RQ.
pub fn handle_set<S: Transport>(
    peer: &mut Peer<'_, S>,
    request: &Message,
    ts: &TransferSyntax,
) -> Result<(), End> {
    let uid = dimse::str_of(&request.command, tags::REQUESTED_SOP_INSTANCE_UID).unwrap_or_default();
    let outcome = set(peer, &uid, request, ts).unwrap_or_else(|failure| failure);
    let answer = (outcome.status, outcome.comment.as_deref());
    crate::audit::dicom::mpps(peer, "N-SET", &uid, (request, ts), answer);
    respond(peer, request, &uid, outcome)
}

/// 0x0110 with Error ID A710: the instance is COMPLETED or DISCONTINUED.
fn no_longer_updatable() -> Outcome {
    Outcome {
        status: status::PROCESSING_FAILURE,
        comment: Some("Performed Procedure Step Object may no longer be updated".into()),
        error_id: Some(MAY_NO_LONGER_BE_UPDATED),
        offending: None,
    }
}

fn set<S: Transport>(
    peer: &mut Peer<'_, S>,
    uid: &str,
    request: &Message,
    ts: &TransferSyntax,
) -> Result<Outcome, Outcome> {
    let changes = decode(request, ts)?;
    let shared = peer.shared;
    let conn = shared
        .store
        .get()
        .map_err(|e| Outcome::failure(status::PROCESSING_FAILURE, format!("database: {e}")))?;
    let stored = store::get(&*conn, uid)
        .map_err(|e| Outcome::failure(status::PROCESSING_FAILURE, format!("database: {e}")))?
        .ok_or_else(|| Outcome::failure(status::NO_SUCH_SOP_INSTANCE, "no such MPPS instance"))?;
    if stored.status != "IN PROGRESS" {
        return Err(no_longer_updatable());
    }
    let new_status = match pps_status(&changes) {
        None => stored.status.clone(),
        Some(s) if STATUSES.contains(&s.as_str()) => s,
        Some(other) => return Err(invalid_status(Some(&other))),
    };
    let mut object = dimse::decode_data(&stored.attributes, &EXPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| {
            Outcome::failure(status::PROCESSING_FAILURE, format!("stored instance: {e}"))
        })?;
    // Merge: each attribute of the modification list replaces the stored one
    // (sequences are sent whole, PS3.4 F.7.2.2.2).
    for element in changes.iter() {
        if element.tag() != tags::SPECIFIC_CHARACTER_SET {
            object.put(element.clone());
        }
    }
    let performed = performed(&object);
    let bytes = encode_stored(&mut object)?;
    let write_back = WriteBack {
        sources: &shared.options.write_back_sources,
        performed: &performed,
    };
    match store::update(&*conn, uid, &new_status, &bytes, &write_back) {
        Ok(store::Updated::NoLongerInProgress) => Err(no_longer_updatable()),
        Ok(store::Updated::Stored(item)) => {
            log::info!(
                "MPPS {uid} from {} ('{}') {new_status}{}",
                peer.addr,
                peer.aet,
                item.map(|i| format!(", worklist item {i}"))
                    .unwrap_or_default()
            );
            Ok(Outcome::success())
        }
        Err(e) => {
            log::error!("MPPS {uid}: storing failed: {e}");
            Err(Outcome::failure(
                status::PROCESSING_FAILURE,
                "database write failed",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::date_time;

    #[test]
    fn performed_date_and_time_become_iso_text() {
        let t = |d: &str, t: &str| date_time(Some(d.into()), Some(t.into()));
        assert_eq!(
            t("20250130", "101500.25").as_deref(),
            Some("2025-01-30T10:15:00")
        );
        assert_eq!(
            t("20250130", "1015").as_deref(),
            Some("2025-01-30T10:15:00")
        );
        assert_eq!(t("20250130", "").as_deref(), Some("2025-01-30"));
        assert_eq!(t("2025-01-30", "1015"), None);
        assert_eq!(date_time(None, Some("1015".into())), None);
    }
}
