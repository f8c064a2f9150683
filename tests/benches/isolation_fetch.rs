//! Fetch overhead of the worker process against in-process loading, with the
//! failing fixture in its `ok` mode (15 worklist fields per entry), and the
//! start-up time of a worker. Wall-clock medians (the worker's time counts).
//!
//! `cargo bench -p pylantir-tests --bench isolation_fetch`

use pylantir::isolation::health::Health;
use pylantir::isolation::process::{WorkerCommand, WorkerProcess, Workers};
use pylantir::isolation::source::{WorkerSource, WorkerSpec};
use pylantir::isolation::CrashPolicy;
use pylantir::loader::{load_plugin, InProcessSource, LoadOptions};
use pylantir::source::DataSource;
use pylantir_tests::{artifacts, library};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn show(d: Duration) -> String {
    if d >= Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    }
}

fn time_fetches(source: &mut dyn DataSource, entries: u64, rounds: usize) -> Duration {
    source
        .validate_config(&json!({"mode": "ok", "count": entries}))
        .expect("config accepted");
    let mapping = json!({"x": "patient_id"});
    let fetched = source.fetch_entries(&mapping, 60.0).expect("warm-up fetch");
    assert_eq!(fetched.len() as u64, entries);
    let samples = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let fetched = source.fetch_entries(&mapping, 60.0).expect("fetch");
            let took = start.elapsed();
            assert_eq!(fetched.len() as u64, entries);
            took
        })
        .collect();
    median(samples)
}

fn main() {
    let bin = artifacts().bin.clone();
    let file = library("fixture_failing");
    let command = WorkerCommand {
        program: bin,
        allow_insecure: false,
    };
    let workers = Workers::default();
    let plugin = Arc::new(load_plugin(&file, &LoadOptions::default()).expect("fixture loads"));
    let worker_source = || {
        WorkerSource::start(WorkerSpec {
            command: &command,
            workers: &workers,
            file: &file,
            source_type: "failing",
            source_name: "bench",
            fetch_timeout: Duration::from_secs(300),
            health: Arc::new(Mutex::new(Health::new(CrashPolicy::default()))),
        })
        .expect("worker starts")
    };

    println!("fetch (median wall time per fetch)");
    println!(
        "{:>9}  {:>12}  {:>12}  {:>6}",
        "entries", "in-process", "process", "ratio"
    );
    for (entries, rounds) in [(100u64, 300usize), (100_000, 7)] {
        let mut local =
            InProcessSource::new(Arc::clone(&plugin), "failing", "bench").expect("source");
        let in_process = time_fetches(&mut local, entries, rounds);
        let mut remote = worker_source();
        let process = time_fetches(&mut remote, entries, rounds);
        remote.cleanup();
        println!(
            "{entries:>9}  {:>12}  {:>12}  {:>5.2}x",
            show(in_process),
            show(process),
            process.as_secs_f64() / in_process.as_secs_f64()
        );
    }

    let spawns: Vec<Duration> = (0..30)
        .map(|_| {
            let start = Instant::now();
            let mut worker =
                WorkerProcess::spawn(&command, &file, "bench", &workers).expect("worker starts");
            let took = start.elapsed();
            worker.stop();
            took
        })
        .collect();
    let sources: Vec<Duration> = (0..30)
        .map(|_| {
            let start = Instant::now();
            let mut source = worker_source();
            source
                .validate_config(&json!({"mode": "ok"}))
                .expect("config accepted");
            let took = start.elapsed();
            source.cleanup();
            took
        })
        .collect();
    println!("worker start-up (median of 30)");
    println!(
        "  spawn + load plugin + hello:         {}",
        show(median(spawns))
    );
    println!(
        "  ... + new source + validate config: {}",
        show(median(sources))
    );
}
