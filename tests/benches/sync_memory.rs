//! Peak resident memory of the real `pylantir start` and its plugin worker
//! during large syncs (each process's `VmHWM`, added up):
//!
//! - `redcap`: the first sync of a REDCap project of 10,000 records (16,092
//!   rows: a baseline row each and 6,092 `mri` visits) from a fake REDCap
//!   on 127.0.0.1;
//! - `csv`: a 20,000-row CSV file of which a tenth is replaced before every
//!   sync (every 2 s), while a client sends C-FIND queries.
//!
//! Run: `cargo bench -p pylantir-tests --bench sync_memory [redcap|csv] [cycles]`
//! (default: both, 15 CSV cycles). Targets: REDCap <= 40 MB for server +
//! worker; CSV churn <= 64 MB for the server.

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::{Client, ScuOptions};
use pylantir_tests::redcap::FakeRedcap;
use pylantir_tests::server::ServerProcess;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "BENCH0123456789ABCDEF0123456789AB";

/// `VmHWM` (peak resident set) of a process, in kB.
fn peak_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
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

fn redcap() {
    let server = redcap_project().serve();
    let url = format!("{}/api/", server.url());
    let dir = pylantir_tests::temp_dir();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    pylantir_tests::install_plugins(&plugins, &["pylantir_redcap"]);
    let config = write_config(
        dir.path(),
        json!({
            "name": "study", "type": "redcap", "sync_interval": 3600,
            "config": {"site": "792", "api_url_env": "BENCH_REDCAP_URL", "api_token_env": "BENCH_REDCAP_TOKEN"},
            "field_mapping": {
                "study_id": "study_id", "family_id": "family_id", "mri_instance": "session_id",
                "mri_date": "scheduled_start_date", "mri_time": "scheduled_start_time",
                "youth_dob_y": "youth_dob_y", "demo_sex": "demo_sex"
            }
        }),
    );
    let started = Instant::now();
    let env = [
        ("BENCH_REDCAP_URL", url.as_str()),
        ("BENCH_REDCAP_TOKEN", TOKEN),
    ];
    let pylantir = ServerProcess::start_with_env(&config, &plugins, &[], &env);
    let synced = pylantir.wait_for_log(Duration::from_secs(120), |log| {
        log.contains("[redcap:study] fetched") || log.contains("sync failed")
    });
    assert!(synced, "no sync:\n{}", pylantir.log());
    let line = pylantir
        .log()
        .lines()
        .find(|l| l.contains("fetched") || l.contains("sync failed"))
        .unwrap_or_default()
        .to_string();
    let server_kb = peak_kb(pylantir.pid());
    let worker_kb: u64 = children(pylantir.pid()).into_iter().map(peak_kb).sum();
    println!(
        "redcap 10,000 records / 16,092 rows, first sync in {:.1} s: peak server {:.1} MB + worker {:.1} MB = {:.1} MB (target <= 40 MB)\n  {line}",
        started.elapsed().as_secs_f64(),
        server_kb as f64 / 1024.0,
        worker_kb as f64 / 1024.0,
        (server_kb + worker_kb) as f64 / 1024.0
    );
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

fn csv(cycles: usize) {
    let dir = pylantir_tests::temp_dir();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    pylantir_tests::install_plugins(&plugins, &["pylantir_csv"]);
    let file = dir.path().join("bookings.csv");
    std::fs::write(&file, csv_rows(0)).expect("csv");
    let config = write_config(
        dir.path(),
        json!({
            "name": "ward", "type": "csv", "sync_interval": 2,
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
    let synced = |n: usize| {
        pylantir.wait_for_log(Duration::from_secs(60), |log| {
            log.matches("[csv:ward] fetched").count() >= n
        })
    };
    let mut first = None;
    for generation in 1..=cycles {
        assert!(synced(generation), "no sync:\n{}", pylantir.log());
        if generation == 2 {
            first = Some(peak_kb(pylantir.pid()));
        }
        std::fs::write(&file, csv_rows(generation)).expect("csv");
    }
    assert!(synced(cycles + 1), "no sync:\n{}", pylantir.log());
    stop.store(true, Ordering::SeqCst);
    let _ = load.join();
    let server_kb = peak_kb(pylantir.pid());
    let worker_kb: u64 = children(pylantir.pid()).into_iter().map(peak_kb).sum();
    let last = pylantir
        .log()
        .lines()
        .rfind(|l| l.contains("fetched"))
        .unwrap_or_default()
        .to_string();
    println!(
        "csv 20,000 rows, a tenth replaced per sync, {cycles} syncs under C-FIND load ({} queries): \
         peak server {:.1} MB (after 2 syncs {:.1} MB; target <= 64 MB), worker {:.1} MB\n  {last}",
        done.load(Ordering::SeqCst),
        server_kb as f64 / 1024.0,
        first.unwrap_or(0) as f64 / 1024.0,
        worker_kb as f64 / 1024.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let which = args.first().map(String::as_str).unwrap_or("all");
    let cycles = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(15);
    pylantir_tests::artifacts();
    if matches!(which, "all" | "redcap") {
        redcap();
    }
    if matches!(which, "all" | "csv") {
        csv(cycles);
    }
}
