//! The records of the DICOM server: associations accepted or refused,
//! C-FIND answers (the query keys, how many items, which patients) and MPPS
//! N-CREATE / N-SET. The hooks in `crate::dicom` call these in one line.

use super::record::{Association, DicomPeer, Event, Mpps, Outcome, Patient, Query};
use super::Audit;
use crate::dicom::association::Peer;
use crate::dicom::dimse::Message;
use crate::dicom::transport::Transport;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::value::Value as DicomValue;
use dicom_dictionary_std::{tags, uids, StandardDataDictionary};
use dicom_encoding::TransferSyntax;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;

/// The peer of an association as recorded, before its TLS certificate is
/// known (refused associations; [`of`] adds the subject of accepted ones).
pub fn dicom_peer(calling_ae: &str, called_ae: &str, address: SocketAddr) -> DicomPeer {
    DicomPeer {
        calling_ae: calling_ae.to_string(),
        called_ae: called_ae.to_string(),
        address: address.to_string(),
        tls_subject: None,
    }
}

/// The peer of an established association, with its TLS certificate's subject.
fn of<S: Transport>(peer: &Peer<'_, S>) -> DicomPeer {
    DicomPeer {
        tls_subject: peer.tls_subject.clone(),
        ..dicom_peer(&peer.aet, &peer.shared.options.ae_title, peer.addr)
    }
}

/// An association established with `peer`.
pub fn accepted<S: Transport>(peer: &Peer<'_, S>) {
    let event = Event::Association(Association { peer: of(peer) });
    peer.shared.audit.record(Outcome::Success, None, event);
}

/// An association refused (`reason` in words).
pub fn refused(audit: &Audit, peer: DicomPeer, reason: &str) {
    let event = Event::Association(Association { peer });
    audit.record(Outcome::Failure, Some(reason.to_string()), event);
}

/// What one C-FIND asked and returned, gathered while it is answered.
pub struct FindAudit {
    /// The query keys with a value; `None` when auditing is off.
    keys: Option<Map<String, Value>>,
    patients: BTreeSet<Patient>,
}

impl FindAudit {
    /// Starts with the C-FIND identifier (its keys are kept only when auditing is on).
    pub fn new(audit: &Audit, identifier: &InMemDicomObject) -> FindAudit {
        FindAudit {
            keys: audit.is_on().then(|| keys(identifier)),
            patients: BTreeSet::new(),
        }
    }

    /// One item returned.
    pub fn returned(&mut self, patient_id: Option<&str>, patient_name: Option<&str>) {
        if let (Some(_), Some(id)) = (&self.keys, patient_id) {
            self.patients.insert(Patient {
                id: id.to_string(),
                name: patient_name.map(str::to_string),
            });
        }
    }

    /// The C-FIND was answered with `matches` items (`cancelled` by the peer).
    pub fn answered<S: Transport>(self, peer: &Peer<'_, S>, matches: u64, cancelled: bool) {
        let Some(keys) = self.keys else {
            return;
        };
        let event = Event::Query(Query {
            peer: of(peer),
            sop_class: uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND.to_string(),
            keys,
            matches: matches as usize,
            patients: self.patients.into_iter().collect(),
        });
        let reason = cancelled.then(|| "cancelled by the peer".to_string());
        peer.shared.audit.record(Outcome::Success, reason, event);
    }
}

/// The keys of `object` that have a value, by keyword (`(gggg,eeee)` for
/// unknown tags); a sequence becomes the keys of its first item.
fn keys(object: &InMemDicomObject) -> Map<String, Value> {
    let mut found = Map::new();
    for element in object.iter() {
        let tag = element.header().tag;
        if tag == tags::SPECIFIC_CHARACTER_SET {
            continue;
        }
        let name = StandardDataDictionary
            .by_tag(tag)
            .map_or_else(|| tag.to_string(), |entry| entry.alias().to_string());
        let value = match element.value() {
            DicomValue::Sequence(sequence) => match sequence.items().first().map(keys) {
                Some(nested) if !nested.is_empty() => Value::Object(nested),
                _ => continue,
            },
            _ => match element.to_str() {
                Ok(text) => {
                    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
                    if text.is_empty() {
                        continue;
                    }
                    Value::String(text.to_string())
                }
                Err(_) => continue,
            },
        };
        found.insert(name, value);
    }
    found
}

/// An MPPS `operation` (`N-CREATE` / `N-SET`) on instance `uid`, received
/// as `request` and answered with (status, error comment): the status it
/// sent and the patient (from the message, else from the stored instance).
pub fn mpps<S: Transport>(
    peer: &Peer<'_, S>,
    operation: &str,
    uid: &str,
    (request, ts): (&Message, &TransferSyntax),
    (status, comment): (u16, Option<&str>),
) {
    let audit = &peer.shared.audit;
    if !audit.is_on() {
        return;
    }
    let failure = (status != crate::dicom::dimse::status::SUCCESS).then(|| comment.unwrap_or(""));
    let data = request.data.as_deref();
    let sent = data.and_then(|bytes| crate::dicom::dimse::decode_data(bytes, ts).ok());
    let status = sent
        .as_ref()
        .and_then(|o| text(o, tags::PERFORMED_PROCEDURE_STEP_STATUS));
    let mut patient = sent.as_ref().and_then(patient_of);
    if patient.is_none() {
        patient = stored_patient(peer, uid);
    }
    let event = Event::Mpps(Mpps {
        peer: of(peer),
        operation: operation.to_string(),
        sop_instance_uid: uid.to_string(),
        status,
        patients: patient.into_iter().collect(),
    });
    match failure {
        None => audit.record(Outcome::Success, None, event),
        Some(reason) => audit.record(Outcome::Failure, Some(reason.to_string()), event),
    }
}

fn stored_patient<S: Transport>(peer: &Peer<'_, S>, uid: &str) -> Option<Patient> {
    let conn = peer.shared.store.get().ok()?;
    let stored = crate::store::mpps::get(&*conn, uid).ok()??;
    let object =
        crate::dicom::dimse::decode_data(&stored.attributes, &EXPLICIT_VR_LITTLE_ENDIAN.erased())
            .ok()?;
    patient_of(&object)
}

fn patient_of(object: &InMemDicomObject) -> Option<Patient> {
    Some(Patient {
        id: text(object, tags::PATIENT_ID)?,
        name: text(object, tags::PATIENT_NAME),
    })
}

fn text(object: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    crate::dicom::dimse::str_of(object, tag)
}
