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

/// Gives the calling thread the lowest CPU priority (nice 19), so a pass
/// runs on the CPU time C-FIND and MPPS leave over. On Linux the nice value
/// belongs to the thread (`setpriority` with `who` 0), so the rest of the
/// server keeps its priority.
#[cfg(target_os = "linux")]
pub fn lower_priority() {
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) } != 0 {
        log::debug!(
            "housekeeping keeps its CPU priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Runs housekeeping on its own thread, at the lowest CPU priority: once
/// now, then every `retention.interval`, until `stop` is raised.
pub fn spawn(
    store: Store,
    retention: Retention,
    stop: Arc<Stop>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("housekeeping".into())
        .spawn(move || {
            #[cfg(target_os = "linux")]
            lower_priority();
            loop {
                match pass(&store, &retention) {
                    Ok(Some(removed)) => log::info!("housekeeping removed {removed}"),
                    Ok(None) => log::debug!("housekeeping skipped: another node is running it"),
                    Err(error) => log::error!("housekeeping failed: {error}"),
                }
                if stop.wait(retention.interval) {
                    return;
                }
            }
        })
}
