//! Plugins loaded in this process by the real loader, used through the
//! host's own `DataSource` trait: the example plugin, and a plugin whose
//! fetch panics.

use pylantir::source::{SourceErrorKind, SourceFactory};
use pylantir_tests::plugin_files::load_in_process;
use serde_json::json;

#[test]
fn the_example_plugin_loads_and_fetches_its_entries() {
    let registry = load_in_process(&["pylantir_minimal"]);
    assert_eq!(registry.source_types(), ["greeter"]);
    let mut source = registry.create("greeter", "hello").unwrap();
    source
        .validate_config(&json!({"patients": ["Müller^Jürgen", "Doe^Jane"]}))
        .unwrap();
    let entries = source.fetch_entries(&json!({}), 60.0).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["patient_name"], "Müller^Jürgen");
    assert_eq!(entries[1]["source_record_id"], "greeter-1");
}

#[test]
fn an_unknown_config_is_refused_with_the_plugins_message() {
    let registry = load_in_process(&["pylantir_minimal"]);
    let mut source = registry.create("greeter", "hello").unwrap();
    let error = source.validate_config(&json!({})).unwrap_err();
    assert_eq!(error.kind, SourceErrorKind::Config);
    assert_eq!(error.message, "config.patients must be a list of names");
}

#[test]
fn a_panicking_fetch_is_an_error_and_the_next_fetch_runs_on_a_rebuilt_source() {
    let registry = load_in_process(&["fixture_panicking"]);
    let mut source = registry.create("panicky", "flaky").unwrap();
    source
        .validate_config(&json!({"patient_id": "P42"}))
        .unwrap();

    let error = source.fetch_entries(&json!({}), 60.0).unwrap_err();
    assert_eq!(error.kind, SourceErrorKind::Panicked);
    assert_eq!(
        error.message,
        "plugin panicked: simulated failure inside fetch_entries"
    );

    let entries = source.fetch_entries(&json!({}), 60.0).unwrap();
    assert_eq!(entries.len(), 1);
    // A second instance, given the configuration again.
    assert_eq!(entries[0]["source_record_id"], "instance-2");
    assert_eq!(entries[0]["patient_id"], "P42");
}

#[test]
fn an_unknown_source_type_is_refused_naming_the_available_ones() {
    let registry = load_in_process(&["pylantir_minimal"]);
    let error = registry.create("calendar", "c").err().unwrap();
    assert_eq!(error.kind, SourceErrorKind::Config);
    assert_eq!(
        error.message,
        "no plugin provides source type 'calendar' (available: greeter)"
    );
}

#[test]
fn an_in_process_plugins_log_lines_carry_the_type_and_source_name_as_worker_lines_do() {
    let dir = pylantir_tests::temp_dir();
    for (file, row) in [("inside.csv", "P1,DOE^A"), ("worker.csv", "P2,DOE^B")] {
        std::fs::write(dir.path().join(file), format!("mrn,name\n{row}\n")).expect("csv");
    }
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    pylantir_tests::install_plugins(&plugins, &["pylantir_csv"]);
    let source = |name: &str, isolation: &str| {
        json!({"name": name, "type": "csv", "isolation": isolation, "sync_interval": 1,
               "config": {"file_path": format!("{name}.csv")},
               "field_mapping": {"mrn": "patient_id", "name": "patient_name"}})
    };
    let config = dir.path().join("pylantir.json");
    let sources = [source("inside", "in-process"), source("worker", "process")];
    std::fs::write(
        &config,
        json!({"db_path": "w.db", "data_sources": sources}).to_string(),
    )
    .expect("config written");
    let server = pylantir_tests::server::ServerProcess::start(&config, &plugins, &[]);
    // The csv plugin warns about the missing record_id_column when it is configured.
    let warned = |log: &str, label: &str| {
        log.lines()
            .any(|l| l.contains(&format!("[{label}] ")) && l.contains("no config.record_id_column"))
    };
    let both = server.wait_for_log(std::time::Duration::from_secs(20), |log| {
        warned(log, "csv:inside") && warned(log, "csv:worker")
    });
    assert!(both, "{}", server.log());
}
