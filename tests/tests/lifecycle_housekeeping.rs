//! Retention through the real binary: `pylantir housekeeping` removes exactly
//! the rows the `retention` configuration no longer keeps, never an
//! IN_PROGRESS item, and `--dry-run` removes nothing.

use rusqlite::Connection;
use serde_json::json;
use std::path::Path;
use std::process::Command;

/// (patient_id, status, scheduled date, retracted_at)
const ITEMS: &[(&str, &str, &str, Option<&str>)] = &[
    ("DONE_OLD", "COMPLETED", "2020-01-01", None),
    ("DONE_NEW", "COMPLETED", "2099-01-01", None),
    ("CANCELLED_OLD", "DISCONTINUED", "2020-01-01", None),
    ("RUNNING_OLD", "IN_PROGRESS", "2020-01-01", None),
    ("PAST", "SCHEDULED", "2020-01-01", None),
    ("FUTURE", "SCHEDULED", "2099-01-01", None),
    (
        "RETRACTED_OLD",
        "SCHEDULED",
        "2099-01-01",
        Some("2020-01-01T00:00:00.000Z"),
    ),
    (
        "RETRACTED_NEW",
        "SCHEDULED",
        "2099-01-01",
        Some("2099-01-01T00:00:00.000Z"),
    ),
];

fn site(dir: &Path, retention: serde_json::Value) -> std::path::PathBuf {
    let conn = pylantir::store::open(&dir.join("worklist.db")).expect("database");
    for (patient, status, date, retracted) in ITEMS {
        conn.execute(
            "INSERT INTO worklist_items (patient_id, performed_procedure_step_status, \
             scheduled_start_date, retracted_at) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![patient, status, date, retracted],
        )
        .expect("item");
    }
    for (uid, status, updated) in [
        ("2.25.1", "COMPLETED", "2020-01-01T00:00:00Z"),
        ("2.25.2", "IN PROGRESS", "2020-01-01T00:00:00Z"),
        ("2.25.3", "COMPLETED", "2099-01-01T00:00:00Z"),
    ] {
        conn.execute(
            "INSERT INTO mpps_instances (sop_instance_uid, status, attributes, created_at, updated_at) \
             VALUES (?1, ?2, x'', ?3, ?3)",
            [uid, status, updated],
        )
        .expect("mpps");
    }
    let config = dir.join("pylantir.json");
    let mut cfg = json!({"db_path": "worklist.db", "data_sources": []});
    if !retention.is_null() {
        cfg["retention"] = retention;
    }
    std::fs::write(&config, cfg.to_string()).expect("config");
    config
}

fn housekeeping(config: &Path, extra: &[&str]) -> String {
    let out = Command::new(&pylantir_tests::artifacts().bin)
        .arg("housekeeping")
        .args(extra)
        .arg("--pylantir_config")
        .arg(config)
        .output()
        .expect("pylantir housekeeping");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn left(dir: &Path) -> (Vec<String>, Vec<String>) {
    let conn = Connection::open(dir.join("worklist.db")).expect("db");
    let list = |sql: &str| -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    (
        list("SELECT patient_id FROM worklist_items ORDER BY patient_id"),
        list("SELECT sop_instance_uid FROM mpps_instances ORDER BY 1"),
    )
}

fn everything() -> serde_json::Value {
    json!({"finished_days": 30, "retracted_days": 7, "past_scheduled_days": 14,
           "mpps_days": 90, "batch_size": 1})
}

#[test]
fn housekeeping_removes_exactly_the_eligible_rows_and_dry_run_none() {
    let dir = pylantir_tests::temp_dir();
    let config = site(dir.path(), everything());
    let before = left(dir.path());

    let dry = housekeeping(&config, &["--dry-run"]);
    assert!(
        dry.contains("would remove 2 finished items, 1 retracted items, 1 past scheduled items, 1 MPPS instances"),
        "{dry}"
    );
    assert_eq!(left(dir.path()), before, "a dry run deletes nothing");

    let done = housekeeping(&config, &[]);
    assert!(done.contains("removed 2 finished items"), "{done}");
    let (items, mpps) = left(dir.path());
    assert_eq!(
        items,
        ["DONE_NEW", "FUTURE", "RETRACTED_NEW", "RUNNING_OLD"],
        "IN_PROGRESS stays however old"
    );
    assert_eq!(mpps, ["2.25.2", "2.25.3"]);
    let recorded: i64 = Connection::open(dir.path().join("worklist.db"))
        .unwrap()
        .query_row("SELECT finished_items FROM housekeeping_runs", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(recorded, 2);
}

#[test]
fn without_retention_housekeeping_deletes_nothing() {
    let dir = pylantir_tests::temp_dir();
    let config = site(dir.path(), serde_json::Value::Null);
    let before = left(dir.path());
    let out = housekeeping(&config, &[]);
    assert!(out.contains("nothing is ever deleted"), "{out}");
    assert_eq!(left(dir.path()), before);
}

fn check_config(config: &Path) -> String {
    let out = Command::new(&pylantir_tests::artifacts().bin)
        .args(["check-config", "--pylantir_config"])
        .arg(config)
        .output()
        .expect("pylantir check-config");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn check_config_says_a_config_without_retention_deletes_nothing_and_the_shipped_one_expires() {
    let dir = pylantir_tests::temp_dir();
    let migrated = site(dir.path(), serde_json::Value::Null);
    assert!(
        check_config(&migrated).contains("retention: not set; nothing is ever deleted"),
        "{}",
        check_config(&migrated)
    );
    let shipped = pylantir_tests::workspace_root().join("config/pylantir.json");
    let text = check_config(&shipped);
    assert!(text.contains("retention: finished items 30 days"), "{text}");
}

#[test]
fn start_runs_housekeeping_at_once_and_records_it() {
    let dir = pylantir_tests::temp_dir();
    let config = site(dir.path(), everything());
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    let server = pylantir_tests::server::ServerProcess::start(&config, &plugins, &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let runs = || -> i64 {
        Connection::open(dir.path().join("worklist.db"))
            .and_then(|c| c.query_row("SELECT count(*) FROM housekeeping_runs", [], |r| r.get(0)))
            .unwrap_or(0)
    };
    while runs() == 0 {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (items, mpps) = left(dir.path());
    assert_eq!(
        items,
        ["DONE_NEW", "FUTURE", "RETRACTED_NEW", "RUNNING_OLD"],
        "{}",
        server.log()
    );
    assert_eq!(mpps, ["2.25.2", "2.25.3"]);
}
