//! The `csv` plugin, built from the workspace and loaded by the real loader.

use pylantir::loader::Registry;
use pylantir::source::{DataSource, SourceError, SourceErrorKind, SourceFactory};
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
        load_in_process(&["pylantir_csv"])
    })
}

fn source(config: Value) -> Box<dyn DataSource> {
    let mut source = registry().create("csv", "test_csv").unwrap();
    source.validate_config(&config).unwrap();
    source
}

fn mapping() -> Value {
    json!({"mrn": "patient_id", "name": "patient_name", "date": "scheduled_start_date"})
}

/// Writes `text` to `dir/name` and fetches it with `mapping()` and `extra` config.
fn fetch(dir: &Path, name: &str, text: &[u8], extra: Value) -> Result<Vec<Entry>, SourceError> {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let mut config = json!({"file_path": path});
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    source(config).fetch_entries(&mapping(), 60.0)
}

#[test]
fn columns_are_mapped_to_worklist_fields() {
    let dir = temp_dir();
    let entries = fetch(
        dir.path(),
        "a.csv",
        b"mrn,name,date,unmapped\nP1,Doe^Jane,2026-11-25,x\nP2,Roe^Rick,2026-11-26,y\n",
        json!({}),
    )
    .unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["patient_id"], "P1");
    assert_eq!(entries[0]["patient_name"], "Doe^Jane");
    assert_eq!(entries[1]["scheduled_start_date"], "2026-11-26");
    assert!(!entries[0].contains_key("unmapped"));
}

#[test]
fn a_utf8_bom_before_the_header_is_ignored() {
    let dir = temp_dir();
    let entries = fetch(
        dir.path(),
        "bom.csv",
        "\u{feff}mrn,name,date\nP1,Müller^Jürgen,2026-11-25\n".as_bytes(),
        json!({}),
    )
    .unwrap();
    assert_eq!(entries[0]["patient_id"], "P1");
    assert_eq!(entries[0]["patient_name"], "Müller^Jürgen");
}

#[test]
fn quoted_fields_keep_delimiters_quotes_and_newlines() {
    let dir = temp_dir();
    let entries = fetch(
        dir.path(),
        "quoted.csv",
        b"mrn;name;date\n\"P;1\";\"Doe^\"\"Jay\"\"\";\"2026-11-25\n\"\nP2;Roe;2026-11-26\n",
        json!({"delimiter": ";"}),
    )
    .unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["patient_id"], "P;1");
    assert_eq!(entries[0]["patient_name"], "Doe^\"Jay\"");
    assert_eq!(entries[1]["patient_id"], "P2");
}

#[test]
fn malformed_rows_are_skipped_and_reported_with_their_line() {
    let dir = temp_dir();
    let mut text = b"mrn,name,date\nP1,One,2026-11-25\nP2,too,many,fields\nP3,".to_vec();
    text.extend_from_slice(b"\xff\xfe,2026-11-25\nP4,Four,2026-11-26\n");
    let entries = fetch(dir.path(), "bad-rows.csv", &text, json!({})).unwrap();
    let ids: Vec<&Value> = entries.iter().map(|e| &e["patient_id"]).collect();
    assert_eq!(ids, [&json!("P1"), &json!("P4")]);
    let file = dir.path().join("bad-rows.csv");
    let reported = |text: String| {
        let records = logs::containing(&text);
        assert_eq!(records.len(), 1, "reported: {text}");
        // Through the log bridge, under the plugin's name.
        assert_eq!(records[0].target, "csv");
        assert_eq!(records[0].level, log::Level::Warn);
    };
    reported(format!(
        "{} line 3: 4 fields, the header has 3; row skipped",
        file.display()
    ));
    reported(format!(
        "{} line 4: column 2 is not valid UTF-8; row skipped",
        file.display()
    ));
    reported(format!(
        "{}: 2 malformed rows skipped, 2 entries read",
        file.display()
    ));
}

#[test]
fn a_missing_file_fails_the_fetch_naming_the_file() {
    let dir = temp_dir();
    let path = dir.path().join("absent.csv");
    let error = source(json!({"file_path": path}))
        .fetch_entries(&mapping(), 60.0)
        .unwrap_err();
    assert_eq!(error.kind, SourceErrorKind::Fetch);
    assert_eq!(
        error.message,
        format!(
            "cannot open {}: No such file or directory (os error 2)",
            path.display()
        )
    );
}

#[test]
fn a_mapped_column_missing_from_the_header_fails_the_fetch() {
    let dir = temp_dir();
    let error = fetch(dir.path(), "short.csv", b"mrn,name\nP1,One\n", json!({})).unwrap_err();
    assert_eq!(
        error.message,
        format!(
            "{}: column 'date' (field_mapping) is not in the header row (columns: mrn, name)",
            dir.path().join("short.csv").display()
        )
    );
}

#[test]
fn an_empty_field_mapping_fails_the_fetch() {
    let dir = temp_dir();
    let path = dir.path().join("a.csv");
    std::fs::write(&path, "mrn\nP1\n").unwrap();
    let error = source(json!({"file_path": path}))
        .fetch_entries(&json!({}), 60.0)
        .unwrap_err();
    assert_eq!(
        error.message,
        format!(
            "{}: field_mapping is empty: map at least one column to a worklist field",
            path.display()
        )
    );
}

#[test]
fn a_missing_file_path_is_a_config_error_naming_the_key() {
    let mut source = registry().create("csv", "test_csv").unwrap();
    let error = source
        .validate_config(&json!({"delimiter": ";"}))
        .unwrap_err();
    assert_eq!(error.kind, SourceErrorKind::Config);
    assert_eq!(
        error.message,
        "config.file_path is required: The CSV file (UTF-8, with or without BOM, header row required)"
    );
}

#[test]
fn the_record_id_column_gives_the_source_record_id() {
    let dir = temp_dir();
    let entries = fetch(
        dir.path(),
        "ids.csv",
        b"booking,mrn,name,date\nB-17,P1,One,2026-11-25\n",
        json!({"record_id_column": "booking"}),
    )
    .unwrap();
    assert_eq!(entries[0]["source_record_id"], "B-17");
}

#[test]
fn hashed_record_ids_depend_only_on_the_mapped_values() {
    let dir = temp_dir();
    let first = fetch(
        dir.path(),
        "one.csv",
        "mrn,name,date\nP1,Müller^Jürgen,2026-11-25\n".as_bytes(),
        json!({}),
    )
    .unwrap();
    let reordered = fetch(
        dir.path(),
        "two.csv",
        "date,other,name,mrn\n2026-11-25,x,Müller^Jürgen,P1\n".as_bytes(),
        json!({}),
    )
    .unwrap();
    assert_eq!(
        first[0]["source_record_id"],
        reordered[0]["source_record_id"]
    );
    // The same value in every run and on every platform (xxh3-128 of the fields).
    assert_eq!(
        first[0]["source_record_id"],
        "2ac4ca5a45576bd5cfb569165eec1c0c"
    );
}

#[test]
fn with_watch_for_changes_an_unchanged_file_is_not_read_again() {
    let dir = temp_dir();
    let path = dir.path().join("watched.csv");
    std::fs::write(&path, "mrn,name,date\nP1,One,2026-11-25\n").unwrap();
    let mut source = source(json!({"file_path": path, "watch_for_changes": true}));
    let first = source.fetch_entries(&mapping(), 60.0).unwrap();
    assert_eq!(first[0]["patient_id"], "P1");

    // Same size, same modification time: the previous entries come back.
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, "mrn,name,date\nP2,Two,2026-11-25\n").unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(modified).unwrap();
    drop(file);
    assert_eq!(source.fetch_entries(&mapping(), 60.0).unwrap(), first);

    // A change of size: read again.
    std::fs::write(&path, "mrn,name,date\nP3,Three,2026-11-25\n").unwrap();
    let changed = source.fetch_entries(&mapping(), 60.0).unwrap();
    assert_eq!(changed[0]["patient_id"], "P3");
}

#[test]
fn without_watch_for_changes_every_fetch_reads_the_file() {
    let dir = temp_dir();
    let path = dir.path().join("plain.csv");
    std::fs::write(&path, "mrn,name,date\nP1,One,2026-11-25\n").unwrap();
    let mut source = source(json!({"file_path": path}));
    source.fetch_entries(&mapping(), 60.0).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, "mrn,name,date\nP2,Two,2026-11-25\n").unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(modified).unwrap();
    drop(file);
    let entries = source.fetch_entries(&mapping(), 60.0).unwrap();
    assert_eq!(entries[0]["patient_id"], "P2");
}

#[test]
fn the_default_configs_example_source_reads_a_dozen_valid_entries() {
    let config_path = pylantir_tests::workspace_root().join("config/pylantir.json");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    let spec = &config["data_sources"][0];
    assert_eq!(spec["type"], "csv");
    // Relative paths in the configuration resolve against its directory.
    let mut source_config = spec["config"].clone();
    let file = config_path
        .parent()
        .unwrap()
        .join(source_config["file_path"].as_str().unwrap());
    source_config["file_path"] = json!(file);
    let entries = source(source_config)
        .fetch_entries(&spec["field_mapping"], 60.0)
        .unwrap();
    assert_eq!(entries.len(), 12);
    assert!(entries.iter().any(|e| e["patient_name"] == "Müller^Jürgen"));
    assert!(entries.iter().any(|e| e["modality"] == "CT"));
    for entry in &entries {
        for (field, value) in entry {
            let max = pylantir_plugin_api::WORKLIST_FIELDS
                .iter()
                .find(|(name, _)| name == field)
                .map_or(255, |(_, max)| *max);
            assert!(
                value.as_str().unwrap().chars().count() <= max,
                "{field}: {value}"
            );
        }
    }
}

#[test]
fn a_mapping_to_a_target_that_is_not_a_worklist_field_has_no_effect() {
    let dir = temp_dir();
    let path = dir.path().join("a.csv");
    std::fs::write(&path, "mrn,shoe\nP1,42\n").unwrap();
    let entries = source(json!({"file_path": path}))
        .fetch_entries(
            &json!({"mrn": "patient_id", "shoe": "shoe_size", "absent": "instrument"}),
            60.0,
        )
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["patient_id"], "P1");
    assert!(!entries[0].contains_key("shoe_size"));
}
