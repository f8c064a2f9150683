//! Sync into PostgreSQL: 100,000 entries into an empty worklist database on
//! the test kit's throwaway server, then the same 100,000 unchanged (the
//! re-sync must write nothing). Target: the first under 5 s.
//!
//! Run: `cargo bench -p pylantir-tests --bench sync_postgres`

use pylantir::store::postgres::Target;
use pylantir::store::{Location, Store};
use pylantir::sync::apply_entries;
use pylantir_tests::bench_entries::entries;
use pylantir_tests::postgres::PgDatabase;
use std::time::Instant;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let database = PgDatabase::new();
    let target = Target::new(&database.url(), None).unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(Location::Postgres(Box::new(target))).unwrap_or_else(|e| panic!("{e}"));
    let conn = store.get().unwrap_or_else(|e| panic!("{e}"));
    let batch = entries(100_000);
    for label in ["into an empty database", "re-sync, unchanged"] {
        let started = Instant::now();
        let counts =
            apply_entries(&*conn, "bench", "bench", &batch).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "PostgreSQL: 100,000 entries {label}: {:.2} s ({} inserted, {} updated, {} unchanged)",
            started.elapsed().as_secs_f64(),
            counts.inserted,
            counts.updated,
            counts.unchanged
        );
    }
}
