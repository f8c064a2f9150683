//! Retention: deletes what the `retention` configuration no longer keeps,
//! in bounded batches (one short transaction each, so C-FIND never waits
//! long, and a pause after each as long as the batch took, so the pass never
//! takes the CPU from C-FIND), and records each pass in `housekeeping_runs`.
//!
//! What goes, each category only when its key is set:
//! - COMPLETED and DISCONTINUED items scheduled more than `finished_days` ago;
//! - retracted items retracted more than `retracted_days` ago;
//! - SCHEDULED items scheduled more than `past_scheduled_days` ago;
//! - MPPS instances no longer IN PROGRESS, last updated more than `mpps_days` ago.
//!
//! IN_PROGRESS items are never touched.

use super::db::{self, Db, DbError, DbResult, Value};
use crate::config::lifecycle::Retention;
use std::time::{Duration, Instant};

/// What one pass removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    pub finished_items: u64,
    pub retracted_items: u64,
    pub past_scheduled_items: u64,
    pub mpps_instances: u64,
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} finished items, {} retracted items, {} past scheduled items, {} MPPS instances",
            self.finished_items,
            self.retracted_items,
            self.past_scheduled_items,
            self.mpps_instances
        )
    }
}

/// A category of rows: its table, key column and condition (`?1`: the cutoff).
struct Category {
    table: &'static str,
    key: &'static str,
    condition: &'static str,
    /// Whether the cutoff is a date (`YYYYMMDD`) rather than a timestamp.
    by_date: bool,
}

/// How long a category is kept, read from the retention settings.
type Keep = fn(&Retention) -> Option<Duration>;

fn categories() -> [(Category, Keep); 4] {
    [
        (
            Category {
                table: "worklist_items",
                key: "id",
                condition: "performed_procedure_step_status IN ('COMPLETED', 'DISCONTINUED') \
                            AND sps_date <> '' AND sps_date < ?1",
                by_date: true,
            },
            |r| r.finished,
        ),
        (
            Category {
                table: "worklist_items",
                key: "id",
                condition: "retracted_at IS NOT NULL AND retracted_at < ?1 AND \
                            COALESCE(NULLIF(performed_procedure_step_status, ''), 'SCHEDULED') = 'SCHEDULED'",
                by_date: false,
            },
            |r| r.retracted,
        ),
        (
            Category {
                table: "worklist_items",
                key: "id",
                condition: "retracted_at IS NULL AND sps_date <> '' AND sps_date < ?1 AND \
                            COALESCE(NULLIF(performed_procedure_step_status, ''), 'SCHEDULED') = 'SCHEDULED'",
                by_date: true,
            },
            |r| r.past_scheduled,
        ),
        (
            Category {
                table: "mpps_instances",
                key: "sop_instance_uid",
                condition: "status <> 'IN PROGRESS' AND updated_at < ?1",
                by_date: false,
            },
            |r| r.mpps,
        ),
    ]
}

/// The cutoff of a category: `keep` before `now`, as its column compares.
fn cutoff(now: jiff::Timestamp, keep: Duration, by_date: bool) -> String {
    let at = now.saturating_sub(keep).unwrap_or(jiff::Timestamp::MIN);
    if by_date {
        at.to_zoned_datetime(pylantir_plugin_api::tz::system())
            .strftime("%Y%m%d")
            .to_string()
    } else {
        at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

/// Runs one pass at `now`; with `dry_run`, only counts. Deletes at most
/// `retention.batch_size` rows per transaction.
pub fn run(
    db: &dyn Db,
    retention: &Retention,
    dry_run: bool,
    now: jiff::Timestamp,
) -> DbResult<Removed> {
    let started = now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let mut counts = [0u64; 4];
    for (n, (category, keep)) in categories().into_iter().enumerate() {
        let Some(keep) = keep(retention) else {
            continue;
        };
        let cutoff = cutoff(now, keep, category.by_date);
        counts[n] = if dry_run {
            db.query_row(
                &format!(
                    "SELECT count(*) FROM {} WHERE {}",
                    category.table, category.condition
                ),
                &[cutoff.as_str().into()],
            )?
            .map_or(0, |row| row.count(0))
        } else {
            delete_in_batches(db, &category, &cutoff, retention.batch_size)?
        };
    }
    let removed = Removed {
        finished_items: counts[0],
        retracted_items: counts[1],
        past_scheduled_items: counts[2],
        mpps_instances: counts[3],
    };
    if !dry_run {
        db.execute(
            "INSERT INTO housekeeping_runs (started_at, finished_at, finished_items, \
             retracted_items, past_scheduled_items, mpps_instances) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                started.into(),
                jiff::Timestamp::now()
                    .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string()
                    .into(),
                counts[0].into(),
                counts[1].into(),
                counts[2].into(),
                counts[3].into(),
            ],
        )?;
    }
    Ok(removed)
}

/// Deletes the rows of `category` older than `cutoff`, `batch` rows per
/// transaction. After each batch it pauses as long as the batch took, so
/// the pass keeps at most about half of a core (and of the database's
/// time) busy: C-FIND queries between the batches run at their usual speed
/// instead of sharing the CPU with a pass that never lets go.
fn delete_in_batches(
    db: &dyn Db,
    category: &Category,
    cutoff: &str,
    batch: usize,
) -> DbResult<u64> {
    let select = format!(
        "SELECT {} FROM {} WHERE {} LIMIT {batch}",
        category.key, category.table, category.condition
    );
    let mut total = 0u64;
    loop {
        let started = Instant::now();
        let deleted = db::write(db, |tx| {
            let keys: Vec<Value> = tx
                .query(&select, &[cutoff.into()])?
                .into_iter()
                .filter_map(|row| row.0.into_iter().next())
                .collect();
            if keys.is_empty() {
                return Ok(0);
            }
            let marks: Vec<String> = (1..=keys.len()).map(|n| format!("?{n}")).collect();
            let marks = marks.join(", ");
            if category.table == "worklist_items" {
                // MPPS instances outlive the item they performed: unlink them.
                tx.execute(
                    &format!(
                        "UPDATE mpps_instances SET worklist_item_id = NULL \
                         WHERE worklist_item_id IN ({marks})"
                    ),
                    &keys,
                )?;
            }
            tx.execute(
                &format!(
                    "DELETE FROM {} WHERE {} IN ({marks})",
                    category.table, category.key
                ),
                &keys,
            )?;
            Ok::<_, DbError>(keys.len())
        })?;
        total += deleted as u64;
        // A short batch took the last eligible rows.
        if deleted < batch {
            return Ok(total);
        }
        std::thread::sleep(started.elapsed());
    }
}
