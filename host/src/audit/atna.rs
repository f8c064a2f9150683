//! A record as a DICOM PS3.15 A.5 audit message (the XML of IHE ATNA), for
//! syslog collectors. The codes used per kind are listed in
//! docs/operations.md.

use super::record::{Action, DicomPeer, Event, Outcome, Patient, Record};
use base64::Engine;
use std::fmt::Write;

/// The DICOM code scheme.
const DCM: &str = "DCM";

/// A coded value (`csd-code`, `codeSystemName`, `originalText`).
struct Code(&'static str, &'static str, &'static str);

const USER_AUTHENTICATION: Code = Code("110114", DCM, "User Authentication");
const LOGIN: Code = Code("110122", DCM, "Login");
const QUERY: Code = Code("110112", DCM, "Query");
const PROCEDURE_RECORD: Code = Code("110111", DCM, "Procedure Record");
const SECURITY_ALERT: Code = Code("110113", DCM, "Security Alert");
const SOFTWARE_CONFIGURATION: Code = Code("110131", DCM, "Software Configuration");
const USER_SECURITY_ATTRIBUTES: Code = Code("110137", DCM, "User Security Attributes Changed");
const AUDIT_RECORDING_STOPPED: Code = Code("110133", DCM, "Audit Recording Stopped");
const APPLICATION_ACTIVITY: Code = Code("110100", DCM, "Application Activity");
const APPLICATION_STOP: Code = Code("110121", DCM, "Application Stop");
const SOURCE_ROLE: Code = Code("110153", DCM, "Source Role ID");
const DESTINATION_ROLE: Code = Code("110152", DCM, "Destination Role ID");
const SOP_CLASS_UID: Code = Code("110181", DCM, "SOP Class UID");
const PATIENT_NUMBER: Code = Code("2", "RFC-3881", "Patient Number");
const USER_IDENTIFIER: Code = Code("11", "RFC-3881", "User Identifier");
const URI: Code = Code("12", "RFC-3881", "URI");

/// Who acted (the requestor) besides this server.
struct Requestor<'a> {
    user: &'a str,
    address: Option<&'a str>,
}

/// The A.5 `AuditMessage` for `record`; `source_id` names this server
/// (AuditSourceID), `server_user` its participant's UserID.
pub fn audit_message(record: &Record, source_id: &str, server_user: &str) -> String {
    let (event_id, type_code, action) = codes(&record.event);
    let outcome = match record.outcome {
        Outcome::Success => "0",
        Outcome::Failure => "4",
    };
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><AuditMessage>");
    let _ = write!(
        xml,
        "<EventIdentification EventActionCode=\"{action}\" EventDateTime=\"{}\" EventOutcomeIndicator=\"{outcome}\">",
        escape(&record.time)
    );
    code(&mut xml, "EventID", &event_id);
    if let Some(type_code) = type_code {
        code(&mut xml, "EventTypeCode", &type_code);
    }
    if let Some(reason) = &record.reason {
        let _ = write!(
            xml,
            "<EventOutcomeDescription>{}</EventOutcomeDescription>",
            escape(reason)
        );
    }
    xml.push_str("</EventIdentification>");

    let (requestor, server_role) = requestor(&record.event);
    if let Some(requestor) = &requestor {
        participant(
            &mut xml,
            requestor.user,
            requestor.address,
            true,
            Some(&SOURCE_ROLE),
        );
    }
    let server = match &record.event {
        Event::Association(e) => &e.peer.called_ae,
        Event::Query(e) => &e.peer.called_ae,
        Event::Mpps(e) => &e.peer.called_ae,
        _ => server_user,
    };
    participant(&mut xml, server, None, false, server_role);
    let _ = write!(
        xml,
        "<AuditSourceIdentification AuditSourceID=\"{}\"><AuditSourceTypeCode csd-code=\"4\" codeSystemName=\"DCM\" originalText=\"Application Server Process\"/></AuditSourceIdentification>",
        escape(source_id)
    );
    objects(&mut xml, &record.event);
    xml.push_str("</AuditMessage>");
    xml
}

fn codes(event: &Event) -> (Code, Option<Code>, char) {
    match event {
        Event::Association(_) | Event::Login(_) => (USER_AUTHENTICATION, Some(LOGIN), 'E'),
        Event::Query(_) => (QUERY, None, 'E'),
        Event::Mpps(e) => {
            let action = if e.operation == "N-CREATE" { 'C' } else { 'U' };
            (PROCEDURE_RECORD, None, action)
        }
        Event::Write(e) => {
            let action = match e.action {
                Action::Create => 'C',
                Action::Update => 'U',
                Action::Delete => 'D',
            };
            if e.target == "user" {
                (SECURITY_ALERT, Some(USER_SECURITY_ATTRIBUTES), 'E')
            } else {
                (PROCEDURE_RECORD, None, action)
            }
        }
        Event::PluginRefused(_) => (SECURITY_ALERT, Some(SOFTWARE_CONFIGURATION), 'E'),
        Event::SourceDisabled(_) => (APPLICATION_ACTIVITY, Some(APPLICATION_STOP), 'E'),
        Event::RecordsLost(_) => (SECURITY_ALERT, Some(AUDIT_RECORDING_STOPPED), 'E'),
    }
}

fn requestor(event: &Event) -> (Option<Requestor<'_>>, Option<&'static Code>) {
    match event {
        Event::Association(e) => (Some(peer(&e.peer)), Some(&DESTINATION_ROLE)),
        Event::Query(e) => (Some(peer(&e.peer)), Some(&DESTINATION_ROLE)),
        Event::Mpps(e) => (Some(peer(&e.peer)), Some(&DESTINATION_ROLE)),
        Event::Login(e) => (
            Some(Requestor {
                user: &e.user,
                address: Some(&e.address),
            }),
            None,
        ),
        Event::Write(e) => (
            Some(Requestor {
                user: &e.user,
                address: e.address.as_deref(),
            }),
            None,
        ),
        _ => (None, None),
    }
}

fn peer(peer: &DicomPeer) -> Requestor<'_> {
    Requestor {
        user: &peer.calling_ae,
        address: Some(&peer.address),
    }
}

fn objects(xml: &mut String, event: &Event) {
    match event {
        Event::Query(e) => {
            let query = serde_json::to_string(&e.keys).unwrap_or_default();
            let _ = write!(
                xml,
                "<ParticipantObjectIdentification ParticipantObjectID=\"{}\" ParticipantObjectTypeCode=\"2\" ParticipantObjectTypeCodeRole=\"3\">",
                escape(&e.sop_class)
            );
            code(xml, "ParticipantObjectIDTypeCode", &SOP_CLASS_UID);
            let _ = write!(
                xml,
                "<ParticipantObjectQuery>{}</ParticipantObjectQuery></ParticipantObjectIdentification>",
                base64::engine::general_purpose::STANDARD.encode(query)
            );
            patients(xml, &e.patients);
        }
        Event::Mpps(e) => patients(xml, &e.patients),
        Event::Write(e) if e.target == "user" => {
            object(xml, &e.id, "1", "11", &USER_IDENTIFIER);
        }
        Event::Write(e) => patients(xml, &e.patients),
        Event::PluginRefused(e) => object(xml, &e.file, "2", "13", &URI),
        Event::SourceDisabled(e) => object(xml, &e.source, "2", "4", &URI),
        _ => {}
    }
}

fn patients(xml: &mut String, patients: &[Patient]) {
    for patient in patients {
        let _ = write!(
            xml,
            "<ParticipantObjectIdentification ParticipantObjectID=\"{}\" ParticipantObjectTypeCode=\"1\" ParticipantObjectTypeCodeRole=\"1\">",
            escape(&patient.id)
        );
        code(xml, "ParticipantObjectIDTypeCode", &PATIENT_NUMBER);
        if let Some(name) = &patient.name {
            let _ = write!(
                xml,
                "<ParticipantObjectName>{}</ParticipantObjectName>",
                escape(name)
            );
        }
        xml.push_str("</ParticipantObjectIdentification>");
    }
}

fn object(xml: &mut String, id: &str, type_code: &str, role: &str, id_type: &Code) {
    let _ = write!(
        xml,
        "<ParticipantObjectIdentification ParticipantObjectID=\"{}\" ParticipantObjectTypeCode=\"{type_code}\" ParticipantObjectTypeCodeRole=\"{role}\">",
        escape(id)
    );
    code(xml, "ParticipantObjectIDTypeCode", id_type);
    xml.push_str("</ParticipantObjectIdentification>");
}

fn participant(
    xml: &mut String,
    user: &str,
    address: Option<&str>,
    requestor: bool,
    role: Option<&Code>,
) {
    let _ = write!(
        xml,
        "<ActiveParticipant UserID=\"{}\" UserIsRequestor=\"{requestor}\"",
        escape(user)
    );
    if !requestor {
        let _ = write!(xml, " AlternativeUserID=\"{}\"", std::process::id());
    }
    if let Some(address) = address {
        // The record keeps `ip:port`; the access point is the IP address.
        let ip = address
            .parse::<std::net::SocketAddr>()
            .map_or_else(|_| address.to_string(), |a| a.ip().to_string());
        let _ = write!(
            xml,
            " NetworkAccessPointID=\"{}\" NetworkAccessPointTypeCode=\"2\"",
            escape(&ip)
        );
    }
    match role {
        Some(role) => {
            xml.push('>');
            code(xml, "RoleIDCode", role);
            xml.push_str("</ActiveParticipant>");
        }
        None => xml.push_str("/>"),
    }
}

fn code(xml: &mut String, element: &str, code: &Code) {
    let _ = write!(
        xml,
        "<{element} csd-code=\"{}\" codeSystemName=\"{}\" originalText=\"{}\"/>",
        code.0, code.1, code.2
    );
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Query;

    #[test]
    fn a_query_names_both_aes_the_sop_class_and_each_patient() {
        let record = Record {
            time: "2026-12-05T13:00:00Z".into(),
            outcome: Outcome::Success,
            reason: None,
            event: Event::Query(Query {
                peer: DicomPeer {
                    calling_ae: "CT<1>".into(),
                    called_ae: "MWL".into(),
                    address: "127.0.0.1:4000".into(),
                    tls_subject: None,
                },
                sop_class: "1.2.840.10008.5.1.4.31".into(),
                keys: serde_json::Map::new(),
                matches: 1,
                patients: vec![Patient {
                    id: "P1".into(),
                    name: Some("DOE^JANE".into()),
                }],
            }),
        };
        let xml = audit_message(&record, "pylantir@host", "pylantir");
        assert!(xml.contains("<EventIdentification EventActionCode=\"E\" EventDateTime=\"2026-12-05T13:00:00Z\" EventOutcomeIndicator=\"0\"><EventID csd-code=\"110112\" codeSystemName=\"DCM\" originalText=\"Query\"/>"), "{xml}");
        assert!(xml.contains("<ActiveParticipant UserID=\"CT&lt;1&gt;\" UserIsRequestor=\"true\" NetworkAccessPointID=\"127.0.0.1\" NetworkAccessPointTypeCode=\"2\"><RoleIDCode csd-code=\"110153\""), "{xml}");
        assert!(
            xml.contains("<ActiveParticipant UserID=\"MWL\" UserIsRequestor=\"false\""),
            "{xml}"
        );
        assert!(
            xml.contains("ParticipantObjectID=\"1.2.840.10008.5.1.4.31\""),
            "{xml}"
        );
        assert!(xml.contains("ParticipantObjectID=\"P1\" ParticipantObjectTypeCode=\"1\" ParticipantObjectTypeCodeRole=\"1\"><ParticipantObjectIDTypeCode csd-code=\"2\" codeSystemName=\"RFC-3881\" originalText=\"Patient Number\"/><ParticipantObjectName>DOE^JANE</ParticipantObjectName>"), "{xml}");
    }
}
