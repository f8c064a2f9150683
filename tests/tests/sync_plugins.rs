//! The sync engine with the real CSV and JSON plugins built from this
//! workspace, loaded from a plugin directory, writing a real SQLite file.

use pylantir::config;
use pylantir::loader::{LoadOptions, Registry};
use pylantir::store::{self, query, runs};
use pylantir::sync::{Engine, EngineHandle};
use pylantir_tests::{install_plugins, library, temp_dir};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A test site: plugin directory, data files, configuration and database.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(plugins: &[&str]) -> Site {
        let dir = temp_dir();
        std::fs::create_dir(dir.path().join("plugins")).expect("plugin dir");
        install_plugins(&dir.path().join("plugins"), plugins);
        Site { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.path(name), text).expect("data file");
        self.path(name).display().to_string()
    }

    fn db(&self) -> PathBuf {
        self.path("worklist.db")
    }

    /// Loads the plugins, validates `sources` and starts the engine.
    fn start(&self, sources: Value) -> EngineHandle {
        let cfg = json!({"db_path": "worklist.db", "data_sources": sources});
        let cfg_path = self.path("cfg.json");
        std::fs::write(&cfg_path, cfg.to_string()).expect("config");
        let registry = Registry::load(&[self.path("plugins")], &LoadOptions::default());
        let config = config::load(&cfg_path, &registry).expect("valid configuration");
        Engine::start(
            &config,
            &pylantir::store::Store::open(config.database.clone()).expect("database"),
            Arc::new(registry),
        )
        .expect("engine")
    }

    /// Waits (up to 30 s) until `done` holds for the finished runs.
    fn wait_for_runs(&self, done: impl Fn(&[runs::Run]) -> bool) -> Vec<runs::Run> {
        let conn = store::open(&self.db()).expect("database");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let list: Vec<runs::Run> = runs::list(&conn, None)
                .expect("runs")
                .into_iter()
                .filter(|r| r.finished_at.is_some())
                .collect();
            if done(&list) || Instant::now() > deadline {
                return list;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn items(&self) -> Vec<Map<String, Value>> {
        let conn = store::open(&self.db()).expect("database");
        query::list_items(&conn, &query::ItemFilter::default()).expect("items")
    }
}

fn count(list: &[runs::Run], source: &str) -> usize {
    list.iter().filter(|r| r.source == source).count()
}

fn csv_source(name: &str, file: &str, interval: u64) -> Value {
    json!({
        "name": name, "type": "csv", "sync_interval": interval,
        "config": {"file_path": file, "record_id_column": "id"},
        "field_mapping": {"mrn": "patient_id", "name": "patient_name", "date": "scheduled_start_date",
                          "station": "station_name"},
    })
}

const CSV_A: &str =
    "id,mrn,name,date,station\na1,A1,DOE^A,2025-03-07,MR1\na2,A2,DOE^B,20250308,MR1\n";
const CSV_B: &str = "id,mrn,name,date,station\nb1,B1,ROE^C,2025/03/09,MR2\n";

fn sources_of(items: &[Map<String, Value>]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["data_source"].as_str().unwrap_or_default().to_string(),
                i["patient_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(s, p)| (s.to_string(), p.to_string()))
        .collect()
}

#[test]
fn three_sources_with_different_intervals_fill_the_worklist_with_their_names() {
    let site = Site::new(&["pylantir_csv", "pylantir_json"]);
    let a = site.write("a.csv", CSV_A);
    let b = site.write("b.csv", CSV_B);
    let j = site.write(
        "visits.json",
        r#"[{"visit": {"id": "v1"}, "pid": "J1", "who": "POE^D", "when": "2025-03-10"}]"#,
    );
    let json_source = json!({
        "name": "visits", "type": "json", "sync_interval": 3,
        "config": {"file_path": j, "record_id_path": "visit.id"},
        "field_mapping": {"pid": "patient_id", "who": "patient_name", "when": "scheduled_start_date"},
    });
    let engine = site.start(json!([
        csv_source("site_a", &a, 1),
        csv_source("site_b", &b, 2),
        json_source
    ]));
    site.wait_for_runs(|l| {
        count(l, "site_a") >= 1 && count(l, "site_b") >= 1 && count(l, "visits") >= 1
    });
    engine.stop();

    assert_eq!(
        sources_of(&site.items()),
        pairs(&[
            ("site_a", "A1"),
            ("site_a", "A2"),
            ("site_b", "B1"),
            ("visits", "J1")
        ])
    );
    let dates: Vec<String> = site
        .items()
        .iter()
        .map(|i| {
            i["scheduled_start_date"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        dates,
        ["2025-03-07", "2025-03-08", "2025-03-09", "2025-03-10"]
    );
}

#[test]
fn a_source_with_a_missing_file_fails_every_cycle_while_the_others_keep_syncing() {
    let site = Site::new(&["pylantir_csv", "pylantir_json"]);
    let a = site.write("a.csv", CSV_A);
    let missing = site.path("missing.csv").display().to_string();
    let engine = site.start(json!([
        csv_source("good", &a, 1),
        csv_source("broken", &missing, 1)
    ]));
    let list = site.wait_for_runs(|l| count(l, "broken") >= 3 && count(l, "good") >= 3);
    engine.stop();

    let broken: Vec<&runs::Run> = list.iter().filter(|r| r.source == "broken").collect();
    assert!(broken.len() >= 3);
    for run in broken {
        let error = run.error.as_deref().unwrap_or_default();
        assert!(error.contains("missing.csv"), "{error}");
    }
    assert!(list
        .iter()
        .filter(|r| r.source == "good")
        .all(|r| r.error.is_none()));
    assert_eq!(
        sources_of(&site.items()),
        pairs(&[("good", "A1"), ("good", "A2")])
    );
}

#[test]
fn a_plugin_that_panics_in_fetch_does_not_stop_the_others() {
    let site = Site::new(&["pylantir_csv"]);
    std::fs::copy(
        library("fixture_panicking"),
        site.path("plugins").join(format!(
            "{}pylantir_panicky{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        )),
    )
    .expect("fixture installed");
    let a = site.write("a.csv", CSV_A);
    let panicky = json!({"name": "wild", "type": "panicky", "sync_interval": 1, "config": {"patient_id": "W1"}});
    let engine = site.start(json!([csv_source("good", &a, 1), panicky]));
    let list = site.wait_for_runs(|l| count(l, "wild") >= 2 && count(l, "good") >= 2);
    engine.stop();

    let wild: Vec<&runs::Run> = list.iter().filter(|r| r.source == "wild").collect();
    let first = wild[0].error.as_deref().unwrap_or_default();
    assert!(
        first.contains("simulated failure inside fetch_entries"),
        "{first}"
    );
    assert!(wild[1].error.is_none(), "{:?}", wild[1].error);
    assert!(list
        .iter()
        .filter(|r| r.source == "good")
        .all(|r| r.error.is_none()));
    let items = site.items();
    let rebuilt = items
        .iter()
        .find(|i| i["data_source"] == "wild")
        .expect("wild's item");
    // Instance 1 checked the configuration, instance 2 panicked, instance 3
    // is the one the engine rebuilt through the registry.
    assert_eq!(rebuilt["source_record_id"], "instance-3");
}

#[test]
fn an_mpps_status_survives_resyncs() {
    let site = Site::new(&["pylantir_csv"]);
    let a = site.write("a.csv", CSV_A);
    let engine = site.start(json!([csv_source("site_a", &a, 1)]));
    site.wait_for_runs(|l| count(l, "site_a") >= 1);
    let conn = store::open(&site.db()).expect("database");
    conn.execute(
        "UPDATE worklist_items SET performed_procedure_step_status = 'IN_PROGRESS' WHERE patient_id = 'A1'",
        [],
    )
    .expect("mpps");
    let uid_before: String = conn
        .query_row(
            "SELECT study_instance_uid FROM worklist_items WHERE patient_id = 'A1'",
            [],
            |r| r.get(0),
        )
        .expect("uid");
    let done = site.wait_for_runs(|l| count(l, "site_a") >= 1).len();
    site.wait_for_runs(|l| count(l, "site_a") >= done + 2);
    engine.stop();

    let item = site
        .items()
        .into_iter()
        .find(|i| i["patient_id"] == "A1")
        .expect("A1");
    assert_eq!(item["performed_procedure_step_status"], "IN_PROGRESS");
    assert_eq!(item["study_instance_uid"], uid_before.as_str());
}

#[test]
fn a_value_removed_from_the_source_is_not_erased() {
    let site = Site::new(&["pylantir_csv"]);
    let a = site.write("a.csv", CSV_A);
    let engine = site.start(json!([csv_source("site_a", &a, 1)]));
    site.wait_for_runs(|l| count(l, "site_a") >= 1);
    site.write(
        "a.csv",
        "id,mrn,name,date,station\na1,A1,DOE^A,2025-03-07,\na2,A2,DOE^B,20250308,MR1\n",
    );
    let done = site.wait_for_runs(|l| count(l, "site_a") >= 1).len();
    site.wait_for_runs(|l| count(l, "site_a") >= done + 2);
    engine.stop();

    let items = site.items();
    assert_eq!(items.len(), 2);
    let a1 = items.iter().find(|i| i["patient_id"] == "A1").expect("A1");
    assert_eq!(a1["station_name"], "MR1");
}

#[test]
fn the_same_patient_from_two_sources_is_one_row_and_one_conflict() {
    let site = Site::new(&["pylantir_csv"]);
    let first = site.write(
        "first.csv",
        "id,mrn,name,date,station\nf1,P1,DOE^A,2025-03-07,MR1\n",
    );
    let second = site.write(
        "second.csv",
        "id,mrn,name,date,station\ns1,P1,DOE^A,2025-03-07,MR9\n",
    );
    // The second source is added once the first has written its row.
    let engine = site.start(json!([csv_source("first", &first, 3600)]));
    site.wait_for_runs(|l| count(l, "first") >= 1);
    engine.stop();
    let engine = site.start(json!([
        csv_source("first", &first, 3600),
        csv_source("second", &second, 3600)
    ]));
    let list = site.wait_for_runs(|l| count(l, "second") >= 1 && count(l, "first") >= 2);
    engine.stop();

    let items = site.items();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (
            items[0]["data_source"].as_str(),
            items[0]["station_name"].as_str()
        ),
        (Some("first"), Some("MR1"))
    );
    let second_run = list.iter().find(|r| r.source == "second").expect("run");
    assert_eq!(second_run.counts.conflicts, 1);
}

#[test]
fn the_startup_summary_and_every_sync_line_name_the_source() {
    pylantir_tests::logs::capture();
    let site = Site::new(&["pylantir_csv"]);
    let a = site.write("a.csv", CSV_A);
    let missing = site.path("missing.csv").display().to_string();
    let mut off = csv_source("summary_off", &a, 60);
    off["enabled"] = json!(false);
    let engine = site.start(json!([
        csv_source("summary_ok", &a, 1),
        csv_source("summary_bad", &missing, 1),
        off
    ]));
    site.wait_for_runs(|l| count(l, "summary_ok") >= 1 && count(l, "summary_bad") >= 1);
    engine.stop();

    let summary = pylantir_tests::logs::containing(
        "[csv:summary_ok] enabled, every 1 s, window 00:00-23:59, plugin ",
    );
    assert_eq!(summary.len(), 1, "{:?}", pylantir_tests::logs::captured());
    assert_eq!(
        pylantir_tests::logs::containing("[csv:summary_off] disabled, every 60 s").len(),
        1
    );
    let fetched = pylantir_tests::logs::containing("[csv:summary_ok] fetched 2: 2 new");
    assert_eq!(fetched.len(), 1);
    let failed = pylantir_tests::logs::containing("[csv:summary_bad] sync failed: fetch failed: ");
    assert!(!failed.is_empty());
    assert!(failed
        .iter()
        .all(|r| r.level == log::Level::Error && r.message.contains("missing.csv")));
}
