//! `pylantir start` with a REDCap source and a Calpendo source, each against
//! a fake server on 127.0.0.1: both fill the worklist database, every row
//! attributed to its source.

use pylantir_tests::calpendo::FakeCalpendo;
use pylantir_tests::redcap::FakeRedcap;
use pylantir_tests::server::ServerProcess;
use pylantir_tests::{install_plugins, temp_dir};
use serde_json::json;
use std::time::Duration;

const TOKEN: &str = "E2EE2EE2E0123456789ABCDEF0123456";

fn redcap() -> FakeRedcap {
    FakeRedcap::new(TOKEN)
        .fields(
            "enrolment",
            &["record_id", "study_id", "family_id", "demo_sex"],
        )
        .fields("mri", &["mri_instance", "mri_date", "mri_time"])
        .row(&[
            ("record_id", "1"),
            ("study_id", "CPIP-1001"),
            ("family_id", "FAM-0042"),
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
}

#[test]
fn start_fills_the_worklist_from_redcap_and_calpendo_with_data_source_set() {
    let redcap = redcap().serve();
    let now = jiff::ZonedDateTime::now()
        .with_time_zone(pylantir_plugin_api::tz::get("America/Edmonton").unwrap());
    let day = |z: &jiff::ZonedDateTime| z.strftime("%Y-%m-%d").to_string();
    let calpendo = FakeCalpendo::new("e2e-user", "e2e-password-77")
        .with_fixture_bookings(&day(&now), &day(&now.tomorrow().unwrap()))
        .serve();
    let redcap_url = format!("{}/api/", redcap.url());
    let credentials = [
        ("E2E_START_REDCAP_URL", redcap_url.as_str()),
        ("E2E_START_REDCAP_TOKEN", TOKEN),
        ("E2E_START_CALPENDO_USER", "e2e-user"),
        ("E2E_START_CALPENDO_PASSWORD", "e2e-password-77"),
    ];

    let dir = temp_dir();
    let config = json!({
        "db_path": "worklist.db",
        "data_sources": [
            {
                "name": "main_redcap",
                "type": "redcap",
                "sync_interval": 1,
                "config": {
                    "site": "792",
                    "protocol": {"792": "BRAIN_MRI_3T", "mapping": "GEHC"},
                    "api_url_env": "E2E_START_REDCAP_URL",
                    "api_token_env": "E2E_START_REDCAP_TOKEN"
                },
                "field_mapping": {
                    "study_id": "study_id", "mri_instance": "session_id", "family_id": "family_id",
                    "demo_sex": "patient_sex", "mri_date": "scheduled_start_date", "mri_time": "scheduled_start_time"
                }
            },
            {
                "name": "scanner_bookings",
                "type": "calpendo",
                "sync_interval": 1,
                "window_mode": "today",
                "config": {
                    "base_url": calpendo.url(),
                    "username_env": "E2E_START_CALPENDO_USER",
                    "password_env": "E2E_START_CALPENDO_PASSWORD",
                    "resources": ["3T Diagnostic", "EEG Lab"],
                    "status_filter": "Approved",
                    "timezone": "America/Edmonton",
                    "window_mode": "today",
                    "resource_modality_mapping": {"3T": "MR", "EEG": "EEG"},
                    "field_mapping": {
                        "patient_id": {"source_field": "title", "_extract": {"pattern": "^([A-Z0-9]+)_.*", "group": 1}},
                        "patient_name": {"source_field": "title", "_extract": {"pattern": "^[A-Z0-9]+_(.+)$", "group": 1}}
                    }
                }
            }
        ]
    });
    let config_path = dir.path().join("pylantir.json");
    std::fs::write(&config_path, config.to_string()).expect("config written");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    install_plugins(&plugins, &["pylantir_redcap", "pylantir_calpendo"]);

    let server = ServerProcess::start_with_env(&config_path, &plugins, &[], &credentials);
    let synced = server.wait_for_log(Duration::from_secs(30), |log| {
        log.contains("[redcap:main_redcap] fetched 2")
            && log.contains("[calpendo:scanner_bookings] fetched 2")
    });
    assert!(synced, "both sources synced:\n{}", server.log());

    let db = rusqlite::Connection::open(dir.path().join("worklist.db")).expect("worklist database");
    let mut query = db
        .prepare(
            "SELECT data_source, source_record_id, patient_id, modality FROM worklist_items \
             ORDER BY data_source, source_record_id",
        )
        .expect("query");
    let rows: Vec<(String, String, String, String)> = query
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows read");
    let row = |a: &str, b: &str, c: &str, d: &str| {
        (a.to_string(), b.to_string(), c.to_string(), d.to_string())
    };
    assert_eq!(
        rows,
        [
            row(
                "main_redcap",
                "1:1",
                "sub_1001_ses_1_fam_0042_site_792",
                "MR"
            ),
            row(
                "main_redcap",
                "1:2",
                "sub_1001_ses_2_fam_0042_site_792",
                "MR"
            ),
            row("scanner_bookings", "12345", "SUB001", "MR"),
            row("scanner_bookings", "12346", "SUB002", "EEG"),
        ],
        "log:\n{}",
        server.log()
    );
    assert!(
        !server.log().contains(TOKEN),
        "the token never reaches the log"
    );
}
