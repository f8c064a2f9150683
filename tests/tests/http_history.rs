//! `GET /worklist/{id}/history` through a real `pylantir start`: each status
//! an item had, and who gave it (a source's sync, MPPS N-CREATE and N-SET
//! with the SOP Instance UID, an API user), oldest first.

use dicom_core::VR;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::{Client as Scu, ScuOptions};
use pylantir_tests::api::StartedApi;
use pylantir_tests::dicom::{seq, text};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn steps(history: &Value) -> Vec<(Value, String, String, String)> {
    history
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| {
            assert!(c["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{c}");
            (
                c["from_status"].clone(),
                c["to_status"].as_str().unwrap_or_default().to_string(),
                c["by"].as_str().unwrap_or_default().to_string(),
                c["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn step(from: Option<&str>, to: &str, by: &str, detail: &str) -> (Value, String, String, String) {
    (json!(from), to.into(), by.into(), detail.into())
}

fn mpps_scu(port: u16) -> Scu {
    let options = ScuOptions {
        addr: format!("127.0.0.1:{port}"),
        called_ae: "MWL_SERVER".into(),
        calling_ae: "SCANNER1".into(),
        timeout: Duration::from_secs(10),
    };
    Scu::connect(
        &options,
        &[dicom_dictionary_std::uids::MODALITY_PERFORMED_PROCEDURE_STEP],
    )
    .expect("MPPS association")
}

fn n_create_data(patient_id: &str) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        seq(
            tags::SCHEDULED_STEP_ATTRIBUTES_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([
                text(tags::STUDY_INSTANCE_UID, VR::UI, "2.25.7"),
                text(tags::ACCESSION_NUMBER, VR::SH, ""),
            ])],
        ),
        text(tags::PATIENT_NAME, VR::PN, "One^A"),
        text(tags::PATIENT_ID, VR::LO, patient_id),
        text(tags::PERFORMED_PROCEDURE_STEP_ID, VR::SH, "PPS1"),
        text(tags::PERFORMED_STATION_AE_TITLE, VR::AE, "SCANNER1"),
        text(
            tags::PERFORMED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            "20261205",
        ),
        text(tags::PERFORMED_PROCEDURE_STEP_START_TIME, VR::TM, "101500"),
        text(tags::PERFORMED_PROCEDURE_STEP_END_DATE, VR::DA, ""),
        text(tags::PERFORMED_PROCEDURE_STEP_END_TIME, VR::TM, ""),
        text(tags::PERFORMED_PROCEDURE_STEP_STATUS, VR::CS, "IN PROGRESS"),
        text(tags::MODALITY, VR::CS, "MR"),
        seq(tags::PERFORMED_SERIES_SEQUENCE, vec![]),
    ])
}

fn n_set_data(status: &str) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        text(tags::PERFORMED_PROCEDURE_STEP_STATUS, VR::CS, status),
        text(tags::PERFORMED_PROCEDURE_STEP_END_DATE, VR::DA, "20261205"),
        text(tags::PERFORMED_PROCEDURE_STEP_END_TIME, VR::TM, "104500"),
    ])
}

#[test]
fn an_items_history_names_the_sync_the_mpps_messages_and_the_user_that_set_each_status() {
    let site = StartedApi::start(
        json!({"data_sources": [
            {"name": "visits", "type": "csv", "isolation": "in-process", "sync_interval": 3600,
             "config": {"file_path": "visits.csv", "record_id_column": "id"},
             "field_mapping": {"pid": "patient_id", "name": "patient_name"}},
        ]}),
        &["pylantir_csv"],
    );
    std::fs::write(
        site.dir.path().join("visits.csv"),
        "id,pid,name\n1,P1,One^A\n",
    )
    .expect("csv");
    let (client, token) = (&site.client, site.token.as_str());
    let deadline = Instant::now() + Duration::from_secs(20);
    let synced = loop {
        client.send("POST", "/sources/visits/sync", Some(token), &json!({}));
        let (_, items) = client.get("/worklist", Some(token));
        if let Some(id) = items[0]["id"].as_i64() {
            break id;
        }
        assert!(Instant::now() < deadline, "{}", site.server.log());
        std::thread::sleep(Duration::from_millis(100));
    };

    let mut scu = mpps_scu(site.server.port);
    let created = scu
        .n_create(Some("2.25.900"), &n_create_data("P1"))
        .expect("N-CREATE");
    assert_eq!(created.status, 0);
    let set = scu
        .n_set("2.25.900", &n_set_data("COMPLETED"))
        .expect("N-SET");
    assert_eq!(set.status, 0);
    let (status, history) = client.get(&format!("/worklist/{synced}/history"), Some(token));
    assert_eq!(status, 200, "{history}");
    assert_eq!(
        steps(&history),
        [
            step(None, "SCHEDULED", "source", "sync of source visits"),
            step(
                Some("SCHEDULED"),
                "IN_PROGRESS",
                "mpps",
                "N-CREATE 2.25.900"
            ),
            step(Some("IN_PROGRESS"), "COMPLETED", "mpps", "N-SET 2.25.900"),
        ]
    );

    let (status, made) = client.send(
        "POST",
        "/worklist",
        Some(token),
        &json!({"patient_name": "Two^B", "patient_id": "P2"}),
    );
    assert_eq!(status, 200, "{made}");
    let id = made["id"].as_i64().expect("id");
    let path = format!("/worklist/{id}");
    for status in ["IN_PROGRESS", "IN_PROGRESS", "DISCONTINUED"] {
        let body = json!({"performed_procedure_step_status": status});
        assert_eq!(client.send("PUT", &path, Some(token), &body).0, 200);
    }
    let (status, history) = client.get(&format!("{path}/history"), Some(token));
    assert_eq!(status, 200, "{history}");
    assert_eq!(
        steps(&history),
        [
            step(None, "SCHEDULED", "api", "user admin"),
            step(Some("SCHEDULED"), "IN_PROGRESS", "api", "user admin"),
            step(Some("IN_PROGRESS"), "DISCONTINUED", "api", "user admin"),
        ]
    );
    assert_eq!(client.send("DELETE", &path, Some(token), &json!({})).0, 200);
    let (status, body) = client.get(&format!("{path}/history"), Some(token));
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["detail"], format!("Worklist item {id} not found"));
    let (status, _) = client.get("/worklist/abc/history", Some(token));
    assert_eq!(status, 422);
}
