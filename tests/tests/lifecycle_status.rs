//! Status from the source: an entry may say SCHEDULED or DISCONTINUED; the
//! host honours it while the item is SCHEDULED or was discontinued by its
//! source, never over a status MPPS set. Real SQLite files; the Calpendo case
//! runs the built plugin against a fake Calpendo server on 127.0.0.1.

use pylantir::source::SourceFactory;
use pylantir::store::{mpps, Db};
use pylantir::sync::{apply_entries, apply_fetch};
use pylantir_plugin_api::Entry;
use pylantir_tests::calpendo::FakeCalpendo;
use pylantir_tests::in_child::run_in_child;
use pylantir_tests::plugin_files::load_in_process;
use pylantir_tests::stores::Backend;
use serde_json::{json, Value};

fn entries(list: Value) -> Vec<Entry> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|e| e.as_object().cloned().expect("an object"))
        .collect()
}

fn status_of(conn: &dyn Db, record_id: &str) -> Option<(String, Option<String>)> {
    conn.query_row(
        "SELECT performed_procedure_step_status, status_set_by FROM worklist_items \
         WHERE source_record_id = ?1",
        &[record_id.into()],
    )
    .expect("query")
    .map(|row| (row.text(0).unwrap_or_default(), row.text(1)))
}

fn booking(status: Option<&str>) -> Vec<Entry> {
    let mut entry =
        json!({"source_record_id": "B1", "patient_id": "P1", "patient_name": "DOE^JANE"});
    if let Some(status) = status {
        entry["performed_procedure_step_status"] = json!(status);
    }
    entries(json!([entry]))
}

fn a_booking_the_source_discontinues_becomes_discontinued_and_can_be_scheduled_again(
    backend: Backend,
) {
    let conn = backend.conn();
    apply_entries(&conn, "csv", "clinic", &booking(None)).expect("first sync");
    assert_eq!(status_of(&conn, "B1"), Some(("SCHEDULED".into(), None)));

    let counts =
        apply_entries(&conn, "csv", "clinic", &booking(Some("DISCONTINUED"))).expect("cancelled");
    assert_eq!(counts.updated, 1);
    assert_eq!(
        status_of(&conn, "B1"),
        Some(("DISCONTINUED".into(), Some("source".into())))
    );

    apply_entries(&conn, "csv", "clinic", &booking(Some("SCHEDULED"))).expect("rebooked");
    assert_eq!(
        status_of(&conn, "B1"),
        Some(("SCHEDULED".into(), Some("source".into())))
    );
}

fn a_status_set_by_mpps_is_never_changed_by_a_source_status(backend: Backend) {
    let conn = backend.conn();
    apply_entries(&conn, "csv", "clinic", &booking(None)).expect("first sync");
    let links = [mpps::LinkKeys {
        patient_id: Some("P1".into()),
        patient_name: Some("DOE^JANE".into()),
        ..mpps::LinkKeys::default()
    }];
    let none = &pylantir::store::outcomes::WriteBack::NONE;
    mpps::create(&conn, "2.25.1", "IN PROGRESS", "SCANNER", b"", &links, none).expect("N-CREATE");
    assert_eq!(
        status_of(&conn, "B1"),
        Some(("IN_PROGRESS".into(), Some("mpps".into())))
    );
    for status in ["DISCONTINUED", "SCHEDULED"] {
        apply_entries(&conn, "csv", "clinic", &booking(Some(status))).expect("sync");
        assert_eq!(
            status_of(&conn, "B1").map(|s| s.0).as_deref(),
            Some("IN_PROGRESS")
        );
    }
}

fn a_booking_discontinued_at_its_first_sight_is_not_stored(backend: Backend) {
    let conn = backend.conn();
    let counts =
        apply_entries(&conn, "csv", "clinic", &booking(Some("DISCONTINUED"))).expect("sync");
    assert_eq!((counts.inserted, counts.rejected), (0, 0));
    assert_eq!(status_of(&conn, "B1"), None);
}

fn a_status_other_than_scheduled_or_discontinued_rejects_that_entry_alone(backend: Backend) {
    let conn = backend.conn();
    let batch = entries(json!([
        {"source_record_id": "B1", "patient_id": "P1", "performed_procedure_step_status": "COMPLETED"},
        {"source_record_id": "B2", "patient_id": "P2"}
    ]));
    let counts = apply_entries(&conn, "csv", "clinic", &batch).expect("sync");
    assert_eq!((counts.inserted, counts.rejected), (1, 1));
    assert_eq!(status_of(&conn, "B1"), None);
}

fn a_calpendo_booking_cancelled_after_its_sync_becomes_discontinued(backend: Backend) {
    const USER: &str = "mri-sync";
    const PASSWORD: &str = "Calpendo-Lifecycle-Pa55";
    let credentials = |_: &[String; 0]| {
        vec![
            ("LIFECYCLE_CALPENDO_USER".to_string(), USER.to_string()),
            (
                "LIFECYCLE_CALPENDO_PASSWORD".to_string(),
                PASSWORD.to_string(),
            ),
        ]
    };
    // The plugin reads its credentials from the environment: the rest of
    // the test runs in a child process that has them.
    if run_in_child(credentials).is_none() {
        return;
    }
    let registry = load_in_process(&["pylantir_calpendo"]);
    let now = jiff::ZonedDateTime::now()
        .in_tz("America/Edmonton")
        .unwrap();
    let day = |z: &jiff::ZonedDateTime| z.strftime("%Y-%m-%d").to_string();
    let (today, tomorrow) = (day(&now), day(&now.tomorrow().unwrap()));
    let booked = FakeCalpendo::new(USER, PASSWORD)
        .with_fixture_bookings(&today, &tomorrow)
        .serve();
    let detail = pylantir_tests::calpendo::fixture()["booking_detail_12345"]
        .to_string()
        .replace("2026-01-27", &today)
        .replace("Approved", "Cancelled");
    let cancelled = FakeCalpendo::new(USER, PASSWORD)
        .booking_from_detail("3T Diagnostic", serde_json::from_str(&detail).unwrap())
        .serve();

    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(
            pylantir_tests::workspace_root()
                .join("tests/data/pylantir-config/calpendo_config_example.json"),
        )
        .unwrap(),
    )
    .unwrap();
    // The example's "status_filter": "Approved" (which alone would hide the
    // cancelled booking from the query), then no filter.
    for filter in [
        example["data_sources"][0]["config"]["status_filter"].clone(),
        Value::Null,
    ] {
        let conn = backend.conn();
        conn.batch("DELETE FROM worklist_items").expect("emptied");
        for server in [&booked, &cancelled] {
            let mut config = example["data_sources"][0]["config"].clone();
            config["base_url"] = json!(server.url());
            config["username_env"] = json!("LIFECYCLE_CALPENDO_USER");
            config["password_env"] = json!("LIFECYCLE_CALPENDO_PASSWORD");
            config["window_mode"] = json!("today");
            config["status_filter"] = filter.clone();
            let mut source = registry.create("calpendo", "bookings").expect("source");
            source.validate_config(&config).expect("config");
            let fetched = source.fetch(&json!({}), 60.0).expect("fetch");
            apply_fetch(&conn, "calpendo", "bookings", &fetched, Default::default()).expect("sync");
        }
        assert_eq!(
            status_of(&conn, "12345"),
            Some(("DISCONTINUED".into(), Some("source".into()))),
            "status_filter {filter}"
        );
        assert_eq!(
            status_of(&conn, "12346").map(|s| s.0).as_deref(),
            Some("SCHEDULED")
        );
    }
}

pylantir_tests::both_stores!(
    a_booking_the_source_discontinues_becomes_discontinued_and_can_be_scheduled_again,
    a_status_set_by_mpps_is_never_changed_by_a_source_status,
    a_booking_discontinued_at_its_first_sight_is_not_stored,
    a_status_other_than_scheduled_or_discontinued_rejects_that_entry_alone,
    a_calpendo_booking_cancelled_after_its_sync_becomes_discontinued,
);
