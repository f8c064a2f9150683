//! Applying one fetch to the store: normalise every entry (a bad one is
//! rejected alone), then write the rest in one transaction.

use super::normalise::{label, normalise};
use crate::store::items::write_fetch;
use crate::store::runs::RunCounts;
use pylantir_plugin_api::Entry;
use rusqlite::Connection;

/// Normalises and writes the entries fetched by the source named
/// `source_name`, of type `source_type`.
pub fn apply_entries(
    conn: &mut Connection,
    source_type: &str,
    source_name: &str,
    entries: &[Entry],
) -> rusqlite::Result<RunCounts> {
    let prefix = format!("[{source_type}:{source_name}]");
    let mut counts = RunCounts {
        fetched: entries.len() as u64,
        ..RunCounts::default()
    };
    let mut items = Vec::with_capacity(entries.len());
    for entry in entries {
        match normalise(entry) {
            Ok(normalised) => {
                for note in &normalised.notes {
                    log::debug!("{prefix} {}: {note}", label(entry));
                }
                for warning in &normalised.warnings {
                    log::warn!("{prefix} {}: {warning}", label(entry));
                }
                items.push(normalised.item);
            }
            Err(reason) => {
                log::warn!("{prefix} {} rejected: {reason}", label(entry));
                counts.rejected += 1;
            }
        }
    }
    let (written, conflicts) = write_fetch(conn, source_name, source_type, &items)?;
    for conflict in &conflicts {
        log::warn!(
            "{prefix} conflict: patient_id {:?}, patient_name {:?} belongs to source `{}`; not overwritten",
            conflict.patient_id,
            conflict.patient_name.as_deref().unwrap_or(""),
            conflict.owner
        );
    }
    counts.inserted = written.inserted;
    counts.updated = written.updated;
    counts.unchanged = written.unchanged;
    counts.conflicts = written.conflicts;
    Ok(counts)
}
