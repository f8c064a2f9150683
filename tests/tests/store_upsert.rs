//! Writing fetches into a real worklist database: the upsert rules.

use pylantir::store::{self, query};
use pylantir::sync::apply_entries;
use pylantir_plugin_api::Entry;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

fn entries(list: Value) -> Vec<Entry> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|e| e.as_object().cloned().expect("an object"))
        .collect()
}

fn items(conn: &Connection) -> Vec<Map<String, Value>> {
    query::list_items(conn, &query::ItemFilter::default()).expect("items")
}

fn fresh() -> (tempfile::TempDir, Connection) {
    let dir = pylantir_tests::temp_dir();
    let conn = store::open(&dir.path().join("worklist.db")).expect("opened");
    (dir, conn)
}

#[test]
fn a_new_entry_is_inserted_scheduled_with_a_2_25_uid_and_its_source() {
    let (_dir, conn) = fresh();
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

#[test]
fn a_uid_given_by_the_source_is_kept() {
    let (_dir, conn) = fresh();
    let batch = entries(json!([{"patient_id": "P1", "study_instance_uid": "1.2.3.4"}]));
    apply_entries(&conn, "csv", "a", &batch).expect("written");
    assert_eq!(items(&conn)[0]["study_instance_uid"], "1.2.3.4");
}

#[test]
fn an_unchanged_resync_rewrites_nothing() {
    let (_dir, conn) = fresh();
    let batch = entries(json!([
        {"patient_id": "P1", "patient_name": "A", "modality": "MR"},
        {"source_record_id": "b-2", "patient_id": "P2", "patient_name": "B"},
    ]));
    apply_entries(&conn, "csv", "a", &batch).expect("first");
    let before = conn.total_changes();
    let counts = apply_entries(&conn, "csv", "a", &batch).expect("second");
    assert_eq!(
        (counts.unchanged, counts.updated, counts.inserted),
        (2, 0, 0)
    );
    assert_eq!(conn.total_changes(), before);
}

#[test]
fn a_resync_never_changes_an_mpps_status_or_the_uid() {
    let (_dir, conn) = fresh();
    let first =
        entries(json!([{"patient_id": "P1", "patient_name": "A", "study_description": "old"}]));
    apply_entries(&conn, "csv", "a", &first).expect("first");
    conn.execute(
        "UPDATE worklist_items SET performed_procedure_step_status = 'IN_PROGRESS'",
        [],
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

#[test]
fn a_field_the_source_no_longer_sends_is_not_erased() {
    let (_dir, conn) = fresh();
    let first = entries(json!([{"patient_id": "P1", "patient_name": "A", "station_name": "MR1"}]));
    apply_entries(&conn, "csv", "a", &first).expect("first");
    let second = entries(json!([{"patient_id": "P1", "patient_name": "A", "station_name": ""}]));
    let counts = apply_entries(&conn, "csv", "a", &second).expect("second");
    assert_eq!(counts.unchanged, 1);
    assert_eq!(items(&conn)[0]["station_name"], "MR1");
}

#[test]
fn the_same_patient_from_a_second_source_is_a_conflict_not_an_overwrite() {
    let (_dir, conn) = fresh();
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

#[test]
fn the_record_id_is_the_identity_when_given() {
    let (_dir, conn) = fresh();
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

#[test]
fn a_python_era_row_without_record_id_is_adopted_not_duplicated() {
    let (_dir, conn) = fresh();
    conn.execute_batch(
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

#[test]
fn one_bad_entry_is_rejected_and_the_rest_written() {
    let (_dir, conn) = fresh();
    let batch = entries(json!([
        {"patient_id": "P1", "scheduled_start_date": "07/03/2025"},
        {"patient_id": "P2", "study_instance_uid": "1".repeat(65)},
        {"patient_id": "P3"},
    ]));
    let counts = apply_entries(&conn, "csv", "a", &batch).expect("written");
    assert_eq!((counts.rejected, counts.inserted), (2, 1));
    assert_eq!(items(&conn)[0]["patient_id"], "P3");
}

#[test]
fn a_write_failing_mid_transaction_leaves_the_store_unchanged() {
    let (_dir, conn) = fresh();
    let first = entries(json!([{"patient_id": "P1", "study_description": "kept"}]));
    apply_entries(&conn, "csv", "a", &first).expect("first");
    conn.execute_batch(
        "CREATE TRIGGER refuse_bad BEFORE INSERT ON worklist_items WHEN NEW.patient_id = 'BAD'
         BEGIN SELECT RAISE(ABORT, 'constraint failed for BAD'); END;",
    )
    .expect("trigger");
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

#[test]
fn the_same_patient_with_record_ids_from_a_second_source_is_a_conflict() {
    let (_dir, conn) = fresh();
    let patient =
        entries(json!([{"source_record_id": "x1", "patient_id": "P1", "patient_name": "A"}]));
    apply_entries(&conn, "csv", "first", &patient).expect("first");
    let other =
        entries(json!([{"source_record_id": "y7", "patient_id": "P1", "patient_name": "A"}]));
    let counts = apply_entries(&conn, "json", "second", &other).expect("second");
    assert_eq!((counts.conflicts, counts.inserted), (1, 0));
    assert_eq!(items(&conn).len(), 1);
}

#[test]
fn two_records_of_one_source_for_the_same_patient_are_two_items() {
    let (_dir, conn) = fresh();
    let bookings = entries(json!([
        {"source_record_id": "b1", "patient_id": "P1", "patient_name": "A", "scheduled_start_date": "2025-03-07"},
        {"source_record_id": "b2", "patient_id": "P1", "patient_name": "A", "scheduled_start_date": "2025-03-14"},
    ]));
    let counts = apply_entries(&conn, "calpendo", "cal", &bookings).expect("written");
    assert_eq!(counts.inserted, 2);
}

#[test]
fn a_row_python_wrote_under_the_plugins_name_is_claimed_by_a_source_of_that_type() {
    let (_dir, conn) = fresh();
    // Python pylantir's plugins recorded their display name, not the configured one.
    conn.execute_batch(
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

#[test]
fn a_row_of_another_types_python_plugin_is_a_conflict() {
    let (_dir, conn) = fresh();
    conn.execute_batch(
        "INSERT INTO worklist_items (patient_id, patient_name, data_source) VALUES ('P1', 'A', 'REDCap')",
    )
    .expect("python row");
    let batch = entries(json!([{"patient_id": "P1", "patient_name": "A"}]));
    let counts = apply_entries(&conn, "csv", "clinic", &batch).expect("written");
    assert_eq!(counts.conflicts, 1);
    assert_eq!(items(&conn)[0]["data_source"], "REDCap");
}

#[test]
fn a_source_named_after_its_type_keeps_its_rows_from_another_source_of_that_type() {
    let (_dir, conn) = fresh();
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

#[test]
fn a_row_holding_a_number_where_text_is_expected_is_still_updated() {
    let (_dir, conn) = fresh();
    conn.execute_batch(
        "INSERT INTO worklist_items (patient_id, patient_name, patient_weight_lb)
         VALUES ('P1', 'A', 150)",
    )
    .expect("row with a numeric weight");
    let batch = entries(json!([{"patient_id": "P1", "patient_name": "A", "modality": "CT"}]));
    let counts = apply_entries(&conn, "csv", "a", &batch).expect("written despite the number");
    assert_eq!((counts.updated, counts.inserted), (1, 0));
    assert_eq!(items(&conn)[0]["patient_weight_lb"], "150");
}
