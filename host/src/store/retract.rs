//! Retraction of vanished bookings: after a fetch that its source says is
//! complete for a window, the source's items in that window that the fetch
//! did not return, and that are still `SCHEDULED`, are retracted. A retracted
//! item is hidden from C-FIND and kept with when and why; the upsert restores
//! it (same Study Instance UID) if a later fetch returns it.
//!
//! A guard holds the whole retraction back when it would take away a large
//! share of the window's items at once (an empty or truncated file).

use rusqlite::{params, Transaction};
use std::collections::HashSet;

/// The scheduled dates a fetch is complete for, as `YYYYMMDD`, inclusive;
/// no bound on a side when `None`. `Window::default()` is the whole source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.from, &self.to) {
            (None, None) => f.write_str("all dates"),
            (from, to) => write!(
                f,
                "{} to {}",
                from.as_deref().unwrap_or("the beginning"),
                to.as_deref().unwrap_or("the end")
            ),
        }
    }
}

/// When a retraction is too large to be believed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guard {
    /// Hold back a retraction of more than this share (percent) of the
    /// window's scheduled items...
    pub max_percent: f64,
    /// ...when it concerns at least this many items.
    pub min_items: u64,
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            max_percent: 50.0,
            min_items: 10,
        }
    }
}

/// What a complete fetch covers, and what must stay however it looks.
#[derive(Debug, Clone, Default)]
pub struct Retraction {
    pub window: Window,
    /// Record ids the source returned or reported but that were not written
    /// (rejected, skipped upstream): present upstream, so never retracted.
    pub keep: HashSet<String>,
    pub guard: Guard,
}

/// What a retraction pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub retracted: u64,
    /// Why nothing was retracted although items had vanished (the guard).
    pub held_back: Option<String>,
}

/// Retracts the items of `source` in the window that are not in `seen` (the
/// row ids the fetch wrote or matched) nor kept, unless the guard trips.
pub fn retract_missing(
    tx: &Transaction<'_>,
    source: &str,
    retraction: &Retraction,
    seen: &HashSet<i64>,
) -> rusqlite::Result<Outcome> {
    let window = &retraction.window;
    let mut stmt = tx.prepare_cached(
        "SELECT id, source_record_id FROM worklist_items \
         WHERE data_source = ?1 AND retracted_at IS NULL \
         AND COALESCE(NULLIF(performed_procedure_step_status, ''), 'SCHEDULED') = 'SCHEDULED' \
         AND (?2 IS NULL OR sps_date >= ?2) AND (?3 IS NULL OR sps_date <= ?3)",
    )?;
    let mut active = 0u64;
    let mut missing = Vec::new();
    let rows = stmt.query_map(params![source, window.from, window.to], |row| {
        Ok((row.get::<_, i64>(0)?, super::text_column(row, 1)?))
    })?;
    for row in rows {
        let (id, record_id) = row?;
        active += 1;
        let kept = record_id.is_some_and(|r| retraction.keep.contains(&r));
        if !seen.contains(&id) && !kept {
            missing.push(id);
        }
    }
    let count = missing.len() as u64;
    let guard = retraction.guard;
    if count >= guard.min_items && (count as f64) * 100.0 > guard.max_percent * active as f64 {
        return Ok(Outcome {
            retracted: 0,
            held_back: Some(format!(
                "nothing retracted: the fetch lacks {count} of the {active} scheduled items of \
                 {window}, more than retraction_guard allows ({}% and at least {} items); \
                 an empty or truncated fetch?",
                guard.max_percent, guard.min_items
            )),
        });
    }
    let reason = format!("not returned by a fetch complete for {window}");
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let mut update = tx.prepare_cached(
        "UPDATE worklist_items SET retracted_at = ?2, retracted_reason = ?3 WHERE id = ?1",
    )?;
    for id in &missing {
        update.execute(params![id, now, reason])?;
    }
    Ok(Outcome {
        retracted: count,
        held_back: None,
    })
}
