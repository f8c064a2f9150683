//! Configuration loading and validation: every problem is reported at once,
//! each with its JSON path and the value found.
//!
//! The source types come from a small in-test factory (the collaborator of
//! the unit under test): `csv` (needs `config.path`), `redcap` (accepts the
//! extra mapping target `study_id`) and `calpendo`.

use pylantir::config::{self, ConfigError, Problem, Severity};
use pylantir::source::{DataSource, Fetched, SourceError, SourceErrorKind, SourceFactory};
use pylantir_plugin_api::SourceTypeInfo;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    fn fetch(&mut self, _: &Value, _: f64) -> Result<Fetched, SourceError> {
        Ok(Fetched::entries(Vec::new()))
    }
    fn supports_incremental_sync(&self) -> bool {
        false
    }
    fn cleanup(&mut self) {}
}

impl SourceFactory for Types {
    fn source_types(&self) -> Vec<String> {
        vec!["csv".into(), "redcap".into(), "calpendo".into()]
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
            "csv" | "redcap" | "calpendo" => vec![format!("pylantir-{source_type}")],
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
        "unknown source type; available types: csv, redcap, calpendo"
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

/// The one warning of a configuration that loads.
fn one_warning(value: Value) -> Problem {
    let config = load(value).expect("valid: warnings only");
    assert_eq!(config.warnings.len(), 1, "{:#?}", config.warnings);
    config.warnings.into_iter().next().expect("one")
}

#[test]
fn a_field_mapping_target_that_is_not_a_worklist_column_is_a_warning_naming_the_entry() {
    let mut source = csv("a");
    source["field_mapping"] = json!({"mrn": "patient_identifier"});
    let warning = one_warning(json!({"data_sources": [source]}));
    assert_eq!(warning.severity, Severity::Warning);
    assert_eq!(warning.path, "data_sources[0].field_mapping.mrn");
    assert_eq!(warning.value, Some(json!("patient_identifier")));
    assert!(
        warning.message.starts_with(
            "the target is not a worklist column, so this entry has no effect (Python pylantir \
             ignored it too); worklist columns: study_instance_uid, patient_name"
        ),
        "{}",
        warning.message
    );
    assert!(warning.to_string().starts_with(
        "warning: data_sources[0].field_mapping.mrn: the target is not a worklist column"
    ));
}

#[test]
fn a_field_mapping_to_the_status_column_is_a_warning_that_it_has_no_effect() {
    let source =
        json!({"type": "redcap", "field_mapping": {"status": "performed_procedure_step_status"}});
    let warning = one_warning(json!({"data_sources": [source]}));
    assert_eq!(warning.path, "data_sources[0].field_mapping.status");
    assert!(
        warning.message.contains(
            "a source does not set `performed_procedure_step_status` from a REDCap field"
        ),
        "{}",
        warning.message
    );
    assert!(warning.message.ends_with("this entry has no effect"));
}

#[test]
fn a_field_mapping_from_a_worklist_column_to_a_source_path_is_the_reversed_form() {
    let mut source = csv("a");
    source["field_mapping"] =
        json!({"accession_number": "id", "patient_id": {"source_field": "title"}});
    let config = load(json!({"data_sources": [source]})).expect("valid");
    assert_eq!(config.warnings, []);
}

#[test]
fn an_unknown_top_level_or_source_key_is_a_warning() {
    let mut source = csv("a");
    source["sync_intervall"] = json!(5);
    let config = load(json!({"data_sources": [source], "mri_visit_session_mapping": {}}))
        .expect("valid: warnings only");
    let paths: Vec<&str> = config.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "data_sources[0].sync_intervall",
            "mri_visit_session_mapping"
        ]
    );
    assert!(config.warnings[0]
        .message
        .ends_with("is not a pylantir setting; it has no effect"));
}

#[test]
fn the_dicom_and_crash_keys_are_known_keys() {
    let config = load(json!({
        "data_sources": [], "ip": "127.0.0.1", "port": 11112, "ae_title": "WL",
        "max_associations": 4, "dimse_timeout": 5, "acse_timeout": 5, "max_pdu_length": 16384,
        "default_station_aet": "MR1", "filter_by_calling_aet": true, "mpps_lenient": false,
        "mwl_days_ahead": 1, "mwl_visible_statuses": ["SCHEDULED"], "allowed_aet": [],
        "max_crashes": 3, "crash_window_minutes": 5, "db_echo": "False", "site": "1",
        "protocol": {}, "users_db_path": "u.db", "api": {}
    }))
    .expect("valid");
    assert_eq!(config.warnings, []);
}

#[test]
fn invalid_dicom_settings_are_problems_with_their_path_and_value() {
    let found = problems(json!({"data_sources": [], "port": "4242", "max_associations": 0}));
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "port: must be a port number 0-65535 (found \"4242\")",
            "max_associations: expected a whole number from 1 to 1000 (found 0)",
        ]
    );
}

#[test]
fn a_bad_max_crashes_or_crash_window_is_an_error_at_the_top_level_and_per_source() {
    let mut source = csv("a");
    source["crash_window_minutes"] = json!(0);
    let found = problems(json!({"data_sources": [source], "max_crashes": -1}));
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "max_crashes: must be a whole number of failures, at least 1 (found -1)",
            "data_sources[0].crash_window_minutes: must be a number of minutes above 0 (found 0)",
        ]
    );
}

#[test]
fn crash_limits_are_read_at_both_levels() {
    let mut source = csv("a");
    source["max_crashes"] = json!(2);
    let config =
        load(json!({"data_sources": [source], "crash_window_minutes": 0.5})).expect("valid");
    assert_eq!(config.crash_limits.window, Some(Duration::from_secs(30)));
    assert_eq!(config.sources[0].crash_limits.max_crashes, Some(2));
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
fn a_source_level_window_reaches_a_calpendo_plugins_config_as_python_passes_it() {
    let config = load(json!({"data_sources": [{
        "name": "bookings", "type": "calpendo",
        "window_mode": "today",
        "daily_window": {"start_time": [7, 0], "end_time": [19, 0]},
        "timezone": "Europe/Berlin",
        "config": {"base_url": "https://calpendo.example.org"}
    }]}))
    .expect("valid");
    let settings = &config.sources[0].config;
    assert_eq!(settings["window_mode"], "today");
    assert_eq!(settings["daily_window"]["start_time"], json!([7, 0]));
    assert_eq!(settings["timezone"], "Europe/Berlin");
}

#[test]
fn a_source_level_window_mode_wins_over_the_one_in_config_as_in_python() {
    let config = load(json!({"data_sources": [{
        "name": "bookings", "type": "calpendo",
        "window_mode": "today",
        "config": {"window_mode": "rolling"}
    }]}))
    .expect("valid");
    assert_eq!(config.sources[0].config["window_mode"], "today");
}

#[test]
fn other_types_get_their_config_untouched_by_source_level_keys() {
    let config = load(json!({"data_sources": [{
        "name": "visits", "type": "redcap",
        "window_mode": "today",
        "daily_window": {"start_time": [7, 0], "end_time": [19, 0]},
        "timezone": "Europe/Berlin",
        "config": {"site": "1"}
    }]}))
    .expect("valid");
    assert_eq!(config.sources[0].config, json!({"site": "1"}));
}

#[test]
fn a_time_zone_inside_a_csv_sources_config_is_left_to_the_plugin() {
    let mut source = csv("a");
    source["config"]["timezone"] = json!("Mars/Olympus");
    let config = load(json!({"data_sources": [source]})).expect("valid");
    assert_eq!(config.sources[0].config["timezone"], "Mars/Olympus");
}

#[test]
fn an_unknown_source_level_time_zone_is_refused_at_its_path() {
    let mut source = csv("a");
    source["timezone"] = json!("Mars/Olympus");
    source["window_mode"] = json!("today");
    let found = problems(json!({"data_sources": [source]}));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "data_sources[0].timezone");
    assert_eq!(found[0].value, Some(json!("Mars/Olympus")));
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
