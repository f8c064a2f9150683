//! MPPS N-CREATE / N-SET with our SCU: full cycles, each failure status,
//! linking to the worklist item, the item's status after each step,
//! lenient mode, and state after a server restart.

use dicom_core::VR;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::Client;
use pylantir_tests::dicom::*;

const STUDY: &str = "2.25.1111";

fn scheduled_item(site: &Site) -> i64 {
    site.insert(&[
        ("patient_id", "SUB01"),
        ("patient_name", "Doe^John"),
        ("study_instance_uid", STUDY),
        ("scheduled_procedure_step_id", "SPS7"),
        ("accession_number", "ACC7"),
        ("scheduled_start_date", "2025-01-30"),
    ])
}

fn create_data(status: &str, study: &str, sps: &str, patient_id: &str) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        seq(
            tags::SCHEDULED_STEP_ATTRIBUTES_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([
                text(tags::STUDY_INSTANCE_UID, VR::UI, study),
                text(tags::SCHEDULED_PROCEDURE_STEP_ID, VR::SH, sps),
                text(tags::ACCESSION_NUMBER, VR::SH, ""),
            ])],
        ),
        text(tags::PATIENT_NAME, VR::PN, "Doe^John"),
        text(tags::PATIENT_ID, VR::LO, patient_id),
        text(tags::PERFORMED_PROCEDURE_STEP_ID, VR::SH, "PPS1"),
        text(tags::PERFORMED_STATION_AE_TITLE, VR::AE, "SCANNER1"),
        text(
            tags::PERFORMED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            "20250130",
        ),
        text(tags::PERFORMED_PROCEDURE_STEP_START_TIME, VR::TM, "101500"),
        text(tags::PERFORMED_PROCEDURE_STEP_END_DATE, VR::DA, ""),
        text(tags::PERFORMED_PROCEDURE_STEP_END_TIME, VR::TM, ""),
        text(tags::PERFORMED_PROCEDURE_STEP_STATUS, VR::CS, status),
        text(tags::MODALITY, VR::CS, "MR"),
        seq(tags::PERFORMED_SERIES_SEQUENCE, vec![]),
    ])
}

fn set_data(status: &str) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        text(tags::PERFORMED_PROCEDURE_STEP_STATUS, VR::CS, status),
        text(tags::PERFORMED_PROCEDURE_STEP_END_DATE, VR::DA, "20250130"),
        text(tags::PERFORMED_PROCEDURE_STEP_END_TIME, VR::TM, "104500"),
    ])
}

fn stored_status(site: &Site, uid: &str) -> Option<String> {
    site.conn()
        .query_row(
            "SELECT status FROM mpps_instances WHERE sop_instance_uid = ?1",
            [uid],
            |r| r.get(0),
        )
        .ok()
}

fn sps_status_seen_by_find(site: &Site) -> Vec<String> {
    let query = InMemDicomObject::from_element_iter([
        text(tags::PATIENT_ID, VR::LO, "SUB01"),
        seq(
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([text(
                tags::SCHEDULED_PROCEDURE_STEP_STATUS,
                VR::CS,
                "",
            )])],
        ),
    ]);
    let (status, answers) = site.find(&query);
    assert_eq!(status, 0);
    answers
        .iter()
        .map(|a| {
            value(
                &item(a, tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE),
                tags::SCHEDULED_PROCEDURE_STEP_STATUS,
            )
        })
        .collect()
}

#[test]
fn a_create_then_completed_cycle_moves_the_linked_item_through_its_statuses() {
    let site = Site::new(serde_json::json!({}));
    let id = scheduled_item(&site);
    let mut scu = site.client("SCANNER1");
    let created = scu
        .n_create(
            Some("2.25.900"),
            &create_data("IN PROGRESS", STUDY, "SPS7", "OTHER"),
        )
        .expect("N-CREATE");
    assert_eq!(created.status, 0);
    assert_eq!(
        value(&created.command, tags::AFFECTED_SOP_INSTANCE_UID),
        "2.25.900"
    );
    assert_eq!(site.item_status(id), "IN_PROGRESS");
    assert_eq!(sps_status_seen_by_find(&site), ["STARTED"]);
    let set = scu
        .n_set("2.25.900", &set_data("COMPLETED"))
        .expect("N-SET");
    assert_eq!(set.status, 0);
    assert_eq!(site.item_status(id), "COMPLETED");
    assert_eq!(
        stored_status(&site, "2.25.900").as_deref(),
        Some("COMPLETED")
    );
    assert!(
        sps_status_seen_by_find(&site).is_empty(),
        "completed items are not visible"
    );
}

#[test]
fn a_discontinued_step_moves_the_item_to_discontinued() {
    let site = Site::new(serde_json::json!({}));
    let id = scheduled_item(&site);
    let mut scu = site.client("SCANNER1");
    assert_eq!(
        scu.n_create(
            Some("2.25.901"),
            &create_data("IN PROGRESS", STUDY, "SPS7", "SUB01")
        )
        .expect("create")
        .status,
        0
    );
    assert_eq!(
        scu.n_set("2.25.901", &set_data("DISCONTINUED"))
            .expect("set")
            .status,
        0
    );
    assert_eq!(site.item_status(id), "DISCONTINUED");
    assert_eq!(sps_status_seen_by_find(&site), ["DISCONTINUED"]);
}

#[test]
fn n_create_with_a_status_other_than_in_progress_is_0106_and_stores_nothing() {
    let site = Site::new(serde_json::json!({}));
    let id = scheduled_item(&site);
    let mut scu = site.client("SCANNER1");
    let rsp = scu
        .n_create(
            Some("2.25.902"),
            &create_data("COMPLETED", STUDY, "SPS7", "SUB01"),
        )
        .expect("create");
    assert_eq!(rsp.status, 0x0106);
    assert_eq!(stored_status(&site, "2.25.902"), None);
    assert_eq!(site.item_status(id), "SCHEDULED");
}

#[test]
fn a_duplicate_n_create_is_0111() {
    let site = Site::new(serde_json::json!({}));
    scheduled_item(&site);
    let mut scu = site.client("SCANNER1");
    let data = create_data("IN PROGRESS", STUDY, "SPS7", "SUB01");
    assert_eq!(
        scu.n_create(Some("2.25.903"), &data)
            .expect("create")
            .status,
        0
    );
    assert_eq!(
        scu.n_create(Some("2.25.903"), &data).expect("again").status,
        0x0111
    );
}

#[test]
fn n_set_of_an_unknown_instance_is_0112() {
    let site = Site::new(serde_json::json!({}));
    let mut scu = site.client("SCANNER1");
    assert_eq!(
        scu.n_set("2.25.404", &set_data("COMPLETED"))
            .expect("set")
            .status,
        0x0112
    );
}

#[test]
fn n_set_after_the_final_state_is_0110_with_error_id_a710() {
    let site = Site::new(serde_json::json!({}));
    scheduled_item(&site);
    let mut scu = site.client("SCANNER1");
    scu.n_create(
        Some("2.25.905"),
        &create_data("IN PROGRESS", STUDY, "SPS7", "SUB01"),
    )
    .expect("create");
    scu.n_set("2.25.905", &set_data("COMPLETED")).expect("set");
    let again = scu
        .n_set("2.25.905", &set_data("DISCONTINUED"))
        .expect("set again");
    assert_eq!(again.status, 0x0110);
    assert_eq!(
        again
            .command
            .get(tags::ERROR_ID)
            .and_then(|e| e.to_int::<u16>().ok()),
        Some(0xA710)
    );
    assert_eq!(
        stored_status(&site, "2.25.905").as_deref(),
        Some("COMPLETED")
    );
}

#[test]
fn n_set_with_an_invalid_status_is_0106() {
    let site = Site::new(serde_json::json!({}));
    scheduled_item(&site);
    let mut scu = site.client("SCANNER1");
    scu.n_create(
        Some("2.25.906"),
        &create_data("IN PROGRESS", STUDY, "SPS7", "SUB01"),
    )
    .expect("create");
    assert_eq!(
        scu.n_set("2.25.906", &set_data("FINISHED"))
            .expect("set")
            .status,
        0x0106
    );
}

#[test]
fn lenient_mode_answers_success_but_updates_the_store_as_strict_mode_does() {
    let site = Site::new(serde_json::json!({"mpps_lenient": true}));
    let id = scheduled_item(&site);
    let mut scu = site.client("SCANNER1");
    assert_eq!(
        scu.n_set("2.25.404", &set_data("COMPLETED"))
            .expect("unknown")
            .status,
        0
    );
    assert_eq!(
        scu.n_create(
            Some("2.25.907"),
            &create_data("COMPLETED", STUDY, "SPS7", "SUB01")
        )
        .expect("bad")
        .status,
        0
    );
    assert_eq!(stored_status(&site, "2.25.907"), None);
    assert_eq!(site.item_status(id), "SCHEDULED");
}

#[test]
fn mpps_state_survives_a_server_restart() {
    let mut site = Site::new(serde_json::json!({}));
    let id = scheduled_item(&site);
    {
        let mut scu = site.client("SCANNER1");
        scu.n_create(
            Some("2.25.908"),
            &create_data("IN PROGRESS", STUDY, "SPS7", "SUB01"),
        )
        .expect("create");
        scu.release().expect("release");
    }
    site.stop();
    site.start();
    let mut scu = site.client("SCANNER1");
    assert_eq!(
        scu.n_set("2.25.908", &set_data("COMPLETED"))
            .expect("set")
            .status,
        0
    );
    assert_eq!(site.item_status(id), "COMPLETED");
    drop(scu);
    site.stop();
    site.start();
    let mut scu = site.client("SCANNER1");
    assert_eq!(
        scu.n_set("2.25.908", &set_data("COMPLETED"))
            .expect("set")
            .status,
        0x0110
    );
}

#[test]
fn an_n_create_matching_no_item_is_stored_as_unscheduled() {
    let site = Site::new(serde_json::json!({}));
    let id = scheduled_item(&site);
    let mut scu = site.client("SCANNER1");
    let rsp = scu
        .n_create(
            Some("2.25.909"),
            &create_data("IN PROGRESS", "2.25.77", "X", "NOBODY"),
        )
        .expect("create");
    assert_eq!(rsp.status, 0);
    let linked: Option<i64> = site
        .conn()
        .query_row(
            "SELECT worklist_item_id FROM mpps_instances WHERE sop_instance_uid = '2.25.909'",
            [],
            |r| r.get(0),
        )
        .expect("stored");
    assert_eq!(linked, None);
    assert_eq!(site.item_status(id), "SCHEDULED");
}

#[test]
fn without_scheduled_step_keys_the_item_is_found_by_patient_id_and_name() {
    let site = Site::new(serde_json::json!({}));
    let id = scheduled_item(&site);
    let mut scu = site.client("SCANNER1");
    let rsp = scu
        .n_create(
            Some("2.25.910"),
            &create_data("IN PROGRESS", "", "", "SUB01"),
        )
        .expect("create");
    assert_eq!(rsp.status, 0);
    assert_eq!(site.item_status(id), "IN_PROGRESS");
}

#[test]
fn a_patient_fallback_link_prefers_the_open_visit_over_an_older_completed_one() {
    let site = Site::new(serde_json::json!({}));
    let old = site.insert(&[
        ("patient_id", "SUB01"),
        ("patient_name", "Doe^John"),
        ("scheduled_start_date", "2024-03-01"),
        ("performed_procedure_step_status", "COMPLETED"),
    ]);
    let open = scheduled_item(&site);
    let mut scu = site.client("SCANNER1");
    let rsp = scu
        .n_create(
            Some("2.25.911"),
            &create_data("IN PROGRESS", "", "", "SUB01"),
        )
        .expect("create");
    assert_eq!(rsp.status, 0);
    assert_eq!(site.item_status(old), "COMPLETED");
    assert_eq!(site.item_status(open), "IN_PROGRESS");
}

#[test]
fn an_n_create_without_a_uid_gets_one_assigned_and_returned() {
    let site = Site::new(serde_json::json!({}));
    scheduled_item(&site);
    let mut scu: Client = site.client("SCANNER1");
    let rsp = scu
        .n_create(None, &create_data("IN PROGRESS", STUDY, "SPS7", "SUB01"))
        .expect("create");
    assert_eq!(rsp.status, 0);
    let uid = value(&rsp.command, tags::AFFECTED_SOP_INSTANCE_UID);
    assert!(uid.starts_with("2.25."), "{uid}");
    assert_eq!(stored_status(&site, &uid).as_deref(), Some("IN PROGRESS"));
}

#[test]
fn a_re_sync_of_the_item_does_not_undo_the_mpps_status() {
    use pylantir::store::items::{write_fetch, Item, PATIENT_ID, PATIENT_NAME, STUDY_UID};
    let site = Site::new(serde_json::json!({}));
    let mut item = Item::new();
    item.record_id = Some("R1".into());
    item.values[PATIENT_ID] = Some("SUB01".into());
    item.values[PATIENT_NAME] = Some("Doe^John".into());
    item.values[STUDY_UID] = Some(STUDY.into());
    let conn = site.conn();
    write_fetch(&conn, "csv", "csv", std::slice::from_ref(&item)).expect("first sync");
    let id: i64 = conn
        .query_row(
            "SELECT id FROM worklist_items WHERE source_record_id = 'R1'",
            [],
            |r| r.get(0),
        )
        .expect("synced row");
    let mut scu = site.client("SCANNER1");
    let data = create_data("IN PROGRESS", STUDY, &id.to_string(), "SUB01");
    assert_eq!(
        scu.n_create(Some("2.25.911"), &data)
            .expect("create")
            .status,
        0
    );
    assert_eq!(site.item_status(id), "IN_PROGRESS");
    write_fetch(&conn, "csv", "csv", std::slice::from_ref(&item)).expect("re-sync");
    assert_eq!(site.item_status(id), "IN_PROGRESS");
    assert_eq!(
        scu.n_set("2.25.911", &set_data("COMPLETED"))
            .expect("set")
            .status,
        0
    );
    write_fetch(&conn, "csv", "csv", std::slice::from_ref(&item)).expect("re-sync");
    assert_eq!(site.item_status(id), "COMPLETED");
}
