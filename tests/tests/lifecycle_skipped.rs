//! Rejected and skipped records: counted and stored with the run, shown by
//! `pylantir query-db --last-run` and by `pylantir plugins test` (the real
//! binary, the real CSV plugin).

use pylantir_tests::server::ServerProcess;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

/// Row r2 has a field too many (skipped by the plugin); r3 has an impossible
/// date (rejected by the host).
const CSV: &str = "id,mrn,date\nr1,P1,2026-12-07\nr2,P2,2026-12-07,extra\nr3,P3,2026-13-40\n";

fn source(file: &std::path::Path) -> serde_json::Value {
    json!({"name": "clinic", "type": "csv", "sync_interval": 1,
           "config": {"file_path": file, "record_id_column": "id"},
           "field_mapping": {"mrn": "patient_id", "date": "scheduled_start_date"}})
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().expect("pylantir runs");
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn query_db_last_run_lists_what_the_plugin_skipped_and_the_host_rejected() {
    let dir = pylantir_tests::temp_dir();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    pylantir_tests::install_plugins(&plugins, &["pylantir_csv"]);
    let file = dir.path().join("b.csv");
    std::fs::write(&file, CSV).expect("csv");
    let config = dir.path().join("pylantir.json");
    let cfg = json!({"db_path": "worklist.db", "data_sources": [source(&file)]});
    std::fs::write(&config, cfg.to_string()).expect("config");
    let server = ServerProcess::start(&config, &plugins, &[]);
    let bin = &pylantir_tests::artifacts().bin;
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = output(
            Command::new(bin)
                .args(["query-db", "--last-run", "--pylantir_config"])
                .arg(&config),
        );
        if text.contains("source `clinic`") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        text.contains("fetched 2, 1 new"),
        "{text}\n{}",
        server.log()
    );
    assert!(text.contains("1 rejected, 1 skipped"), "{text}");
    assert!(
        text.contains("skipped -: ") && text.contains("4 fields, the header has 3"),
        "{text}"
    );
    assert!(text.contains("rejected r3: scheduled_start_date"), "{text}");
}

#[test]
fn plugins_test_prints_the_complete_window_and_the_skipped_records() {
    let dir = pylantir_tests::temp_dir();
    let file = dir.path().join("b.csv");
    std::fs::write(&file, CSV).expect("csv");
    let source_config = dir.path().join("source.json");
    std::fs::write(&source_config, source(&file).to_string()).expect("source config");
    let text = output(
        Command::new(&pylantir_tests::artifacts().bin)
            .args(["plugins", "test"])
            .arg(pylantir_tests::library("pylantir_csv"))
            .arg("--source-config")
            .arg(&source_config),
    );
    assert!(text.contains("complete for all dates"), "{text}");
    assert!(text.contains("1 records skipped by the plugin"), "{text}");
    assert!(text.contains("4 fields, the header has 3"), "{text}");
}
