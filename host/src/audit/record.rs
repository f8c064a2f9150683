//! The audit records: one JSON object per line, `time`, `kind`, `outcome`,
//! an optional `reason`, then the fields of its kind (see
//! docs/operations.md, "Audit trail").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One audit record as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When it happened (RFC 3339, UTC).
    pub time: String,
    /// Whether the action succeeded (association accepted, login good, ...).
    pub outcome: Outcome,
    /// Why it failed or was refused; `null` on success.
    pub reason: Option<String>,
    /// What happened, with the fields of that kind (`kind` names it).
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    /// A record of `event` with `outcome`, stamped now.
    pub fn now(outcome: Outcome, reason: Option<String>, event: Event) -> Record {
        Record {
            time: jiff::Timestamp::now().to_string(),
            outcome,
            reason,
            event,
        }
    }

    /// The record's `kind` as written (`association`, `query`, ...).
    pub fn kind(&self) -> &'static str {
        match self.event {
            Event::Association(_) => "association",
            Event::Query(_) => "query",
            Event::Mpps(_) => "mpps",
            Event::Login(_) => "login",
            Event::Write(_) => "write",
            Event::PluginRefused(_) => "plugin_refused",
            Event::SourceDisabled(_) => "source_disabled",
            Event::RecordsLost(_) => "records_lost",
        }
    }
}

/// The outcome of an audited action (PS3.15 A.5 EventOutcomeIndicator 0 or 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

/// What happened; `kind` in the JSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A DICOM association was accepted or rejected.
    Association(Association),
    /// A C-FIND was answered.
    Query(Query),
    /// An MPPS N-CREATE or N-SET.
    Mpps(Mpps),
    /// A login to the HTTP API.
    Login(Login),
    /// A change through the HTTP API or the command line.
    Write(Write),
    /// A plugin file that was not loaded.
    PluginRefused(PluginRefused),
    /// A source disabled after its worker failed too often.
    SourceDisabled(SourceDisabled),
    /// Records that could not be queued (the audit sink was slow or failing).
    RecordsLost(RecordsLost),
}

/// The DICOM peer of an association.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DicomPeer {
    /// The calling AE title (the peer's).
    pub calling_ae: String,
    /// The called AE title (ours, as the peer asked for it).
    pub called_ae: String,
    /// The peer's IP address and port.
    pub address: String,
    /// The subject of the peer's TLS client certificate; `null` without TLS
    /// or without a client certificate.
    pub tls_subject: Option<String>,
}

/// A patient an event concerns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Patient {
    /// Patient ID (0010,0020).
    pub id: String,
    /// Patient's Name (0010,0010), as stored.
    pub name: Option<String>,
}

/// `kind: association`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Association {
    #[serde(flatten)]
    pub peer: DicomPeer,
}

/// `kind: query`: one C-FIND and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    #[serde(flatten)]
    pub peer: DicomPeer,
    /// The SOP class queried.
    pub sop_class: String,
    /// The query keys that had a value (keyword -> value as received;
    /// sequence keys nested).
    pub keys: Map<String, Value>,
    /// How many items were returned.
    pub matches: usize,
    /// The patients of the returned items (each once).
    pub patients: Vec<Patient>,
}

/// `kind: mpps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mpps {
    #[serde(flatten)]
    pub peer: DicomPeer,
    /// `N-CREATE` or `N-SET`.
    pub operation: String,
    /// The MPPS SOP instance UID.
    pub sop_instance_uid: String,
    /// The Performed Procedure Step Status sent (`IN PROGRESS`, `COMPLETED`,
    /// `DISCONTINUED`), `null` when the message carried none.
    pub status: Option<String>,
    /// The patient of the step, when known.
    pub patients: Vec<Patient>,
}

/// `kind: login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Login {
    /// The username given.
    pub user: String,
    /// The client's IP address.
    pub address: String,
}

/// Where a write came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Http,
    Cli,
}

/// The action of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// `kind: write`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Write {
    /// `http` or `cli`.
    pub via: Via,
    /// Who: the API user, or the operating-system user running the command.
    pub user: String,
    /// The client's IP address (`null` for the command line).
    pub address: Option<String>,
    /// What was written: `worklist_item` or `user`.
    pub target: String,
    /// `create`, `update` or `delete`.
    pub action: Action,
    /// The item id or username written.
    pub id: String,
    /// The fields the request set (never their values for a password).
    pub fields: Vec<String>,
    /// The item's status (or a user's role) before; `null` when created.
    pub status_before: Option<String>,
    /// The item's status (or a user's role) after; `null` when deleted.
    pub status_after: Option<String>,
    /// The patient of a worklist item.
    pub patients: Vec<Patient>,
}

/// `kind: plugin_refused`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginRefused {
    /// The plugin file.
    pub file: String,
}

/// `kind: source_disabled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceDisabled {
    /// The source's configured name.
    pub source: String,
}

/// `kind: records_lost`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordsLost {
    /// How many records were dropped.
    pub count: u64,
    /// When the first of them was dropped.
    pub first_lost: String,
    /// When the last of them was dropped.
    pub last_lost: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_flat_json_object_that_reads_back() {
        let record = Record {
            time: "2026-12-05T13:00:00Z".into(),
            outcome: Outcome::Failure,
            reason: Some("calling AE title not allowed".into()),
            event: Event::Association(Association {
                peer: DicomPeer {
                    calling_ae: "CT1".into(),
                    called_ae: "MWL".into(),
                    address: "127.0.0.1:4000".into(),
                    tls_subject: None,
                },
            }),
        };
        let line = serde_json::to_string(&record).unwrap();
        assert_eq!(
            line,
            r#"{"time":"2026-12-05T13:00:00Z","outcome":"failure","reason":"calling AE title not allowed","kind":"association","calling_ae":"CT1","called_ae":"MWL","address":"127.0.0.1:4000","tls_subject":null}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), record);
        assert_eq!(record.kind(), "association");
    }
}
