//! The REDCap source used directly (as a Rust library) against a fake REDCap
//! server on 127.0.0.1.

use pylantir_plugin_api::serde_json::{json, Value};
use pylantir_plugin_api::{Entry, FieldMapping, Source, SourceContext};
use pylantir_redcap::Redcap;
use pylantir_tests::http::{FakeServer, Reply};
use pylantir_tests::logs;
use pylantir_tests::redcap::{FakeRedcap, FORBIDDEN};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6";

/// Puts `url` and `token` in fresh environment variables and returns a
/// config naming them, merged with `extra`.
fn config_for(url: &str, token: &str, extra: Value) -> Value {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let (url_env, token_env) = (
        format!("TEST_REDCAP_URL_{n}"),
        format!("TEST_REDCAP_TOKEN_{n}"),
    );
    std::env::set_var(&url_env, format!("{url}/api/"));
    std::env::set_var(&token_env, token);
    let mut config = json!({
        "site": "792",
        "protocol": {"792": "BRAIN_MRI_3T", "mapping": "GEHC"},
        "api_url_env": url_env,
        "api_token_env": token_env,
    });
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

fn source(config: &Value) -> Redcap {
    let mut source = Redcap::new(&SourceContext {
        source_type: "redcap".to_string(),
        source_name: "main_redcap".to_string(),
    });
    source.validate_config(config).expect("config accepted");
    source
}

/// The field mapping of the Python multi-source example.
fn example_mapping() -> FieldMapping {
    json!({
        "study_id": "study_id",
        "mri_instance": "session_id",
        "family_id": "family_id",
        "youth_dob_y": "patient_birth_date",
        "demo_sex": "patient_sex",
        "mri_date": "scheduled_start_date",
        "mri_time": "scheduled_start_time"
    })
    .as_object()
    .cloned()
    .unwrap()
}

/// A project with two records: baseline rows and `mri` repeat rows.
fn project() -> FakeRedcap {
    FakeRedcap::new(TOKEN)
        .fields(
            "enrolment",
            &[
                "record_id",
                "study_id",
                "family_id",
                "youth_dob_y",
                "demo_sex",
            ],
        )
        .field("intro", "enrolment", "descriptive")
        .fields("mri", &["mri_instance", "mri_date", "mri_time"])
        .row(&[
            ("record_id", "1"),
            ("study_id", "CPIP-1001"),
            ("family_id", "FAM-0042"),
            ("youth_dob_y", "2012"),
            ("demo_sex", "F"),
        ])
        .row(&[
            ("record_id", "1"),
            ("redcap_repeat_instrument", "mri"),
            ("redcap_repeat_instance", "1"),
            ("mri_instance", "1"),
            ("mri_date", "2026-02-03"),
            ("mri_time", "09:30"),
        ])
        .row(&[
            ("record_id", "1"),
            ("redcap_repeat_instrument", "mri"),
            ("redcap_repeat_instance", "2"),
            ("mri_instance", "2"),
            ("mri_date", "2026/03/04"),
            ("mri_time", "14:00:00"),
        ])
        .row(&[
            ("record_id", "1"),
            ("redcap_repeat_instrument", "mri"),
            ("redcap_repeat_instance", "3"),
            ("mri_instance", "3"),
            ("mri_date", ""),
            ("mri_time", ""),
        ])
        .row(&[
            ("record_id", "2"),
            ("study_id", "CPIP-1002"),
            ("family_id", "FAM-0043"),
            ("youth_dob_y", "2013"),
            ("demo_sex", "M"),
        ])
        .row(&[
            ("record_id", "2"),
            ("redcap_repeat_instrument", "mri"),
            ("redcap_repeat_instance", "1"),
            ("mri_instance", "1"),
            ("mri_date", "2026-02-05"),
            ("mri_time", "11:15"),
            ("demo_sex", "F"),
        ])
        .row(&[
            ("record_id", "3"),
            ("study_id", "CPIP-1003"),
            ("family_id", "FAM-0044"),
        ])
}

fn entry(value: Value) -> Entry {
    value.as_object().cloned().unwrap()
}

fn request_fields(server: &FakeServer) -> Vec<String> {
    let records = server
        .requests()
        .into_iter()
        .find(|r| r.form_value("content").as_deref() == Some("record"))
        .expect("a record export");
    records
        .form()
        .into_iter()
        .filter(|(k, _)| k.starts_with("fields["))
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn baseline_and_repeat_rows_produce_one_entry_per_complete_visit() {
    let server = project().serve();
    let mut redcap = source(&config_for(server.url(), TOKEN, json!({})));
    let entries = redcap.fetch_entries(&example_mapping(), 0.0).unwrap();
    let common = |v: Value| {
        let mut e = entry(v);
        e.insert("modality".into(), json!("MR"));
        e.insert("protocol_name".into(), json!("BRAIN_MRI_3T"));
        e.insert("hisris_coding_designator".into(), json!("GEHC"));
        e
    };
    assert_eq!(
        entries,
        vec![
            common(json!({
                "source_record_id": "1:1",
                "patient_name": "cpip-id-1001^fa-0042",
                "patient_id": "sub_1001_ses_1_fam_0042_site_792",
                "patient_birth_date": "20120101",
                "patient_sex": "F",
                "scheduled_start_date": "2026-02-03",
                "scheduled_start_time": "09:30",
            })),
            common(json!({
                "source_record_id": "1:2",
                "patient_name": "cpip-id-1001^fa-0042",
                "patient_id": "sub_1001_ses_2_fam_0042_site_792",
                "patient_birth_date": "20120101",
                "patient_sex": "F",
                "scheduled_start_date": "2026-03-04",
                "scheduled_start_time": "14:00",
            })),
            common(json!({
                "source_record_id": "2:1",
                "patient_name": "cpip-id-1002^fa-0043",
                "patient_id": "sub_1002_ses_1_fam_0043_site_792",
                "patient_birth_date": "20130101",
                "patient_sex": "F",
                "scheduled_start_date": "2026-02-05",
                "scheduled_start_time": "11:15",
            })),
        ]
    );
}

#[test]
fn the_json_handed_to_the_host_holds_the_same_entries() {
    let server = project()
        .row(&[
            ("record_id", "4"),
            ("study_id", "CPIP-Zoë\"q\\"),
            ("family_id", "FAM-\u{1F600}"),
        ])
        .row(&[
            ("record_id", "4"),
            ("redcap_repeat_instrument", "mri"),
            ("redcap_repeat_instance", "1"),
            ("mri_instance", "1"),
            ("mri_date", "2026-02-09"),
            ("mri_time", "08:00"),
        ])
        .serve();
    let mut redcap = source(&config_for(server.url(), TOKEN, json!({})));
    let entries = redcap.fetch_entries(&example_mapping(), 0.0).unwrap();
    let json = redcap.fetch_entries_json(&example_mapping(), 0.0).unwrap();
    let parsed: Vec<Entry> = pylantir_plugin_api::serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, entries);
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[3]["patient_name"], "cpip-id-Zoë\"q\\^fa-\u{1F600}");
}

#[test]
fn every_call_posts_the_token_content_and_json_formats() {
    let server = project().serve();
    let mut redcap = source(&config_for(server.url(), TOKEN, json!({})));
    redcap.fetch_entries(&example_mapping(), 0.0).unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for (request, content) in requests.iter().zip(["metadata", "record"]) {
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, "/api/");
        assert_eq!(
            request.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(request.form_value("token").as_deref(), Some(TOKEN));
        assert_eq!(request.form_value("content").as_deref(), Some(content));
        assert_eq!(request.form_value("format").as_deref(), Some("json"));
        assert_eq!(request.form_value("returnFormat").as_deref(), Some("json"));
    }
    assert_eq!(requests[1].form_value("type").as_deref(), Some("flat"));
    assert_eq!(requests[1].form_value("dateRangeBegin"), None);
}

#[test]
fn an_incremental_fetch_sends_the_date_range_of_the_interval() {
    let now = jiff::ZonedDateTime::now();
    let stamp = |z: &jiff::ZonedDateTime| z.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let long_ago = stamp(
        &now.checked_sub(jiff::SignedDuration::from_hours(5))
            .unwrap(),
    );
    let recent = stamp(
        &now.checked_sub(jiff::SignedDuration::from_mins(10))
            .unwrap(),
    );
    let server = project()
        .modified("1", &recent)
        .modified("2", &long_ago)
        .serve();
    let mut redcap = source(&config_for(server.url(), TOKEN, json!({})));
    let entries = redcap.fetch_entries(&example_mapping(), 3600.0).unwrap();

    let ids: Vec<&str> = entries
        .iter()
        .map(|e| e["source_record_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["1:1", "1:2"],
        "only the record modified within the hour"
    );
    let export = &server.requests()[1];
    let begin = export.form_value("dateRangeBegin").expect("dateRangeBegin");
    let end = export.form_value("dateRangeEnd").expect("dateRangeEnd");
    let parse = |s: &str| jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", s).unwrap();
    let span = parse(&end).duration_since(parse(&begin));
    assert!(
        (3599..=3601).contains(&span.as_secs()),
        "{begin} .. {end} spans an hour"
    );
}

#[test]
fn the_export_asks_for_mapped_and_default_fields_the_project_has() {
    let server = project().serve();
    let mut redcap = source(&config_for(server.url(), TOKEN, json!({})));
    let mut mapping = example_mapping();
    mapping.insert("mri_wt_lbs".into(), json!("patient_weight_lb"));
    redcap.fetch_entries(&mapping, 0.0).unwrap();
    let fields = request_fields(&server);
    assert_eq!(fields[0], "record_id");
    for wanted in [
        "study_id",
        "family_id",
        "mri_instance",
        "mri_date",
        "mri_time",
        "youth_dob_y",
        "demo_sex",
    ] {
        assert!(
            fields.contains(&wanted.to_string()),
            "{wanted} in {fields:?}"
        );
    }
    for absent in [
        "mri_wt_lbs",
        "neuro_pcp",
        "redcap_repeat_instrument",
        "intro",
    ] {
        assert!(
            !fields.contains(&absent.to_string()),
            "{absent} not in {fields:?}"
        );
    }
}

#[test]
fn fields_the_project_lacks_are_dropped_with_a_warning_naming_them() {
    logs::capture();
    let server = project().serve();
    let mut redcap = source(&config_for(server.url(), TOKEN, json!({})));
    let mut mapping = example_mapping();
    mapping.insert("scanner_weight_zz".into(), json!("patient_weight_lb"));
    let entries = redcap.fetch_entries(&mapping, 0.0).unwrap();
    assert_eq!(entries.len(), 3);
    let warned = logs::captured().into_iter().any(|line| {
        line.starts_with("WARN") && line.contains("scanner_weight_zz") && line.contains("neuro_pcp")
    });
    assert!(warned, "a warning lists the missing fields");
}

#[test]
fn a_checkbox_choice_is_asked_for_by_its_field_name() {
    let server = FakeRedcap::new(TOKEN)
        .fields("enrolment", &["record_id", "study_id"])
        .field("sedation", "enrolment", "checkbox")
        .fields("mri", &["mri_instance", "mri_date", "mri_time"])
        .row(&[
            ("record_id", "1"),
            ("study_id", "S-1"),
            ("sedation___2", "1"),
        ])
        .row(&[
            ("record_id", "1"),
            ("redcap_repeat_instrument", "mri"),
            ("redcap_repeat_instance", "1"),
            ("mri_instance", "1"),
            ("mri_date", "2026-02-03"),
            ("mri_time", "09:30"),
        ])
        .serve();
    let mut redcap = source(&config_for(server.url(), TOKEN, json!({})));
    let mut mapping = example_mapping();
    mapping.insert("sedation___2".into(), json!("procedure_description"));
    let entries = redcap.fetch_entries(&mapping, 0.0).unwrap();
    assert_eq!(entries[0]["procedure_description"], "1");
    let fields = request_fields(&server);
    assert!(fields.contains(&"sedation".to_string()), "{fields:?}");
    assert!(!fields.contains(&"sedation___2".to_string()), "{fields:?}");
}

#[test]
fn custom_templates_and_instrument_build_the_identity() {
    let server = FakeRedcap::new(TOKEN)
        .fields("main", &["participant", "cohort"])
        .fields("scan", &["scan_instance", "scan_date", "scan_time"])
        .row(&[("participant", "P-17"), ("cohort", "B")])
        .row(&[
            ("participant", "P-17"),
            ("redcap_repeat_instrument", "scan"),
            ("redcap_repeat_instance", "4"),
            ("scan_instance", "v2"),
            ("scan_date", "20260210"),
            ("scan_time", "0815"),
        ])
        .serve();
    let config = config_for(
        server.url(),
        TOKEN,
        json!({
            "repeat_instrument": "scan",
            "patient_id_template": "{cohort}-{record_id}-{session_id}",
            "patient_name_template": "Study^{cohort}{repeat_instance}",
        }),
    );
    let mut redcap = source(&config);
    let entries = redcap.fetch_entries(&FieldMapping::new(), 0.0).unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["patient_id"], "B-P-17-v2");
    assert_eq!(e["patient_name"], "Study^B4");
    assert_eq!(e["source_record_id"], "P-17:4");
    assert_eq!(e["scheduled_start_date"], "2026-02-10");
    assert_eq!(e["scheduled_start_time"], "08:15");
    assert!(request_fields(&server).contains(&"cohort".to_string()));
}

#[test]
fn neuro_pcp_records_get_the_ng_prefix_and_rows_without_study_id_are_skipped() {
    let server = FakeRedcap::new(TOKEN)
        .fields(
            "enrolment",
            &["record_id", "study_id", "family_id", "neuro_pcp"],
        )
        .fields("mri", &["mri_instance", "mri_date", "mri_time"])
        .row(&[
            ("record_id", "1"),
            ("study_id", "CPIP-2001"),
            ("family_id", "F-9"),
            ("neuro_pcp", "1"),
        ])
        .row(&[
            ("record_id", "1"),
            ("redcap_repeat_instrument", "mri"),
            ("redcap_repeat_instance", "1"),
            ("mri_instance", "1"),
            ("mri_date", "2026-02-03"),
            ("mri_time", "09:30"),
        ])
        .row(&[("record_id", "2"), ("study_id", ""), ("family_id", "F-10")])
        .row(&[
            ("record_id", "2"),
            ("redcap_repeat_instrument", "mri"),
            ("redcap_repeat_instance", "1"),
            ("mri_instance", "1"),
            ("mri_date", "2026-02-03"),
            ("mri_time", "10:30"),
        ])
        .serve();
    let mut redcap = source(&config_for(
        server.url(),
        TOKEN,
        json!({"protocol": "PCP_PROTOCOL"}),
    ));
    let entries = redcap.fetch_entries(&example_mapping(), 0.0).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["patient_name"], "cpip-id-ng_2001^fa-9");
    assert_eq!(entries[0]["patient_id"], "sub_ng_2001_ses_1_fam_9_site_792");
    assert_eq!(entries[0]["protocol_name"], "PCP_PROTOCOL");
}

#[test]
fn the_legacy_mapping_fills_birth_date_and_sex_from_youth_dob_y_and_demo_sex() {
    let server = project().serve();
    let mut redcap = source(&config_for(server.url(), TOKEN, json!({})));
    let legacy = json!({
        "study_id": "study_id", "family_id": "family_id", "youth_dob_y": "youth_dob_y",
        "t1_date": "t1_date", "demo_sex": "demo_sex", "status": "performed_procedure_step_status"
    });
    let entries = redcap
        .fetch_entries(legacy.as_object().unwrap(), 0.0)
        .unwrap();
    assert_eq!(entries[0]["patient_birth_date"], "20120101");
    assert_eq!(entries[0]["patient_sex"], "F");
    assert!(entries[0].get("performed_procedure_step_status").is_none());
    assert_eq!(entries[0]["scheduled_start_date"], "2026-02-03");
}

#[test]
fn two_sources_read_two_projects_through_their_own_variables() {
    let first = project().serve();
    let second = FakeRedcap::new("SECOND-TOKEN-0000")
        .fields("enrolment", &["record_id", "study_id"])
        .fields("mri", &["mri_instance", "mri_date", "mri_time"])
        .row(&[("record_id", "9"), ("study_id", "X-9")])
        .row(&[
            ("record_id", "9"),
            ("redcap_repeat_instrument", "mri"),
            ("redcap_repeat_instance", "1"),
            ("mri_instance", "1"),
            ("mri_date", "2026-02-03"),
            ("mri_time", "09:30"),
        ])
        .serve();
    let mut a = source(&config_for(first.url(), TOKEN, json!({})));
    let mut b = source(&config_for(
        second.url(),
        "SECOND-TOKEN-0000",
        json!({"site": "793"}),
    ));
    assert_eq!(a.fetch_entries(&example_mapping(), 0.0).unwrap().len(), 3);
    let from_b = b.fetch_entries(&example_mapping(), 0.0).unwrap();
    assert_eq!(from_b.len(), 1);
    assert_eq!(from_b[0]["patient_id"], "sub_9_ses_1_fam__site_793");
}

fn fetch_error(server: &FakeServer, token: &str, extra: Value) -> String {
    let mut redcap = source(&config_for(server.url(), token, extra));
    redcap
        .fetch_entries(&example_mapping(), 0.0)
        .expect_err("the fetch fails")
}

#[test]
fn a_refused_token_is_a_fetch_error_with_redcaps_message_and_without_the_token() {
    let server = project().serve();
    let wrong = "FFFFEEEEDDDDCCCCBBBBAAAA99998888";
    let message = fetch_error(&server, wrong, json!({}));
    assert!(message.contains("HTTP 403"), "{message}");
    assert!(message.contains(FORBIDDEN), "{message}");
    assert!(
        message.contains("TEST_REDCAP_TOKEN_"),
        "names the variable: {message}"
    );
    assert!(!message.contains(wrong), "{message}");
}

/// Metadata from `project()`, records from `records`.
fn records_answer(records: Reply) -> FakeServer {
    let project = Arc::new(project());
    FakeServer::start(
        move |request| match request.form_value("content").as_deref() {
            Some("record") => records.clone(),
            _ => project.answer(request),
        },
    )
}

#[test]
fn a_bad_field_is_a_fetch_error_with_redcaps_message() {
    let error = r#"The following values in the parameter "fields" are not valid: 'mri_date'"#;
    let server = records_answer(Reply::json(400, &json!({ "error": error })));
    let message = fetch_error(&server, TOKEN, json!({}));
    assert!(message.contains("HTTP 400"), "{message}");
    assert!(message.contains(error), "{message}");
}

#[test]
fn a_server_error_page_is_a_fetch_error_quoting_the_page_text() {
    let page = "<html><head><title>500 Internal Server Error</title></head><body><p>The server is overloaded</p></body></html>";
    let server = records_answer(Reply::html(500, page));
    let message = fetch_error(&server, TOKEN, json!({}));
    assert!(message.contains("server error (HTTP 500)"), "{message}");
    assert!(message.contains("The server is overloaded"), "{message}");
    assert!(!message.contains("<p>"), "{message}");
}

#[test]
fn a_body_that_is_not_json_is_a_fetch_error() {
    let server = records_answer(Reply::raw(
        200,
        "application/json",
        "[{\"record_id\": \"1\", ",
    ));
    let message = fetch_error(&server, TOKEN, json!({}));
    assert!(message.contains("not a JSON list"), "{message}");
}

#[test]
fn a_slow_answer_beyond_the_read_timeout_is_a_fetch_error() {
    let slow = Reply::json(200, &json!([])).after(Duration::from_secs(3));
    let server = records_answer(slow);
    let message = fetch_error(&server, TOKEN, json!({"read_timeout_seconds": 0.5}));
    assert!(message.contains("did not answer"), "{message}");
    assert!(message.contains("0.5 s"), "{message}");
}

#[test]
fn an_unreachable_server_is_a_fetch_error() {
    let url = {
        let server = project().serve();
        server.url().to_string()
    };
    let message = fetch_error_at(&url);
    assert!(message.contains("could not connect"), "{message}");
}

fn fetch_error_at(url: &str) -> String {
    let mut redcap = source(&config_for(
        url,
        TOKEN,
        json!({"connect_timeout_seconds": 2}),
    ));
    redcap.fetch_entries(&example_mapping(), 0.0).unwrap_err()
}

#[test]
fn the_token_never_appears_in_logs_or_errors() {
    logs::capture();
    let token = "0123456789ABCDEF0123456789ABCDEF";
    let server = FakeRedcap::new(token)
        .fields("enrolment", &["record_id", "study_id"])
        .serve();
    let mut redcap = source(&config_for(server.url(), token, json!({})));
    redcap.fetch_entries(&example_mapping(), 60.0).unwrap();
    let echo = FakeServer::start(move |request| {
        Reply::html(500, &format!("<p>bad request: {}</p>", request.body))
    });
    let mut echoing = source(&config_for(echo.url(), token, json!({})));
    let message = echoing.fetch_entries(&example_mapping(), 60.0).unwrap_err();
    assert!(
        message.contains("token=***"),
        "the echoed token is masked: {message}"
    );
    let lines = logs::captured();
    assert!(
        lines.iter().any(|l| l.contains("REDCap source")),
        "logs were captured"
    );
    assert!(lines.iter().all(|l| !l.contains(token)));
}

#[test]
fn config_errors_name_the_offending_key() {
    let server = project().serve();
    let check = |extra: Value| {
        let mut redcap = Redcap::new(&SourceContext {
            source_type: "redcap".into(),
            source_name: "r".into(),
        });
        redcap
            .validate_config(&config_for(server.url(), TOKEN, extra))
            .unwrap_err()
    };
    assert!(check(json!({"mwl_days_ahead": -1})).contains("config.mwl_days_ahead"));
    assert!(check(json!({"mwl_days_ahead": "3"})).contains("config.mwl_days_ahead"));
    assert!(check(json!({"mwl_days_ahead": 1.5})).contains("config.mwl_days_ahead"));
    assert!(check(json!({"site": null})).contains("config.site"));
    assert!(check(json!({"protocol": 7})).contains("config.protocol"));
    assert!(check(json!({"patient_id_template": "sub_{study_id"}))
        .contains("config.patient_id_template"));
    assert!(
        check(json!({"api_token_env": "TEST_REDCAP_NEVER_SET"})).contains("TEST_REDCAP_NEVER_SET")
    );
    assert!(check(json!({"read_timeout_seconds": 0})).contains("config.read_timeout_seconds"));
}

#[test]
fn mwl_days_ahead_accepts_whole_days() {
    let server = project().serve();
    let mut redcap = Redcap::new(&SourceContext {
        source_type: "redcap".into(),
        source_name: "r".into(),
    });
    for days in [0, 7] {
        redcap
            .validate_config(&config_for(
                server.url(),
                TOKEN,
                json!({ "mwl_days_ahead": days }),
            ))
            .unwrap();
    }
}

#[test]
fn the_plugin_describes_its_config_and_identity_targets() {
    let info = pylantir_redcap::plugin().info(true);
    let redcap = &info.source_types[0];
    assert_eq!(redcap.name, "redcap");
    let schema = redcap.config_schema.as_ref().unwrap();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["properties"]["mwl_days_ahead"]["minimum"], 0);
    for target in ["study_id", "session_id", "family_id"] {
        assert!(redcap.extra_mapping_targets.iter().any(|t| t == target));
    }
}
