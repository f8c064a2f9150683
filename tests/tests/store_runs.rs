//! The `sync_runs` journal.

use pylantir::store::{runs, Db};
use pylantir_tests::stores::Backend;

fn runs_older_than_the_retention_are_pruned_per_source(backend: Backend) {
    let conn = backend.conn();
    conn.batch(
        "INSERT INTO sync_runs (source, started_at) VALUES
            ('a', '2000-01-01T00:00:00.000Z'), ('b', '2000-01-01T00:00:00.000Z');",
    )
    .expect("old runs");
    let recent = runs::start(&conn, "a").expect("run");
    assert_eq!(runs::prune(&conn, "a").expect("pruned"), 1);
    let left: Vec<(String, i64)> = runs::list(&conn, None)
        .expect("runs")
        .into_iter()
        .map(|r| (r.source, r.id))
        .collect();
    assert_eq!(left.len(), 2);
    assert!(left.contains(&("a".to_string(), recent)));
    assert!(left.iter().any(|(s, _)| s == "b"));
}

pylantir_tests::both_stores!(runs_older_than_the_retention_are_pruned_per_source);
