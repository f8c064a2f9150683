//! Housekeeping on its own thread: a retention pass ([`crate::store::housekeeping`])
//! at start and every `interval_minutes`, by one node at a time when
//! several share a PostgreSQL database.

use crate::config::lifecycle::Retention;
use crate::store::{housekeeping, Db, Store};
use crate::sync::Stop;
use std::sync::Arc;

/// The lock a pass holds, so two nodes never run one at the same time.
const LOCK: &str = "pylantir housekeeping";

/// One pass, if no other node is running one; `Ok(None)` when one is.
fn pass(store: &Store, retention: &Retention) -> Result<Option<housekeeping::Removed>, String> {
    let conn = store.get().map_err(|e| e.to_string())?;
    let database =
        |e: crate::store::DbError| format!("worklist database {}: {e}", store.location());
    if !conn.try_lock(LOCK).map_err(database)? {
        return Ok(None);
    }
    let result =
        housekeeping::run(&*conn, retention, false, jiff::Timestamp::now()).map_err(database);
    let unlocked = conn.unlock(LOCK).map_err(database);
    let removed = result?;
    unlocked?;
    Ok(Some(removed))
}

/// Runs housekeeping on its own thread: once now, then every
/// `retention.interval`, until `stop` is raised.
pub fn spawn(
    store: Store,
    retention: Retention,
    stop: Arc<Stop>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("housekeeping".into())
        .spawn(move || loop {
            match pass(&store, &retention) {
                Ok(Some(removed)) => log::info!("housekeeping removed {removed}"),
                Ok(None) => log::debug!("housekeeping skipped: another node is running it"),
                Err(error) => log::error!("housekeeping failed: {error}"),
            }
            if stop.wait(retention.interval) {
                return;
            }
        })
}
