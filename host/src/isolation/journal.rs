//! What `sync_runs` says about crash-looping sources, for commands that run
//! beside the server (`query-db`): a source whose latest run was refused
//! because it is disabled.

use rusqlite::Connection;

/// The words every "disabled" error carries (see [`super::health::Health`]).
pub const DISABLED_MARK: &str = " disabled after ";

/// Sources whose latest finished run says they are disabled, with that
/// error, sorted by source name.
pub fn disabled_sources(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT r.source, r.error FROM sync_runs r
         WHERE r.id = (SELECT MAX(id) FROM sync_runs
                       WHERE source = r.source AND finished_at IS NOT NULL)
           AND instr(r.error, ?1) > 0
         ORDER BY r.source",
    )?;
    let rows = stmt.query_map([DISABLED_MARK], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::runs::{self, RunCounts};

    #[test]
    fn only_sources_whose_latest_run_is_disabled_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(&dir.path().join("w.db")).unwrap();
        let disabled = "cannot create the source: source 'bad' disabled after 5 worker failures within 10 minutes (last: worker killed by SIGSEGV during fetch); fix the plugin, then restart pylantir";
        for (source, error) in [
            ("bad", None),
            ("bad", Some(disabled)),
            ("healed", Some(disabled)),
            ("healed", None),
        ] {
            let id = runs::start(&conn, source).unwrap();
            runs::finish(&conn, id, &RunCounts::default(), error).unwrap();
        }
        assert_eq!(
            disabled_sources(&conn).unwrap(),
            vec![("bad".to_string(), disabled.to_string())]
        );
    }
}
