//! Schema-based fuzzing of the HTTP API: schemathesis (pinned, installed by
//! the kit on first use) against `/openapi.json` of a real `pylantir start`
//! holding worklist items, a source and users of every role. Every answer
//! must be no 5xx, with a documented status code and content type, and a
//! body the document's schema accepts.

use pylantir_tests::api::StartedApi;
use pylantir_tests::schemathesis;
use serde_json::json;

/// Cases per operation: enough to reach every validation branch, few enough
/// that both runs end within about a minute on a shared 2-core machine.
const READER_EXAMPLES: u32 = 5;
const ADMIN_EXAMPLES: u32 = 20;

fn site() -> StartedApi {
    let site = StartedApi::start(
        json!({"data_sources": [
            {"name": "visits", "type": "csv", "sync_interval": 3600,
             "config": {"file_path": "visits.csv", "record_id_column": "id"},
             "field_mapping": {"pid": "patient_id", "name": "patient_name"}},
        ]}),
        &["pylantir_csv"],
    );
    let csv = site.dir.path().join("visits.csv");
    std::fs::write(csv, "id,pid,name\n1,SUB001,One^A\n2,SUB002,Two^B\n").expect("csv");
    site
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_schema() {
    let site = site();
    let (client, admin) = (&site.client, site.token.as_str());
    for (i, (modality, status)) in [
        ("MR", "SCHEDULED"),
        ("CT", "IN_PROGRESS"),
        ("MR", "COMPLETED"),
    ]
    .into_iter()
    .enumerate()
    {
        let item = json!({"patient_name": format!("Fuzz^{i}"), "patient_id": format!("FZ{i}"),
                          "modality": modality, "performed_procedure_step_status": status,
                          "scheduled_start_date": "2026-12-05", "scheduled_start_time": "09:30"});
        let (code, body) = client.send("POST", "/worklist", Some(admin), &item);
        assert_eq!(code, 200, "{body}");
    }
    for role in ["write", "read"] {
        let user = json!({"username": role, "password": format!("{role}-password-1"),
                          "email": format!("{role}@example.org"), "role": role});
        let (code, body) = client.send("POST", "/users", Some(admin), &user);
        assert_eq!(code, 200, "{body}");
    }
    let reader = client.login("read", "read-password-1");
    let url = site.server.api_url();
    // The reader first: the admin's run may change or delete that account.
    for (who, token, examples) in [
        ("read", &reader, READER_EXAMPLES),
        ("admin", &site.token, ADMIN_EXAMPLES),
    ] {
        let run = schemathesis::run(&url, token, examples, site.dir.path());
        assert!(
            run.passed,
            "schemathesis with the {who} token found failures:\n{}\nserver log:\n{}",
            run.output,
            site.server.log()
        );
    }
}
