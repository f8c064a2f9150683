//! Retraction of vanished bookings: after a fetch that its source says is
//! complete for a window, the source's items in that window that the fetch
//! did not return, and that are still `SCHEDULED`, are retracted. A retracted
//! item is hidden from C-FIND and kept with when and why; the upsert restores
//! it (same Study Instance UID) if a later fetch returns it.
//!
//! A guard holds the whole retraction back when it would take away a large
//! share of the window's items at once (an empty or truncated file).

use super::db::{Db, DbResult, Value};
use std::collections::HashSet;

/// The scheduled dates a fetch is complete for, as `YYYYMMDD`, inclusive;
/// no bound on a side when `None`. `Window::default()` is the whole source.
/// A side with a time (`HHMMSS`) starts or ends at that second instead of
/// the whole day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    pub from: Option<String>,
    pub to: Option<String>,
    pub from_time: Option<String>,
    pub to_time: Option<String>,
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |date: &Option<String>, time: &Option<String>, open: &str| match (date, time) {
            (None, _) => open.to_string(),
            (Some(date), None) => date.clone(),
            (Some(date), Some(time)) => format!("{date} {time}"),
        };
        match (&self.from, &self.to) {
            (None, None) => f.write_str("all dates"),
            _ => write!(
                f,
                "{} to {}",
                side(&self.from, &self.from_time, "the beginning"),
                side(&self.to, &self.to_time, "the end")
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
    tx: &dyn Db,
    source: &str,
    retraction: &Retraction,
    seen: &HashSet<i64>,
) -> DbResult<Outcome> {
    let window = &retraction.window;
    let rows = tx.query(
        "SELECT id, source_record_id FROM worklist_items \
         WHERE data_source = ?1 AND retracted_at IS NULL \
         AND COALESCE(NULLIF(performed_procedure_step_status, ''), 'SCHEDULED') = 'SCHEDULED' \
         AND (CAST(?2 AS TEXT) IS NULL \
              OR (sps_date, COALESCE(sps_time, '000000')) >= (CAST(?2 AS TEXT), CAST(?4 AS TEXT))) \
         AND (CAST(?3 AS TEXT) IS NULL \
              OR (sps_date, COALESCE(sps_time, '000000')) <= (CAST(?3 AS TEXT), CAST(?5 AS TEXT)))",
        &[
            source.into(),
            window.from.as_deref().into(),
            window.to.as_deref().into(),
            window.from_time.as_deref().unwrap_or("000000").into(),
            window.to_time.as_deref().unwrap_or("235959").into(),
        ],
    )?;
    let mut active = 0u64;
    let mut missing = Vec::new();
    for row in rows {
        let (id, record_id) = (row.int(0).unwrap_or_default(), row.text(1));
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
    for id in &missing {
        tx.execute(
            "UPDATE worklist_items SET retracted_at = ?2, retracted_reason = ?3 WHERE id = ?1",
            &[Value::Int(*id), now.as_str().into(), reason.as_str().into()],
        )?;
    }
    Ok(Outcome {
        retracted: count,
        held_back: None,
    })
}
