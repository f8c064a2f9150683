//! The web console with 10,000 items in the selected range (today): how soon
//! the worklist is rendered and answers a filter in a real browser (Debian's
//! headless Chromium through playwright-core, tests/browser/console_10k.mjs).
//!
//! The items come from a CSV source synced by the real `pylantir start`
//! (API on loopback, the `admin` user of [`StartedApi`]). The node script
//! reloads the worklist several times and prints, per run and as median and
//! worst: navigation to the first page of rows rendered, a search typed
//! then to the one matching row shown, and the longest main-thread task.
//!
//! Run: `cargo bench -p pylantir-tests --bench console_10k [runs]` (default 5).

use pylantir_tests::api::{StartedApi, START_ADMIN_PASSWORD};
use pylantir_tests::browser::{browser_dir, install_browser_packages};
use pylantir_tests::server::api_url_in;
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ITEMS: usize = 10_000;
const STATIONS: usize = 5;

/// Today in the local time zone (the browser's), `YYYY-MM-DD`.
fn today() -> String {
    jiff::ZonedDateTime::now().strftime("%Y-%m-%d").to_string()
}

/// `ITEMS` bookings for today on `STATIONS` scanners, 07:00 to 18:59.
fn write_csv(path: &Path, today: &str) {
    let file = std::fs::File::create(path).expect("csv file");
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "id,pid,name,acc,date,time,modality,station,uid").expect("csv header");
    for i in 0..ITEMS {
        writeln!(
            out,
            "{i},SUB{i:06},Bench^Patient{i},ACC{i},{today},{:02}:{:02},{},SCANNER{},2.25.{}",
            7 + i % 12,
            i % 60,
            if i % 2 == 0 { "MR" } else { "CT" },
            1 + i % STATIONS,
            1_000_000 + i
        )
        .expect("csv row");
    }
    out.flush().expect("csv written");
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runs: usize = args.first().and_then(|r| r.parse().ok()).unwrap_or(5);
    let data = pylantir_tests::temp_dir();
    let csv = data.path().join("bookings.csv");
    let today = today();
    write_csv(&csv, &today);
    let source = json!({
        "name": "clinic", "type": "csv", "sync_interval": 3600,
        "config": {"file_path": csv, "record_id_column": "id"},
        "field_mapping": {
            "pid": "patient_id", "name": "patient_name", "acc": "accession_number",
            "date": "scheduled_start_date", "time": "scheduled_start_time",
            "modality": "modality", "station": "scheduled_station_aetitle",
            "uid": "study_instance_uid"
        }
    });
    let started = Instant::now();
    let site = StartedApi::start(json!({"data_sources": [source]}), &["pylantir_csv"]);
    assert!(
        site.server.wait_for_log(Duration::from_secs(120), |l| l
            .contains("[csv:clinic] fetched")),
        "the CSV source did not sync:\n{}",
        site.server.log()
    );
    let (status, answer) = site.client.get(
        &format!("/console/api/worklist?from={today}&to={today}&limit=1"),
        Some(&site.token),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["total"], ITEMS, "today's items: {answer}");
    println!(
        "{ITEMS} items synced from CSV, server up in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let url = api_url_in(&site.server.log()).expect("the API's address");
    let dir = browser_dir();
    install_browser_packages(&dir);
    let status = Command::new("node")
        .arg(dir.join("console_10k.mjs"))
        .current_dir(&dir)
        .env("CONSOLE_URL", &url)
        .env("CONSOLE_USER", "admin")
        .env("CONSOLE_PASSWORD", START_ADMIN_PASSWORD)
        .env("ITEMS", ITEMS.to_string())
        .env("RUNS", runs.to_string())
        .status()
        .expect("node could be run (node 18 or later on PATH)");
    assert!(status.success(), "console_10k.mjs failed");
}
