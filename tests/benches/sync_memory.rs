//! Resident memory of the real `pylantir start` and its plugin worker
//! during large syncs (each process's peak `VmHWM` and current `VmRSS`):
//!
//! - `redcap`: the first sync of a REDCap project of 10,000 records (16,092
//!   rows: a baseline row each and 6,092 `mri` visits) from a fake REDCap
//!   on 127.0.0.1; then, in a second server, that many full exports of the
//!   project one after the other;
//! - `csv`: a 20,000-row CSV file of which a tenth is replaced before every
//!   sync, while a client sends C-FIND queries.
//!
//! Memory is shown after 2, 10, 100, 1,000 and 10,000 syncs and after the
//! last, so whether it stays flat is in the numbers.
//!
//! Run: `cargo bench -p pylantir-tests --bench sync_memory [redcap|csv|all] [cycles] [interval]`
//! (default: both, 15 syncs every 2 s; `interval` in whole seconds, at
//! least 1). Targets: REDCap <= 40 MB for server + worker; CSV churn <= 64
//! MB for the server; both flat.

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::{Client, ScuOptions};
use pylantir_tests::redcap::FakeRedcap;
use pylantir_tests::server::ServerProcess;
use serde_json::{json, Map, Value};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "BENCH0123456789ABCDEF0123456789AB";

/// A `/proc/<pid>/status` line of a process in kB (`VmHWM`: peak resident
/// set, `VmRSS`: resident set now); 0 when it cannot be read.
fn status_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `VmHWM` (peak resident set) of a process, in kB.
fn peak_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM")
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Peak and current resident memory of the server and of its workers.
fn memory_line(pid: u32) -> String {
    let workers = children(pid);
    let worker = |key: &str| workers.iter().map(|&w| status_kb(w, key)).sum::<u64>();
    format!(
        "server peak {:.1} MB, now {:.1} MB; worker peak {:.1} MB, now {:.1} MB",
        mb(peak_kb(pid)),
        mb(status_kb(pid, "VmRSS")),
        mb(worker("VmHWM")),
        mb(worker("VmRSS"))
    )
}

/// The syncs after which memory is shown: 2, 10, 100, ... and the last.
fn checkpoint(sync: usize, cycles: usize) -> bool {
    sync == cycles || sync == 2 || (sync >= 10 && 10usize.pow(sync.ilog10()) == sync)
}

/// Counts the lines of a growing log that contain `fetched` (and those
/// that contain `failed`), reading only what was added since last time.
struct SyncCount {
    log: std::fs::File,
    fetched: String,
    failed: String,
    partial: Vec<u8>,
    syncs: usize,
    failures: usize,
}

impl SyncCount {
    fn new(path: &Path, fetched: &str, failed: &str) -> SyncCount {
        SyncCount {
            log: std::fs::File::open(path).expect("server log"),
            fetched: fetched.to_string(),
            failed: failed.to_string(),
            partial: Vec::new(),
            syncs: 0,
            failures: 0,
        }
    }

    /// Waits up to `timeout` until `n` syncs were logged; false on a
    /// failed sync or when the time is up.
    fn wait_for(&mut self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let mut added = Vec::new();
            let _ = self.log.read_to_end(&mut added);
            self.partial.extend_from_slice(&added);
            if let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') {
                let lines: Vec<u8> = self.partial.drain(..=end).collect();
                for line in String::from_utf8_lossy(&lines).lines() {
                    self.syncs += usize::from(line.contains(&self.fetched));
                    self.failures += usize::from(line.contains(&self.failed));
                }
            }
            if self.failures > 0 {
                return false;
            }
            if self.syncs >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The last `bytes` of a log, for a failure message.
fn log_tail(path: &Path, bytes: u64) -> String {
    let mut text = String::new();
    if let Ok(mut log) = std::fs::File::open(path) {
        let _ = log.seek(SeekFrom::End(
            -(bytes.min(log.metadata().map_or(0, |m| m.len())) as i64),
        ));
        let _ = log.read_to_string(&mut text);
    }
    text
}

/// The children of `pid` (its plugin workers).
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

fn row(values: &[(&str, String)]) -> Map<String, Value> {
    values
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect()
}

/// 10,000 records, 6,092 of them with one `mri` visit: 16,092 rows.
fn redcap_project() -> FakeRedcap {
    let mut rows = Vec::new();
    for i in 0..10_000 {
        let id = i.to_string();
        rows.push(row(&[
            ("record_id", id.clone()),
            ("study_id", format!("CPIP-{i:05}")),
            ("family_id", format!("FAM-{:05}", i / 2)),
            ("youth_dob_y", format!("{}", 2008 + i % 10)),
            ("demo_sex", if i % 2 == 0 { "F" } else { "M" }.to_string()),
        ]));
        if i < 6_092 {
            rows.push(row(&[
                ("record_id", id),
                ("redcap_repeat_instrument", "mri".to_string()),
                ("redcap_repeat_instance", "1".to_string()),
                ("mri_instance", "1".to_string()),
                ("mri_date", format!("2026-12-{:02}", 1 + i % 28)),
                ("mri_time", format!("{:02}:{:02}", 8 + i % 10, (i % 4) * 15)),
            ]));
        }
    }
    FakeRedcap::new(TOKEN)
        .fields(
            "enrolment",
            &[
                "record_id",
                "study_id",
                "family_id",
                "youth_dob_y",
                "demo_sex",
            ],
        )
        .fields("mri", &["mri_instance", "mri_date", "mri_time"])
        .rows(rows)
}

fn write_config(dir: &Path, source: Value) -> std::path::PathBuf {
    let config = dir.join("pylantir.json");
    let text = json!({
        "db_path": dir.join("worklist.db"),
        "data_sources": [source],
    });
    std::fs::write(&config, text.to_string()).expect("config written");
    config
}

/// The REDCap source of the benchmark, with `config` added to its `config`.
fn redcap_source(sync_interval: u64, config: Value) -> Value {
    let mut source = json!({
        "name": "study", "type": "redcap", "sync_interval": sync_interval,
        "config": {"site": "792", "api_url_env": "BENCH_REDCAP_URL", "api_token_env": "BENCH_REDCAP_TOKEN"},
        "field_mapping": {
            "study_id": "study_id", "family_id": "family_id", "mri_instance": "session_id",
            "mri_date": "scheduled_start_date", "mri_time": "scheduled_start_time",
            "youth_dob_y": "youth_dob_y", "demo_sex": "demo_sex"
        }
    });
    if let (Some(into), Value::Object(extra)) = (source["config"].as_object_mut(), config) {
        into.extend(extra);
    }
    source
}

/// A server with the REDCap source on the fake `url`.
fn redcap_server(dir: &Path, url: &str, source: Value) -> ServerProcess {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    pylantir_tests::install_plugins(&plugins, &["pylantir_redcap"]);
    let config = write_config(dir, source);
    let env = [("BENCH_REDCAP_URL", url), ("BENCH_REDCAP_TOKEN", TOKEN)];
    ServerProcess::start_with_env(&config, &plugins, &[], &env)
}

fn redcap(cycles: usize, interval: u64) {
    let server = redcap_project().serve();
    let url = format!("{}/api/", server.url());
    let dir = pylantir_tests::temp_dir();
    let started = Instant::now();
    let pylantir = redcap_server(dir.path(), &url, redcap_source(3600, json!({})));
    let mut syncs = SyncCount::new(&pylantir.log_path, "[redcap:study] fetched", "sync failed");
    assert!(
        syncs.wait_for(1, Duration::from_secs(120)),
        "no sync:\n{}",
        pylantir.log()
    );
    let line = pylantir
        .log()
        .lines()
        .find(|l| l.contains("fetched"))
        .unwrap_or_default()
        .to_string();
    let server_kb = peak_kb(pylantir.pid());
    let worker_kb: u64 = children(pylantir.pid()).into_iter().map(peak_kb).sum();
    println!(
        "redcap 10,000 records / 16,092 rows, first sync in {:.1} s: peak server {:.1} MB + worker {:.1} MB = {:.1} MB (target <= 40 MB)\n  {line}",
        started.elapsed().as_secs_f64(),
        mb(server_kb),
        mb(worker_kb),
        mb(server_kb + worker_kb)
    );
    drop(pylantir);
    if cycles < 2 {
        return;
    }
    // Every sync a full export (no date range), so the fake REDCap answers
    // the same 16,092 rows each time and the host may retract.
    let dir = pylantir_tests::temp_dir();
    let source = redcap_source(interval, json!({"full_export_every_hours": 0.0001}));
    let pylantir = redcap_server(dir.path(), &url, source);
    let mut syncs = SyncCount::new(&pylantir.log_path, "[redcap:study] fetched", "sync failed");
    let started = Instant::now();
    for sync in 1..=cycles {
        assert!(
            syncs.wait_for(sync, Duration::from_secs(120)),
            "no sync {sync}:\n{}",
            log_tail(&pylantir.log_path, 4000)
        );
        if checkpoint(sync, cycles) {
            println!(
                "redcap full export after {sync} syncs ({:.0} s): {}",
                started.elapsed().as_secs_f64(),
                memory_line(pylantir.pid())
            );
        }
    }
}

/// A 20,000-row CSV; `generation` shifts which tenth of the ids is present.
fn csv_rows(generation: usize) -> String {
    let mut text = String::from("id,mrn,name,date,time,modality\n");
    for i in 0..20_000 {
        let id = if i % 10 == generation % 10 {
            format!("g{generation}-{i}")
        } else {
            i.to_string()
        };
        text.push_str(&format!(
            "{id},MRN{id},DOE^PATIENT{id},2026-12-{:02},{:02}:{:02},MR\n",
            1 + i % 28,
            8 + i % 10,
            (i % 4) * 15
        ));
    }
    text
}

/// C-FIND queries (all items of a day) until `stop`; counts them.
fn find_load(port: u16, stop: Arc<AtomicBool>, done: Arc<AtomicUsize>) {
    let options = ScuOptions {
        addr: format!("127.0.0.1:{port}"),
        called_ae: "MWL_SERVER".into(),
        calling_ae: "SCANNER1".into(),
        timeout: Duration::from_secs(30),
    };
    while !stop.load(Ordering::SeqCst) {
        let Ok(mut client) =
            Client::connect(&options, &[uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND])
        else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let mut query = InMemDicomObject::new_empty();
        query.put(dicom_core::DataElement::new(tags::PATIENT_ID, VR::LO, ""));
        let mut step = InMemDicomObject::new_empty();
        step.put(dicom_core::DataElement::new(
            tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            "20261207",
        ));
        query.put(dicom_core::DataElement::new(
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![step]),
        ));
        if client
            .find(&query, |_, _| std::ops::ControlFlow::Continue(()))
            .is_ok()
        {
            done.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Replaces `path` with `text` in one step (write aside, then rename), so a
/// sync never reads a half-written file.
fn replace_file(path: &Path, text: &str) {
    let aside = path.with_extension("next");
    std::fs::write(&aside, text).expect("csv written");
    std::fs::rename(&aside, path).expect("csv replaced");
}

fn csv(cycles: usize, interval: u64) {
    let dir = pylantir_tests::temp_dir();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    pylantir_tests::install_plugins(&plugins, &["pylantir_csv"]);
    let file = dir.path().join("bookings.csv");
    replace_file(&file, &csv_rows(0));
    let config = write_config(
        dir.path(),
        json!({
            "name": "ward", "type": "csv", "sync_interval": interval,
            "config": {"file_path": file, "record_id_column": "id"},
            "field_mapping": {"mrn": "patient_id", "name": "patient_name", "date": "scheduled_start_date",
                              "time": "scheduled_start_time", "modality": "modality"}
        }),
    );
    let pylantir = ServerProcess::start(&config, &plugins, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, done, port) = (Arc::clone(&stop), Arc::clone(&done), pylantir.port);
        std::thread::spawn(move || find_load(port, stop, done))
    };
    let mut syncs = SyncCount::new(&pylantir.log_path, "[csv:ward] fetched", "sync failed");
    let started = Instant::now();
    for sync in 1..=cycles {
        assert!(
            syncs.wait_for(sync, Duration::from_secs(60)),
            "no sync {sync}:\n{}",
            log_tail(&pylantir.log_path, 4000)
        );
        if checkpoint(sync, cycles) {
            println!(
                "csv 20,000 rows, a tenth replaced per sync, under C-FIND load: after {sync} syncs \
                 ({:.0} s, {} queries): {} (target <= 64 MB for the server)",
                started.elapsed().as_secs_f64(),
                done.load(Ordering::SeqCst),
                memory_line(pylantir.pid())
            );
        }
        replace_file(&file, &csv_rows(sync));
    }
    stop.store(true, Ordering::SeqCst);
    let _ = load.join();
    let last = log_tail(&pylantir.log_path, 4000)
        .lines()
        .rfind(|l| l.contains("fetched"))
        .unwrap_or_default()
        .to_string();
    println!("  {last}");
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let which = args.first().map(String::as_str).unwrap_or("all");
    let cycles = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(15);
    let interval = args.get(2).and_then(|i| i.parse().ok()).unwrap_or(2).max(1);
    pylantir_tests::artifacts();
    if matches!(which, "all" | "redcap") {
        redcap(cycles, interval);
    }
    if matches!(which, "all" | "csv") {
        csv(cycles, interval);
    }
}
