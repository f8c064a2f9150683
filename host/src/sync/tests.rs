//! The engine with in-test sources (its collaborators) on a real SQLite file.

use super::Engine;
use crate::config::{ClockTime, Config, Isolation, SourceConfig, Window};
use crate::source::{DataSource, Fetched, SourceError, SourceErrorKind, SourceFactory};
use crate::store::{self, query, runs};
use pylantir_plugin_api::Entry;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts what the engine did with the sources it built.
#[derive(Default)]
struct Counters {
    created: AtomicUsize,
    cleaned: AtomicUsize,
}

/// Source types by behaviour: `ok` (two entries named after the source),
/// `failing` (fetch error), `panicking` (panics in fetch), `plugin-panic`
/// (reports a caught plugin panic), `slow` (never answers in time).
struct Factory(Arc<Counters>);

struct Fake {
    kind: String,
    name: String,
    counters: Arc<Counters>,
}

impl DataSource for Fake {
    fn validate_config(&mut self, _: &Value) -> Result<(), SourceError> {
        Ok(())
    }

    fn fetch(&mut self, _: &Value, _: f64) -> Result<Fetched, SourceError> {
        let entries: Result<Vec<Entry>, SourceError> = match self.kind.as_str() {
            "failing" => Err(SourceError::new(
                SourceErrorKind::Fetch,
                "cannot open /missing.csv",
            )),
            "panicking" => panic!("boom in {}", self.name),
            "plugin-panic" => Err(SourceError::new(
                SourceErrorKind::Panicked,
                "plugin panicked: boom",
            )),
            "slow" => {
                std::thread::sleep(Duration::from_secs(30));
                Ok(Vec::new())
            }
            _ => Ok((1..=2)
                .map(|i| {
                    let entry = json!({"patient_id": format!("{}-{i}", self.name), "patient_name": "DOE^J"});
                    entry.as_object().cloned().unwrap_or_default()
                })
                .collect()),
        };
        entries.map(Fetched::entries)
    }

    fn supports_incremental_sync(&self) -> bool {
        false
    }

    fn cleanup(&mut self) {
        self.counters.cleaned.fetch_add(1, Ordering::SeqCst);
    }
}

impl SourceFactory for Factory {
    fn source_types(&self) -> Vec<String> {
        ["failing", "ok", "panicking", "plugin-panic", "slow"]
            .map(String::from)
            .to_vec()
    }

    fn plugin_file(&self, _: &str) -> Option<PathBuf> {
        None
    }

    fn create(&self, kind: &str, name: &str) -> Result<Box<dyn DataSource>, SourceError> {
        self.0.created.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(Fake {
            kind: kind.into(),
            name: name.into(),
            counters: Arc::clone(&self.0),
        }))
    }
}

fn source(index: usize, name: &str, kind: &str, interval: u64) -> SourceConfig {
    SourceConfig {
        index,
        name: name.into(),
        source_type: kind.into(),
        enabled: true,
        sync_interval: Duration::from_secs(interval),
        window: Window::default(),
        config: json!({}),
        field_mapping: json!({}),
        fetch_timeout: Duration::from_secs(1),
        isolation: Isolation::InProcess,
        plugin: None,
        crash_limits: Default::default(),
        mpps_write_back: false,
        raw: Map::new(),
    }
}

fn config(db_path: &Path, sources: Vec<SourceConfig>) -> Config {
    Config {
        path: db_path.with_file_name("cfg.json"),
        raw: Map::new(),
        legacy: false,
        db_path: db_path.to_path_buf(),
        database: store::Location::Sqlite(db_path.to_path_buf()),
        plugin_dirs: Vec::new(),
        crash_limits: Default::default(),
        sources,
        warnings: Vec::new(),
    }
}

/// Waits (up to 20 s) until `done` holds for the runs recorded so far.
fn wait_for_runs(db: &Path, done: impl Fn(&[runs::Run]) -> bool) -> Vec<runs::Run> {
    let conn = store::open(db).expect("opened");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = runs::list(&conn, None).expect("runs");
        if done(&list) || Instant::now() > deadline {
            return list;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn finished<'a>(list: &'a [runs::Run], source: &str) -> Vec<&'a runs::Run> {
    list.iter()
        .filter(|r| r.source == source && r.finished_at.is_some())
        .collect()
}

fn start(dir: &Path, sources: Vec<SourceConfig>) -> (PathBuf, super::EngineHandle, Arc<Counters>) {
    let db = dir.join("worklist.db");
    let counters = Arc::new(Counters::default());
    let factory = Arc::new(Factory(Arc::clone(&counters)));
    let config = config(&db, sources);
    let store = store::Store::open(config.database.clone()).expect("opened");
    let handle = Engine::start(&config, &store, factory).expect("started");
    (db, handle, counters)
}

#[test]
fn every_enabled_source_syncs_its_rows_with_its_name() {
    let dir = tempfile::tempdir().expect("dir");
    let mut off = source(2, "off", "ok", 1);
    off.enabled = false;
    let sources = vec![source(0, "a", "ok", 1), source(1, "b", "ok", 2), off];
    let (db, handle, _) = start(dir.path(), sources);
    wait_for_runs(&db, |l| {
        !finished(l, "a").is_empty() && !finished(l, "b").is_empty()
    });
    handle.stop();

    let conn = store::open(&db).expect("opened");
    let items = query::list_items(&conn, &query::ItemFilter::default()).expect("items");
    let mut found: Vec<(String, String)> = items
        .iter()
        .map(|i| (i["data_source"].to_string(), i["patient_id"].to_string()))
        .collect();
    found.sort();
    let expected: Vec<(String, String)> = [("a", "a-1"), ("a", "a-2"), ("b", "b-1"), ("b", "b-2")]
        .iter()
        .map(|(s, p)| (format!("{s:?}"), format!("{p:?}")))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn a_failing_source_is_recorded_every_cycle_while_the_others_go_on() {
    let dir = tempfile::tempdir().expect("dir");
    let sources = vec![source(0, "good", "ok", 1), source(1, "bad", "failing", 1)];
    let (db, handle, _) = start(dir.path(), sources);
    let list = wait_for_runs(&db, |l| {
        finished(l, "bad").len() >= 2 && finished(l, "good").len() >= 2
    });
    handle.stop();

    let bad = finished(&list, "bad");
    assert!(bad.len() >= 2);
    for run in bad {
        assert_eq!(
            run.error.as_deref(),
            Some("fetch failed: cannot open /missing.csv")
        );
    }
    assert!(finished(&list, "good").iter().all(|r| r.error.is_none()));
}

#[test]
fn a_source_that_panics_in_fetch_does_not_stop_the_others_and_is_rebuilt() {
    let dir = tempfile::tempdir().expect("dir");
    let sources = vec![
        source(0, "good", "ok", 1),
        source(1, "wild", "panicking", 1),
    ];
    let (db, handle, counters) = start(dir.path(), sources);
    let list = wait_for_runs(&db, |l| {
        finished(l, "wild").len() >= 2 && finished(l, "good").len() >= 2
    });
    handle.stop();

    assert!(finished(&list, "wild")
        .iter()
        .all(|r| r.error.as_deref().is_some_and(|e| e.contains("panic"))));
    assert!(finished(&list, "good").iter().all(|r| r.error.is_none()));
    // good: built once; wild: built again for every fetch after a panic.
    assert!(counters.created.load(Ordering::SeqCst) >= 3);
}

#[test]
fn a_source_reporting_a_plugin_panic_is_rebuilt_through_the_factory() {
    let dir = tempfile::tempdir().expect("dir");
    let (db, handle, counters) = start(dir.path(), vec![source(0, "p", "plugin-panic", 1)]);
    wait_for_runs(&db, |l| finished(l, "p").len() >= 2);
    handle.stop();
    assert!(counters.created.load(Ordering::SeqCst) >= 2);
}

#[test]
fn a_fetch_past_its_deadline_counts_as_failed() {
    let dir = tempfile::tempdir().expect("dir");
    let (db, handle, _) = start(dir.path(), vec![source(0, "stuck", "slow", 60)]);
    let list = wait_for_runs(&db, |l| !finished(l, "stuck").is_empty());
    handle.stop();
    let run = finished(&list, "stuck")[0];
    assert!(run
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("fetch timed out after 1 s")));
}

#[test]
fn a_fetch_still_running_past_its_deadline_blocks_new_fetches_instead_of_piling_up() {
    let dir = tempfile::tempdir().expect("dir");
    let (db, handle, counters) = start(dir.path(), vec![source(0, "stuck", "slow", 1)]);
    let list = wait_for_runs(&db, |l| finished(l, "stuck").len() >= 3);
    handle.stop();
    let skipped = finished(&list, "stuck")
        .iter()
        .filter(|run| {
            run.error
                .as_deref()
                .is_some_and(|e| e.contains("still running; run skipped"))
        })
        .count();
    assert!(skipped >= 2, "{list:?}");
    assert_eq!(
        counters.created.load(Ordering::SeqCst),
        1,
        "one source, one fetch thread"
    );
}

#[test]
fn stopping_cleans_every_built_source_up() {
    let dir = tempfile::tempdir().expect("dir");
    let sources = vec![source(0, "a", "ok", 3600), source(1, "b", "ok", 3600)];
    let (db, handle, counters) = start(dir.path(), sources);
    wait_for_runs(&db, |l| {
        finished(l, "a").len() + finished(l, "b").len() >= 2
    });
    handle.stop();
    assert_eq!(counters.cleaned.load(Ordering::SeqCst), 2);
}

#[test]
fn a_source_outside_its_window_does_not_sync() {
    let dir = tempfile::tempdir().expect("dir");
    let now = jiff::ZonedDateTime::now().hour() as u32;
    let mut closed = source(0, "closed", "ok", 1);
    closed.window = Window {
        start: ClockTime {
            hour: (now + 2) % 24,
            minute: 0,
        },
        end: ClockTime {
            hour: (now + 3) % 24,
            minute: 0,
        },
    };
    let sources = vec![closed, source(1, "open", "ok", 1)];
    let (db, handle, _) = start(dir.path(), sources);
    let list = wait_for_runs(&db, |l| finished(l, "open").len() >= 2);
    handle.stop();
    assert!(finished(&list, "open").len() >= 2);
    assert!(list.iter().all(|r| r.source != "closed"));
}
