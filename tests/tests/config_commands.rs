//! The configuration commands of the real binary: `check-config`,
//! `migrate-config`, and `query-db`.

use pylantir::store;
use pylantir::sync::apply_entries;
use pylantir_tests::{artifacts, library, temp_dir, workspace_root};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pylantir(args: &[&str]) -> Output {
    Command::new(&artifacts().bin)
        .args(args)
        .env_remove("DEBUG")
        .env_remove("PYLANTIR_PLUGIN_PATH")
        .output()
        .expect("pylantir runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_json(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).expect("json")).expect("written");
    path
}

fn example(name: &str) -> PathBuf {
    workspace_root()
        .join("tests/data/pylantir-config")
        .join(name)
}

/// A directory with a CSV file; the csv plugin is found next to the binary.
fn csv_site() -> tempfile::TempDir {
    let dir = temp_dir();
    std::fs::write(dir.path().join("a.csv"), "mrn,name\nP1,DOE^A\n").expect("csv");
    dir
}

#[test]
fn check_config_prints_every_source_and_exits_0() {
    let dir = csv_site();
    let csv = dir.path().join("a.csv").display().to_string();
    let cfg = write_json(
        dir.path(),
        "cfg.json",
        &json!({"db_path": "w.db", "data_sources": [
            {"name": "clinic", "type": "csv", "sync_interval": 90,
             "operation_interval": {"start_time": [7, 0], "end_time": [19, 30]},
             "config": {"file_path": csv}, "field_mapping": {"mrn": "patient_id"}},
            {"name": "old", "type": "hl7", "enabled": false},
        ]}),
    );
    let out = pylantir(&[
        "check-config",
        "--pylantir_config",
        &cfg.display().to_string(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let clinic = stdout
        .lines()
        .find(|l| l.starts_with("clinic "))
        .expect("clinic row");
    let cells: Vec<&str> = clinic.split_whitespace().collect();
    assert_eq!(cells[1], "csv");
    assert!(cells[2].ends_with("libpylantir_csv.so"), "{clinic}");
    assert_eq!(&cells[3..], ["90", "s", "07:00-19:30", "yes"]);
    let old = stdout
        .lines()
        .find(|l| l.starts_with("old "))
        .expect("old row");
    assert!(old.ends_with("no"), "{old}");
    assert!(stdout.contains(&format!(
        "worklist database {}",
        dir.path().join("w.db").display()
    )));
}

#[test]
fn check_config_prints_every_problem_and_exits_1() {
    let dir = csv_site();
    let cfg = write_json(
        dir.path(),
        "cfg.json",
        &json!({"data_sources": [
            {"name": "a", "type": "csv", "sync_interval": 0, "config": {"file_path": "x.csv"}},
            {"name": "a", "type": "fhir"},
        ]}),
    );
    let out = pylantir(&["check-config", "--config", &cfg.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("has 3 problem(s)"), "{stderr}");
    assert!(stderr.contains(
        "data_sources[0].sync_interval: must be a number of seconds, at least 1 (found 0)"
    ));
    assert!(stderr.contains("data_sources[1].name: duplicate source name"));
    let unknown = stderr
        .lines()
        .find(|l| l.contains("data_sources[1].type: unknown source type; available types: "))
        .expect("unknown type problem");
    assert!(
        unknown.contains("csv") && unknown.ends_with("(found \"fhir\")"),
        "{unknown}"
    );
}

#[test]
fn check_config_loads_plugins_from_plugin_dir() {
    let dir = temp_dir();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    let file = format!(
        "{}pylantir_panicky{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    std::fs::copy(library("fixture_panicking"), plugins.join(&file)).expect("installed");
    let source = json!({"name": "p", "type": "panicky", "config": {"patient_id": "P1"}});
    let cfg = write_json(dir.path(), "cfg.json", &json!({"data_sources": [source]}));
    let cfg = cfg.display().to_string();

    let without = pylantir(&["check-config", "--pylantir_config", &cfg]);
    assert_eq!(without.status.code(), Some(1));
    let with = pylantir(&[
        "check-config",
        "--pylantir_config",
        &cfg,
        "--plugin-dir",
        &plugins.display().to_string(),
    ]);
    assert_eq!(with.status.code(), Some(0), "{}", text(&with.stderr));
    assert!(text(&with.stdout).contains(&file));
}

#[test]
fn check_config_names_a_missing_file() {
    let out = pylantir(&[
        "check-config",
        "--pylantir_config",
        "/nonexistent/pylantir.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read configuration file /nonexistent/pylantir.json"));
}

#[test]
fn the_python_example_without_sources_passes_check_config() {
    let out = pylantir(&[
        "check-config",
        "--pylantir_config",
        &example("mwl_config.json").display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("`data_sources` is empty"));
}

#[test]
fn every_python_example_config_passes_check_config_with_the_shipped_plugins() {
    for example_name in [
        "calpendo_config_example.json",
        "config_example_with_cors.json",
        "mwl_config.json",
        "mwl_config_multi_source_example.json",
        "readme_data_sources_example.json",
    ] {
        let out = Command::new(&artifacts().bin)
            .args(["check-config", "--pylantir_config"])
            .arg(example(example_name))
            .env_remove("PYLANTIR_PLUGIN_PATH")
            .env("REDCAP_API_URL", "http://127.0.0.1:9/api/")
            .env("REDCAP_API_TOKEN", "0123456789ABCDEF0123456789ABCDEF")
            .env("CALPENDO_USERNAME", "scheduler")
            .env("CALPENDO_PASSWORD", "secret")
            .output()
            .expect("pylantir runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{example_name}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn migrate_config_writes_the_data_sources_format_keeping_every_key() {
    let dir = temp_dir();
    let out_path = dir.path().join("new.json");
    let out = pylantir(&[
        "migrate-config",
        &example("mwl_config_multi_source_example.json")
            .display()
            .to_string(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "already data_sources: nothing to do"
    );

    let out = pylantir(&[
        "migrate-config",
        &example("config_example_with_cors.json")
            .display()
            .to_string(),
        "-o",
        &out_path.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let original: Value = serde_json::from_str(
        &std::fs::read_to_string(example("config_example_with_cors.json")).expect("read"),
    )
    .expect("json");
    let written_text = std::fs::read_to_string(&out_path).expect("written");
    let written: Value = serde_json::from_str(&written_text).expect("json");
    for (key, value) in original.as_object().expect("object") {
        assert_eq!(&written[key], value, "{key}");
    }
    let source = &written["data_sources"][0];
    assert_eq!(source["name"], "redcap_legacy");
    assert_eq!(source["type"], "redcap");
    assert_eq!(source["field_mapping"], original["redcap2wl"]);
    assert!(
        written_text.starts_with("{\n  \"db_path\""),
        "pretty, keys in file order"
    );
}

#[test]
fn migrate_config_refuses_to_overwrite_unless_forced() {
    let dir = temp_dir();
    let out_path = dir.path().join("new.json");
    std::fs::write(&out_path, "keep me").expect("existing");
    let legacy = example("mwl_config.json");
    let legacy_only = write_json(dir.path(), "legacy.json", &{
        let mut v: Value =
            serde_json::from_str(&std::fs::read_to_string(&legacy).expect("read")).expect("json");
        v.as_object_mut().expect("object").remove("data_sources");
        v
    });
    let args = [
        "migrate-config",
        &legacy_only.display().to_string(),
        "-o",
        &out_path.display().to_string(),
    ];
    let out = pylantir(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not overwritten"));
    assert_eq!(std::fs::read_to_string(&out_path).expect("kept"), "keep me");

    let mut forced = args.to_vec();
    forced.push("--force");
    assert_eq!(pylantir(&forced).status.code(), Some(0));
    assert!(std::fs::read_to_string(&out_path)
        .expect("new")
        .contains("redcap_legacy"));
}

fn filled_db(dir: &Path) -> PathBuf {
    let cfg = write_json(
        dir,
        "cfg.json",
        &json!({"db_path": "w.db", "data_sources": []}),
    );
    let conn = store::open(&dir.join("w.db")).expect("database");
    let entries: Vec<_> = [
        json!({"source_record_id": "1", "patient_id": "P1", "patient_name": "DOE^A", "scheduled_start_date": "2025-03-07", "scheduled_start_time": "09:00"}),
        json!({"source_record_id": "2", "patient_id": "P2", "patient_name": "DOE^B", "scheduled_start_date": "2025-03-08", "scheduled_start_time": "10:00"}),
    ]
    .iter()
    .map(|e| e.as_object().cloned().expect("object"))
    .collect();
    apply_entries(&conn, "csv", "clinic", &entries).expect("written");
    conn.execute(
        "UPDATE worklist_items SET performed_procedure_step_status = 'COMPLETED' WHERE patient_id = 'P2'",
        [],
    )
    .expect("status");
    cfg
}

#[test]
fn query_db_prints_the_worklist_as_a_table() {
    let dir = temp_dir();
    let cfg = filled_db(dir.path());
    let out = pylantir(&["query-db", "--pylantir_config", &cfg.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("ID  PATIENT ID  PATIENT NAME  DATE"),
        "{stdout}"
    );
    assert_eq!(lines.len(), 3);
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &first[1..7],
        ["P1", "DOE^A", "2025-03-07", "09:00", "MR", "SCHEDULED"]
    );
}

#[test]
fn query_db_filters_by_status_date_and_source_and_prints_json() {
    let dir = temp_dir();
    let cfg = filled_db(dir.path());
    let cfg = cfg.display().to_string();
    let json_of = |extra: &[&str]| -> Vec<Value> {
        let mut args = vec!["query-db", "--pylantir_config", &cfg, "--json"];
        args.extend_from_slice(extra);
        let out = pylantir(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("JSON list")
    };
    let completed = json_of(&["--status", "COMPLETED"]);
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["patient_id"], "P2");
    assert_eq!(json_of(&["--date", "2025-03-07"])[0]["patient_id"], "P1");
    assert_eq!(json_of(&["--source", "clinic"]).len(), 2);
    assert!(json_of(&["--source", "other"]).is_empty());
}

#[test]
fn check_config_reports_invalid_dicom_settings_and_exits_1() {
    let dir = temp_dir();
    let config = write_json(
        dir.path(),
        "pylantir.json",
        &json!({"port": "4242", "max_associations": 0, "data_sources": []}),
    );
    let out = pylantir(&[
        "check-config",
        "--pylantir_config",
        config.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("has 2 problem(s)"), "{stderr}");
    assert!(
        stderr.contains("port: must be a port number 0-65535 (found \"4242\")"),
        "{stderr}"
    );
    assert!(stderr.contains("max_associations"), "{stderr}");
}

#[test]
fn check_config_strict_exits_1_on_warnings_that_plain_check_config_prints() {
    let readme = example("readme_data_sources_example.json");
    let readme = readme.to_str().expect("utf-8");
    let run = |strict: bool| {
        let mut args = vec!["check-config", "--pylantir_config", readme];
        if strict {
            args.push("--strict");
        }
        Command::new(&artifacts().bin)
            .args(args)
            .env_remove("PYLANTIR_PLUGIN_PATH")
            .env("REDCAP_API_URL", "http://127.0.0.1:9/api/")
            .env("REDCAP_API_TOKEN", "0123456789ABCDEF0123456789ABCDEF")
            .output()
            .expect("pylantir runs")
    };
    let plain = run(false);
    let stderr = text(&plain.stderr);
    assert_eq!(plain.status.code(), Some(0), "{stderr}");
    for entry in [
        "instrument",
        "session_id",
        "scheduled_date",
        "scheduled_time",
        "status",
    ] {
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("warning: data_sources[0].field_mapping.{entry}: ")))
            .unwrap_or_else(|| panic!("a warning for {entry}:\n{stderr}"));
        assert!(line.contains("this entry has no effect"), "{line}");
    }
    let strict = run(true);
    assert_eq!(strict.status.code(), Some(1));
    assert!(text(&strict.stderr).contains("5 warning(s); --strict refuses them"));
}

#[test]
fn a_csv_sources_own_timezone_key_is_left_to_the_csv_plugin() {
    let dir = csv_site();
    let csv = dir.path().join("a.csv").display().to_string();
    let cfg = write_json(
        dir.path(),
        "cfg.json",
        &json!({"db_path": "w.db", "data_sources": [
            {"name": "clinic", "type": "csv",
             "config": {"file_path": csv, "timezone": "Mars/Olympus"},
             "field_mapping": {"mrn": "patient_id"}},
        ]}),
    );
    let out = pylantir(&[
        "check-config",
        "--pylantir_config",
        cfg.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_bad_max_crashes_is_refused_by_check_config_and_start_alike() {
    let dir = temp_dir();
    let cfg = write_json(
        dir.path(),
        "cfg.json",
        &json!({"db_path": "w.db", "max_crashes": -1, "data_sources": []}),
    );
    let cfg = cfg.to_str().expect("utf-8");
    let expected = "max_crashes: must be a whole number of failures, at least 1 (found -1)";
    let check = pylantir(&["check-config", "--pylantir_config", cfg]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        text(&check.stderr).contains(expected),
        "{}",
        text(&check.stderr)
    );
    let start = pylantir(&[
        "start",
        "--pylantir_config",
        cfg,
        "--ip",
        "127.0.0.1",
        "--port",
        "0",
    ]);
    assert_eq!(start.status.code(), Some(1));
    assert!(
        text(&start.stderr).contains(expected),
        "{}",
        text(&start.stderr)
    );
}
