//! MPPS write-back (`mpps_write_back`): a real `pylantir start` with REDCap
//! sources against fake REDCap servers on 127.0.0.1, MPPS N-CREATE / N-SET
//! sent by our SCU. The outcome reaches the record through REDCap's import
//! API; a failed delivery is recorded and retried after the backoff;
//! pending outcomes survive a restart (these three on SQLite and on
//! PostgreSQL); a hanging REDCap never delays the MPPS answer and its
//! failure is recorded; a source without write-back gets no call; a
//! plugin-api 1.0.0 plugin's outcomes are marked unsupported, once.

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::{Client, ScuOptions};
use pylantir::store::Db;
use pylantir_tests::api::{run_cli, Client as ApiClient, START_ADMIN_PASSWORD};
use pylantir_tests::dicom::{seq, text};
use pylantir_tests::http::FakeServer;
use pylantir_tests::install_plugins;
use pylantir_tests::plugin_files::{api_100_fixture, install_as};
use pylantir_tests::redcap::{imported_rows, FakeRedcap};
use pylantir_tests::server::ServerProcess;
use pylantir_tests::stores::Backend;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
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

/// The configuration key and value naming `backend`'s database.
fn database(backend: &Backend) -> (&'static str, Value) {
    match &backend.postgres {
        Some(database) => ("db_url", json!(database.url())),
        None => ("db_path", json!(backend.dir.path().join("worklist.db"))),
    }
}

/// `pylantir start` on `backend`'s database with `sources`; `servers` are
/// the fake REDCaps of the sources of the same names. Waits until every
/// source synced.
fn start(backend: &Backend, sources: Vec<Value>, servers: &[(&str, &FakeServer)]) -> ServerProcess {
    serve(&configure(backend, json!({}), sources), servers)
}

/// Writes the configuration (`extra` keys added) of a site on `backend`'s
/// database with `sources`, and installs the REDCap plugin beside it.
fn configure(backend: &Backend, extra: Value, sources: Vec<Value>) -> PathBuf {
    let dir = backend.dir.path();
    let (key, location) = database(backend);
    let mut config = json!({key: location, "ae_title": AE, "data_sources": sources});
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    let config_path = dir.join("pylantir.json");
    std::fs::write(&config_path, config.to_string()).expect("config written");
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    install_plugins(&plugins, &["pylantir_redcap"]);
    config_path
}

/// `pylantir start` with the configuration `config_path`; see [`start`].
fn serve(config_path: &Path, servers: &[(&str, &FakeServer)]) -> ServerProcess {
    let plugins = config_path.with_file_name("plugins");
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
    let server = ServerProcess::start_with_env(config_path, &plugins, &[], &env);
    for (name, _) in servers {
        wait_synced(&server, &format!("[redcap:{name}] fetched 1"));
    }
    server
}

fn wait_synced(server: &ServerProcess, line: &str) {
    let synced = server.wait_for_log(Duration::from_secs(30), |log| log.contains(line));
    assert!(synced, "{line}:\n{}", server.log());
}

/// The Study Instance UID and Scheduled Procedure Step ID of the item of
/// `source` for record `1:1`, as C-FIND shows them.
fn study_of(backend: &Backend, source: &str) -> (String, String) {
    let row = backend
        .conn()
        .query_row(
            "SELECT study_instance_uid, \
             COALESCE(NULLIF(scheduled_procedure_step_id, ''), CAST(id AS TEXT)) \
             FROM worklist_items WHERE data_source = ?1 AND source_record_id = '1:1'",
            &[source.into()],
        )
        .expect("query")
        .expect("the synced item");
    (
        row.text(0).expect("a Study Instance UID"),
        row.text(1).expect("a step id"),
    )
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

/// One row of the write-back queue.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    status: String,
    state: String,
    attempts: i64,
    due_at: i64,
    last_error: Option<String>,
    finished: bool,
}

/// The queue rows of `source`, oldest first.
fn outcomes(backend: &Backend, source: &str) -> Vec<Outcome> {
    backend
        .conn()
        .query(
            "SELECT status, state, attempts, due_at, last_error, finished_at \
             FROM mpps_outcomes WHERE source = ?1 ORDER BY id",
            &[source.into()],
        )
        .expect("the write-back queue")
        .into_iter()
        .map(|row| Outcome {
            status: row.text(0).unwrap_or_default(),
            state: row.text(1).unwrap_or_default(),
            attempts: row.int(2).unwrap_or_default(),
            due_at: row.int(3).unwrap_or_default(),
            last_error: row.text(4),
            finished: row.text(5).is_some(),
        })
        .collect()
}

/// `(status, state)` of each queue row of `source`.
fn states(backend: &Backend, source: &str) -> Vec<(String, String)> {
    outcomes(backend, source)
        .into_iter()
        .map(|o| (o.status, o.state))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Waits until the IN_PROGRESS and COMPLETED outcomes of source `visits` are both
/// delivered; fails with the queue and the server's log if not in `timeout`.
fn assert_both_delivered(backend: &Backend, server: &ServerProcess, timeout: Duration) {
    let delivered = eventually(timeout, || {
        states(backend, "visits")
            == pairs(&[("IN_PROGRESS", "delivered"), ("COMPLETED", "delivered")])
    });
    assert!(
        delivered,
        "{:?}\n{}",
        outcomes(backend, "visits"),
        server.log()
    );
}

/// The row REDCap receives when the visit's `mri_status` is set to `value`.
fn imported(value: &str) -> serde_json::Map<String, Value> {
    [
        ("record_id", "1"),
        ("redcap_repeat_instrument", "mri"),
        ("redcap_repeat_instance", "1"),
        ("mri_status", value),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
    .collect()
}

/// N-CREATE (IN PROGRESS) of the visit's step as `uid`.
fn create(scu: &mut Client, uid: &str, study: &(String, String)) {
    let created = scu.n_create(Some(uid), &create_data(study));
    assert_eq!(created.expect("N-CREATE").status, 0);
}

/// N-SET COMPLETED of `uid`.
fn complete(scu: &mut Client, uid: &str) {
    assert_eq!(scu.n_set(uid, &completed()).expect("N-SET").status, 0);
}

fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn a_completed_mpps_is_queued_once_delivered_and_marked(backend: Backend) {
    let redcap = project("CPIP-1001").serve();
    let server = start(
        &backend,
        vec![redcap_source("visits", true)],
        &[("visits", &redcap)],
    );
    let study = study_of(&backend, "visits");
    let mut scu = client(&server);
    create(&mut scu, "2.25.7001", &study);
    complete(&mut scu, "2.25.7001");

    assert_both_delivered(&backend, &server, Duration::from_secs(20));
    assert_eq!(imported_rows(&redcap), [imported("1"), imported("2")]);
    for outcome in outcomes(&backend, "visits") {
        assert_eq!(
            (outcome.attempts, outcome.finished),
            (1, true),
            "{outcome:?}"
        );
        assert_eq!(outcome.last_error, None);
    }
}

fn a_failed_delivery_is_recorded_and_retried_after_the_backoff(backend: Backend) {
    let redcap = project("CPIP-1001").imports_fail(1).serve();
    let server = start(
        &backend,
        vec![redcap_source("visits", true)],
        &[("visits", &redcap)],
    );
    let study = study_of(&backend, "visits");
    let mut scu = client(&server);
    create(&mut scu, "2.25.7006", &study);
    let failed = eventually(Duration::from_secs(20), || {
        outcomes(&backend, "visits")
            .first()
            .is_some_and(|o| o.attempts == 1)
    });
    let now = unix_now();
    let queue = outcomes(&backend, "visits");
    assert!(failed, "{queue:?}\n{}", server.log());
    let first = &queue[0];
    assert_eq!(first.state, "pending");
    assert!(
        first
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 500") && e.contains("down for maintenance")),
        "{first:?}"
    );
    let due_in = first.due_at - now;
    assert!(
        (5..=10).contains(&due_in),
        "retried 10 s after the failure: due in {due_in} s"
    );
    assert!(server
        .log()
        .contains("MPPS outcome IN_PROGRESS of record 1:1 not written back (attempt 1 of 8)"));

    // Queued behind the outcome waiting for its retry: it never overtakes it.
    complete(&mut scu, "2.25.7006");
    assert_eq!(
        states(&backend, "visits"),
        pairs(&[("IN_PROGRESS", "pending"), ("COMPLETED", "pending")])
    );
    assert_both_delivered(&backend, &server, Duration::from_secs(30));
    let queue = outcomes(&backend, "visits");
    assert!(unix_now() >= first.due_at, "not retried before it was due");
    assert_eq!(queue.iter().map(|o| o.attempts).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(
        queue[0].last_error, first.last_error,
        "the failure stays recorded"
    );
    assert_eq!(
        imported_rows(&redcap),
        [imported("1"), imported("1"), imported("2")]
    );
}

fn pending_outcomes_are_delivered_after_a_restart(backend: Backend) {
    let source = redcap_source("visits", true);
    let down = project("CPIP-1001").imports_fail(usize::MAX).serve();
    let mut server = start(&backend, vec![source.clone()], &[("visits", &down)]);
    let study = study_of(&backend, "visits");
    let mut scu = client(&server);
    create(&mut scu, "2.25.7007", &study);
    complete(&mut scu, "2.25.7007");
    drop(scu);
    let attempted = eventually(Duration::from_secs(20), || {
        outcomes(&backend, "visits")
            .first()
            .is_some_and(|o| o.attempts == 1)
    });
    assert!(attempted, "{}", server.log());
    assert!(
        server.terminate(Duration::from_secs(10)).is_some(),
        "pylantir start stops on SIGTERM"
    );
    assert_eq!(
        states(&backend, "visits"),
        pairs(&[("IN_PROGRESS", "pending"), ("COMPLETED", "pending")])
    );

    let up = project("CPIP-1001").serve();
    let server = start(&backend, vec![source], &[("visits", &up)]);
    assert_both_delivered(&backend, &server, Duration::from_secs(30));
    assert_eq!(imported_rows(&up), [imported("1"), imported("2")]);
}

/// A site with two write-back sources (the HTTP API too with `api`):
/// `ok`, whose outcomes IN_PROGRESS and COMPLETED were delivered, and
/// `down`, whose REDCap fails every import: its first outcome failed once
/// and both wait. Returns the server and the two fake REDCaps.
fn ok_and_down(backend: &Backend, api: bool) -> (ServerProcess, [FakeServer; 2]) {
    let ok = project("CPIP-1001").serve();
    let down = project("CPIP-2002").imports_fail(usize::MAX).serve();
    let extra = if api {
        json!({"api": {"enabled": true, "host": "127.0.0.1", "port": 0}})
    } else {
        json!({})
    };
    let sources = vec![redcap_source("ok", true), redcap_source("down", true)];
    let config = configure(backend, extra, sources);
    if api {
        let config = config.to_str().expect("a UTF-8 path");
        let (code, _, err) = run_cli(
            &["admin-password", "--pylantir_config", config],
            &format!("{START_ADMIN_PASSWORD}\n"),
        );
        assert_eq!(code, 0, "admin-password: {err}");
    }
    let server = serve(&config, &[("ok", &ok), ("down", &down)]);
    let mut scu = client(&server);
    for (uid, source) in [("2.25.7010", "ok"), ("2.25.7011", "down")] {
        create(&mut scu, uid, &study_of(backend, source));
        complete(&mut scu, uid);
    }
    let settled = eventually(Duration::from_secs(20), || {
        states(backend, "ok") == pairs(&[("IN_PROGRESS", "delivered"), ("COMPLETED", "delivered")])
            && outcomes(backend, "down")
                .first()
                .is_some_and(|o| o.attempts == 1)
    });
    assert!(settled, "{}", server.log());
    (server, [ok, down])
}

fn query_db_write_back_shows_each_sources_queue(backend: Backend) {
    let (_server, _redcaps) = ok_and_down(&backend, false);
    let config = backend.dir.path().join("pylantir.json");
    let config = config.to_str().expect("a UTF-8 path");

    let (code, text, err) = run_cli(
        &["query-db", "--write-back", "--pylantir_config", config],
        "",
    );
    assert_eq!(code, 0, "{err}");
    for expected in [
        "source `down`: 2 pending, 0 delivered, 0 failed, 0 unsupported\n",
        "  pending IN_PROGRESS of record 1:1 (MPPS 2.25.7011), queued ",
        ": 1 attempt(s), next attempt 20",
        "    last error: REDCap at ",
        "(HTTP 500) on the record import: REDCap is down for maintenance\n",
        "  pending COMPLETED of record 1:1 (MPPS 2.25.7011), queued ",
        ": 0 attempt(s), next attempt 20",
        "source `ok`: 0 pending, 2 delivered (last at 20",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    assert!(
        !text.contains("MPPS 2.25.7010"),
        "delivered outcomes are counted, not listed:\n{text}"
    );

    let (code, text, err) = run_cli(
        &[
            "query-db",
            "--write-back",
            "--json",
            "--source",
            "down",
            "--pylantir_config",
            config,
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let answer: Value = serde_json::from_str(&text).expect("JSON");
    let sources = answer.as_array().expect("a list of sources");
    assert_eq!(sources.len(), 1, "{answer}");
    let down = &sources[0];
    assert_eq!(
        (&down["source"], &down["pending"], &down["delivered"]),
        (&json!("down"), &json!(2), &json!(0)),
        "{down}"
    );
    let listed = down["outcomes"].as_array().expect("outcomes");
    let first = &listed[0];
    assert_eq!(
        (&first["state"], &first["status"], &first["attempts"]),
        (&json!("pending"), &json!("IN_PROGRESS"), &json!(1)),
        "{first}"
    );
    assert_eq!(first["mpps_sop_instance_uid"], "2.25.7011");
    assert!(first["next_attempt_at"].is_string(), "{first}");
    assert!(
        first["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP 500")),
        "{first}"
    );
    assert_eq!(down["last_error"], first["last_error"]);
    assert_eq!(down["next_attempt_at"], first["next_attempt_at"]);
    assert_eq!(listed.len(), 2, "{down}");
    assert_eq!(listed[1]["last_error"], Value::Null, "{down}");
}

pylantir_tests::both_stores!(
    a_completed_mpps_is_queued_once_delivered_and_marked,
    a_failed_delivery_is_recorded_and_retried_after_the_backoff,
    pending_outcomes_are_delivered_after_a_restart,
    query_db_write_back_shows_each_sources_queue,
);

#[test]
fn get_sources_shows_each_sources_write_back_queue() {
    let backend = Backend::sqlite();
    let (server, _redcaps) = ok_and_down(&backend, true);
    let api = ApiClient::new(&server.api_url());
    let token = api.login("admin", START_ADMIN_PASSWORD);
    let (status, answer) = api.get("/sources", Some(&token));
    assert_eq!(status, 200, "{answer}");
    let queue = |name: &str| {
        answer
            .as_array()
            .and_then(|sources| sources.iter().find(|s| s["name"] == name))
            .map(|source| source["write_back"].clone())
            .unwrap_or_else(|| panic!("source {name} in {answer}"))
    };
    let down = queue("down");
    assert_eq!(
        (&down["pending"], &down["delivered"], &down["failed"]),
        (&json!(2), &json!(0), &json!(0)),
        "{down}"
    );
    assert!(down["next_attempt_at"].is_string(), "{down}");
    assert!(
        down["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP 500")),
        "{down}"
    );
    let ok = queue("ok");
    assert_eq!(
        (&ok["pending"], &ok["delivered"], &ok["last_error"]),
        (&json!(0), &json!(2), &Value::Null),
        "{ok}"
    );
    assert!(ok["last_delivered_at"].is_string(), "{ok}");
}

#[test]
fn a_hanging_redcap_does_not_delay_the_mpps_answer_and_its_failure_is_recorded() {
    let redcap = project("CPIP-1001")
        .imports_hang(Duration::from_secs(60))
        .serve();
    let backend = Backend::sqlite();
    // Each import waits this long for REDCap: a write-back made inside the
    // MPPS exchange would hold each answer at least as long.
    let mut source = redcap_source("visits", true);
    source["config"]["read_timeout_seconds"] = json!(10);
    let prompt = Duration::from_secs(5);
    let server = start(&backend, vec![source], &[("visits", &redcap)]);
    let study = study_of(&backend, "visits");
    let mut scu = client(&server);
    let asked = Instant::now();
    let created = scu
        .n_create(Some("2.25.7002"), &create_data(&study))
        .expect("N-CREATE");
    assert_eq!(created.status, 0);
    assert!(
        asked.elapsed() < prompt,
        "N-CREATE took {:?}",
        asked.elapsed()
    );
    // The IN_PROGRESS outcome's import is now hanging at the server.
    assert!(
        eventually(Duration::from_secs(20), || !imported_rows(&redcap)
            .is_empty()),
        "an import was attempted:\n{}",
        server.log()
    );

    let asked = Instant::now();
    let set = scu
        .n_set("2.25.7002", &completed())
        .expect("N-SET answered");
    assert_eq!(set.status, 0);
    assert!(asked.elapsed() < prompt, "N-SET took {:?}", asked.elapsed());
    let queued = outcomes(&backend, "visits");
    assert!(
        queued
            .iter()
            .all(|o| o.state == "pending" && o.attempts == 0),
        "nothing delivered or failed yet when the answer came: {queued:?}"
    );

    let recorded = eventually(Duration::from_secs(30), || {
        outcomes(&backend, "visits").first().is_some_and(|o| {
            o.attempts >= 1
                && o.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("did not answer"))
        })
    });
    assert!(
        recorded,
        "the failure is recorded: {:?}",
        outcomes(&backend, "visits")
    );
    assert!(server
        .log()
        .contains("MPPS outcome IN_PROGRESS of record 1:1 not written back (attempt 1 of 8)"));
}

#[test]
fn a_source_without_mpps_write_back_gets_no_call() {
    let with = project("CPIP-1001").serve();
    let without = project("CPIP-2002").serve();
    let backend = Backend::sqlite();
    let server = start(
        &backend,
        vec![redcap_source("with", true), redcap_source("without", false)],
        &[("with", &with), ("without", &without)],
    );
    let mut scu = client(&server);
    for (uid, source) in [("2.25.7003", "without"), ("2.25.7004", "with")] {
        let study = study_of(&backend, source);
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
    assert!(outcomes(&backend, "without").is_empty());
    assert!(imported_rows(&without).is_empty());
}

#[test]
fn a_plugin_api_1_0_0_source_has_its_outcomes_marked_unsupported_and_is_told_once() {
    let backend = Backend::sqlite();
    let dir = backend.dir.path();
    let plugins = dir.join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    install_as(&plugins, api_100_fixture(), "api100");
    let lines = dir.join("lines.txt");
    std::fs::write(&lines, "r1,SUB01\n").expect("lines");
    let (key, location) = database(&backend);
    let config = json!({key: location, "ae_title": AE, "data_sources": [{
        "name": "old", "type": "lines100", "sync_interval": 3600, "mpps_write_back": true,
        "config": {"file_path": lines}
    }]});
    let config_path = dir.join("pylantir.json");
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
            let rows = outcomes(&backend, "old");
            rows.len() == n && rows.iter().all(|o| o.state == "unsupported")
        })
    };
    assert!(
        unsupported(1),
        "{:?}\n{}",
        outcomes(&backend, "old"),
        server.log()
    );
    assert_eq!(
        scu.n_set("2.25.7005", &completed()).expect("N-SET").status,
        0
    );
    assert!(
        unsupported(2),
        "{:?}\n{}",
        outcomes(&backend, "old"),
        server.log()
    );
    let told = server
        .log()
        .matches("the plugin does not support MPPS write-back")
        .count();
    assert_eq!(told, 1, "{}", server.log());
    assert!(outcomes(&backend, "old").iter().all(|o| o.attempts == 0));
}
