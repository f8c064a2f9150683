//! Applying one fetch to the store: normalise every entry (a bad one is
//! rejected alone), then write the rest in one transaction, retracting what
//! a fetch complete for its window no longer returns. A fetch answered as
//! JSON text is read and written batch by batch, so memory depends on the
//! batch, not on the fetch.

use super::normalise::{label, normalise};
use crate::loader::entries::{parse_fetch_batches, BatchError, SKIPPED_KEPT};
use crate::source::{FetchAnswer, Fetched, Skipped};
use crate::store::items::FetchWrite;
use crate::store::retract::{Guard, Retraction};
use crate::store::runs::{Record, RecordKind, RunCounts};
use crate::store::{Db, DbError, DbResult};
use pylantir_plugin_api::entry::SOURCE_RECORD_ID;
use pylantir_plugin_api::Entry;
use std::collections::HashSet;

/// Normalises and writes the entries fetched by the source named
/// `source_name`, of type `source_type` (no retraction).
pub fn apply_entries(
    db: &dyn Db,
    source_type: &str,
    source_name: &str,
    entries: &[Entry],
) -> DbResult<RunCounts> {
    let mut applier = Applier::begin(db, source_type, source_name)?;
    applier.batch(entries)?;
    applier.finish(None, Guard::default()).map(|(c, _)| c)
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
    let mut applier = Applier::begin(db, source_type, source_name)?;
    applier.batch(&fetched.entries)?;
    applier.finish(Some(fetched), guard)
}

/// [`apply_fetch`] for what a source answered: JSON text is read and
/// written [`crate::loader::entries::BATCH`] entries at a time in the one
/// transaction. The error says whether the answer or the write failed.
pub fn apply_answer(
    db: &dyn Db,
    source_type: &str,
    source_name: &str,
    answer: FetchAnswer,
    guard: Guard,
) -> Result<(RunCounts, Vec<Record>), String> {
    let written = |e: DbError| format!("writing to the worklist database failed: {e}");
    let text = match answer {
        FetchAnswer::Fetched(fetched) => {
            return apply_fetch(db, source_type, source_name, &fetched, guard).map_err(written)
        }
        FetchAnswer::Batches(batches) => {
            return apply_batches(db, source_type, source_name, batches, guard)
        }
        FetchAnswer::Text(text) => text,
    };
    let mut applier = Applier::begin(db, source_type, source_name).map_err(written)?;
    let tail = applier.answer(source_name, (*text).as_ref());
    drop(text);
    applier.finish(Some(&tail?), guard).map_err(written)
}

/// [`apply_answer`] for a streamed fetch: each line one batch answer, read
/// and written one at a time in the one transaction; what came with the
/// entries is gathered over the lines (the window comes with the last).
fn apply_batches(
    db: &dyn Db,
    source_type: &str,
    source_name: &str,
    mut batches: Box<dyn std::io::BufRead + Send>,
    guard: Guard,
) -> Result<(RunCounts, Vec<Record>), String> {
    let written = |e: DbError| format!("writing to the worklist database failed: {e}");
    let mut applier = Applier::begin(db, source_type, source_name).map_err(written)?;
    let mut gathered = Fetched::default();
    let mut line = String::new();
    loop {
        line.clear();
        match batches.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("fetch failed: its temporary file: {e}")),
        }
        let tail = applier.answer(source_name, &line)?;
        gather(&mut gathered, tail);
    }
    applier.finish(Some(&gathered), guard).map_err(written)
}

/// Adds one batch's records and window to what the fetch said so far.
fn gather(gathered: &mut Fetched, tail: Fetched) {
    let room = |kept: &Vec<Skipped>| SKIPPED_KEPT.saturating_sub(kept.len());
    let take = room(&gathered.skipped);
    gathered.skipped.extend(tail.skipped.into_iter().take(take));
    gathered.skipped_count += tail.skipped_count;
    let take = room(&gathered.dropped);
    gathered.dropped.extend(tail.dropped.into_iter().take(take));
    gathered.dropped_count += tail.dropped_count;
    if tail.complete_window.is_some() {
        gathered.complete_window = tail.complete_window;
    }
}

/// One fetch being written: its transaction, counts and records.
struct Applier<'c> {
    prefix: String,
    write: FetchWrite<'c>,
    counts: RunCounts,
    /// Entries the host rejected (at most twice [`SKIPPED_KEPT`]).
    rejected: Vec<Record>,
    /// Record ids returned but not written: never retracted.
    keep: HashSet<String>,
}

impl<'c> Applier<'c> {
    fn begin(db: &'c dyn Db, source_type: &str, source_name: &str) -> DbResult<Applier<'c>> {
        Ok(Applier {
            prefix: format!("[{source_type}:{source_name}]"),
            write: FetchWrite::begin(db, source_name, source_type)?,
            counts: RunCounts::default(),
            rejected: Vec::new(),
            keep: HashSet::new(),
        })
    }

    /// Reads one answer text of `source_name`, writing its entries batch by
    /// batch; what came with them, or whether the answer or the write failed.
    fn answer(&mut self, source_name: &str, text: &str) -> Result<Fetched, String> {
        parse_fetch_batches(source_name, text, &mut |batch| {
            self.batch(&batch).map_err(|e| e.to_string())
        })
        .map_err(|e| match e {
            BatchError::Source(error) => format!("fetch failed: {error}"),
            BatchError::Batch(error) => format!("writing to the worklist database failed: {error}"),
        })
    }

    /// Normalises and writes one batch of entries.
    fn batch(&mut self, entries: &[Entry]) -> DbResult<()> {
        let prefix = &self.prefix;
        self.counts.fetched += entries.len() as u64;
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
                    self.counts.rejected += 1;
                    let record_id = entry
                        .get(SOURCE_RECORD_ID)
                        .and_then(|v| v.as_str())
                        .map(str::to_string);
                    if let Some(id) = &record_id {
                        self.keep.insert(id.clone());
                    }
                    if self.rejected.len() < SKIPPED_KEPT * 2 {
                        self.rejected.push(Record {
                            kind: RecordKind::Rejected,
                            record_id,
                            reason,
                        });
                    }
                }
            }
        }
        self.write.items(&items)
    }

    /// Adds what came with the entries (dropped and skipped records, the
    /// complete window), retracts and commits.
    fn finish(
        mut self,
        fetched: Option<&Fetched>,
        guard: Guard,
    ) -> DbResult<(RunCounts, Vec<Record>)> {
        let mut records = Vec::new();
        let mut retraction = None;
        if let Some(fetched) = fetched {
            self.counts.rejected += fetched.dropped_count;
            self.counts.skipped = fetched.skipped_count;
            let dropped = fetched.dropped.iter().map(|s| (RecordKind::Rejected, s));
            let skipped = fetched.skipped.iter().map(|s| (RecordKind::Skipped, s));
            for (kind, s) in dropped.chain(skipped) {
                if let Some(id) = &s.record_id {
                    self.keep.insert(id.clone());
                }
                records.push(Record {
                    kind,
                    record_id: s.record_id.clone(),
                    reason: s.reason.clone(),
                });
            }
            retraction = fetched.complete_window.clone().map(|window| Retraction {
                window,
                guard,
                keep: std::mem::take(&mut self.keep),
            });
        }
        records.append(&mut self.rejected);
        let prefix = self.prefix;
        let mut counts = self.counts;
        let (written, conflicts) = self.write.finish(retraction.as_ref())?;
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
}
