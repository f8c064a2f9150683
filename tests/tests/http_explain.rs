//! `POST /explain` and `pylantir explain`: the items a C-FIND would return
//! (checked against a real C-FIND of the same server) and the constraint
//! that keeps each other item out.

use dicom_dictionary_std::{tags, uids};
use pylantir::dicom::scu::{Client as Scu, ScuOptions};
use pylantir_tests::api::{run_cli, StartedApi};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

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
    let site = StartedApi::start(json!({}), &[]);
    let (client, token, server) = (&site.client, site.token.as_str(), &site.server);
    let cfg = site.dir.path().join("cfg.json");
    let cfg_text = cfg.to_str().expect("path");
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
            Some(token),
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
            Some(token),
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
        Some(token),
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

/// Patient IDs the real C-FIND of the server on `port` returns for the
/// keyword identifier `query` (with PatientID added as a return key),
/// called by `calling_ae`.
fn c_find_patients(port: u16, calling_ae: &str, query: &Value) -> BTreeSet<String> {
    let mut query = query.clone();
    if query.get("PatientID").is_none() {
        query["PatientID"] = json!("");
    }
    let identifier = pylantir::http::explain::identifier(&query).expect("an identifier");
    let options = ScuOptions {
        addr: format!("127.0.0.1:{port}"),
        called_ae: "MWL_SERVER".into(),
        calling_ae: calling_ae.into(),
        timeout: Duration::from_secs(10),
    };
    let mut scu = Scu::connect(&options, &[uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND])
        .expect("association");
    let mut found = BTreeSet::new();
    scu.find(&identifier, |_, answer| {
        let id = answer
            .element(tags::PATIENT_ID)
            .ok()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .unwrap_or_default();
        found.insert(id);
        std::ops::ControlFlow::Continue(())
    })
    .expect("C-FIND");
    let _ = scu.release();
    found
}

#[test]
fn explain_returns_what_c_find_returns_for_each_conformance_query() {
    let site = StartedApi::start(json!({}), &[]);
    let (client, token, server) = (&site.client, site.token.as_str(), &site.server);
    let mut patient_of = std::collections::HashMap::new();
    for (pid, name, modality, station, date, time, accession, status) in [
        (
            "P1",
            "DOE^JANE",
            "MR",
            "SCANNER1",
            "2026-12-05",
            "09:00",
            "A100",
            "SCHEDULED",
        ),
        (
            "P2",
            "DOE^JOHN",
            "CT",
            "SCANNER2",
            "2026-12-05",
            "14:30",
            "A101",
            "SCHEDULED",
        ),
        (
            "P3",
            "SMITH^ANN",
            "MR",
            "SCANNER1",
            "2026-12-06",
            "08:15",
            "A102",
            "IN_PROGRESS",
        ),
        (
            "P4",
            "Müller^Jürgen",
            "MR",
            "SCANNER2",
            "2026-12-01",
            "23:59",
            "A103",
            "SCHEDULED",
        ),
        (
            "P5",
            "DOE^MARK",
            "MR",
            "SCANNER1",
            "2026-12-05",
            "10:00",
            "A104",
            "COMPLETED",
        ),
        (
            "Q6",
            "O'BRIEN^PAT",
            "US",
            "SCANNER1",
            "2026-12-10",
            "07:00",
            "B200",
            "SCHEDULED",
        ),
    ] {
        let (code, item) = client.send(
            "POST",
            "/worklist",
            Some(token),
            &json!({"patient_id": pid, "patient_name": name, "modality": modality,
                    "scheduled_station_aetitle": station, "scheduled_start_date": date,
                    "scheduled_start_time": time, "accession_number": accession,
                    "performed_procedure_step_status": status}),
        );
        assert_eq!(code, 200, "{item}");
        patient_of.insert(item["id"].as_i64().expect("id"), pid.to_string());
    }
    let sps = |fields: Value| json!([fields]);
    let queries = [
        json!({}),
        json!({"PatientName": "DOE*"}),
        json!({"PatientName": "DOE^J?N*"}),
        json!({"PatientName": "Müller^Jürgen"}),
        json!({"PatientID": "P?"}),
        json!({"PatientID": "Q6"}),
        json!({"AccessionNumber": "A10*"}),
        json!({"ScheduledProcedureStepSequence": sps(json!({"Modality": "MR"}))}),
        json!({"ScheduledProcedureStepSequence": sps(json!({"ScheduledStationAETitle": "SCANNER1"}))}),
        json!({"ScheduledProcedureStepSequence": sps(json!({"ScheduledProcedureStepStartDate": "20261205"}))}),
        json!({"ScheduledProcedureStepSequence": sps(json!({"ScheduledProcedureStepStartDate": "20261201-20261205"}))}),
        json!({"ScheduledProcedureStepSequence": sps(json!({"ScheduledProcedureStepStartDate": "20261206-"}))}),
        json!({"ScheduledProcedureStepSequence": sps(json!({"ScheduledProcedureStepStartDate": "-20261201"}))}),
        json!({"ScheduledProcedureStepSequence": sps(json!({
            "ScheduledProcedureStepStartDate": "20261205",
            "ScheduledProcedureStepStartTime": "0800-1200"}))}),
        json!({"PatientName": "DOE*", "ScheduledProcedureStepSequence": sps(json!({
            "Modality": "MR", "ScheduledStationAETitle": "SCANNER1",
            "ScheduledProcedureStepStartDate": "20261205"}))}),
        json!({"ScheduledProcedureStepSequence": sps(json!({"Modality": "XA"}))}),
    ];
    let mut answers = Vec::new();
    for query in &queries {
        let (status, answer) = client.send(
            "POST",
            "/explain",
            Some(token),
            &json!({"identifier": query, "calling_ae_title": "SCANNER1"}),
        );
        assert_eq!(status, 200, "{query}: {answer}");
        let explained: BTreeSet<String> = ids(&answer["matches"])
            .iter()
            .filter_map(|id| patient_of.get(id).cloned())
            .collect();
        let found = c_find_patients(server.port, "SCANNER1", query);
        assert_eq!(explained, found, "explain and C-FIND differ on {query}");
        answers.push(found);
    }
    let list = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        answers[0],
        list(&["P1", "P2", "P3", "P4", "Q6"]),
        "COMPLETED not visible"
    );
    assert_eq!(answers[10], list(&["P1", "P2", "P4"]));
    assert_eq!(answers[14], list(&["P1"]));
    assert_eq!(answers[15], list(&[]));
}
