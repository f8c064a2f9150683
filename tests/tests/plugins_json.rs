//! The `json` plugin, built from the workspace and loaded by the real loader.

use pylantir::loader::Registry;
use pylantir::source::{SourceError, SourceErrorKind, SourceFactory};
use pylantir_plugin_api::Entry;
use pylantir_tests::plugin_files::load_in_process;
use pylantir_tests::{logs, temp_dir};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::OnceLock;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        logs::capture();
        load_in_process(&["pylantir_json"])
    })
}

fn mapping() -> Value {
    json!({
        "patient.id": "patient_id",
        "patient.name.family": "patient_name",
        "visit.date": "scheduled_start_date",
        "weight": "patient_weight_lb",
    })
}

/// Writes `text` to `dir/name` and fetches it with `mapping()` and `extra` config.
fn fetch(dir: &Path, name: &str, text: &str, extra: Value) -> Result<Vec<Entry>, SourceError> {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let mut config = json!({"file_path": path});
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    let mut source = registry().create("json", "test_json").unwrap();
    source.validate_config(&config)?;
    source.fetch_entries(&mapping(), 60.0)
}

const ARRAY: &str = r#"[
  {"patient": {"id": "P1", "name": {"family": "Müller^Jürgen"}}, "visit": {"date": "2026-11-25"}, "weight": 150},
  {"patient": {"id": "P2", "name": {"family": "Doe^Jane"}}, "visit": {"date": "2026-11-26"}}
]"#;

#[test]
fn dotted_paths_map_nested_values_of_a_json_array() {
    let dir = temp_dir();
    let entries = fetch(dir.path(), "a.json", ARRAY, json!({})).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["patient_id"], "P1");
    assert_eq!(entries[0]["patient_name"], "Müller^Jürgen");
    assert_eq!(entries[0]["scheduled_start_date"], "2026-11-25");
    assert_eq!(entries[0]["patient_weight_lb"], "150");
    assert!(!entries[1].contains_key("patient_weight_lb"));
}

#[test]
fn json_lines_are_read_one_object_per_line() {
    let dir = temp_dir();
    let text = "{\"patient\": {\"id\": \"P1\"}}\n\n{\"patient\": {\"id\": \"P2\"}}\n";
    let entries = fetch(dir.path(), "a.jsonl", text, json!({})).unwrap();
    let ids: Vec<&Value> = entries.iter().map(|e| &e["patient_id"]).collect();
    assert_eq!(ids, [&json!("P1"), &json!("P2")]);
}

#[test]
fn a_utf8_bom_is_ignored() {
    let dir = temp_dir();
    let entries = fetch(
        dir.path(),
        "bom.json",
        &format!("\u{feff}{ARRAY}"),
        json!({}),
    )
    .unwrap();
    assert_eq!(entries.len(), 2);
}

#[test]
fn malformed_lines_are_skipped_and_reported_with_their_number() {
    let dir = temp_dir();
    let text = "{\"patient\": {\"id\": \"P1\"}}\n{\"patient\": \n[1, 2]\n{\"patient\": {\"id\": \"P4\"}}\n";
    let entries = fetch(dir.path(), "bad.jsonl", text, json!({})).unwrap();
    let ids: Vec<&Value> = entries.iter().map(|e| &e["patient_id"]).collect();
    assert_eq!(ids, [&json!("P1"), &json!("P4")]);
    let file = dir.path().join("bad.jsonl");
    let shown = file.display();
    assert_eq!(
        logs::containing(&format!("{shown} line 2: malformed JSON")).len(),
        1
    );
    assert_eq!(
        logs::containing(&format!("{shown} line 3: not a JSON object; skipped")).len(),
        1
    );
    assert_eq!(
        logs::containing(&format!(
            "{shown}: 2 malformed records skipped, 2 entries read"
        ))
        .len(),
        1
    );
}

#[test]
fn an_array_that_is_not_valid_json_fails_naming_the_line() {
    let dir = temp_dir();
    let text = "[\n  {\"patient\": {\"id\": \"P1\"}},\n  {\"patient\": oops}\n]\n";
    let error = fetch(dir.path(), "broken.json", text, json!({})).unwrap_err();
    assert_eq!(error.kind, SourceErrorKind::Fetch);
    assert!(
        error.message.starts_with(&format!(
            "{}: malformed JSON at line 3 column",
            dir.path().join("broken.json").display()
        )),
        "{}",
        error.message
    );
}

#[test]
fn a_missing_file_fails_the_fetch_naming_the_file() {
    let dir = temp_dir();
    let path = dir.path().join("absent.json");
    let mut source = registry().create("json", "test_json").unwrap();
    source.validate_config(&json!({"file_path": path})).unwrap();
    let error = source.fetch_entries(&mapping(), 60.0).unwrap_err();
    assert_eq!(
        error.message,
        format!(
            "cannot open {}: No such file or directory (os error 2)",
            path.display()
        )
    );
}

#[test]
fn record_id_path_gives_the_source_record_id() {
    let dir = temp_dir();
    let text = r#"[{"booking": {"id": 9917}, "patient": {"id": "P1"}}]"#;
    let entries = fetch(
        dir.path(),
        "ids.json",
        text,
        json!({"record_id_path": "booking.id"}),
    )
    .unwrap();
    assert_eq!(entries[0]["source_record_id"], "9917");
}

#[test]
fn hashed_record_ids_are_stable() {
    let dir = temp_dir();
    let text = r#"[{"patient": {"id": "P1", "name": {"family": "Müller^Jürgen"}}, "visit": {"date": "2026-11-25"}}]"#;
    let entries = fetch(dir.path(), "hash.json", text, json!({})).unwrap();
    // The csv plugin gives the same id for the same mapped values.
    assert_eq!(
        entries[0]["source_record_id"],
        "2ac4ca5a45576bd5cfb569165eec1c0c"
    );
}

#[test]
fn a_mapping_to_an_unknown_worklist_field_has_no_effect() {
    let dir = temp_dir();
    let path = dir.path().join("a.json");
    std::fs::write(&path, ARRAY).unwrap();
    let mut source = registry().create("json", "test_json").unwrap();
    source.validate_config(&json!({"file_path": path})).unwrap();
    let entries = source
        .fetch_entries(
            &json!({"patient.id": "patient_id", "patient.shoe": "shoe_size"}),
            60.0,
        )
        .unwrap();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| !e.contains_key("shoe_size")));
}

/// JSON Lines with one visit per id, `record_id_path` `id`.
fn visits(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| {
            format!(
                r#"{{"id": "{id}", "patient": {{"id": "P-{id}", "name": {{"family": "DOE^{id}"}}}}, "visit": {{"date": "2026-12-07"}}}}"#
            ) + "\n"
        })
        .collect()
}

/// Study Instance UID of every item not retracted, by patient ID.
fn visible_uids(db: &Path) -> Vec<(String, String)> {
    let conn = pylantir::store::open(db).expect("db");
    let mut statement = conn
        .prepare(
            "SELECT patient_id, study_instance_uid FROM worklist_items \
             WHERE retracted_at IS NULL ORDER BY patient_id",
        )
        .expect("sql");
    let rows = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query");
    rows.map(|r| r.expect("row")).collect()
}

#[test]
fn a_record_removed_from_the_file_is_retracted_and_comes_back_with_its_uid() {
    let dir = temp_dir();
    let (file, db) = (dir.path().join("visits.jsonl"), dir.path().join("wl.db"));
    let mut source = registry().create("json", "clinic").unwrap();
    source
        .validate_config(&json!({"file_path": file, "record_id_path": "id"}))
        .unwrap();
    let mut sync = |ids: &[&str]| {
        std::fs::write(&file, visits(ids)).unwrap();
        let fetched = source.fetch(&mapping(), 60.0).expect("fetch");
        assert!(
            fetched.complete_window.is_some(),
            "the whole file is complete"
        );
        let conn = pylantir::store::open(&db).expect("db");
        pylantir::sync::apply_fetch(&conn, "json", "clinic", &fetched, Default::default())
            .expect("applied")
            .0
    };
    assert_eq!(sync(&["a", "b", "c"]).inserted, 3);
    let first = visible_uids(&db);

    assert_eq!(sync(&["a", "c"]).retracted, 1);
    let without_b: Vec<String> = visible_uids(&db).into_iter().map(|(p, _)| p).collect();
    assert_eq!(without_b, ["P-a", "P-c"]);

    assert_eq!(sync(&["a", "b", "c"]).restored, 1);
    assert_eq!(
        visible_uids(&db),
        first,
        "same items, same Study Instance UIDs"
    );
}
