//! Opening worklist databases: Python pylantir's, older ones, newer ones.

use pylantir::store::{self, schema, StoreError};
use rusqlite::Connection;
use std::path::Path;

/// The table as SQLAlchemy creates it for pylantir 0.4.x's model.
const PYTHON_04_TABLE: &str = "CREATE TABLE worklist_items (
	id INTEGER NOT NULL,
	study_instance_uid VARCHAR(100),
	patient_name VARCHAR(100),
	patient_id VARCHAR(50),
	patient_birth_date VARCHAR(8),
	patient_sex VARCHAR(1),
	patient_weight_lb VARCHAR(10),
	accession_number VARCHAR(50),
	referring_physician_name VARCHAR(100),
	modality VARCHAR(10),
	study_description VARCHAR(100),
	scheduled_station_aetitle VARCHAR(100),
	scheduled_start_date VARCHAR(8),
	scheduled_start_time VARCHAR(6),
	performing_physician VARCHAR(100),
	procedure_description VARCHAR(200),
	protocol_name VARCHAR(100),
	station_name VARCHAR(100),
	hisris_coding_designator VARCHAR(100),
	performed_procedure_step_status VARCHAR,
	data_source VARCHAR(255),
	source_record_id VARCHAR(255),
	PRIMARY KEY (id)
)";

/// The same table before the data-source feature (no `data_source`, no `source_record_id`).
const PYTHON_03_TABLE: &str = "CREATE TABLE worklist_items (
	id INTEGER NOT NULL,
	study_instance_uid VARCHAR(100),
	patient_name VARCHAR(100),
	patient_id VARCHAR(50),
	patient_birth_date VARCHAR(8),
	patient_sex VARCHAR(1),
	patient_weight_lb VARCHAR(10),
	accession_number VARCHAR(50),
	referring_physician_name VARCHAR(100),
	modality VARCHAR(10),
	study_description VARCHAR(100),
	scheduled_station_aetitle VARCHAR(100),
	scheduled_start_date VARCHAR(8),
	scheduled_start_time VARCHAR(6),
	performing_physician VARCHAR(100),
	procedure_description VARCHAR(200),
	protocol_name VARCHAR(100),
	station_name VARCHAR(100),
	hisris_coding_designator VARCHAR(100),
	performed_procedure_step_status VARCHAR,
	PRIMARY KEY (id)
)";

fn python_db(path: &Path, table: &str) {
    let conn = Connection::open(path).expect("created");
    conn.execute_batch(table).expect("table");
    conn.execute_batch(
        "INSERT INTO worklist_items (study_instance_uid, patient_name, patient_id, modality,
             scheduled_start_date, scheduled_start_time, performed_procedure_step_status)
         VALUES ('1.2.840.10008.1', 'cpip-id-1^fa-2', 'sub_1', 'MR', '2025-03-07', '14:30', 'IN_PROGRESS'),
                ('1.2.840.10008.2', 'cpip-id-3^fa-4', 'sub_3', 'MR', '20250308', '093000', 'SCHEDULED');",
    )
    .expect("rows");
}

fn columns(conn: &Connection) -> Vec<String> {
    conn.prepare("SELECT name FROM pragma_table_xinfo('worklist_items')")
        .expect("pragma")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names")
}

fn rows(conn: &Connection) -> Vec<(String, String, String, String)> {
    conn.prepare(
        "SELECT patient_id, study_instance_uid, performed_procedure_step_status, sps_date || sps_time
         FROM worklist_items ORDER BY id",
    )
    .expect("select")
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn user_version(conn: &Connection) -> i64 {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version")
}

#[test]
fn a_python_04_database_opens_is_migrated_and_keeps_its_rows() {
    let dir = pylantir_tests::temp_dir();
    let path = dir.path().join("worklist.db");
    python_db(&path, PYTHON_04_TABLE);

    let conn = store::open(&path).expect("opened");
    assert_eq!(user_version(&conn), schema::SCHEMA_VERSION);
    assert_eq!(
        rows(&conn),
        [
            (
                "sub_1".into(),
                "1.2.840.10008.1".into(),
                "IN_PROGRESS".into(),
                "20250307143000".into()
            ),
            (
                "sub_3".into(),
                "1.2.840.10008.2".into(),
                "SCHEDULED".into(),
                "20250308093000".into()
            ),
        ]
    );
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('mpps_instances', 'sync_runs')",
            [],
            |r| r.get(0),
        )
        .expect("tables");
    assert_eq!(tables, 2);
}

#[test]
fn a_database_without_data_source_columns_gets_them_added() {
    let dir = pylantir_tests::temp_dir();
    let path = dir.path().join("worklist.db");
    python_db(&path, PYTHON_03_TABLE);

    let conn = store::open(&path).expect("opened");
    let names = columns(&conn);
    for column in ["data_source", "source_record_id", "sps_date", "sps_time"] {
        assert!(
            names.iter().any(|n| n == column),
            "{column} missing in {names:?}"
        );
    }
    assert_eq!(rows(&conn).len(), 2);
    assert_eq!(user_version(&conn), schema::SCHEMA_VERSION);
}

#[test]
fn empty_record_ids_of_python_rows_become_null() {
    let dir = pylantir_tests::temp_dir();
    let path = dir.path().join("worklist.db");
    python_db(&path, PYTHON_04_TABLE);
    Connection::open(&path)
        .expect("open")
        .execute_batch("UPDATE worklist_items SET data_source = 'main', source_record_id = ''")
        .expect("blank ids");

    let conn = store::open(&path).expect("opened despite duplicate blank ids");
    let blank: i64 = conn
        .query_row(
            "SELECT count(*) FROM worklist_items WHERE source_record_id IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(blank, 2);
}

#[test]
fn a_database_from_a_newer_schema_is_refused_and_left_untouched() {
    let dir = pylantir_tests::temp_dir();
    let path = dir.path().join("worklist.db");
    python_db(&path, PYTHON_04_TABLE);
    Connection::open(&path)
        .expect("open")
        .pragma_update(None, "user_version", schema::SCHEMA_VERSION + 1)
        .expect("version");
    let before = std::fs::read(&path).expect("bytes");

    let error = store::open(&path).expect_err("refused");
    assert!(
        matches!(error, StoreError::NewerSchema { found, .. } if found == schema::SCHEMA_VERSION + 1)
    );
    assert!(error.to_string().contains("left untouched"), "{error}");
    assert_eq!(std::fs::read(&path).expect("bytes"), before);
}

#[test]
fn a_new_database_is_created_in_wal_mode_at_the_current_version() {
    let dir = pylantir_tests::temp_dir();
    let path = dir.path().join("new.db");
    let conn = store::open(&path).expect("created");
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    assert_eq!(user_version(&conn), schema::SCHEMA_VERSION);
}

#[test]
fn reopening_a_migrated_database_changes_nothing() {
    let dir = pylantir_tests::temp_dir();
    let path = dir.path().join("worklist.db");
    python_db(&path, PYTHON_03_TABLE);
    drop(store::open(&path).expect("first open"));
    let names = columns(&store::open(&path).expect("second open"));
    assert_eq!(names.iter().filter(|n| *n == "data_source").count(), 1);
}

#[test]
fn open_existing_refuses_to_create_a_database() {
    let dir = pylantir_tests::temp_dir();
    let path = dir.path().join("absent.db");
    let error = store::open_existing(&path).expect_err("refused");
    assert!(matches!(error, StoreError::Missing { .. }));
    assert!(!path.exists());
}

/// The SQLite query plan of a scanner's C-FIND (today, modality, station).
fn scanner_query_plan(conn: &Connection) -> String {
    use pylantir::store::find::{build_sql, Range, Text, WorklistFilter};
    use pylantir::store::Db;
    let filter = WorklistFilter {
        modality: Some(Text::Exact("MR".into())),
        station_aet: Some(Text::Exact("SCANNER1".into())),
        sps_date: Some(Range {
            lower: Some("20261205".into()),
            upper: Some("20261205".into()),
        }),
        visible_statuses: vec!["SCHEDULED".into()],
        ..WorklistFilter::default()
    };
    let (sql, params) = build_sql(&filter, conn.dialect());
    conn.query(&format!("EXPLAIN QUERY PLAN {sql}"), &params)
        .expect("query plan")
        .iter()
        .filter_map(|row| row.text(3))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn a_scanner_query_searches_the_scheduled_date_index_also_after_migrating_from_version_3() {
    let dir = pylantir_tests::temp_dir();
    let path = dir.path().join("worklist.db");
    let conn = store::open(&path).expect("created");
    let plan = scanner_query_plan(&conn);
    assert!(plan.contains("worklist_items_sps_datetime"), "{plan}");

    // Version 3 indexed retracted_at on every row.
    conn.execute_batch(
        "DROP INDEX worklist_items_retracted_set; \
         CREATE INDEX worklist_items_retracted ON worklist_items (retracted_at); \
         PRAGMA user_version = 3;",
    )
    .expect("a version 3 database");
    drop(conn);
    let conn = store::open(&path).expect("migrated");
    let plan = scanner_query_plan(&conn);
    assert!(plan.contains("worklist_items_sps_datetime"), "{plan}");
    assert_eq!(user_version(&conn), schema::SCHEMA_VERSION);
}
