//! Applying one fetch to the store: normalise every entry (a bad one is
//! rejected alone), then write the rest in one transaction, retracting what
//! a fetch complete for its window no longer returns.

use super::normalise::{label, normalise};
use crate::source::Fetched;
use crate::store::items::write_fetch_with;
use crate::store::retract::{Guard, Retraction};
use crate::store::runs::{Record, RecordKind, RunCounts};
use crate::store::{Db, DbResult};
use pylantir_plugin_api::entry::SOURCE_RECORD_ID;
use pylantir_plugin_api::Entry;

/// Normalises and writes the entries fetched by the source named
/// `source_name`, of type `source_type` (no retraction).
pub fn apply_entries(
    db: &dyn Db,
    source_type: &str,
    source_name: &str,
    entries: &[Entry],
) -> DbResult<RunCounts> {
    apply(
        db,
        source_type,
        source_name,
        entries,
        None,
        Guard::default(),
    )
    .map(|(c, _)| c)
}

/// Normalises and writes a whole fetch: its entries, its complete window
/// (retraction, held back by `guard` when too large) and its skipped
/// records. Returns the counts and the records rejected or skipped.
pub fn apply_fetch(
    db: &dyn Db,
    source_type: &str,
    source_name: &str,
    fetched: &Fetched,
    guard: Guard,
) -> DbResult<(RunCounts, Vec<Record>)> {
    apply(
        db,
        source_type,
        source_name,
        &fetched.entries,
        Some(fetched),
        guard,
    )
}

fn apply(
    db: &dyn Db,
    source_type: &str,
    source_name: &str,
    entries: &[Entry],
    fetched: Option<&Fetched>,
    guard: Guard,
) -> DbResult<(RunCounts, Vec<Record>)> {
    let prefix = format!("[{source_type}:{source_name}]");
    let mut counts = RunCounts {
        fetched: entries.len() as u64,
        ..RunCounts::default()
    };
    let mut records = Vec::new();
    let mut retraction = fetched
        .and_then(|f| f.complete_window.clone())
        .map(|window| Retraction {
            window,
            guard,
            ..Retraction::default()
        });
    if let Some(fetched) = fetched {
        counts.rejected += fetched.dropped_count;
        counts.skipped = fetched.skipped_count;
        let dropped = fetched.dropped.iter().map(|s| (RecordKind::Rejected, s));
        let skipped = fetched.skipped.iter().map(|s| (RecordKind::Skipped, s));
        for (kind, s) in dropped.chain(skipped) {
            if let (Some(retraction), Some(id)) = (retraction.as_mut(), &s.record_id) {
                retraction.keep.insert(id.clone());
            }
            records.push(Record {
                kind,
                record_id: s.record_id.clone(),
                reason: s.reason.clone(),
            });
        }
    }
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
                let record_id = entry
                    .get(SOURCE_RECORD_ID)
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                if let (Some(retraction), Some(id)) = (retraction.as_mut(), &record_id) {
                    retraction.keep.insert(id.clone());
                }
                if records.len() < crate::loader::entries::SKIPPED_KEPT * 2 {
                    records.push(Record {
                        kind: RecordKind::Rejected,
                        record_id,
                        reason,
                    });
                }
            }
        }
    }
    let (written, conflicts) =
        write_fetch_with(db, source_name, source_type, &items, retraction.as_ref())?;
    for conflict in &conflicts {
        log::warn!(
            "{prefix} conflict: patient_id {:?}, patient_name {:?} belongs to source `{}`; not overwritten",
            conflict.patient_id,
            conflict.patient_name.as_deref().unwrap_or(""),
            conflict.owner
        );
    }
    if let Some(note) = &written.note {
        log::warn!("{prefix} {note}");
    }
    counts.inserted = written.inserted;
    counts.updated = written.updated;
    counts.unchanged = written.unchanged;
    counts.conflicts = written.conflicts;
    counts.retracted = written.retracted;
    counts.restored = written.restored;
    counts.note = written.note;
    Ok((counts, records))
}
