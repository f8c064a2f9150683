//! Sync benchmarks (`cargo bench -p pylantir --bench sync`):
//!
//! 1. 100,000 entries into an empty store, then the same 100,000 unchanged
//!    (targets: under 2 s and under 1 s; the re-sync must write nothing);
//! 2. the same through the real CSV plugin when it is built in this profile
//!    (`cargo build --release -p pylantir-csv-plugin`);
//! 3. memory: 1,000 sync cycles of 10,000 entries (a tenth of them changed
//!    each cycle); resident memory after cycle 1,000 against cycle 10
//!    (target: within 5 MB).
//!
//! `SYNC_BENCH_CYCLES` overrides the number of cycles of the memory run.

use pylantir::loader::{LoadOptions, Registry};
use pylantir::source::{DataSource, SourceFactory};
use pylantir::store;
use pylantir::sync::apply_entries;
use pylantir_plugin_api::Entry;
use rusqlite::Connection;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn entry(i: usize, cycle: usize) -> Entry {
    let description = if i % 10 == cycle % 10 {
        format!("Brain MRI, cycle {cycle}")
    } else {
        "Brain MRI".to_string()
    };
    let value = json!({
        "source_record_id": format!("rec-{i}"),
        "patient_id": format!("P{i:07}"),
        "patient_name": format!("DOE^PATIENT{i}"),
        "patient_birth_date": "1990-01-01",
        "patient_sex": "F",
        "accession_number": format!("A{i}"),
        "modality": "MR",
        "study_description": description,
        "scheduled_station_aetitle": "MR1",
        "scheduled_start_date": format!("2025-03-{:02}", 1 + i % 28),
        "scheduled_start_time": format!("{:02}:{:02}", 7 + i % 12, i % 60),
        "station_name": "MR1",
    });
    value.as_object().cloned().unwrap_or_default()
}

fn entries(n: usize, cycle: usize) -> Vec<Entry> {
    (0..n).map(|i| entry(i, cycle)).collect()
}

fn resident_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system) this thread has used, from /proc: on a
/// machine shared with other jobs, wall time overstates the cost.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A connection as a sync worker has it (with the writer's page cache).
fn open(dir: &Path, name: &str) -> Connection {
    let conn = store::open(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
    store::sqlite::enlarge_cache_for_writes(&conn).unwrap_or_else(|e| panic!("{e}"));
    conn
}

/// Times one write of `batch`; returns seconds and the rows SQLite changed.
fn timed(conn: &mut Connection, batch: &[Entry]) -> (f64, u64, String) {
    let before = conn.total_changes();
    let started = Instant::now();
    let cpu = cpu_seconds();
    let counts = apply_entries(conn, "bench", "bench", batch).unwrap_or_else(|e| panic!("{e}"));
    let seconds = started.elapsed().as_secs_f64();
    let summary = format!(
        "cpu {:.2} s; {} inserted, {} updated, {} unchanged",
        cpu_seconds() - cpu,
        counts.inserted,
        counts.updated,
        counts.unchanged
    );
    (seconds, conn.total_changes() - before, summary)
}

fn store_path(dir: &Path) {
    let batch = entries(100_000, 0);
    let mut conn = open(dir, "store.db");
    let (first, _, summary) = timed(&mut conn, &batch);
    println!("store path: 100,000 entries into an empty store: {first:.3} s ({summary})");
    let (again, changes, summary) = timed(&mut conn, &batch);
    println!(
        "store path: re-sync of the same 100,000 entries: {again:.3} s ({summary}; {changes} rows written)"
    );
}

/// The built CSV plugin of this profile, if any.
fn csv_plugin_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile = exe.parent()?.parent()?.to_path_buf();
    let file = format!(
        "{}pylantir_csv{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    profile.join(&file).exists().then_some(profile)
}

fn write_csv(path: &Path, n: usize) {
    let mut text = String::from("id,mrn,name,date,time,desc\n");
    for i in 0..n {
        text.push_str(&format!(
            "rec-{i},P{i:07},DOE^PATIENT{i},2025-03-{:02},{:02}:{:02},Brain MRI\n",
            1 + i % 28,
            7 + i % 12,
            i % 60
        ));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
}

fn csv_source(plugins: &Path, csv: &Path) -> (Box<dyn DataSource>, Value) {
    let registry = Registry::load(&[plugins.to_path_buf()], &LoadOptions::default());
    let mut source = registry
        .create("csv", "bench")
        .unwrap_or_else(|e| panic!("{e}"));
    source
        .validate_config(&json!({"file_path": csv, "record_id_column": "id"}))
        .unwrap_or_else(|e| panic!("{e}"));
    let mapping = json!({"mrn": "patient_id", "name": "patient_name", "date": "scheduled_start_date",
                         "time": "scheduled_start_time", "desc": "study_description"});
    (source, mapping)
}

fn plugin_path(dir: &Path, plugins: &Path) {
    let csv = dir.join("bench.csv");
    write_csv(&csv, 100_000);
    let (mut source, mapping) = csv_source(plugins, &csv);
    let mut conn = open(dir, "plugin.db");
    for label in ["into an empty store", "re-sync, unchanged"] {
        let started = Instant::now();
        let batch = source
            .fetch_entries(&mapping, 0.0)
            .unwrap_or_else(|e| panic!("{e}"));
        let fetched = started.elapsed().as_secs_f64();
        let (written, changes, summary) = timed(&mut conn, &batch);
        println!(
            "csv plugin: 100,000 rows {label}: {:.3} s (fetch {fetched:.3} s + store {written:.3} s; {summary}; {changes} rows written)",
            fetched + written
        );
    }
    source.cleanup();
}

fn memory(dir: &Path, cycles: usize) {
    let conn = open(dir, "memory.db");
    let mut at_10 = 0;
    let started = Instant::now();
    for cycle in 1..=cycles {
        let batch = entries(10_000, cycle);
        apply_entries(&conn, "bench", "bench", &batch).unwrap_or_else(|e| panic!("{e}"));
        drop(batch);
        if cycle == 10 {
            at_10 = resident_kb();
        }
    }
    let at_end = resident_kb();
    println!(
        "memory: {cycles} cycles of 10,000 entries in {:.1} s; resident {at_10} kB at cycle 10, {at_end} kB at cycle {cycles} ({:+} kB)",
        started.elapsed().as_secs_f64(),
        at_end as i64 - at_10 as i64
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Memory first: memory freed by the other runs would hide growth.
    let cycles = std::env::var("SYNC_BENCH_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1_000);
    memory(dir.path(), cycles);
    store_path(dir.path());
    match csv_plugin_dir() {
        Some(plugins) => plugin_path(dir.path(), &plugins),
        None => println!(
            "csv plugin: skipped (build it first: cargo build --release -p pylantir-csv-plugin)"
        ),
    }
}
