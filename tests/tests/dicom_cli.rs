//! The SCU commands of the real binary (`echo`, `test-client`, `test-mpps`)
//! against a server running in-process, with pylantir 0.4's option spellings.

use pylantir_tests::dicom::*;
use std::process::{Command, Output};

fn pylantir(site: &Site, args: &[&str]) -> Output {
    Command::new(&pylantir_tests::artifacts().bin)
        .args(args)
        .args([
            "--ip",
            "127.0.0.1",
            "--port",
            &site.port(),
            "--AEtitle",
            AE,
            "--callingAEtitle",
            "CLI_SCU",
        ])
        .output()
        .expect("pylantir runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn echo_reports_success() {
    let site = Site::new(serde_json::json!({}));
    let output = pylantir(&site, &["echo"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout(&output).contains("Success"));
}

#[test]
fn test_client_prints_the_matching_items_as_json() {
    let site = Site::new(serde_json::json!({}));
    site.insert(&[
        ("patient_id", "P1"),
        ("patient_name", "Doe^John"),
        ("modality", "MR"),
        ("scheduled_start_date", "2025-01-30"),
        ("scheduled_start_time", "14:30"),
    ]);
    site.insert(&[("patient_id", "P2"), ("patient_name", "Roe^Jane")]);
    let output = pylantir(&site, &["test-client", "--patient-name", "doe*", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let items: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON output");
    assert_eq!(items.as_array().map(Vec::len), Some(1));
    assert_eq!(items[0]["PatientID"], "P1");
    assert_eq!(items[0]["Date"], "20250130");
    assert_eq!(items[0]["Time"], "143000");
    assert_eq!(items[0]["Status"], "SCHEDULED");
}

#[test]
fn test_mpps_create_then_set_completes_the_worklist_item() {
    let site = Site::new(serde_json::json!({}));
    let id = site.insert(&[
        ("patient_id", "SUB01"),
        ("patient_name", "Doe^John"),
        ("study_instance_uid", "2.25.42"),
        ("scheduled_procedure_step_id", "SPS1"),
    ]);
    let created = pylantir(
        &site,
        &[
            "test-mpps",
            "--mpps_action",
            "create",
            "--study_uid",
            "2.25.42",
            "--sps_id",
            "SPS1",
            "--sop_uid",
            "2.25.4242",
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert_eq!(site.item_status(id), "IN_PROGRESS");
    let set = pylantir(
        &site,
        &[
            "test-mpps",
            "--mpps_action",
            "set",
            "--mpps_status",
            "COMPLETED",
            "--sop_uid",
            "2.25.4242",
        ],
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert_eq!(site.item_status(id), "COMPLETED");
    let again = pylantir(
        &site,
        &[
            "test-mpps",
            "--mpps_action",
            "set",
            "--mpps_status",
            "DISCONTINUED",
            "--sop_uid",
            "2.25.4242",
        ],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("0x0110"));
}
