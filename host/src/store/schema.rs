//! The database schema: pylantir 0.4.x's `worklist_items` table (same table
//! and column names, so a Python database opens as is) and our own tables.
//! Migrations are additive and numbered through `PRAGMA user_version`.

/// pylantir 0.4.x's table, as its SQLAlchemy model creates it.
pub const WORKLIST_ITEMS_PYTHON: &str = "
CREATE TABLE IF NOT EXISTS worklist_items (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    study_instance_uid VARCHAR(100),
    patient_name VARCHAR(100),
    patient_id VARCHAR(50),
    patient_birth_date VARCHAR(8),
    patient_sex VARCHAR(1),
    patient_weight_lb VARCHAR(10) DEFAULT '100',
    accession_number VARCHAR(50),
    referring_physician_name VARCHAR(100),
    modality VARCHAR(10),
    study_description VARCHAR(100),
    scheduled_station_aetitle VARCHAR(100),
    scheduled_start_date VARCHAR(10),
    scheduled_start_time VARCHAR(8),
    performing_physician VARCHAR(100),
    procedure_description VARCHAR(200),
    protocol_name VARCHAR(100),
    station_name VARCHAR(100),
    hisris_coding_designator VARCHAR(100),
    performed_procedure_step_status VARCHAR(20) DEFAULT 'SCHEDULED',
    data_source VARCHAR(255),
    source_record_id VARCHAR(255)
)";

/// Columns of ours, added to `worklist_items` on open (additive).
///
/// `sps_date` / `sps_time` are virtual columns that read either date/time
/// format pylantir ever wrote (`YYYY-MM-DD` or `YYYYMMDD`, `HH:MM` or
/// `HHMMSS`) as DICOM `YYYYMMDD` / `HHMMSS`, so C-FIND range matching runs in
/// SQL on an index.
pub const WORKLIST_ITEMS_ADDED_COLUMNS: &[(&str, &str)] = &[
    ("data_source", "VARCHAR(255)"),
    ("source_record_id", "VARCHAR(255)"),
    ("requested_procedure_id", "VARCHAR(16)"),
    ("scheduled_procedure_step_id", "VARCHAR(16)"),
    (
        "sps_date",
        "TEXT GENERATED ALWAYS AS (replace(replace(scheduled_start_date, '-', ''), '/', '')) VIRTUAL",
    ),
    (
        "sps_time",
        "TEXT GENERATED ALWAYS AS (substr(replace(scheduled_start_time, ':', '') || '000000', 1, 6)) VIRTUAL",
    ),
    // Who set the status: `source` (a sync), `mpps`, or NULL (the default
    // SCHEDULED of a new item, or a Python-era row).
    ("status_set_by", "VARCHAR(16)"),
    // A retracted item is hidden from C-FIND and kept: when and why.
    ("retracted_at", "TEXT"),
    ("retracted_reason", "TEXT"),
];

/// Columns added to our own tables after schema version 1 (table, column, type).
pub const OUR_ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("sync_runs", "skipped", "INTEGER NOT NULL DEFAULT 0"),
    ("sync_runs", "retracted", "INTEGER NOT NULL DEFAULT 0"),
    ("sync_runs", "restored", "INTEGER NOT NULL DEFAULT 0"),
    ("sync_runs", "note", "TEXT"),
];

/// Our own tables and the indexes the worklist queries use.
pub const OUR_TABLES: &str = "
CREATE TABLE IF NOT EXISTS mpps_instances (
    sop_instance_uid TEXT NOT NULL PRIMARY KEY,
    status TEXT NOT NULL,
    worklist_item_id INTEGER REFERENCES worklist_items(id),
    calling_aet TEXT,
    attributes BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mpps_instances_item ON mpps_instances (worklist_item_id);

CREATE TABLE IF NOT EXISTS sync_runs (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    fetched INTEGER NOT NULL DEFAULT 0,
    inserted INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    conflicts INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS sync_runs_source ON sync_runs (source, started_at);

CREATE TABLE IF NOT EXISTS sync_run_records (
    run_id INTEGER NOT NULL REFERENCES sync_runs(id),
    kind TEXT NOT NULL,
    record_id TEXT,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sync_run_records_run ON sync_run_records (run_id);

CREATE TABLE IF NOT EXISTS housekeeping_runs (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    finished_items INTEGER NOT NULL DEFAULT 0,
    retracted_items INTEGER NOT NULL DEFAULT 0,
    past_scheduled_items INTEGER NOT NULL DEFAULT 0,
    mpps_instances INTEGER NOT NULL DEFAULT 0,
    error TEXT
);

CREATE UNIQUE INDEX IF NOT EXISTS worklist_items_source_record
    ON worklist_items (data_source, source_record_id);
CREATE INDEX IF NOT EXISTS worklist_items_sps_datetime ON worklist_items (sps_date, sps_time);
CREATE INDEX IF NOT EXISTS worklist_items_patient_id ON worklist_items (patient_id);
CREATE INDEX IF NOT EXISTS worklist_items_patient_name ON worklist_items (patient_name COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS worklist_items_modality ON worklist_items (modality);
CREATE INDEX IF NOT EXISTS worklist_items_station_aet ON worklist_items (scheduled_station_aetitle);
CREATE INDEX IF NOT EXISTS worklist_items_status ON worklist_items (performed_procedure_step_status);
CREATE INDEX IF NOT EXISTS worklist_items_data_source ON worklist_items (data_source);
CREATE INDEX IF NOT EXISTS worklist_items_study_uid ON worklist_items (study_instance_uid);
CREATE INDEX IF NOT EXISTS worklist_items_accession ON worklist_items (accession_number);
-- Only retracted rows (housekeeping's retracted category): a full index of
-- a column that is NULL on almost every row made SQLite's planner take it
-- for C-FIND's `retracted_at IS NULL` and scan the whole table (schema 4).
DROP INDEX IF EXISTS worklist_items_retracted;
CREATE INDEX IF NOT EXISTS worklist_items_retracted_set ON worklist_items (retracted_at)
    WHERE retracted_at IS NOT NULL;
";

/// The status history of worklist items (schema version 3): who or what
/// (`mpps`, `source`, `api`) gave each status, and when. A deleted item's
/// history goes with it.
pub const STATUS_HISTORY: &str = "
CREATE TABLE IF NOT EXISTS worklist_status_history (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    worklist_item_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS worklist_status_history_item
    ON worklist_status_history (worklist_item_id, id);
CREATE TRIGGER IF NOT EXISTS worklist_status_history_of_deleted_items
    AFTER DELETE ON worklist_items
    BEGIN DELETE FROM worklist_status_history WHERE worklist_item_id = old.id; END;
";

/// The MPPS write-back queue (schema version 5), see [`super::outcomes`].
/// `due_at` is in Unix seconds; the other times are RFC 3339 text.
pub const MPPS_OUTCOMES: &str = "
CREATE TABLE IF NOT EXISTS mpps_outcomes (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    worklist_item_id INTEGER,
    source_record_id TEXT NOT NULL,
    status TEXT NOT NULL,
    sop_instance_uid TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS mpps_outcomes_pending ON mpps_outcomes (source, state, id);
";

/// Python-era rows may hold an empty `source_record_id`: it means "none", and
/// must not collide in the unique index (NULLs never do).
pub const EMPTY_RECORD_IDS_TO_NULL: &str =
    "UPDATE worklist_items SET source_record_id = NULL WHERE source_record_id = ''";

/// The schema version this build writes (`PRAGMA user_version`).
/// 0: pylantir 0.4.x (or older); 1: our added columns, tables and indexes;
/// 2: the lifecycle (status_set_by, retraction, skipped records, housekeeping);
/// 3: the status history; 4: the retraction index covers retracted rows only;
/// 5: the MPPS write-back queue; 6: PostgreSQL drops its index of
/// `data_source` alone (see `store::postgres`), SQLite is unchanged.
pub const SCHEMA_VERSION: i64 = 6;
