//! `pylantir start` as a site runs it: the real binary, the real CSV plugin,
//! a real SQLite file, DICOM on loopback.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::{Client, ScuOptions};
use pylantir_tests::server::ServerProcess;
use pylantir_tests::{install_plugins, temp_dir};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const MWL_FIND: &str = "1.2.840.10008.5.1.4.31";

/// A site directory: a CSV export, a config reading it, a plugin directory.
fn site(dir: &Path) -> std::path::PathBuf {
    std::fs::write(
        dir.join("visits.csv"),
        "id,pid,name,date,time,modality\n\
         1,P001,Müller^Jürgen,2026-11-25,09:30,MR\n\
         2,P002,Doe^Jane,2026-11-26,10:00,CT\n",
    )
    .expect("csv written");
    let config = serde_json::json!({
        "db_path": "worklist.db",
        "data_sources": [{
            "name": "visits",
            "type": "csv",
            "sync_interval": 1,
            "config": {"file_path": "visits.csv", "record_id_column": "id"},
            "field_mapping": {
                "pid": "patient_id", "name": "patient_name", "date": "scheduled_start_date",
                "time": "scheduled_start_time", "modality": "modality"
            }
        }]
    });
    let path = dir.join("pylantir.json");
    std::fs::write(&path, config.to_string()).expect("config written");
    std::fs::create_dir(dir.join("plugins")).expect("plugin dir");
    install_plugins(&dir.join("plugins"), &["pylantir_csv"]);
    path
}

fn patient_names(port: u16) -> Vec<String> {
    let options = ScuOptions {
        addr: format!("127.0.0.1:{port}"),
        called_ae: "MWL_SERVER".into(),
        calling_ae: "TEST_SCU".into(),
        timeout: Duration::from_secs(10),
    };
    let mut client = Client::connect(&options, &[MWL_FIND]).expect("association accepted");
    let mut query = InMemDicomObject::new_empty();
    query.put(DataElement::new(
        tags::PATIENT_NAME,
        VR::PN,
        PrimitiveValue::from("*"),
    ));
    let mut names = Vec::new();
    let status = client
        .find(&query, |_, identifier| {
            let name = identifier
                .element(tags::PATIENT_NAME)
                .ok()
                .and_then(|e| e.to_str().ok())
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            names.push(name);
            ControlFlow::Continue(())
        })
        .expect("C-FIND answered");
    assert_eq!(status, 0x0000, "final C-FIND status");
    let _ = client.release();
    names.sort();
    names
}

#[test]
fn start_syncs_the_csv_source_and_serves_it_over_c_find() {
    let dir = temp_dir();
    let config = site(dir.path());
    let server = ServerProcess::start(&config, &dir.path().join("plugins"), &[]);
    assert!(
        server.wait_for_log(Duration::from_secs(20), |log| log
            .contains("[csv:visits] fetched 2")),
        "no sync logged:\n{}",
        server.log()
    );
    assert_eq!(
        patient_names(server.port),
        vec!["Doe^Jane", "Müller^Jürgen"]
    );
}

#[test]
fn sigterm_stops_the_server_with_exit_status_zero_within_five_seconds() {
    let dir = temp_dir();
    let config = site(dir.path());
    let mut server = ServerProcess::start(&config, &dir.path().join("plugins"), &[]);
    let status = server
        .terminate(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("still running 5 s after SIGTERM:\n{}", server.log()));
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
    assert!(
        server.log().contains("[csv:visits] stopped"),
        "log:\n{}",
        server.log()
    );
}

#[test]
fn start_with_an_invalid_config_names_the_problem_and_exits_1() {
    let dir = temp_dir();
    let config = dir.path().join("bad.json");
    std::fs::write(
        &config,
        r#"{"data_sources": [{"name": "a", "type": "csv", "sync_interval": 0}]}"#,
    )
    .expect("config written");
    let out = Command::new(&pylantir_tests::artifacts().bin)
        .args(["start", "--port", "0", "--pylantir_config"])
        .arg(&config)
        .output()
        .expect("pylantir ran");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("data_sources[0].sync_interval"),
        "stderr:\n{stderr}"
    );
}

#[test]
fn start_with_a_missing_config_file_names_the_file_and_exits_1() {
    let out = Command::new(&pylantir_tests::artifacts().bin)
        .args(["start", "--pylantir_config", "/nonexistent/pylantir.json"])
        .output()
        .expect("pylantir ran");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/pylantir.json"),
        "stderr:\n{stderr}"
    );
}

#[test]
fn sigterm_stops_the_server_within_half_a_second_with_a_scanner_associated_and_no_sync_running() {
    let dir = temp_dir();
    let config = site(dir.path());
    for round in 0..3 {
        let mut server = ServerProcess::start(&config, &dir.path().join("plugins"), &[]);
        assert!(
            server.wait_for_log(Duration::from_secs(20), |log| log
                .matches("[csv:visits] fetched 2")
                .count()
                > round),
            "no sync logged:\n{}",
            server.log()
        );
        // A scanner holding an idle association.
        let options = ScuOptions {
            addr: format!("127.0.0.1:{}", server.port),
            called_ae: "MWL_SERVER".into(),
            calling_ae: "SCANNER".into(),
            timeout: Duration::from_secs(10),
        };
        let mut scanner = Client::connect(&options, &[MWL_FIND]).expect("association");
        let started = Instant::now();
        let status = server
            .terminate(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{}", server.log()));
        let took = started.elapsed();
        assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
        assert!(
            took < Duration::from_millis(500),
            "round {round}: stopped {took:?} after SIGTERM:\n{}",
            server.log()
        );
        assert!(scanner.echo().is_err(), "the association should be gone");
    }
}

#[test]
fn a_sync_writing_at_sigterm_is_committed_or_rolled_back_within_its_grace() {
    let dir = temp_dir();
    let config = site(dir.path());
    // Big enough that its write takes seconds.
    let mut csv = String::from("id,pid,name,date,time,modality\n");
    for i in 0..200_000 {
        csv.push_str(&format!("{i},P{i},Name^{i},2026-11-25,09:30,MR\n"));
    }
    std::fs::write(dir.path().join("visits.csv"), csv).expect("csv written");
    let mut server = ServerProcess::start(&config, &dir.path().join("plugins"), &[]);
    // The write has begun once the write-ahead log grows.
    let wal = dir.path().join("worklist.db-wal");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) < 1 << 20 {
        assert!(
            Instant::now() < deadline,
            "the write never began:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    let status = server
        .terminate(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("still running 30 s after SIGTERM:\n{}", server.log()));
    let took = started.elapsed();
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
    assert!(
        took < Duration::from_secs(4),
        "stopped {took:?} after SIGTERM:\n{}",
        server.log()
    );
    let rows: i64 = rusqlite::Connection::open(dir.path().join("worklist.db"))
        .expect("open the database")
        .query_row("SELECT count(*) FROM worklist_items", [], |r| r.get(0))
        .expect("count");
    assert!(
        rows == 0 || rows == 200_000,
        "{rows} rows: the write was neither committed nor rolled back"
    );
}
