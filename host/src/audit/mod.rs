//! The audit trail: who associated, queried, performed, logged in and
//! changed what, as JSON lines in the `audit_log` file and optionally as
//! DICOM PS3.15 A.5 audit messages over syslog.
//!
//! - [`record`]: the record types (one per event kind).
//! - [`writer`]: the bounded queue and the writer thread (what happens when
//!   the sink is slow, full or failing).
//! - [`file`]: the audit file: batches, fsync, rotation.
//! - [`dicom`]: the DICOM server's records (associations, C-FIND, MPPS).
//! - [`atna`]: a record as a PS3.15 A.5 audit message (XML).
//! - [`syslog`]: the optional RFC 5424 syslog sink.
//! - [`reader`]: reading the audit files back (`pylantir audit`).
//!
//! An [`Audit`] handle is passed to whoever records; [`Audit::off`] (no
//! `audit_log` configured) records nothing.

pub mod atna;
pub mod dicom;
pub mod file;
pub mod reader;
pub mod record;
pub mod syslog;
pub mod writer;

pub use record::{Event, Outcome, Patient, Record};

use std::path::PathBuf;
use std::sync::Arc;

/// When the audit file is rotated (both may be set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotation {
    /// Rotate before a batch would take the file past this size.
    pub max_bytes: Option<u64>,
    /// Rotate when the UTC date changes.
    pub daily: bool,
}

/// The `audit_log` configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSettings {
    /// The audit file (JSON lines).
    pub path: PathBuf,
    /// When it is rotated.
    pub rotation: Rotation,
    /// Where syslog messages go, if anywhere.
    pub syslog: Option<syslog::SyslogSettings>,
}

/// The handle every audited place holds; cheap to clone.
#[derive(Clone, Default)]
pub struct Audit {
    writer: Option<Arc<writer::Writer>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_on() {
            "Audit(on)"
        } else {
            "Audit(off)"
        })
    }
}

impl Audit {
    /// Auditing off: every record is ignored.
    pub fn off() -> Audit {
        Audit::default()
    }

    /// Opens the audit file (an error names it) and the syslog sink, and
    /// starts the writer thread.
    pub fn start(settings: &AuditSettings) -> Result<Audit, String> {
        Audit::start_with(settings, writer::Limits::default())
    }

    /// [`Audit::start`] with explicit queue limits.
    pub fn start_with(settings: &AuditSettings, limits: writer::Limits) -> Result<Audit, String> {
        let file = file::FileSink::open(&settings.path, settings.rotation)?;
        let syslog = settings
            .syslog
            .as_ref()
            .map(syslog::SyslogSink::new)
            .transpose()?;
        let sinks = Sinks { file, syslog };
        let writer = writer::Writer::spawn(Box::new(sinks), limits)?;
        log::info!("audit trail: {}", settings.path.display());
        Ok(Audit {
            writer: Some(Arc::new(writer)),
        })
    }

    /// Whether records are kept (callers may skip building a record otherwise).
    pub fn is_on(&self) -> bool {
        self.writer.is_some()
    }

    /// Records `event` with its outcome, stamped now. Never waits longer
    /// than the queue's `max_wait`.
    pub fn record(&self, outcome: Outcome, reason: Option<String>, event: Event) {
        if let Some(writer) = &self.writer {
            writer.push(Record::now(outcome, reason, event));
        }
    }

    /// A plugin file that was not loaded, and why.
    pub fn plugin_refused(&self, file: &std::path::Path, reason: &str) {
        let event = Event::PluginRefused(record::PluginRefused {
            file: file.display().to_string(),
        });
        self.record(Outcome::Failure, Some(reason.to_string()), event);
    }

    /// A source disabled after its worker failed too often (`reason`: the
    /// message that says so).
    pub fn source_disabled(&self, source: &str, reason: &str) {
        let event = Event::SourceDisabled(record::SourceDisabled {
            source: source.to_string(),
        });
        self.record(Outcome::Failure, Some(reason.to_string()), event);
    }

    /// A login to the HTTP API: `Ok` when it succeeded, else why not.
    pub fn login(&self, user: &str, address: std::net::IpAddr, result: Result<(), &str>) {
        let event = Event::Login(record::Login {
            user: user.to_string(),
            address: address.to_string(),
        });
        match result {
            Ok(()) => self.record(Outcome::Success, None, event),
            Err(reason) => self.record(Outcome::Failure, Some(reason.to_string()), event),
        }
    }

    /// A successful write through the HTTP API or the command line.
    pub fn write(&self, write: record::Write) {
        self.record(Outcome::Success, None, Event::Write(write));
    }

    /// Writes what is queued and stops the writer (records after this are
    /// not written).
    pub fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close();
        }
    }
}

/// Who runs this command: the operating-system user (`USER`, else
/// `LOGNAME`, else the numeric uid).
pub fn command_line_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|name| !name.is_empty())
        // SAFETY: getuid has no preconditions and cannot fail.
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }))
}

/// The audit file, then syslog (whose failures do not hold the file's batches).
struct Sinks {
    file: file::FileSink,
    syslog: Option<syslog::SyslogSink>,
}

impl writer::Sink for Sinks {
    fn write(&mut self, batch: &[Record]) -> Result<(), String> {
        self.file.write(batch)?;
        if let Some(syslog) = &mut self.syslog {
            syslog.send(batch);
        }
        Ok(())
    }
}
