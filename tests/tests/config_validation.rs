//! Configuration loading and validation: every problem is reported at once,
//! each with its JSON path and the value found.
//!
//! The source types come from a small in-test factory (the collaborator of
//! the unit under test): `csv` (needs `config.path`) and `redcap` (accepts the
//! extra mapping target `study_id`).

use pylantir::config::{self, ConfigError, Problem};
use pylantir::source::{DataSource, SourceError, SourceErrorKind, SourceFactory};
use pylantir_plugin_api::{Entry, SourceTypeInfo};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

struct Types;

struct Checker(String);

impl DataSource for Checker {
    fn validate_config(&mut self, config: &Value) -> Result<(), SourceError> {
        if self.0 == "csv" && config.get("path").is_none() {
            return Err(SourceError::new(
                SourceErrorKind::Config,
                "config.path is required",
            ));
        }
        Ok(())
    }
    fn fetch_entries(&mut self, _: &Value, _: f64) -> Result<Vec<Entry>, SourceError> {
        Ok(Vec::new())
    }
    fn supports_incremental_sync(&self) -> bool {
        false
    }
    fn cleanup(&mut self) {}
}

impl SourceFactory for Types {
    fn source_types(&self) -> Vec<String> {
        vec!["csv".into(), "redcap".into()]
    }
    fn type_info(&self, source_type: &str) -> Option<SourceTypeInfo> {
        self.source_types()
            .contains(&source_type.to_string())
            .then(|| SourceTypeInfo {
                name: source_type.into(),
                description: String::new(),
                config_schema: None,
                extra_mapping_targets: if source_type == "redcap" {
                    vec!["study_id".into()]
                } else {
                    Vec::new()
                },
            })
    }
    /// `shared` is provided by two plugins (a conflict a source must settle).
    fn providers(&self, source_type: &str) -> Vec<String> {
        match source_type {
            "shared" => vec!["alpha".into(), "beta".into()],
            "csv" | "redcap" => vec![format!("pylantir-{source_type}")],
            _ => Vec::new(),
        }
    }
    fn plugin_file(&self, source_type: &str) -> Option<PathBuf> {
        Some(PathBuf::from(format!("libpylantir_{source_type}.so")))
    }
    fn create(&self, source_type: &str, _: &str) -> Result<Box<dyn DataSource>, SourceError> {
        Ok(Box::new(Checker(source_type.into())))
    }
}

fn write_config(dir: &Path, value: &Value) -> PathBuf {
    let path = dir.join("cfg.json");
    std::fs::write(&path, value.to_string()).expect("config written");
    path
}

fn load(value: Value) -> Result<config::Config, ConfigError> {
    let dir = pylantir_tests::temp_dir();
    config::load(&write_config(dir.path(), &value), &Types)
}

fn problems(value: Value) -> Vec<Problem> {
    match load(value) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected validation problems, got {other:?}"),
    }
}

fn csv(name: &str) -> Value {
    json!({"name": name, "type": "csv", "config": {"path": "x.csv"}})
}

fn one_problem(source_extra: Value) -> Problem {
    let mut source = csv("a");
    for (k, v) in source_extra.as_object().expect("object") {
        source[k] = v.clone();
    }
    let found = problems(json!({"data_sources": [source]}));
    assert_eq!(found.len(), 1, "{found:#?}");
    found.into_iter().next().expect("one")
}

#[test]
fn duplicate_source_names_are_reported_at_the_second_name() {
    let found = problems(json!({"data_sources": [csv("a"), csv("b"), csv("a")]}));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].path, "data_sources[2].name");
    assert_eq!(found[0].value, Some(json!("a")));
    assert!(found[0]
        .message
        .contains("duplicate source name (also used by data_sources[0])"));
}

#[test]
fn an_unknown_type_lists_the_available_types() {
    let problem = one_problem(json!({"type": "hl7"}));
    assert_eq!(problem.path, "data_sources[0].type");
    assert_eq!(problem.value, Some(json!("hl7")));
    assert_eq!(
        problem.message,
        "unknown source type; available types: csv, redcap"
    );
}

#[test]
fn a_sync_interval_below_one_second_is_refused() {
    let problem = one_problem(json!({"sync_interval": 0.5}));
    assert_eq!(problem.path, "data_sources[0].sync_interval");
    assert_eq!(problem.value, Some(json!(0.5)));
    assert_eq!(problem.message, "must be a number of seconds, at least 1");
}

#[test]
fn a_sync_interval_that_is_not_a_number_is_refused() {
    let problem = one_problem(json!({"sync_interval": "60"}));
    assert_eq!(problem.path, "data_sources[0].sync_interval");
    assert_eq!(problem.value, Some(json!("60")));
}

#[test]
fn an_operation_interval_hour_above_23_is_refused() {
    let problem =
        one_problem(json!({"operation_interval": {"start_time": [24, 0], "end_time": [18, 0]}}));
    assert_eq!(
        problem.path,
        "data_sources[0].operation_interval.start_time[0]"
    );
    assert_eq!(problem.value, Some(json!(24)));
    assert_eq!(problem.message, "hour must be a whole number from 0 to 23");
}

#[test]
fn an_operation_interval_minute_above_59_is_refused() {
    let problem =
        one_problem(json!({"operation_interval": {"start_time": [8, 0], "end_time": [18, 60]}}));
    assert_eq!(
        problem.path,
        "data_sources[0].operation_interval.end_time[1]"
    );
    assert_eq!(
        problem.message,
        "minute must be a whole number from 0 to 59"
    );
}

#[test]
fn a_malformed_operation_interval_array_is_refused() {
    let problem =
        one_problem(json!({"operation_interval": {"start_time": [8], "end_time": [18, 0]}}));
    assert_eq!(
        problem.path,
        "data_sources[0].operation_interval.start_time"
    );
    assert_eq!(problem.value, Some(json!([8])));
    assert_eq!(problem.message, "must be a list [hour, minute]");
}

#[test]
fn a_field_mapping_that_is_not_an_object_is_refused() {
    let problem = one_problem(json!({"field_mapping": ["patient_id"]}));
    assert_eq!(problem.path, "data_sources[0].field_mapping");
    assert_eq!(problem.value, Some(json!(["patient_id"])));
}

#[test]
fn a_field_mapping_target_that_is_not_a_worklist_column_is_refused() {
    let problem = one_problem(json!({"field_mapping": {"mrn": "patient_identifier"}}));
    assert_eq!(problem.path, "data_sources[0].field_mapping.mrn");
    assert_eq!(problem.value, Some(json!("patient_identifier")));
    assert!(problem
        .message
        .starts_with("maps to a field that is not a worklist column; expected one of: study_instance_uid, patient_name"));
}

#[test]
fn extra_mapping_targets_declared_by_the_type_are_accepted() {
    let source = json!({"type": "redcap", "field_mapping": {"study_id": "study_id", "mri_date": "scheduled_start_date"}});
    let config = load(json!({"data_sources": [source]})).expect("valid");
    assert_eq!(config.sources[0].name, "redcap");
}

#[test]
fn the_plugins_own_validation_answer_is_reported_at_config() {
    let problem = one_problem(json!({"config": {"file": "x.csv"}}));
    assert_eq!(problem.path, "data_sources[0].config");
    assert_eq!(problem.value, Some(json!({"file": "x.csv"})));
    assert_eq!(
        problem.message,
        "refused by the `csv` plugin: config.path is required"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let bad =
        json!({"name": "b", "type": "csv", "sync_interval": 0, "config": {}, "field_mapping": 3});
    let found = problems(json!({"data_sources": [csv("a"), bad, {"name": "a", "type": "nope"}]}));
    let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "data_sources[1].sync_interval",
            "data_sources[1].field_mapping",
            "data_sources[2].name",
            "data_sources[1].config",
            "data_sources[2].type",
        ]
    );
}

#[test]
fn a_disabled_source_needs_no_plugin() {
    let source =
        json!({"name": "off", "type": "hl7", "enabled": false, "field_mapping": {"x": "y"}});
    let config = load(json!({"data_sources": [source]})).expect("valid");
    assert!(!config.sources[0].enabled);
}

#[test]
fn a_disabled_source_is_still_checked_for_shape() {
    let source = json!({"name": "off", "type": "hl7", "enabled": false, "sync_interval": -1});
    let found = problems(json!({"data_sources": [source]}));
    assert_eq!(found[0].path, "data_sources[0].sync_interval");
}

#[test]
fn an_empty_source_list_is_allowed() {
    let config = load(json!({"data_sources": []})).expect("valid");
    assert!(config.sources.is_empty());
}

#[test]
fn a_config_without_sources_or_legacy_mapping_is_an_error() {
    let error = load(json!({"db_path": "w.db"})).expect_err("refused");
    assert!(matches!(error, ConfigError::NoSources { .. }));
    assert!(error
        .to_string()
        .contains("neither `data_sources` nor a legacy `redcap2wl`"));
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let error = config::load(Path::new("/nonexistent/cfg.json"), &Types).expect_err("refused");
    assert!(error
        .to_string()
        .starts_with("cannot read configuration file /nonexistent/cfg.json"));
}

#[test]
fn invalid_json_is_an_error_naming_the_file_line_and_column() {
    let dir = pylantir_tests::temp_dir();
    let path = dir.path().join("cfg.json");
    std::fs::write(&path, "{\n  \"data_sources\": [,]\n}").expect("written");
    let error = config::load(&path, &Types).expect_err("refused");
    let text = error.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("line 2, column 20"), "{text}");
}

#[test]
fn a_legacy_file_becomes_the_redcap_legacy_source() {
    let config = load(json!({
        "db_update_interval": 120,
        "site": "792",
        "protocol": {"792": "BRAIN"},
        "operation_interval": {"start_time": [7, 30], "end_time": [19, 0]},
        "redcap2wl": {"study_id": "study_id", "mri_date": "scheduled_start_date"},
    }))
    .expect("valid");
    assert!(config.legacy);
    let source = &config.sources[0];
    assert_eq!(
        (source.name.as_str(), source.source_type.as_str()),
        ("redcap_legacy", "redcap")
    );
    assert_eq!(source.sync_interval.as_secs(), 120);
    assert_eq!(source.window.to_string(), "07:30-19:00");
    assert_eq!(
        source.config,
        json!({"site": "792", "protocol": {"792": "BRAIN"}})
    );
}

#[test]
fn a_relative_db_path_is_taken_from_the_config_directory() {
    let dir = pylantir_tests::temp_dir();
    let path = write_config(
        dir.path(),
        &json!({"db_path": "db/w.db", "data_sources": []}),
    );
    let config = config::load(&path, &Types).expect("valid");
    assert_eq!(config.db_path, dir.path().join("db/w.db"));
}

#[test]
fn a_source_without_name_is_named_after_its_type() {
    let config = load(json!({"data_sources": [{"type": "csv", "config": {"path": "a.csv"}}]}))
        .expect("valid");
    assert_eq!(config.sources[0].name, "csv");
    assert_eq!(config.sources[0].log_prefix(), "[csv:csv]");
}

#[test]
fn the_whole_top_level_object_stays_available() {
    let config = load(json!({"data_sources": [], "allowed_aet": ["MRI"], "mpps_lenient": true}))
        .expect("valid");
    assert_eq!(config.raw["allowed_aet"], json!(["MRI"]));
    assert_eq!(config.raw["mpps_lenient"], json!(true));
}

#[test]
fn a_source_level_window_mode_reaches_the_plugin_config_as_python_passes_it() {
    let config = load(json!({"data_sources": [{
        "name": "bookings", "type": "redcap",
        "window_mode": "today",
        "daily_window": {"start_time": [7, 0], "end_time": [19, 0]},
        "config": {"site": "1"}
    }]}))
    .expect("valid");
    let settings = &config.sources[0].config;
    assert_eq!(settings["window_mode"], "today");
    assert_eq!(settings["daily_window"]["start_time"], json!([7, 0]));
}

#[test]
fn a_window_mode_inside_config_wins_over_the_source_level_one() {
    let config = load(json!({"data_sources": [{
        "name": "bookings", "type": "redcap",
        "window_mode": "today",
        "config": {"window_mode": "rolling"}
    }]}))
    .expect("valid");
    assert_eq!(config.sources[0].config["window_mode"], "rolling");
}

#[test]
fn a_type_provided_by_two_plugins_asks_for_the_plugin_key() {
    let found = problems(json!({"data_sources": [{"name": "a", "type": "shared"}]}));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "data_sources[0].type");
    assert!(
        found[0]
            .message
            .contains("provided by several plugins (alpha, beta); set this source's `plugin`"),
        "{}",
        found[0].message
    );
}

#[test]
fn a_plugin_key_naming_one_of_the_providers_settles_the_conflict() {
    let config = load(json!({"data_sources": [{"name": "a", "type": "shared", "plugin": "beta"}]}))
        .expect("valid");
    assert_eq!(config.sources[0].plugin.as_deref(), Some("beta"));
}

#[test]
fn a_plugin_key_naming_no_provider_is_refused_with_the_providers() {
    let found =
        problems(json!({"data_sources": [{"name": "a", "type": "shared", "plugin": "gamma"}]}));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "data_sources[0].plugin");
    assert!(
        found[0].message.ends_with("providers: alpha, beta"),
        "{}",
        found[0].message
    );
}
