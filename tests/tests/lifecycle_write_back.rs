//! MPPS write-back (`mpps_write_back`): a real `pylantir start` with REDCap
//! sources against fake REDCap servers on 127.0.0.1, MPPS N-CREATE / N-SET
//! sent by our SCU. The outcome reaches the record through REDCap's import
//! API; a hanging REDCap never delays the MPPS answer and its failure is
//! recorded; a source without write-back gets no call; a plugin-api 1.0.0
//! plugin's outcomes are marked unsupported, once.

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::{Client, ScuOptions};
use pylantir_tests::dicom::{seq, text};
use pylantir_tests::http::FakeServer;
use pylantir_tests::plugin_files::{api_100_fixture, install_as};
use pylantir_tests::redcap::{imported_rows, FakeRedcap};
use pylantir_tests::server::ServerProcess;
use pylantir_tests::{install_plugins, temp_dir};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const TOKEN: &str = "WB0123456789ABCDEF0123456789ABCD";
const AE: &str = "PYLANTIR";

/// A project with one visit, record `1` instance `1`, of study participant `study_id`.
fn project(study_id: &str) -> FakeRedcap {
    FakeRedcap::new(TOKEN)
        .fields("enrolment", &["record_id", "study_id", "family_id"])
        .fields(
            "mri",
            &["mri_instance", "mri_date", "mri_time", "mri_status"],
        )
        .row(&[
            ("record_id", "1"),
            ("study_id", study_id),
            ("family_id", "FAM-0042"),
        ])
        .row(&[
            ("record_id", "1"),
            ("redcap_repeat_instrument", "mri"),
            ("redcap_repeat_instance", "1"),
            ("mri_instance", "1"),
            ("mri_date", "2026-02-03"),
            ("mri_time", "09:30"),
        ])
}

/// A REDCap source named `name`, its credentials in `NAME_URL` / `NAME_TOKEN`.
fn redcap_source(name: &str, write_back: bool) -> Value {
    json!({
        "name": name,
        "type": "redcap",
        "sync_interval": 3600,
        "mpps_write_back": write_back,
        "config": {
            "site": "792",
            "api_url_env": format!("{}_URL", name.to_uppercase()),
            "api_token_env": format!("{}_TOKEN", name.to_uppercase()),
            "read_timeout_seconds": 3,
            "write_back": {"field_map": {
                "IN_PROGRESS": {"field": "mri_status", "value": "1"},
                "COMPLETED": {"field": "mri_status", "value": "2"}
            }}
        },
        "field_mapping": {
            "study_id": "study_id", "mri_instance": "session_id", "family_id": "family_id",
            "mri_date": "scheduled_start_date", "mri_time": "scheduled_start_time"
        }
    })
}

/// `pylantir start` with `sources`; `servers` are the fake REDCaps of the
/// sources of the same names. Waits until every source synced.
fn start(dir: &Path, sources: Vec<Value>, servers: &[(&str, &FakeServer)]) -> ServerProcess {
    let config = json!({"db_path": "worklist.db", "ae_title": AE, "data_sources": sources});
    let config_path = dir.join("pylantir.json");
    std::fs::write(&config_path, config.to_string()).expect("config written");
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    install_plugins(&plugins, &["pylantir_redcap"]);
    let env: Vec<(String, String)> = servers
        .iter()
        .flat_map(|(name, server)| {
            let upper = name.to_uppercase();
            [
                (format!("{upper}_URL"), format!("{}/api/", server.url())),
                (format!("{upper}_TOKEN"), TOKEN.to_string()),
            ]
        })
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = ServerProcess::start_with_env(&config_path, &plugins, &[], &env);
    for (name, _) in servers {
        wait_synced(&server, &format!("[redcap:{name}] fetched 1"));
    }
    server
}

fn wait_synced(server: &ServerProcess, line: &str) {
    let synced = server.wait_for_log(Duration::from_secs(30), |log| log.contains(line));
    assert!(synced, "{line}:\n{}", server.log());
}

fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("worklist.db")).expect("worklist database")
}

/// The Study Instance UID and Scheduled Procedure Step ID of the item of
/// `source` for record `1:1`, as C-FIND shows them.
fn study_of(dir: &Path, source: &str) -> (String, String) {
    db(dir)
        .query_row(
            "SELECT study_instance_uid, \
             COALESCE(NULLIF(scheduled_procedure_step_id, ''), CAST(id AS TEXT)) \
             FROM worklist_items WHERE data_source = ?1 AND source_record_id = '1:1'",
            [source],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("the synced item")
}

fn client(server: &ServerProcess) -> Client {
    let options = ScuOptions {
        addr: format!("127.0.0.1:{}", server.port),
        called_ae: AE.into(),
        calling_ae: "SCANNER1".into(),
        timeout: Duration::from_secs(10),
    };
    Client::connect(&options, &[uids::MODALITY_PERFORMED_PROCEDURE_STEP]).expect("association")
}

fn create_data((study, sps): &(String, String)) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        seq(
            tags::SCHEDULED_STEP_ATTRIBUTES_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([
                text(tags::STUDY_INSTANCE_UID, VR::UI, study),
                text(tags::SCHEDULED_PROCEDURE_STEP_ID, VR::SH, sps),
            ])],
        ),
        text(tags::PERFORMED_STATION_AE_TITLE, VR::AE, "SCANNER1"),
        text(tags::PERFORMED_STATION_NAME, VR::SH, "MR3T"),
        text(
            tags::PERFORMED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            "20260203",
        ),
        text(tags::PERFORMED_PROCEDURE_STEP_START_TIME, VR::TM, "093500"),
        text(tags::PERFORMED_PROCEDURE_STEP_STATUS, VR::CS, "IN PROGRESS"),
    ])
}

fn completed() -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        text(tags::PERFORMED_PROCEDURE_STEP_STATUS, VR::CS, "COMPLETED"),
        text(tags::PERFORMED_PROCEDURE_STEP_END_DATE, VR::DA, "20260203"),
        text(tags::PERFORMED_PROCEDURE_STEP_END_TIME, VR::TM, "101000"),
    ])
}

/// Polls `check` for up to `timeout`.
fn eventually(timeout: Duration, check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

/// The queue rows of `source`: (status, state, attempts, last_error).
fn outcomes(dir: &Path, source: &str) -> Vec<(String, String, i64, Option<String>)> {
    let conn = db(dir);
    let mut query = conn
        .prepare(
            "SELECT status, state, attempts, last_error FROM mpps_outcomes \
             WHERE source = ?1 ORDER BY id",
        )
        .expect("query");
    let rows = query
        .query_map([source], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows read");
    rows
}

fn row(pairs: &[(&str, &str)]) -> serde_json::Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

#[test]
fn a_completed_mpps_is_imported_into_the_redcap_record_of_its_visit() {
    let redcap = project("CPIP-1001").serve();
    let dir = temp_dir();
    let server = start(
        dir.path(),
        vec![redcap_source("visits", true)],
        &[("visits", &redcap)],
    );
    let study = study_of(dir.path(), "visits");

    let mut scu = client(&server);
    let created = scu.n_create(Some("2.25.7001"), &create_data(&study));
    assert_eq!(created.expect("N-CREATE").status, 0);
    let set = scu.n_set("2.25.7001", &completed()).expect("N-SET");
    assert_eq!(set.status, 0);

    let repeat = [
        ("record_id", "1"),
        ("redcap_repeat_instrument", "mri"),
        ("redcap_repeat_instance", "1"),
    ];
    let with = |value: &str| {
        let mut pairs = repeat.to_vec();
        pairs.push(("mri_status", value));
        row(&pairs)
    };
    let imported = eventually(Duration::from_secs(20), || {
        imported_rows(&redcap) == [with("1"), with("2")]
    });
    assert!(
        imported,
        "imports: {:?}\n{}",
        imported_rows(&redcap),
        server.log()
    );
    assert!(eventually(Duration::from_secs(10), || {
        outcomes(dir.path(), "visits")
            .iter()
            .map(|(status, state, _, _)| (status.as_str(), state.as_str()))
            .eq([("IN_PROGRESS", "delivered"), ("COMPLETED", "delivered")])
    }));
}

#[test]
fn a_hanging_redcap_does_not_delay_the_mpps_answer_and_its_failure_is_recorded() {
    let redcap = project("CPIP-1001")
        .imports_hang(Duration::from_secs(60))
        .serve();
    let dir = temp_dir();
    let server = start(
        dir.path(),
        vec![redcap_source("visits", true)],
        &[("visits", &redcap)],
    );
    let study = study_of(dir.path(), "visits");
    let mut scu = client(&server);
    assert_eq!(
        scu.n_create(Some("2.25.7002"), &create_data(&study))
            .expect("N-CREATE")
            .status,
        0
    );
    // The IN_PROGRESS outcome's import is now hanging at the server.
    assert!(
        eventually(Duration::from_secs(20), || !imported_rows(&redcap)
            .is_empty()),
        "an import was attempted:\n{}",
        server.log()
    );

    let set = scu
        .n_set("2.25.7002", &completed())
        .expect("N-SET answered");
    assert_eq!(set.status, 0);
    let queued = outcomes(dir.path(), "visits");
    assert!(
        queued.iter().all(|(_, state, _, _)| state == "pending"),
        "nothing delivered yet when the answer came: {queued:?}"
    );

    let recorded = eventually(Duration::from_secs(30), || {
        outcomes(dir.path(), "visits")
            .first()
            .is_some_and(|(_, _, attempts, error)| {
                *attempts >= 1
                    && error
                        .as_deref()
                        .is_some_and(|e| e.contains("did not answer"))
            })
    });
    assert!(
        recorded,
        "the failure is recorded: {:?}",
        outcomes(dir.path(), "visits")
    );
    assert!(server
        .log()
        .contains("MPPS outcome IN_PROGRESS of record 1:1 not written back (attempt 1 of 8)"));
}

#[test]
fn a_source_without_mpps_write_back_gets_no_call() {
    let with = project("CPIP-1001").serve();
    let without = project("CPIP-2002").serve();
    let dir = temp_dir();
    let server = start(
        dir.path(),
        vec![redcap_source("with", true), redcap_source("without", false)],
        &[("with", &with), ("without", &without)],
    );
    let mut scu = client(&server);
    for (uid, source) in [("2.25.7003", "without"), ("2.25.7004", "with")] {
        let study = study_of(dir.path(), source);
        assert_eq!(
            scu.n_create(Some(uid), &create_data(&study))
                .expect("N-CREATE")
                .status,
            0
        );
        assert_eq!(scu.n_set(uid, &completed()).expect("N-SET").status, 0);
    }
    // The source with write-back had both outcomes delivered, after the
    // other source's MPPS was stored: it would have been delivered too by now.
    assert!(eventually(Duration::from_secs(20), || {
        imported_rows(&with).len() == 2
    }));
    assert!(outcomes(dir.path(), "without").is_empty());
    assert!(imported_rows(&without).is_empty());
}

#[test]
fn a_plugin_api_1_0_0_source_has_its_outcomes_marked_unsupported_and_is_told_once() {
    let dir = temp_dir();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    install_as(&plugins, api_100_fixture(), "api100");
    let lines = dir.path().join("lines.txt");
    std::fs::write(&lines, "r1,SUB01\n").expect("lines");
    let config = json!({"db_path": "worklist.db", "ae_title": AE, "data_sources": [{
        "name": "old", "type": "lines100", "sync_interval": 3600, "mpps_write_back": true,
        "config": {"file_path": lines}
    }]});
    let config_path = dir.path().join("pylantir.json");
    std::fs::write(&config_path, config.to_string()).expect("config written");
    let server = ServerProcess::start(&config_path, &plugins, &[]);
    wait_synced(&server, "[lines100:old] fetched 1");

    let mut scu = client(&server);
    let patient = InMemDicomObject::from_element_iter([
        text(tags::PATIENT_ID, VR::LO, "SUB01"),
        text(tags::PERFORMED_PROCEDURE_STEP_STATUS, VR::CS, "IN PROGRESS"),
    ]);
    assert_eq!(
        scu.n_create(Some("2.25.7005"), &patient)
            .expect("N-CREATE")
            .status,
        0
    );
    let unsupported = |n: usize| {
        eventually(Duration::from_secs(20), || {
            let rows = outcomes(dir.path(), "old");
            rows.len() == n && rows.iter().all(|(_, state, _, _)| state == "unsupported")
        })
    };
    assert!(
        unsupported(1),
        "{:?}\n{}",
        outcomes(dir.path(), "old"),
        server.log()
    );
    assert_eq!(
        scu.n_set("2.25.7005", &completed()).expect("N-SET").status,
        0
    );
    assert!(
        unsupported(2),
        "{:?}\n{}",
        outcomes(dir.path(), "old"),
        server.log()
    );
    let told = server
        .log()
        .matches("the plugin does not support MPPS write-back")
        .count();
    assert_eq!(told, 1, "{}", server.log());
    assert!(outcomes(dir.path(), "old")
        .iter()
        .all(|(_, _, attempts, _)| *attempts == 0));
}
