//! What only the PostgreSQL store has: `migrate-db` from a SQLite worklist,
//! `check-config` reaching the database, and a node that loses its
//! database (C-FIND fails, C-ECHO succeeds, it reconnects by itself).

use dicom_core::VR;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use pylantir::store::{query, schema, Db, Location, Store};
use pylantir_tests::dicom::{seq, text, Site};
use pylantir_tests::postgres::PgDatabase;
use pylantir_tests::stores::Backend;
use std::process::Command;
use std::time::{Duration, Instant};

fn pylantir(args: &[&str]) -> std::process::Output {
    Command::new(&pylantir_tests::artifacts().bin)
        .args(args)
        .output()
        .expect("pylantir runs")
}

fn config_with_url(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("pylantir.json");
    std::fs::write(
        &path,
        serde_json::json!({"db_url": url, "data_sources": []}).to_string(),
    )
    .expect("config written");
    path
}

/// A worklist as Python pylantir 0.4 writes it: its table, its date and
/// time formats, a number where text is expected, no schema version.
fn python_worklist(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).expect("sqlite");
    conn.execute_batch(schema::WORKLIST_ITEMS_PYTHON)
        .expect("python table");
    conn.execute_batch(
        "INSERT INTO worklist_items (patient_name, patient_id, patient_weight_lb, modality,
             scheduled_start_date, scheduled_start_time, study_instance_uid, data_source,
             performed_procedure_step_status)
         VALUES ('DOE^JANE', 'P1', 150, 'MR', '2025-03-07', '14:30', '1.2.3.1', 'REDCap', 'SCHEDULED'),
                ('ROE^RICK', 'P2', '180', 'CT', '2025-03-08', '09:00', '1.2.3.2', 'REDCap', 'COMPLETED'),
                ('POE^ANN', 'P3', NULL, 'MR', '2025-03-09', '10:15', '1.2.3.3', NULL, 'SCHEDULED');",
    )
    .expect("python rows");
}

#[test]
fn migrate_db_copies_a_python_written_worklist_into_postgresql_with_the_same_items() {
    let dir = pylantir_tests::temp_dir();
    let sqlite = dir.path().join("worklist.db");
    python_worklist(&sqlite);
    let database = PgDatabase::new();
    let config = config_with_url(dir.path(), &database.url());

    let out = pylantir(&[
        "migrate-db",
        "--from",
        sqlite.to_str().expect("path"),
        "--pylantir_config",
        config.to_str().expect("path"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("3 worklist_items"), "{stdout}");
    assert!(stdout.contains("row counts verified"), "{stdout}");

    let from = Store::open(Location::Sqlite(sqlite)).expect("sqlite store");
    let to = Backend::postgres_on(database);
    let all = query::ItemFilter::default();
    let expected = query::list_items(&from.get().expect("conn"), &all).expect("sqlite items");
    let copied = query::list_items(&to.conn(), &all).expect("postgres items");
    assert_eq!(copied, expected);
    assert_eq!(copied[0]["patient_weight_lb"], "150");
    // New rows continue after the copied ids.
    let next = to
        .conn()
        .query_row(
            "INSERT INTO worklist_items (patient_id) VALUES ('P4') RETURNING id",
            &[],
        )
        .expect("insert")
        .and_then(|row| row.int(0));
    assert_eq!(next, Some(4));

    let again = pylantir(&[
        "migrate-db",
        "--from",
        dir.path().join("worklist.db").to_str().expect("path"),
        "--pylantir_config",
        config.to_str().expect("path"),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds 4 worklist items"));
}

#[test]
fn check_config_reaches_the_postgresql_database_and_reports_its_schema_version() {
    let dir = pylantir_tests::temp_dir();
    let database = PgDatabase::new();
    let config = config_with_url(dir.path(), &database.url());
    let path = config.to_str().expect("path");

    let out = pylantir(&["check-config", "--pylantir_config", path]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no pylantir schema yet"));

    drop(Backend::postgres_on(database));
    let database = PgDatabase::new();
    config_with_url(dir.path(), &database.url());
    drop(Store::open(Location::Postgres(Box::new(
        pylantir::store::postgres::Target::new(&database.url(), None).expect("url"),
    ))));
    let out = pylantir(&["check-config", "--pylantir_config", path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "schema version {} (current)",
            schema::SCHEMA_VERSION
        )),
        "{stdout}"
    );

    let unreachable = config_with_url(dir.path(), "postgres://postgres@127.0.0.1:1/none");
    let out = pylantir(&[
        "check-config",
        "--pylantir_config",
        unreachable.to_str().expect("path"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("postgres://postgres@127.0.0.1:1/none"));
}

#[test]
fn a_schema_5_database_loses_its_index_of_data_source_alone_at_the_next_start() {
    let database = PgDatabase::new();
    let target = pylantir::store::postgres::Target::new(&database.url(), None).expect("url");
    let conn = target.connect().expect("schema created");
    let index_of_data_source = |conn: &dyn Db| {
        conn.query_row(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'worklist_items_data_source'",
            &[],
        )
        .expect("indexes listed")
        .and_then(|row| row.int(0))
    };
    assert_eq!(index_of_data_source(&conn), Some(0));
    // A database that schema 5 made.
    conn.batch(
        "CREATE INDEX worklist_items_data_source ON worklist_items (data_source);
         UPDATE pylantir_schema SET version = 5",
    )
    .expect("made schema 5");
    drop(conn);
    let conn = target.connect().expect("migrated");
    assert_eq!(index_of_data_source(&conn), Some(0));
    let version = conn
        .query_row("SELECT max(version) FROM pylantir_schema", &[])
        .expect("version read")
        .and_then(|row| row.int(0));
    assert_eq!(version, Some(schema::SCHEMA_VERSION));
}

fn scanner_query() -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        text(tags::PATIENT_ID, VR::LO, ""),
        seq(
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([text(
                tags::MODALITY,
                VR::CS,
                "MR",
            )])],
        ),
    ])
}

#[test]
fn a_node_that_loses_its_database_fails_c_find_answers_c_echo_and_reconnects() {
    let site = Site::on(
        Backend::postgres_on(PgDatabase::alone()),
        serde_json::json!({}),
    );
    site.insert(&[("patient_id", "P1"), ("modality", "MR")]);
    let (status, answers) = site.find(&scanner_query());
    assert_eq!((status, answers.len()), (0, 1));

    let server = site.backend.postgres.as_ref().expect("postgres").server();
    server.stop();
    let (status, answers) = site.find(&scanner_query());
    assert!(answers.is_empty());
    assert!(
        status == 0xC000,
        "a failure status, not an empty success: {status:04X}"
    );
    let mut client = site.client("TESTSCU");
    assert_eq!(client.echo().expect("C-ECHO"), 0);
    drop(client);

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, answers) = site.find(&scanner_query());
        if status == 0 {
            assert_eq!(answers.len(), 1);
            break;
        }
        assert!(Instant::now() < deadline, "no answer after the restart");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn health_says_whether_the_worklist_database_answers() {
    let dir = pylantir_tests::temp_dir();
    let database = PgDatabase::alone();
    let config = dir.path().join("pylantir.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "db_url": database.url(),
            "users_db_path": dir.path().join("users.db"),
        })
        .to_string(),
    )
    .expect("config written");
    let api = pylantir_tests::api::ApiProcess::start(&config, &[]);
    let client = api.client();
    let (status, body) = client.get("/health", None);
    assert_eq!((status, body["database"].as_str()), (200, Some("ok")));

    database.server().stop();
    let (status, body) = client.get("/health", None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert!(
        body["database"]
            .as_str()
            .is_some_and(|d| d.starts_with("unavailable: ")),
        "{body}"
    );

    database.server().restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get("/health", None).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "still unhealthy after the restart"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_source_is_synced_by_one_node_at_a_time_and_taken_over_when_that_node_goes_away() {
    let node_a = Backend::postgres();
    let node_b = node_a.another_node();
    let lock = pylantir::sync::worker::sync_lock("clinic");
    let syncing = node_a.store.connect().expect("node A's connection");
    assert!(syncing.try_lock(&lock).expect("lock"));
    let other = node_b.conn();
    assert!(!other.try_lock(&lock).expect("lock"), "node B must skip");
    let unrelated = pylantir::sync::worker::sync_lock("bookings");
    assert!(other.try_lock(&unrelated).expect("another source's lock"));
    other.unlock(&unrelated).expect("unlock");

    // Node A dies: its session, and the lock with it, goes away.
    drop(syncing);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !other.try_lock(&lock).expect("lock") {
        assert!(Instant::now() < deadline, "node B never took over");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_node_killed_during_a_sync_is_taken_over_by_the_other_and_the_worklist_stays_exact() {
    let dir = pylantir_tests::temp_dir();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    std::fs::copy(
        pylantir_tests::library("fixture_failing"),
        plugins.join("libpylantir_failing.so"),
    )
    .expect("fixture copied");
    let database = PgDatabase::new();
    let started = dir.path().join("first-fetch-started");
    // The first fetch (on whichever node) marks its start and hangs; every
    // later one returns the five entries.
    let config = serde_json::json!({
        "db_url": database.url(),
        "data_sources": [{
            "name": "feed",
            "type": "failing",
            "isolation": "in-process",
            "sync_interval": 1,
            "fetch_timeout": 600,
            "config": {"mode": "sleep", "marker": started, "count": 5},
            "field_mapping": {"x": "patient_id"}
        }]
    })
    .to_string();
    let (config_a, config_b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    std::fs::write(&config_a, &config).expect("config a");
    std::fs::write(&config_b, &config).expect("config b");
    let store = Backend::postgres_on(database);
    let items = || query::list_items(&store.conn(), &query::ItemFilter::default()).expect("items");

    let node_a = pylantir_tests::server::ServerProcess::start(&config_a, &plugins, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !started.exists() {
        assert!(
            Instant::now() < deadline,
            "no fetch on node A:\n{}",
            node_a.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let node_b = pylantir_tests::server::ServerProcess::start(&config_b, &plugins, &[]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        items().is_empty(),
        "node B synced while node A held the source"
    );

    let killed = Command::new("kill")
        .args(["-KILL", &node_a.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while items().len() < 5 {
        assert!(
            Instant::now() < deadline,
            "node B never took over:\n{}",
            node_b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let mut records: Vec<String> = items()
        .iter()
        .map(|item| {
            item["source_record_id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    records.sort();
    assert_eq!(records, ["rec-0", "rec-1", "rec-2", "rec-3", "rec-4"]);
    drop(node_a);
}
