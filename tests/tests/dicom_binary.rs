//! The DICOM server of the real binary (`pylantir start`): DCMTK queries on
//! rows stored in both date formats, and MPPS state across a restart of the
//! process.

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::{Client, ScuOptions};
use pylantir_tests::dicom::*;
use pylantir_tests::server::ServerProcess;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A site without data sources, its database filled by plain SQL.
fn site(dir: &Path) -> PathBuf {
    let db = dir.join("worklist.db");
    let conn = pylantir::store::open(&db).expect("create the database");
    conn.execute_batch(
        "INSERT INTO worklist_items (patient_id, patient_name, modality, scheduled_station_aetitle, \
         scheduled_start_date, scheduled_start_time, study_instance_uid, scheduled_procedure_step_id) VALUES \
         ('OLD', 'Doe^John', 'MR', 'SCANNER1', '2025-01-30', '09:30', '2.25.10', 'S1'), \
         ('NEW', 'Roe^Jane', 'MR', 'SCANNER1', '20250130', '143000', '2.25.11', 'S2'), \
         ('CT', 'Poe^Ed', 'CT', 'SCANNER1', '20250130', '100000', '2.25.12', 'S3');",
    )
    .expect("rows inserted");
    drop(conn);
    let config = serde_json::json!({"db_path": "worklist.db", "data_sources": []});
    let path = dir.join("pylantir.json");
    std::fs::write(&path, config.to_string()).expect("config written");
    path
}

fn scu(server: &ServerProcess) -> ScuOptions {
    ScuOptions {
        addr: format!("127.0.0.1:{}", server.port),
        called_ae: "MWL_SERVER".into(),
        calling_ae: "SCANNER1".into(),
        timeout: Duration::from_secs(10),
    }
}

#[test]
fn the_binary_answers_dcmtk_with_valid_dates_for_both_stored_formats() {
    if dcmtk("findscu").is_none() || dcmtk("dump2dcm").is_none() {
        return;
    }
    let dir = pylantir_tests::temp_dir();
    let config = site(dir.path());
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    let server = ServerProcess::start(&config, &plugins, &["--AEtitle", "MWL_SERVER"]);
    let echo = std::process::Command::new("echoscu")
        .args([
            "-aet",
            "SCANNER1",
            "-aec",
            "MWL_SERVER",
            "127.0.0.1",
            &server.port.to_string(),
        ])
        .status()
        .expect("echoscu");
    assert!(echo.success(), "{}", server.log());
    let query = query_file(
        dir.path(),
        "q",
        "(0010,0020) LO []\n(0040,0100) SQ\n(fffe,e000) na\n(0008,0060) CS [MR]\n\
         (0040,0002) DA [20250130]\n(0040,0003) TM []\n(fffe,e00d) na\n(fffe,e0dd) na\n",
    );
    let out = pylantir_tests::temp_dir();
    let output = std::process::Command::new("findscu")
        .args(["-W", "-X", "-od"])
        .arg(out.path())
        .args([
            "-aet",
            "SCANNER1",
            "-aec",
            "MWL_SERVER",
            "127.0.0.1",
            &server.port.to_string(),
        ])
        .arg(&query)
        .output()
        .expect("findscu");
    assert!(output.status.success(), "{}", server.log());
    let mut found: Vec<(String, String, String)> = std::fs::read_dir(out.path())
        .expect("answers")
        .map(|e| {
            let answer = dicom_object::open_file(e.expect("entry").path())
                .expect("answer")
                .into_inner();
            let sps = item(&answer, tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE);
            (
                value(&answer, tags::PATIENT_ID),
                value(&sps, tags::SCHEDULED_PROCEDURE_STEP_START_DATE),
                value(&sps, tags::SCHEDULED_PROCEDURE_STEP_START_TIME),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (
                "NEW".to_string(),
                "20250130".to_string(),
                "143000".to_string()
            ),
            (
                "OLD".to_string(),
                "20250130".to_string(),
                "093000".to_string()
            )
        ]
    );
}

fn mpps_create() -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        seq(
            tags::SCHEDULED_STEP_ATTRIBUTES_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([
                text(tags::STUDY_INSTANCE_UID, VR::UI, "2.25.10"),
                text(tags::SCHEDULED_PROCEDURE_STEP_ID, VR::SH, "S1"),
            ])],
        ),
        text(tags::PATIENT_ID, VR::LO, "OLD"),
        text(tags::PERFORMED_PROCEDURE_STEP_STATUS, VR::CS, "IN PROGRESS"),
    ])
}

#[test]
fn mpps_state_survives_a_restart_of_the_binary() {
    let dir = pylantir_tests::temp_dir();
    let config = site(dir.path());
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    let mut server = ServerProcess::start(&config, &plugins, &[]);
    let mut client = Client::connect(&scu(&server), &[uids::MODALITY_PERFORMED_PROCEDURE_STEP])
        .expect("associate");
    assert_eq!(
        client
            .n_create(Some("2.25.77"), &mpps_create())
            .expect("create")
            .status,
        0
    );
    client.release().expect("release");
    assert!(
        server
            .terminate(Duration::from_secs(10))
            .is_some_and(|s| s.success()),
        "{}",
        server.log()
    );

    let server = ServerProcess::start(&config, &plugins, &[]);
    let mut client = Client::connect(&scu(&server), &[uids::MODALITY_PERFORMED_PROCEDURE_STEP])
        .expect("associate");
    let done = InMemDicomObject::from_element_iter([text(
        tags::PERFORMED_PROCEDURE_STEP_STATUS,
        VR::CS,
        "COMPLETED",
    )]);
    assert_eq!(
        client.n_set("2.25.77", &done).expect("set").status,
        0,
        "{}",
        server.log()
    );
    assert_eq!(
        client.n_set("2.25.77", &done).expect("set again").status,
        0x0110
    );
    let status: String = rusqlite::Connection::open(dir.path().join("worklist.db"))
        .expect("db")
        .query_row(
            "SELECT performed_procedure_step_status FROM worklist_items WHERE patient_id = 'OLD'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(status, "COMPLETED");
}
