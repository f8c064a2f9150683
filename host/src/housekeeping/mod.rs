//! Retention: deletes what the `retention` configuration no longer keeps,
//! in bounded batches (one short transaction each, so C-FIND never waits
//! long), and records each pass in `housekeeping_runs`.
//!
//! What goes, each category only when its key is set:
//! - COMPLETED and DISCONTINUED items scheduled more than `finished_days` ago;
//! - retracted items retracted more than `retracted_days` ago;
//! - SCHEDULED items scheduled more than `past_scheduled_days` ago;
//! - MPPS instances no longer IN PROGRESS, last updated more than `mpps_days` ago.
//!
//! IN_PROGRESS items are never touched. [`spawn`] runs a pass at start and
//! every `interval_minutes`.

use crate::config::lifecycle::Retention;
use crate::sync::Stop;
use rusqlite::{params, params_from_iter, Connection};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    conn: &mut Connection,
    retention: &Retention,
    dry_run: bool,
    now: jiff::Timestamp,
) -> rusqlite::Result<Removed> {
    let started = now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let mut counts = [0u64; 4];
    for (n, (category, keep)) in categories().into_iter().enumerate() {
        let Some(keep) = keep(retention) else {
            continue;
        };
        let cutoff = cutoff(now, keep, category.by_date);
        counts[n] = if dry_run {
            conn.query_row(
                &format!(
                    "SELECT count(*) FROM {} WHERE {}",
                    category.table, category.condition
                ),
                [&cutoff],
                |row| row.get::<_, i64>(0),
            )? as u64
        } else {
            delete_in_batches(conn, &category, &cutoff, retention.batch_size)?
        };
    }
    let removed = Removed {
        finished_items: counts[0],
        retracted_items: counts[1],
        past_scheduled_items: counts[2],
        mpps_instances: counts[3],
    };
    if !dry_run {
        conn.execute(
            "INSERT INTO housekeeping_runs (started_at, finished_at, finished_items, \
             retracted_items, past_scheduled_items, mpps_instances) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                started,
                jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                counts[0] as i64,
                counts[1] as i64,
                counts[2] as i64,
                counts[3] as i64
            ],
        )?;
    }
    Ok(removed)
}

fn delete_in_batches(
    conn: &mut Connection,
    category: &Category,
    cutoff: &str,
    batch: usize,
) -> rusqlite::Result<u64> {
    let select = format!(
        "SELECT {} FROM {} WHERE {} LIMIT {batch}",
        category.key, category.table, category.condition
    );
    let mut total = 0u64;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let keys: Vec<rusqlite::types::Value> = tx
            .prepare(&select)?
            .query_map([cutoff], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if keys.is_empty() {
            return Ok(total);
        }
        let marks = vec!["?"; keys.len()].join(", ");
        if category.table == "worklist_items" {
            // MPPS instances outlive the item they performed: unlink them.
            tx.execute(
                &format!("UPDATE mpps_instances SET worklist_item_id = NULL WHERE worklist_item_id IN ({marks})"),
                params_from_iter(keys.iter()),
            )?;
        }
        tx.execute(
            &format!(
                "DELETE FROM {} WHERE {} IN ({marks})",
                category.table, category.key
            ),
            params_from_iter(keys.iter()),
        )?;
        tx.commit()?;
        total += keys.len() as u64;
    }
}

/// Runs housekeeping on its own thread: once now, then every
/// `retention.interval`, until `stop` is raised.
pub fn spawn(
    db_path: PathBuf,
    retention: Retention,
    stop: Arc<Stop>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("housekeeping".into())
        .spawn(move || loop {
            let result = crate::store::open(&db_path)
                .map_err(|e| e.to_string())
                .and_then(|mut conn| {
                    run(&mut conn, &retention, false, jiff::Timestamp::now())
                        .map_err(|e| e.to_string())
                });
            match result {
                Ok(removed) => log::info!("housekeeping removed {removed}"),
                Err(error) => log::error!("housekeeping failed: {error}"),
            }
            if stop.wait(retention.interval) {
                return;
            }
        })
}
