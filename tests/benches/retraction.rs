//! Retraction pass: a source holds 100,000 scheduled items; its next fetch,
//! complete for the whole source, lacks 1% of them (1,000 spread over the
//! source). Times that fetch's write (99,000 unchanged upserts plus the
//! retraction of the 1,000), on SQLite and on PostgreSQL (the test kit's
//! throwaway server).
//!
//! Run: `cargo bench -p pylantir-tests --bench retraction`

use pylantir::source::Fetched;
use pylantir::store::postgres::Target;
use pylantir::store::retract::{Guard, Window};
use pylantir::store::{Location, Store};
use pylantir::sync::{apply_entries, apply_fetch};
use pylantir_tests::bench_entries::entries;
use pylantir_tests::postgres::PgDatabase;
use std::time::Instant;

fn pass(name: &str, store: &Store) {
    let conn = store.get().unwrap_or_else(|e| panic!("{e}"));
    let all = entries(100_000);
    apply_entries(&*conn, "bench", "bench", &all).unwrap_or_else(|e| panic!("{e}"));
    let fetched = Fetched {
        entries: all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 100 != 7)
            .map(|(_, entry)| entry)
            .collect(),
        complete_window: Some(Window::default()),
        ..Fetched::default()
    };
    let started = Instant::now();
    let (counts, _) = apply_fetch(&*conn, "bench", "bench", &fetched, Guard::default())
        .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "{name}: fetch of 99,000 of 100,000 items, complete for the whole source: {:.2} s \
         ({} unchanged, {} retracted)",
        started.elapsed().as_secs_f64(),
        counts.unchanged,
        counts.retracted
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sqlite = Store::open(Location::Sqlite(dir.path().join("worklist.db")))
        .unwrap_or_else(|e| panic!("{e}"));
    pass("SQLite", &sqlite);
    let database = PgDatabase::new();
    let target = Target::new(&database.url(), None).unwrap_or_else(|e| panic!("{e}"));
    let postgres =
        Store::open(Location::Postgres(Box::new(target))).unwrap_or_else(|e| panic!("{e}"));
    pass("PostgreSQL", &postgres);
}
