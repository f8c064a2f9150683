//! A fetch taken from the plugin in bounded batches: the CSV plugin, loaded
//! in process and run in a worker process, hands a 1,234-row file over 500
//! entries at a time; the host keeps the batches on disk and writes them
//! all in one run.

use pylantir::isolation::health::Health;
use pylantir::isolation::process::{WorkerCommand, Workers};
use pylantir::isolation::source::{WorkerSource, WorkerSpec};
use pylantir::isolation::CrashPolicy;
use pylantir::source::{DataSource, FetchAnswer, SourceFactory};
use pylantir::store::{self, retract::Guard};
use pylantir::sync::{apply_answer, stream};
use pylantir_tests::plugin_files::load_in_process;
use pylantir_tests::{artifacts, library};
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ROWS: usize = 1234;

fn csv_file(dir: &Path) -> std::path::PathBuf {
    let mut text = String::from("id,mrn,name\n");
    for n in 0..ROWS {
        text.push_str(&format!("r{n},P{n:05},DOE^N{n}\n"));
    }
    let path = dir.join("visits.csv");
    std::fs::write(&path, text).expect("csv");
    path
}

fn mapping() -> Value {
    json!({"mrn": "patient_id", "name": "patient_name"})
}

/// The batch lines of a streamed fetch: each line's entry count and `done`.
fn batches(answer: FetchAnswer) -> Vec<(usize, bool)> {
    let FetchAnswer::Batches(lines) = answer else {
        panic!("not a streamed fetch");
    };
    lines
        .lines()
        .map(|line| {
            let batch: Value = serde_json::from_str(&line.expect("a line")).expect("a batch");
            let count = batch["entries"].as_array().map_or(0, Vec::len);
            (count, batch["done"] == true)
        })
        .collect()
}

/// Streams `source` twice: once to count its batches, once into a store.
fn streams_in_batches_and_stores_one_run(source: &mut dyn DataSource, dir: &Path) {
    let file = csv_file(dir);
    source
        .validate_config(&json!({"file_path": file, "record_id_column": "id"}))
        .expect("config");
    let deadline = || Instant::now() + Duration::from_secs(60);
    let answer = stream::fetch(source, &mapping(), 60.0, deadline()).expect("fetch");
    assert_eq!(
        batches(answer),
        [(500, false), (500, false), (234, false), (0, true)]
    );

    let answer = stream::fetch(source, &mapping(), 60.0, deadline()).expect("fetch");
    let conn = store::open(&dir.join("worklist.db")).expect("db");
    let (counts, _) =
        apply_answer(&conn, "csv", "clinic", answer, Guard::default()).expect("applied");
    assert_eq!(
        (counts.fetched, counts.inserted),
        (ROWS as u64, ROWS as u64)
    );
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM worklist_items", [], |r| r.get(0))
        .expect("count");
    assert_eq!(stored, ROWS as i64);
}

#[test]
fn the_csv_plugin_in_process_hands_its_file_over_in_batches_of_500() {
    let registry = load_in_process(&["pylantir_csv"]);
    let mut source = registry.create("csv", "clinic").expect("source");
    let dir = pylantir_tests::temp_dir();
    streams_in_batches_and_stores_one_run(source.as_mut(), dir.path());
}

#[test]
fn the_csv_plugin_in_a_worker_process_hands_its_file_over_in_batches_of_500() {
    let command = WorkerCommand {
        program: artifacts().bin.clone(),
        allow_insecure: false,
    };
    let workers = Workers::default();
    let file = library("pylantir_csv");
    let mut source = WorkerSource::start(WorkerSpec {
        command: &command,
        workers: &workers,
        file: &file,
        source_type: "csv",
        source_name: "clinic",
        fetch_timeout: Duration::from_secs(60),
        health: Arc::new(Mutex::new(Health::new(CrashPolicy::default()))),
    })
    .expect("worker starts");
    let dir = pylantir_tests::temp_dir();
    streams_in_batches_and_stores_one_run(&mut source, dir.path());
    source.cleanup();
}
