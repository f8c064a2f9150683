//! Writing fetches into a real worklist database: the upsert rules.

use pylantir::store::{query, Db};
use pylantir::sync::apply_entries;
use pylantir_plugin_api::Entry;
use pylantir_tests::stores::Backend;
use serde_json::{json, Map, Value};

fn entries(list: Value) -> Vec<Entry> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|e| e.as_object().cloned().expect("an object"))
        .collect()
}

fn items(conn: &dyn Db) -> Vec<Map<String, Value>> {
    query::list_items(conn, &query::ItemFilter::default()).expect("items")
}

fn a_new_entry_is_inserted_scheduled_with_a_2_25_uid_and_its_source(backend: Backend) {
    let conn = backend.conn();
    let counts = apply_entries(
        &conn,
        "csv",
        "clinic",
        &entries(json!([{"patient_id": "P1", "patient_name": "DOE^JANE",
            "scheduled_start_date": "20250307", "scheduled_start_time": "1430"}])),
    )
    .expect("written");
    assert_eq!((counts.fetched, counts.inserted), (1, 1));
    let item = &items(&conn)[0];
    assert_eq!(item["performed_procedure_step_status"], "SCHEDULED");
    assert_eq!(item["data_source"], "clinic");
    assert_eq!(item["scheduled_start_date"], "2025-03-07");
    assert_eq!(item["scheduled_start_time"], "14:30");
    let uid = item["study_instance_uid"].as_str().expect("uid");
    assert!(uid.starts_with("2.25.") && uid.len() <= 64, "{uid}");
}

fn a_uid_given_by_the_source_is_kept(backend: Backend) {
    let conn = backend.conn();
    let batch = entries(json!([{"patient_id": "P1", "study_instance_uid": "1.2.3.4"}]));
    apply_entries(&conn, "csv", "a", &batch).expect("written");
    assert_eq!(items(&conn)[0]["study_instance_uid"], "1.2.3.4");
}

fn an_unchanged_resync_rewrites_nothing(backend: Backend) {
    let conn = backend.conn();
    let batch = entries(json!([
        {"patient_id": "P1", "patient_name": "A", "modality": "MR"},
        {"source_record_id": "b-2", "patient_id": "P2", "patient_name": "B"},
    ]));
    apply_entries(&conn, "csv", "a", &batch).expect("first");
    let before = backend.write_marker();
    let counts = apply_entries(&conn, "csv", "a", &batch).expect("second");
    assert_eq!(
        (counts.unchanged, counts.updated, counts.inserted),
        (2, 0, 0)
    );
    assert_eq!(backend.write_marker(), before);
}

fn a_resync_never_changes_an_mpps_status_or_the_uid(backend: Backend) {
    let conn = backend.conn();
    let first =
        entries(json!([{"patient_id": "P1", "patient_name": "A", "study_description": "old"}]));
    apply_entries(&conn, "csv", "a", &first).expect("first");
    conn.execute(
        "UPDATE worklist_items SET performed_procedure_step_status = 'IN_PROGRESS'",
        &[],
    )
    .expect("mpps");
    let uid = items(&conn)[0]["study_instance_uid"].clone();

    let second = entries(
        json!([{"patient_id": "P1", "patient_name": "A", "study_description": "new",
        "performed_procedure_step_status": "SCHEDULED"}]),
    );
    let counts = apply_entries(&conn, "csv", "a", &second).expect("second");
    assert_eq!(counts.updated, 1);
    let item = &items(&conn)[0];
    assert_eq!(item["performed_procedure_step_status"], "IN_PROGRESS");
    assert_eq!(item["study_instance_uid"], uid);
    assert_eq!(item["study_description"], "new");
}

fn a_field_the_source_no_longer_sends_is_not_erased(backend: Backend) {
    let conn = backend.conn();
    let first = entries(json!([{"patient_id": "P1", "patient_name": "A", "station_name": "MR1"}]));
    apply_entries(&conn, "csv", "a", &first).expect("first");
    let second = entries(json!([{"patient_id": "P1", "patient_name": "A", "station_name": ""}]));
    let counts = apply_entries(&conn, "csv", "a", &second).expect("second");
    assert_eq!(counts.unchanged, 1);
    assert_eq!(items(&conn)[0]["station_name"], "MR1");
}

fn the_same_patient_from_a_second_source_is_a_conflict_not_an_overwrite(backend: Backend) {
    let conn = backend.conn();
    let patient = entries(json!([{"patient_id": "P1", "patient_name": "A", "modality": "MR"}]));
    apply_entries(&conn, "csv", "first", &patient).expect("first");
    let other = entries(json!([{"patient_id": "P1", "patient_name": "A", "modality": "CT"}]));
    let counts = apply_entries(&conn, "json", "second", &other).expect("second");
    assert_eq!(
        (counts.conflicts, counts.inserted, counts.updated),
        (1, 0, 0)
    );
    let all = items(&conn);
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0]["data_source"].as_str(), all[0]["modality"].as_str()),
        (Some("first"), Some("MR"))
    );
}

fn the_record_id_is_the_identity_when_given(backend: Backend) {
    let conn = backend.conn();
    let first =
        entries(json!([{"source_record_id": "42", "patient_id": "P1", "patient_name": "A"}]));
    apply_entries(&conn, "calpendo", "cal", &first).expect("first");
    let renamed =
        entries(json!([{"source_record_id": "42", "patient_id": "P9", "patient_name": "Z"}]));
    let counts = apply_entries(&conn, "calpendo", "cal", &renamed).expect("second");
    assert_eq!(counts.updated, 1);
    let all = items(&conn);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["patient_id"], "P9");
}

fn a_python_era_row_without_record_id_is_adopted_not_duplicated(backend: Backend) {
    let conn = backend.conn();
    conn.batch(
        "INSERT INTO worklist_items (patient_id, patient_name, study_instance_uid, data_source)
         VALUES ('P1', 'A', '1.2.840.10008.9', NULL)",
    )
    .expect("python row");
    let batch =
        entries(json!([{"source_record_id": "r1-1", "patient_id": "P1", "patient_name": "A"}]));
    let counts = apply_entries(&conn, "redcap", "main_redcap", &batch).expect("adopted");
    assert_eq!((counts.updated, counts.inserted), (1, 0));
    let all = items(&conn);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["source_record_id"], "r1-1");
    assert_eq!(all[0]["data_source"], "main_redcap");
    assert_eq!(all[0]["study_instance_uid"], "1.2.840.10008.9");
}

fn one_bad_entry_is_rejected_and_the_rest_written(backend: Backend) {
    let conn = backend.conn();
    let batch = entries(json!([
        {"patient_id": "P1", "scheduled_start_date": "07/03/2025"},
        {"patient_id": "P2", "study_instance_uid": "1".repeat(65)},
        {"patient_id": "P3"},
    ]));
    let counts = apply_entries(&conn, "csv", "a", &batch).expect("written");
    assert_eq!((counts.rejected, counts.inserted), (2, 1));
    assert_eq!(items(&conn)[0]["patient_id"], "P3");
}

fn a_write_failing_mid_transaction_leaves_the_store_unchanged(backend: Backend) {
    let conn = backend.conn();
    let first = entries(json!([{"patient_id": "P1", "study_description": "kept"}]));
    apply_entries(&conn, "csv", "a", &first).expect("first");
    let trigger = if backend.is_postgres() {
        "CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'constraint failed for BAD'; END $$;
         CREATE TRIGGER refuse_bad BEFORE INSERT ON worklist_items
         FOR EACH ROW WHEN (NEW.patient_id = 'BAD') EXECUTE FUNCTION refuse_bad();"
    } else {
        "CREATE TRIGGER refuse_bad BEFORE INSERT ON worklist_items WHEN NEW.patient_id = 'BAD'
         BEGIN SELECT RAISE(ABORT, 'constraint failed for BAD'); END;"
    };
    conn.batch(trigger).expect("trigger");
    let batch = entries(json!([
        {"patient_id": "P1", "study_description": "changed"},
        {"patient_id": "P2"},
        {"patient_id": "BAD"},
        {"patient_id": "P4"},
    ]));
    let error = apply_entries(&conn, "csv", "a", &batch).expect_err("failed");
    assert!(error.to_string().contains("constraint failed for BAD"));
    let all = items(&conn);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["study_description"], "kept");
}

fn the_same_patient_with_record_ids_from_a_second_source_is_a_conflict(backend: Backend) {
    let conn = backend.conn();
    let patient =
        entries(json!([{"source_record_id": "x1", "patient_id": "P1", "patient_name": "A"}]));
    apply_entries(&conn, "csv", "first", &patient).expect("first");
    let other =
        entries(json!([{"source_record_id": "y7", "patient_id": "P1", "patient_name": "A"}]));
    let counts = apply_entries(&conn, "json", "second", &other).expect("second");
    assert_eq!((counts.conflicts, counts.inserted), (1, 0));
    assert_eq!(items(&conn).len(), 1);
}

fn two_records_of_one_source_for_the_same_patient_are_two_items(backend: Backend) {
    let conn = backend.conn();
    let bookings = entries(json!([
        {"source_record_id": "b1", "patient_id": "P1", "patient_name": "A", "scheduled_start_date": "2025-03-07"},
        {"source_record_id": "b2", "patient_id": "P1", "patient_name": "A", "scheduled_start_date": "2025-03-14"},
    ]));
    let counts = apply_entries(&conn, "calpendo", "cal", &bookings).expect("written");
    assert_eq!(counts.inserted, 2);
}

fn a_row_python_wrote_under_the_plugins_name_is_claimed_by_a_source_of_that_type(backend: Backend) {
    let conn = backend.conn();
    // Python pylantir's plugins recorded their display name, not the configured one.
    conn.batch(
        "INSERT INTO worklist_items (patient_id, patient_name, study_instance_uid, data_source)
         VALUES ('sub_1_ses_1', 'cpip-id-1^fa-2', '1.2.840.10008.7', 'REDCap');
         INSERT INTO worklist_items (patient_id, patient_name, study_instance_uid, data_source, source_record_id)
         VALUES ('P42', 'DOE^A', '1.2.840.10008.8', 'Calpendo', '42');",
    )
    .expect("python rows");
    let redcap = entries(
        json!([{"source_record_id": "1-1", "patient_id": "sub_1_ses_1", "patient_name": "cpip-id-1^fa-2"}]),
    );
    let counts = apply_entries(&conn, "redcap", "main_redcap", &redcap).expect("redcap");
    assert_eq!(
        (counts.updated, counts.inserted, counts.conflicts),
        (1, 0, 0)
    );
    let booking = entries(
        json!([{"source_record_id": "42", "patient_id": "P42", "patient_name": "DOE^A", "modality": "MR"}]),
    );
    let counts = apply_entries(&conn, "calpendo", "bookings", &booking).expect("calpendo");
    assert_eq!(
        (counts.updated, counts.inserted, counts.conflicts),
        (1, 0, 0)
    );

    let owners: Vec<(String, String)> = items(&conn)
        .iter()
        .map(|i| {
            (
                i["data_source"].as_str().unwrap_or_default().to_string(),
                i["study_instance_uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        owners,
        [
            ("main_redcap".to_string(), "1.2.840.10008.7".to_string()),
            ("bookings".to_string(), "1.2.840.10008.8".to_string())
        ]
    );
}

fn a_row_of_another_types_python_plugin_is_a_conflict(backend: Backend) {
    let conn = backend.conn();
    conn.batch(
        "INSERT INTO worklist_items (patient_id, patient_name, data_source) VALUES ('P1', 'A', 'REDCap')",
    )
    .expect("python row");
    let batch = entries(json!([{"patient_id": "P1", "patient_name": "A"}]));
    let counts = apply_entries(&conn, "csv", "clinic", &batch).expect("written");
    assert_eq!(counts.conflicts, 1);
    assert_eq!(items(&conn)[0]["data_source"], "REDCap");
}

fn a_source_named_after_its_type_keeps_its_rows_from_another_source_of_that_type(backend: Backend) {
    let conn = backend.conn();
    // The sync engine journals every run before writing it.
    pylantir::store::runs::start(&conn, "redcap").expect("run of source `redcap`");
    let first =
        entries(json!([{"source_record_id": "1:1", "patient_id": "P1", "patient_name": "A"}]));
    apply_entries(&conn, "redcap", "redcap", &first).expect("first project");
    pylantir::store::runs::start(&conn, "redcap_b").expect("run of source `redcap_b`");
    let second =
        entries(json!([{"source_record_id": "1:1", "patient_id": "Q7", "patient_name": "B"}]));
    let counts = apply_entries(&conn, "redcap", "redcap_b", &second).expect("second project");
    assert_eq!((counts.inserted, counts.updated), (1, 0));
    let all = items(&conn);
    assert_eq!(all.len(), 2);
    let owners: Vec<(&str, &str)> = all
        .iter()
        .map(|row| {
            (
                row["data_source"].as_str().unwrap_or_default(),
                row["patient_id"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(owners.contains(&("redcap", "P1")), "{owners:?}");
    assert!(owners.contains(&("redcap_b", "Q7")), "{owners:?}");
}

fn a_row_holding_a_number_where_text_is_expected_is_still_updated(backend: Backend) {
    let conn = backend.conn();
    conn.batch(
        "INSERT INTO worklist_items (patient_id, patient_name, patient_weight_lb)
         VALUES ('P1', 'A', 150)",
    )
    .expect("row with a numeric weight");
    let batch = entries(json!([{"patient_id": "P1", "patient_name": "A", "modality": "CT"}]));
    let counts = apply_entries(&conn, "csv", "a", &batch).expect("written despite the number");
    assert_eq!((counts.updated, counts.inserted), (1, 0));
    assert_eq!(items(&conn)[0]["patient_weight_lb"], "150");
}

/// The number of status history entries and of items they concern.
fn history_counts(conn: &dyn Db) -> (i64, i64) {
    let row = conn
        .query_row(
            "SELECT count(*), count(DISTINCT worklist_item_id) FROM worklist_status_history",
            &[],
        )
        .expect("history counted")
        .expect("a row");
    (row.int(0).unwrap_or(-1), row.int(1).unwrap_or(-1))
}

fn a_fetch_naming_a_record_or_patient_twice_is_written_as_one_entry_after_another(
    backend: Backend,
) {
    let conn = backend.conn();
    // More entries than one lookup takes, so the repeats come after the
    // first read and within later ones.
    let mut list: Vec<Value> = (0..300)
        .map(|i| json!({"source_record_id": format!("x{i}"), "patient_id": format!("X{i}")}))
        .collect();
    list.extend([
        json!({"source_record_id": "r1", "patient_id": "P1", "patient_name": "A",
            "scheduled_start_date": "2025-03-07"}),
        // The same record: an update of the row just inserted.
        json!({"source_record_id": "r1", "patient_id": "P1", "patient_name": "A",
            "scheduled_start_date": "2025-03-14"}),
        json!({"patient_id": "P2", "patient_name": "B"}),
        // The same patient without a record id: that row, unchanged.
        json!({"patient_id": "P2", "patient_name": "B"}),
        // A record id for it: the row without one is adopted.
        json!({"source_record_id": "r3", "patient_id": "P2", "patient_name": "B"}),
    ]);
    let batch = entries(Value::Array(list));
    let counts = apply_entries(&conn, "csv", "a", &batch).expect("written");
    assert_eq!(
        (counts.inserted, counts.updated, counts.unchanged),
        (302, 2, 1)
    );
    let all = items(&conn);
    assert_eq!(all.len(), 302);
    let p1: Vec<_> = all.iter().filter(|i| i["patient_id"] == "P1").collect();
    assert_eq!(p1.len(), 1);
    assert_eq!(p1[0]["scheduled_start_date"], "2025-03-14");
    let p2: Vec<_> = all.iter().filter(|i| i["patient_id"] == "P2").collect();
    assert_eq!(p2.len(), 1);
    assert_eq!(p2[0]["source_record_id"], "r3");
    assert_eq!(history_counts(&conn), (302, 302));
    // Again: r1 goes to the 7th and back to the 14th; the rest is unchanged.
    let again = apply_entries(&conn, "csv", "a", &batch).expect("again");
    assert_eq!(
        (again.inserted, again.updated, again.unchanged),
        (0, 2, 303)
    );
}

fn many_records_of_few_patients_are_each_an_item_with_its_history(backend: Backend) {
    let conn = backend.conn();
    let list: Vec<Value> = (0..600)
        .map(|i| {
            json!({"source_record_id": format!("r{i}"), "patient_id": format!("P{}", i % 7),
                "patient_name": "A", "accession_number": format!("A{i}")})
        })
        .collect();
    let batch = entries(Value::Array(list));
    let counts = apply_entries(&conn, "calpendo", "cal", &batch).expect("written");
    assert_eq!(counts.inserted, 600);
    for item in items(&conn) {
        let record = item["source_record_id"].as_str().expect("a record id");
        let n: usize = record[1..].parse().expect("a number");
        assert_eq!(item["patient_id"], format!("P{}", n % 7).as_str());
        assert_eq!(item["accession_number"], format!("A{n}").as_str());
    }
    assert_eq!(history_counts(&conn), (600, 600));
    let again = apply_entries(&conn, "calpendo", "cal", &batch).expect("again");
    assert_eq!(
        (again.unchanged, again.inserted, again.updated),
        (600, 0, 0)
    );
}

pylantir_tests::both_stores!(
    a_fetch_naming_a_record_or_patient_twice_is_written_as_one_entry_after_another,
    many_records_of_few_patients_are_each_an_item_with_its_history,
    a_new_entry_is_inserted_scheduled_with_a_2_25_uid_and_its_source,
    a_uid_given_by_the_source_is_kept,
    an_unchanged_resync_rewrites_nothing,
    a_resync_never_changes_an_mpps_status_or_the_uid,
    a_field_the_source_no_longer_sends_is_not_erased,
    the_same_patient_from_a_second_source_is_a_conflict_not_an_overwrite,
    the_record_id_is_the_identity_when_given,
    a_python_era_row_without_record_id_is_adopted_not_duplicated,
    one_bad_entry_is_rejected_and_the_rest_written,
    a_write_failing_mid_transaction_leaves_the_store_unchanged,
    the_same_patient_with_record_ids_from_a_second_source_is_a_conflict,
    two_records_of_one_source_for_the_same_patient_are_two_items,
    a_row_python_wrote_under_the_plugins_name_is_claimed_by_a_source_of_that_type,
    a_row_of_another_types_python_plugin_is_a_conflict,
    a_source_named_after_its_type_keeps_its_rows_from_another_source_of_that_type,
    a_row_holding_a_number_where_text_is_expected_is_still_updated,
);
