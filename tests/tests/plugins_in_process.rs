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
