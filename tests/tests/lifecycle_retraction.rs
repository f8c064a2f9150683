//! Retraction of vanished bookings: a CSV row removed from the file leaves
//! C-FIND after the next sync and comes back with its UID when restored (the
//! real binary, its plugin in a worker process, our SCU on 127.0.0.1); an
//! emptied file retracts nothing; an IN_PROGRESS item is never retracted.

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::{Client, ScuOptions};
use pylantir::source::{DataSource, SourceFactory};
use pylantir::store::{self, mpps};
use pylantir::sync::apply_fetch;
use pylantir_tests::plugin_files::load_in_process;
use pylantir_tests::server::ServerProcess;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const HEADER: &str = "id,mrn,name,date\n";

fn rows(ids: &[&str]) -> String {
    let mut text = HEADER.to_string();
    for id in ids {
        text.push_str(&format!("{id},MRN-{id},DOE^{id},2026-12-07\n"));
    }
    text
}

fn csv_config(file: &Path) -> serde_json::Value {
    json!({"file_path": file, "record_id_column": "id"})
}

fn mapping() -> serde_json::Value {
    json!({"mrn": "patient_id", "name": "patient_name", "date": "scheduled_start_date"})
}

/// Patient ID -> Study Instance UID of every item C-FIND returns.
fn c_find(port: u16) -> Vec<(String, String)> {
    let options = ScuOptions {
        addr: format!("127.0.0.1:{port}"),
        called_ae: "MWL_SERVER".into(),
        calling_ae: "SCANNER1".into(),
        timeout: Duration::from_secs(10),
    };
    let mut client = Client::connect(&options, &[uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND])
        .expect("association");
    let mut query = InMemDicomObject::new_empty();
    query.put(dicom_core::DataElement::new(tags::PATIENT_ID, VR::LO, ""));
    query.put(dicom_core::DataElement::new(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        "",
    ));
    let mut found = Vec::new();
    client
        .find(&query, |_, answer| {
            let text = |tag| {
                answer
                    .element(tag)
                    .ok()
                    .and_then(|e| e.to_str().ok())
                    .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
                    .unwrap_or_default()
            };
            found.push((text(tags::PATIENT_ID), text(tags::STUDY_INSTANCE_UID)));
            std::ops::ControlFlow::Continue(())
        })
        .expect("C-FIND");
    let _ = client.release();
    found.sort();
    found
}

/// Polls C-FIND (up to 20 s) until `done` holds; returns the last answer.
fn c_find_until(port: u16, done: impl Fn(&[(String, String)]) -> bool) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = c_find(port);
        if done(&found) || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ids(found: &[(String, String)]) -> Vec<&str> {
    found.iter().map(|(id, _)| id.as_str()).collect()
}

#[test]
fn a_csv_row_removed_leaves_c_find_after_the_next_sync_and_comes_back_with_its_uid() {
    row_removed_and_restored("process");
}

#[test]
fn the_same_holds_with_the_plugin_loaded_in_process() {
    row_removed_and_restored("in-process");
}

/// The real binary with the CSV plugin run as `isolation` says.
fn row_removed_and_restored(isolation: &str) {
    let dir = pylantir_tests::temp_dir();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    pylantir_tests::install_plugins(&plugins, &["pylantir_csv"]);
    let file = dir.path().join("bookings.csv");
    std::fs::write(&file, rows(&["a", "b", "c"])).expect("csv");
    let config = dir.path().join("pylantir.json");
    let cfg = json!({
        "db_path": "worklist.db",
        "data_sources": [{"name": "clinic", "type": "csv", "sync_interval": 1,
                          "isolation": isolation,
                          "config": csv_config(&file), "field_mapping": mapping()}]
    });
    std::fs::write(&config, cfg.to_string()).expect("config");
    let server = ServerProcess::start(&config, &plugins, &["--AEtitle", "MWL_SERVER"]);

    let first = c_find_until(server.port, |f| f.len() == 3);
    assert_eq!(ids(&first), ["MRN-a", "MRN-b", "MRN-c"], "{}", server.log());

    std::fs::write(&file, rows(&["a", "c"])).expect("row b removed");
    let without_b = c_find_until(server.port, |f| f.len() == 2);
    assert_eq!(ids(&without_b), ["MRN-a", "MRN-c"], "{}", server.log());

    std::fs::write(&file, rows(&["a", "b", "c"])).expect("row b restored");
    let again = c_find_until(server.port, |f| f.len() == 3);
    assert_eq!(again, first, "same items, same Study Instance UIDs");
}

/// Fetches `file` with the CSV plugin (in-process) and applies the fetch to `db`.
fn sync_file(source: &mut Box<dyn DataSource>, db: &Path) -> pylantir::store::runs::RunCounts {
    let fetched = source.fetch(&mapping(), 60.0).expect("fetch");
    let conn = store::open(db).expect("db");
    apply_fetch(&conn, "csv", "clinic", &fetched, Default::default())
        .expect("applied")
        .0
}

fn visible(db: &Path) -> i64 {
    store::open(db)
        .expect("db")
        .query_row(
            "SELECT count(*) FROM worklist_items WHERE retracted_at IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("count")
}

#[test]
fn an_emptied_file_retracts_nothing_and_the_run_says_why() {
    let registry = load_in_process(&["pylantir_csv"]);
    let dir = pylantir_tests::temp_dir();
    let (file, db) = (dir.path().join("b.csv"), dir.path().join("worklist.db"));
    let twelve: Vec<String> = (0..12).map(|n| format!("r{n}")).collect();
    let twelve: Vec<&str> = twelve.iter().map(String::as_str).collect();
    std::fs::write(&file, rows(&twelve)).expect("csv");
    let mut source = registry.create("csv", "clinic").expect("source");
    source.validate_config(&csv_config(&file)).expect("config");
    assert_eq!(sync_file(&mut source, &db).inserted, 12);

    std::fs::write(&file, HEADER).expect("emptied");
    let counts = sync_file(&mut source, &db);
    assert_eq!(counts.retracted, 0);
    let note = counts.note.expect("the guard explains itself");
    assert!(
        note.contains("nothing retracted: the fetch lacks 12 of the 12"),
        "{note}"
    );
    assert_eq!(visible(&db), 12);

    // One booking gone is believed.
    std::fs::write(&file, rows(&twelve[1..])).expect("one removed");
    assert_eq!(sync_file(&mut source, &db).retracted, 1);
    assert_eq!(visible(&db), 11);
}

#[test]
fn an_in_progress_item_is_never_retracted() {
    let registry = load_in_process(&["pylantir_csv"]);
    let dir = pylantir_tests::temp_dir();
    let (file, db) = (dir.path().join("b.csv"), dir.path().join("worklist.db"));
    std::fs::write(&file, rows(&["a", "b"])).expect("csv");
    let mut source = registry.create("csv", "clinic").expect("source");
    source.validate_config(&csv_config(&file)).expect("config");
    sync_file(&mut source, &db);
    let links = [mpps::LinkKeys {
        patient_id: Some("MRN-a".into()),
        ..mpps::LinkKeys::default()
    }];
    mpps::create(
        &store::open(&db).expect("db"),
        "2.25.7",
        "IN PROGRESS",
        "S",
        b"",
        &links,
        &pylantir::store::outcomes::WriteBack::NONE,
    )
    .expect("N-CREATE");

    std::fs::write(&file, HEADER).expect("both rows removed");
    let counts = sync_file(&mut source, &db);
    assert_eq!(counts.retracted, 1, "only the SCHEDULED one");
    let status: (String, Option<String>) = store::open(&db)
        .expect("db")
        .query_row(
            "SELECT performed_procedure_step_status, retracted_at FROM worklist_items \
             WHERE patient_id = 'MRN-a'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!(status, ("IN_PROGRESS".to_string(), None));
}

#[test]
fn a_plugin_built_against_plugin_api_1_0_0_still_loads_and_is_never_retracted() {
    let dir = pylantir_tests::temp_dir();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    pylantir_tests::plugin_files::install_as(
        &plugins,
        pylantir_tests::plugin_files::api_100_fixture(),
        "api100",
    );
    let registry =
        pylantir::loader::Registry::load(&[plugins], &pylantir::loader::LoadOptions::default());
    if let Some(refusal) = registry.refusals().next() {
        panic!("the 1.0.0 plugin was refused: {refusal}");
    }
    let (file, db) = (dir.path().join("lines.txt"), dir.path().join("worklist.db"));
    std::fs::write(&file, "r1,P1\nr2,P2\n").expect("lines");
    let mut source = registry.create("lines100", "old").expect("source");
    source
        .validate_config(&json!({"file_path": file}))
        .expect("config");
    let sync = |source: &mut Box<dyn DataSource>| {
        let fetched = source.fetch(&json!({}), 60.0).expect("fetch");
        assert_eq!(fetched.complete_window, None, "1.0.0 never states a window");
        let conn = store::open(&db).expect("db");
        apply_fetch(&conn, "lines100", "old", &fetched, Default::default())
            .expect("applied")
            .0
    };
    assert_eq!(sync(&mut source).inserted, 2);
    std::fs::write(&file, "r1,P1\n").expect("r2 removed");
    assert_eq!(sync(&mut source).retracted, 0);
    assert_eq!(visible(&db), 2);
}

#[test]
fn a_sources_bad_statuses_and_its_window_never_touch_another_sources_items() {
    let dir = pylantir_tests::temp_dir();
    let conn = store::open(&dir.path().join("worklist.db")).expect("db");
    // What a plugin answers, read by the host as from any plugin.
    let apply = |name: &str, answer: serde_json::Value| {
        let fetched = pylantir::loader::entries::parse_fetch(name, &answer.to_string())
            .expect("a readable answer");
        apply_fetch(&conn, "test", name, &fetched, Default::default()).expect("applied")
    };
    let entry = |id: &str, patient: &str, status: Option<&str>| {
        let mut entry = json!({"source_record_id": id, "patient_id": patient,
                               "scheduled_start_date": "2026-12-07"});
        if let Some(status) = status {
            entry["performed_procedure_step_status"] = json!(status);
        }
        entry
    };
    let whole = json!({"from": null, "to": null});
    let a_entries: Vec<_> = ["1", "2", "3"]
        .iter()
        .map(|id| entry(id, &format!("A{id}"), None))
        .collect();
    let (counts, _) = apply("a", json!({"entries": a_entries, "complete_window": whole}));
    assert_eq!(counts.inserted, 3);

    // Source b: the same record ids as a, statuses outside the set, a huge
    // skip list, a whole-range window.
    let skipped: Vec<_> = (0..50_000)
        .map(|n| json!({"record_id": n, "reason": "no date"}))
        .collect();
    let (counts, records) = apply(
        "b",
        json!({"entries": [entry("1", "B1", None), entry("2", "B2", Some("DONE")),
                           entry("3", "B3", Some("COMPLETED"))],
               "complete_window": whole, "skipped": skipped}),
    );
    assert_eq!(
        (counts.inserted, counts.rejected, counts.skipped),
        (1, 2, 50_000)
    );
    let rejected: Vec<String> = records
        .iter()
        .filter(|r| r.kind == pylantir::store::runs::RecordKind::Rejected)
        .map(|r| r.reason.clone())
        .collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(
        rejected[0].contains("\"DONE\" is not a status a source may set"),
        "{rejected:?}"
    );
    assert!(
        rejected[1].contains("IN_PROGRESS and COMPLETED come from MPPS only"),
        "{rejected:?}"
    );
    // b's window, with every entry of b gone, retracts b's one item only.
    let (counts, _) = apply("b", json!({"entries": [], "complete_window": whole}));
    assert_eq!(counts.retracted, 1);

    let a_items: Vec<(String, String, Option<String>)> = conn
        .prepare(
            "SELECT patient_id, performed_procedure_step_status, retracted_at \
             FROM worklist_items WHERE data_source = 'a' ORDER BY patient_id",
        )
        .expect("sql")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let scheduled = |id: &str| (id.to_string(), "SCHEDULED".to_string(), None);
    assert_eq!(a_items, [scheduled("A1"), scheduled("A2"), scheduled("A3")]);
}
