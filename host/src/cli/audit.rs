//! `pylantir audit`: who saw or changed a patient, from the audit trail
//! (the `audit_log` file and the files rotated beside it).

use crate::audit::reader::{self, Filter};
use crate::config;
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;

/// Options of `audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Records that name this patient ID (queries that returned the
    /// patient, MPPS, writes).
    #[arg(long = "patient-id", value_name = "ID")]
    pub patient_id: Option<String>,
    /// From this time on: `2026-12-05` (UTC midnight), `2026-12-05T13:00:00`
    /// (UTC) or an RFC 3339 time with its offset.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only records of this kind (repeatable): association, query, mpps,
    /// login, write, plugin_refused, source_disabled, records_lost.
    #[arg(long = "kind", value_name = "KIND", value_parser = KINDS)]
    pub kinds: Vec<String>,
    /// Print the records as JSON lines, as written.
    #[arg(long)]
    pub json: bool,
    /// The audit file (instead of the configuration's `audit_log`).
    #[arg(long = "audit-log", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// The configuration file whose `audit_log` is read [default: config/pylantir.json].
    #[arg(
        long = "pylantir_config",
        visible_alias = "config",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
}

/// The record kinds.
pub const KINDS: [&str; 8] = [
    "association",
    "query",
    "mpps",
    "login",
    "write",
    "plugin_refused",
    "source_disabled",
    "records_lost",
];

/// Prints the matching records; returns the exit code.
pub fn run(args: &AuditArgs) -> i32 {
    match answer(args) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("{message}");
            1
        }
    }
}

fn answer(args: &AuditArgs) -> Result<(), String> {
    let path = audit_file(args)?;
    let filter = Filter {
        patient_id: args.patient_id.clone(),
        since: args
            .since
            .as_deref()
            .map(|t| time("--since", t))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| time("--until", t))
            .transpose()?,
        kinds: args.kinds.clone(),
    };
    let found = reader::read(&path, &filter)?;
    for place in &found.unreadable {
        eprintln!("warning: {place}: not an audit record, skipped");
    }
    if args.json {
        for record in &found.records {
            println!("{record}");
        }
        return Ok(());
    }
    println!(
        "{:<27} {:<15} {:<8} {:<30} WHAT",
        "TIME", "KIND", "OUTCOME", "WHO"
    );
    for record in &found.records {
        let text = |key: &str| record.get(key).and_then(Value::as_str).unwrap_or("");
        println!(
            "{:<27} {:<15} {:<8} {:<30} {}",
            text("time"),
            text("kind"),
            text("outcome"),
            who(record),
            what(record)
        );
    }
    eprintln!(
        "{} record(s) from {} file(s) of {}",
        found.records.len(),
        found.files,
        path.display()
    );
    Ok(())
}

fn audit_file(args: &AuditArgs) -> Result<PathBuf, String> {
    if let Some(path) = &args.audit_log {
        return Ok(path.clone());
    }
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(super::start::DEFAULT_CONFIG));
    let raw = config::read_json(&config_path).map_err(|e| e.to_string())?;
    config::audit::path(&raw, &config_path).ok_or_else(|| {
        format!(
            "{} has no `audit_log`; give the audit file with --audit-log",
            config_path.display()
        )
    })
}

/// A time of --since/--until.
fn time(option: &str, text: &str) -> Result<jiff::Timestamp, String> {
    let utc = jiff::tz::TimeZone::UTC;
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Ok(timestamp);
    }
    let civil = text.parse::<jiff::civil::DateTime>().or_else(|_| {
        text.parse::<jiff::civil::Date>()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
    });
    civil
        .and_then(|dt| dt.to_zoned_datetime(utc).map(|z| z.timestamp()))
        .map_err(|_| {
            format!(
                "{option} {text:?}: expected a date (2026-12-05), a UTC time (2026-12-05T13:00:00) \
                 or an RFC 3339 time (2026-12-05T13:00:00+01:00)"
            )
        })
}

/// Who acted: `user@address (http)`, `AE@address`, or the source/plugin.
fn who(record: &Value) -> String {
    let text = |key: &str| record.get(key).and_then(Value::as_str);
    match (text("calling_ae"), text("user")) {
        (Some(ae), _) => format!("{ae}@{}", text("address").unwrap_or("?")),
        (None, Some(user)) => match (text("address"), text("via")) {
            (Some(address), Some(via)) => format!("{user}@{address} ({via})"),
            (Some(address), None) => format!("{user}@{address}"),
            (None, Some(via)) => format!("{user} ({via})"),
            (None, None) => user.to_string(),
        },
        (None, None) => text("source")
            .or(text("file"))
            .unwrap_or("pylantir")
            .to_string(),
    }
}

/// One line on what happened.
fn what(record: &Value) -> String {
    let text = |key: &str| record.get(key).and_then(Value::as_str).unwrap_or("");
    let patients = record
        .get("patients")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|p| p.get("id").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let reason = record.get("reason").and_then(Value::as_str);
    let line = match text("kind") {
        "query" => format!(
            "C-FIND {} item(s), patients [{patients}], keys {}",
            record.get("matches").and_then(Value::as_u64).unwrap_or(0),
            record
                .get("keys")
                .map_or_else(String::new, Value::to_string)
        ),
        "mpps" => format!(
            "{} {} patients [{patients}] ({})",
            text("operation"),
            record
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("no status"),
            text("sop_instance_uid")
        ),
        "write" => format!(
            "{} {} {} [{patients}] {} -> {}",
            text("action"),
            text("target"),
            text("id"),
            record
                .get("status_before")
                .and_then(Value::as_str)
                .unwrap_or("-"),
            record
                .get("status_after")
                .and_then(Value::as_str)
                .unwrap_or("-"),
        ),
        "association" => format!("association to {}", text("called_ae")),
        "records_lost" => format!(
            "{} record(s) lost",
            record.get("count").and_then(Value::as_u64).unwrap_or(0)
        ),
        other => other.to_string(),
    };
    match reason {
        Some(reason) => format!("{line}: {reason}"),
        None => line,
    }
}
