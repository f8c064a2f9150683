//! `POST /explain` and `pylantir explain`: the items a C-FIND would return
//! (checked against a real C-FIND of the same server) and the constraint
//! that keeps each other item out.

use pylantir_tests::api::{run_cli, Client};
use pylantir_tests::server::ServerProcess;
use serde_json::{json, Value};

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .map(|l| l.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

fn failed_checks(answer: &Value, id: i64) -> Vec<String> {
    answer["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["id"] == id))
        .and_then(|item| item["failed"].as_array())
        .map(|f| {
            f.iter()
                .map(|c| c["check"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn explain_agrees_with_c_find_and_names_the_key_that_failed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = dir.path().join("cfg.json");
    std::fs::write(
        &cfg,
        json!({"db_path": "wl.db", "data_sources": [],
               "api": {"enabled": true, "host": "127.0.0.1", "port": 0}})
        .to_string(),
    )
    .expect("config");
    let cfg_text = cfg.to_str().expect("path");
    let (code, _, err) = run_cli(
        &["admin-password", "--pylantir_config", cfg_text],
        "admin-password-1\n",
    );
    assert_eq!(code, 0, "{err}");
    let plugins = tempfile::tempdir().expect("plugin dir");
    let server = ServerProcess::start(&cfg, plugins.path(), &[]);
    assert!(
        server.wait_for_log(std::time::Duration::from_secs(20), |l| l
            .contains("HTTP API listening"))
    );
    let client = Client::new(&server.api_url());
    let token = client.login("admin", "admin-password-1");
    let mut item_ids = Vec::new();
    for (name, pid, modality, status) in [
        ("DOE^JANE", "P1", "MR", "SCHEDULED"),
        ("DOE^JOHN", "P2", "CT", "SCHEDULED"),
        ("SMITH^ANN", "P3", "MR", "COMPLETED"),
        ("DOE^MARK", "P4", "MR", "IN_PROGRESS"),
    ] {
        let (status_code, item) = client.send(
            "POST",
            "/worklist",
            Some(&token),
            &json!({"patient_name": name, "patient_id": pid, "modality": modality,
                    "performed_procedure_step_status": status,
                    "scheduled_start_date": "2026-12-05", "scheduled_start_time": "09:00"}),
        );
        assert_eq!(status_code, 200, "{item}");
        item_ids.push(item["id"].as_i64().expect("id"));
    }
    let keyword =
        json!({"PatientName": "DOE*", "ScheduledProcedureStepSequence": [{"Modality": "MR"}]});
    let dicom_json = json!({
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "DOE*"}]},
        "00400100": {"vr": "SQ", "Value": [{"00080060": {"vr": "CS", "Value": ["MR"]}}]},
    });
    let mut answers = Vec::new();
    for identifier in [keyword, dicom_json] {
        let (status, answer) = client.send(
            "POST",
            "/explain",
            Some(&token),
            &json!({"identifier": identifier, "item_ids": item_ids, "calling_ae_title": "SCANNER"}),
        );
        assert_eq!(status, 200, "{answer}");
        answers.push(answer);
    }
    assert_eq!(answers[0]["matches"], answers[1]["matches"]);
    let answer = &answers[0];
    assert_eq!(ids(&answer["matches"]), vec![item_ids[0], item_ids[3]]);
    assert_eq!(failed_checks(answer, item_ids[0]), Vec::<String>::new());
    assert_eq!(failed_checks(answer, item_ids[1]), vec!["Modality"]);
    assert_eq!(
        failed_checks(answer, item_ids[2]),
        vec!["status not visible", "PatientName"]
    );

    // The real C-FIND of the same server returns the same patients.
    let (code, out, err) = run_cli(
        &[
            "test-client",
            "--port",
            &server.port.to_string(),
            "--patient-name",
            "DOE*",
            "--modality",
            "MR",
            "--json",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let found: Value = serde_json::from_str(&out).expect("test-client json");
    let mut patients: Vec<&str> = found
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["PatientID"].as_str())
        .collect();
    patients.sort();
    assert_eq!(patients, vec!["P1", "P4"]);

    // The CLI gives the same answer.
    let (code, out, err) = run_cli(
        &[
            "explain",
            "--pylantir_config",
            cfg_text,
            "--identifier",
            r#"{"PatientName": "DOE*", "ScheduledProcedureStepSequence": [{"Modality": "MR"}]}"#,
            "--patient-id",
            "P2",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let cli: Value = serde_json::from_str(&out).expect("explain json");
    assert_eq!(cli["matches"], answer["matches"]);
    assert_eq!(failed_checks(&cli, item_ids[1]), vec!["Modality"]);

    let (status, body) = client.send(
        "POST",
        "/explain",
        Some(&token),
        &json!({"identifier": {"NotAKeyword": "x"}}),
    );
    assert_eq!(status, 422, "{body}");
}

#[test]
fn explain_names_retraction_as_the_only_reason_a_vanished_item_is_not_shown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("wl.db");
    let conn = pylantir::store::open(&db).expect("worklist created");
    conn.execute(
        "INSERT INTO worklist_items (patient_name, patient_id, modality, \
         performed_procedure_step_status, scheduled_start_date, scheduled_start_time, \
         retracted_at, retracted_reason) \
         VALUES ('DOE^JANE', 'P1', 'MR', 'SCHEDULED', '2026-12-05', '09:00', \
         '2026-12-05 08:00:00', 'not returned by a complete fetch')",
        [],
    )
    .expect("retracted item inserted");
    let id = conn.last_insert_rowid();
    drop(conn);
    let cfg = dir.path().join("cfg.json");
    std::fs::write(
        &cfg,
        json!({"db_path": "wl.db", "data_sources": []}).to_string(),
    )
    .expect("config");
    let (code, out, err) = run_cli(
        &[
            "explain",
            "--pylantir_config",
            cfg.to_str().expect("path"),
            "--identifier",
            r#"{"PatientID": "P1"}"#,
            "--item",
            &id.to_string(),
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let answer: Value = serde_json::from_str(&out).expect("explain prints JSON");
    assert_eq!(ids(&answer["matches"]), Vec::<i64>::new());
    assert_eq!(failed_checks(&answer, id), vec!["retracted"]);
}
