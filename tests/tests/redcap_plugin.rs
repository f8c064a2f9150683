//! The REDCap plugin as the host uses it: loaded from its built `.so` by the
//! loader, fetched through the host's `DataSource`, against a fake REDCap
//! server on 127.0.0.1. The plugin's log lines arrive in the host's logger.

use pylantir::config;
use pylantir::loader::Registry;
use pylantir::source::{DataSource, SourceErrorKind, SourceFactory};
use pylantir_tests::http::{FakeServer, Reply};
use pylantir_tests::in_child::run_in_child;
use pylantir_tests::logs;
use pylantir_tests::plugin_files::load_in_process;
use pylantir_tests::redcap::FakeRedcap;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const TOKEN: &str = "9F8E7D6C5B4A39281706F5E4D3C2B1A0";

/// The registry holding the built REDCap plugin (loaded once, after the log
/// capture is installed so the plugin's bridge forwards every level).
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        logs::capture();
        load_in_process(&["pylantir_redcap"])
    })
}

/// The environment variable holding the API URL of the `n`th server of [`in_child`].
fn url_env(n: usize) -> String {
    format!("E2E_REDCAP_URL_{n}")
}

/// The environment variable holding the API token of [`in_child`].
const TOKEN_ENV: &str = "E2E_REDCAP_TOKEN";

/// Runs the calling test again in a child process whose environment holds the API URLs of
/// `SERVERS` fake REDCap servers (each on a listener handed to the child)
/// and `token`; in that child, returns the listeners for the test to serve on.
fn in_child<const SERVERS: usize>(token: &str) -> Option<[TcpListener; SERVERS]> {
    run_in_child(|urls: &[String; SERVERS]| {
        let mut env: Vec<(String, String)> = (0..)
            .zip(urls)
            .map(|(n, url)| (url_env(n), format!("{url}/api/")))
            .collect();
        env.push((TOKEN_ENV.to_string(), token.to_string()));
        env
    })
}

/// A config naming the `server`th URL and the token of [`in_child`], merged with `extra`.
fn config_for(server: usize, extra: Value) -> Value {
    let mut config = json!({
        "site": "792",
        "protocol": {"792": "BRAIN_MRI_3T", "mapping": "GEHC"},
        "api_url_env": url_env(server),
        "api_token_env": TOKEN_ENV,
        "mwl_days_ahead": 3,
    });
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

fn source(config: &Value) -> Box<dyn DataSource> {
    let mut source = registry()
        .create("redcap", "main_redcap")
        .expect("a redcap source");
    source.validate_config(config).expect("config accepted");
    source
}

fn mapping() -> Value {
    json!({
        "study_id": "study_id",
        "mri_instance": "session_id",
        "family_id": "family_id",
        "youth_dob_y": "patient_birth_date",
        "demo_sex": "patient_sex",
        "mri_date": "scheduled_start_date",
        "mri_time": "scheduled_start_time"
    })
}

fn project(token: &str) -> FakeRedcap {
    FakeRedcap::new(token)
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
            ("mri_date", "2026-03-04"),
            ("mri_time", "14:00"),
        ])
        .row(&[
            ("record_id", "2"),
            ("study_id", "CPIP-1002"),
            ("family_id", "FAM-0043"),
        ])
        .row(&[
            ("record_id", "2"),
            ("redcap_repeat_instrument", "mri"),
            ("redcap_repeat_instance", "1"),
            ("mri_instance", "1"),
            ("mri_date", "2026-02-05"),
            ("mri_time", "11:15"),
        ])
}

#[test]
fn the_loaded_plugin_returns_one_entry_per_visit_with_a_stable_record_id() {
    let Some([listener]) = in_child(TOKEN) else {
        return;
    };
    let server = project(TOKEN).serve_on(listener);
    let mut redcap = source(&config_for(0, json!({})));
    assert!(redcap.supports_incremental_sync());
    let entries = redcap.fetch_entries(&mapping(), 3600.0).unwrap();
    let summary: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap().to_string();
            (
                text("source_record_id"),
                text("patient_id"),
                text("scheduled_start_date"),
            )
        })
        .collect();
    let row = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        summary,
        [
            row("1:1", "sub_1001_ses_1_fam_0042_site_792", "2026-02-03"),
            row("1:2", "sub_1001_ses_2_fam_0042_site_792", "2026-03-04"),
            row("2:1", "sub_1002_ses_1_fam_0043_site_792", "2026-02-05"),
        ]
    );
    assert_eq!(entries[0]["patient_name"], "cpip-id-1001^fa-0042");
    assert_eq!(entries[0]["protocol_name"], "BRAIN_MRI_3T");
    let export = &server.requests()[1];
    assert!(
        export.form_value("dateRangeBegin").is_some(),
        "an incremental export"
    );
}

#[test]
fn a_refused_token_arrives_as_a_fetch_error_without_the_token() {
    let wrong = "00000000111111112222222233333333";
    let Some([listener]) = in_child(wrong) else {
        return;
    };
    let _server = project(TOKEN).serve_on(listener);
    let error = source(&config_for(0, json!({})))
        .fetch_entries(&mapping(), 60.0)
        .unwrap_err();
    assert_eq!(error.kind, SourceErrorKind::Fetch);
    assert!(error.message.contains("HTTP 403"), "{}", error.message);
    assert!(!error.message.contains(wrong), "{}", error.message);
}

#[test]
fn a_slow_server_arrives_as_a_fetch_error_once_the_read_timeout_passes() {
    let Some([listener]) = in_child(TOKEN) else {
        return;
    };
    let project = Arc::new(project(TOKEN));
    let _server = FakeServer::on(listener, move |request| {
        let reply = project.answer(request);
        if request.form_value("content").as_deref() == Some("record") {
            reply.after(Duration::from_secs(3))
        } else {
            reply
        }
    });
    let error = source(&config_for(0, json!({"read_timeout_seconds": 0.5})))
        .fetch_entries(&mapping(), 60.0)
        .unwrap_err();
    assert_eq!(error.kind, SourceErrorKind::Fetch);
    assert!(
        error.message.contains("did not answer"),
        "{}",
        error.message
    );
}

/// A server on `listener` with the project's metadata whose record export answers `reply`.
fn records_answer(listener: TcpListener, reply: Reply) -> FakeServer {
    let project = Arc::new(project(TOKEN));
    FakeServer::on(listener, move |request| {
        match request.form_value("content").as_deref() {
            Some("record") => reply.clone(),
            _ => project.answer(request),
        }
    })
}

#[test]
fn a_server_error_page_and_malformed_json_arrive_as_fetch_errors() {
    let Some(listeners) = in_child::<2>(TOKEN) else {
        return;
    };
    let cases = [
        (
            Reply::html(
                500,
                "<html><body><h1>Service Unavailable</h1></body></html>",
            ),
            "server error (HTTP 500)",
        ),
        (
            Reply::raw(200, "application/json", "[{\"record_id\": "),
            "not a JSON list",
        ),
    ];
    for (n, (listener, (reply, expected))) in listeners.into_iter().zip(cases).enumerate() {
        let _server = records_answer(listener, reply);
        let error = source(&config_for(n, json!({})))
            .fetch_entries(&mapping(), 60.0)
            .unwrap_err();
        assert_eq!(error.kind, SourceErrorKind::Fetch);
        assert!(error.message.contains(expected), "{}", error.message);
    }
}

#[test]
fn an_invalid_config_is_refused_through_the_host() {
    let Some([listener]) = in_child(TOKEN) else {
        return;
    };
    let _server = project(TOKEN).serve_on(listener);
    let mut redcap = registry().create("redcap", "main_redcap").unwrap();
    let error = redcap
        .validate_config(&config_for(0, json!({"mwl_days_ahead": -2})))
        .unwrap_err();
    assert_eq!(error.kind, SourceErrorKind::Config);
    assert!(
        error.message.contains("config.mwl_days_ahead"),
        "{}",
        error.message
    );
}

#[test]
fn the_token_is_absent_from_everything_the_host_logged() {
    let token = "5A5A5A5A6B6B6B6B7C7C7C7C8D8D8D8D";
    let Some([listener, echo_listener]) = in_child(token) else {
        return;
    };
    let _server = project(token).serve_on(listener);
    let mut good = source(&config_for(0, json!({})));
    good.fetch_entries(&mapping(), 3600.0).unwrap();
    let _echo = FakeServer::on(echo_listener, |request| {
        Reply::html(500, &format!("<pre>{}</pre>", request.body))
    });
    let error = source(&config_for(1, json!({})))
        .fetch_entries(&mapping(), 3600.0)
        .unwrap_err();
    log::error!("sync failed: {error}");
    let lines = logs::captured();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("redcap") && l.contains("entries")),
        "the plugin's log lines reached the host: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("DEBUG")),
        "debug lines were captured too"
    );
    assert!(lines.iter().all(|l| !l.contains(token)));
}

#[test]
fn the_python_example_configs_pass_the_hosts_validation() {
    let env = |_: &[String; 0]| {
        vec![
            ("REDCAP_API_URL".into(), "http://127.0.0.1:9/api/".into()),
            ("REDCAP_API_TOKEN".into(), TOKEN.into()),
        ]
    };
    if run_in_child(env).is_none() {
        return;
    }
    for example in [
        "mwl_config_multi_source_example.json",
        "mwl_config.json",
        "config_example_with_cors.json",
    ] {
        let path = pylantir_tests::workspace_root()
            .join("tests/data/pylantir-config")
            .join(example);
        let checked = config::load(&path, registry());
        assert!(
            checked.is_ok(),
            "{example}: {:?}",
            checked.err().map(|e| e.to_string())
        );
    }
}

/// `record id -> retracted?` of the source's items, in record id order.
fn retracted(conn: &rusqlite::Connection) -> Vec<(String, bool)> {
    let mut stmt = conn
        .prepare(
            "SELECT source_record_id, retracted_at IS NOT NULL FROM worklist_items \
             WHERE data_source = 'main_redcap' ORDER BY source_record_id",
        )
        .unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn only_the_periodic_full_export_retracts_a_visit_gone_from_the_project() {
    let Some([listener]) = in_child(TOKEN) else {
        return;
    };
    let before = Arc::new(project(TOKEN));
    // Record 2 deleted from the project.
    let after = Arc::new(
        project(TOKEN)
            .modified("1", "2020-01-01 00:00:00")
            .rows_of_records(&["1"]),
    );
    let deleted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let switch = Arc::clone(&deleted);
    let server = FakeServer::on(listener, move |request| {
        if switch.load(Ordering::SeqCst) {
            after.answer(request)
        } else {
            before.answer(request)
        }
    });
    let hours = 3.0 / 3600.0;
    let mut redcap = source(&config_for(0, json!({"full_export_every_hours": hours})));
    let dir = pylantir_tests::temp_dir();
    let mut conn = pylantir::store::open(&dir.path().join("worklist.db")).unwrap();
    let sync = |redcap: &mut Box<dyn DataSource>, conn: &mut rusqlite::Connection| {
        let fetched = redcap.fetch(&mapping(), 3600.0).unwrap();
        let window = fetched.complete_window.as_ref().map(|w| w.to_string());
        pylantir::sync::apply_fetch(conn, "redcap", "main_redcap", &fetched, Default::default())
            .unwrap();
        window
    };
    // The first fetch is a full export.
    assert_eq!(sync(&mut redcap, &mut conn).as_deref(), Some("all dates"));
    deleted.store(true, Ordering::SeqCst);
    // An incremental one, within the hours: record 2 is absent, which proves nothing.
    assert_eq!(sync(&mut redcap, &mut conn), None);
    let exports: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.form_value("content").as_deref() == Some("record"))
        .map(|r| r.form_value("dateRangeBegin").is_some())
        .collect();
    assert_eq!(exports, [false, true]);
    let all_kept = retracted(&conn).iter().all(|(_, r)| !r);
    assert!(all_kept, "{:?}", retracted(&conn));
    std::thread::sleep(Duration::from_secs_f64(hours * 3600.0 + 0.5));
    assert_eq!(sync(&mut redcap, &mut conn).as_deref(), Some("all dates"));
    assert_eq!(
        retracted(&conn),
        [
            ("1:1".to_string(), false),
            ("1:2".to_string(), false),
            ("2:1".to_string(), true)
        ]
    );
}

#[test]
fn a_visit_whose_configured_field_says_cancelled_is_sent_as_discontinued() {
    let Some([listener]) = in_child(TOKEN) else {
        return;
    };
    let _server = project(TOKEN)
        .fields("mri", &["mri_status"])
        .row(&[
            ("record_id", "2"),
            ("redcap_repeat_instrument", "mri"),
            ("redcap_repeat_instance", "2"),
            ("mri_instance", "2"),
            ("mri_date", "2026-03-05"),
            ("mri_time", "10:00"),
            ("mri_status", "cancelled"),
        ])
        .serve_on(listener);
    let config = json!({"discontinued": {"field": "mri_status", "values": ["cancelled", "9"]}});
    let mut redcap = source(&config_for(0, config));
    let entries = redcap.fetch_entries(&mapping(), 3600.0).unwrap();
    let statuses: Vec<(&str, Option<&str>)> = entries
        .iter()
        .map(|e| {
            (
                e["source_record_id"].as_str().unwrap(),
                e.get("performed_procedure_step_status")
                    .and_then(Value::as_str),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("1:1", None),
            ("1:2", None),
            ("2:1", None),
            ("2:2", Some("DISCONTINUED"))
        ]
    );
    let bad = config_for(
        0,
        json!({"discontinued": {"field": "mri_status", "values": []}}),
    );
    let mut refused = registry().create("redcap", "main_redcap").unwrap();
    let error = refused.validate_config(&bad).unwrap_err();
    assert!(
        error.message.contains("config.discontinued.values"),
        "{}",
        error.message
    );
}
