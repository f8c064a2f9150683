//! `POST /sources/{name}/sync` through a real `pylantir start`: a sync now
//! instead of at the end of the source's interval, for in-process and
//! worker-process sources alike.

use pylantir_tests::api::{Client, StartedApi};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn csv_site(isolation: &str) -> StartedApi {
    StartedApi::start(
        json!({"data_sources": [
            {"name": "visits", "type": "csv", "isolation": isolation, "sync_interval": 3600,
             "config": {"file_path": "visits.csv", "record_id_column": "id"},
             "field_mapping": {"pid": "patient_id", "name": "patient_name"}},
            {"name": "old", "type": "csv", "enabled": false, "config": {}},
        ]}),
        &["pylantir_csv"],
    )
}

fn patient_ids(client: &Client, token: &str) -> Vec<String> {
    let (status, items) = client.get("/worklist", Some(token));
    assert_eq!(status, 200, "{items}");
    items
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["patient_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// POSTs a sync of `visits` until it is queued (the first, scheduled sync
/// may still be running: 409 then).
fn request_sync(client: &Client, token: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = client.send("POST", "/sources/visits/sync", Some(token), &json!({}));
        if status == 202 {
            return body;
        }
        assert_eq!(status, 409, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("already running")),
            "{body}"
        );
        assert!(Instant::now() < deadline, "never queued: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sync_now_brings_an_edited_csv_into_the_worklist_without_waiting_for_the_interval() {
    for isolation in ["in-process", "process"] {
        let site = csv_site(isolation);
        let csv = site.dir.path().join("visits.csv");
        std::fs::write(&csv, "id,pid,name\n1,P1,One^A\n").expect("csv");
        let (client, token) = (&site.client, site.token.as_str());
        // The first sync may have run before the file existed: ask for one.
        request_sync(client, token);
        let deadline = Instant::now() + Duration::from_secs(20);
        while patient_ids(client, token) != ["P1"] {
            assert!(Instant::now() < deadline, "{}", site.server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::write(&csv, "id,pid,name\n1,P1,One^A\n2,P2,Two^B\n").expect("csv");
        let body = request_sync(client, token);
        assert_eq!(body["status"], "queued", "{body}");
        assert_eq!(body["source"], "visits", "{body}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while patient_ids(client, token) != ["P1", "P2"] {
            assert!(
                Instant::now() < deadline,
                "{isolation}: P2 never synced:\n{}",
                site.server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn sync_now_refuses_unknown_and_disabled_sources_and_readers() {
    let site = csv_site("in-process");
    let (client, token) = (&site.client, site.token.as_str());
    let (status, body) = client.send("POST", "/sources/nope/sync", Some(token), &json!({}));
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["detail"], "Source nope not found");
    let (status, body) = client.send("POST", "/sources/old/sync", Some(token), &json!({}));
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("disabled")));
    let (status, body) = client.send(
        "POST",
        "/users",
        Some(token),
        &json!({"username": "reader", "password": "reader-pw-1"}),
    );
    assert_eq!(status, 200, "{body}");
    let reader = client.login("reader", "reader-pw-1");
    let (status, body) = client.send("POST", "/sources/visits/sync", Some(&reader), &json!({}));
    assert_eq!(status, 403, "{body}");
    let (status, _) = client.send("POST", "/sources/visits/sync", None, &json!({}));
    assert_eq!(status, 401);
}

/// `GET /sources` until `visits` satisfies `done`; its entry then.
fn visits_when(site: &StartedApi, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, sources) = site.client.get("/sources", Some(&site.token));
        assert_eq!(status, 200, "{sources}");
        let visits = sources
            .as_array()
            .and_then(|all| all.iter().find(|s| s["name"] == "visits"))
            .cloned()
            .unwrap_or_default();
        if done(&visits) {
            return visits;
        }
        assert!(Instant::now() < deadline, "{visits}\n{}", site.server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn get_sources_shows_a_failing_source_then_its_last_run_counts_error_and_next_run() {
    let site = csv_site("process");
    // No file yet: the first sync fails.
    let failing = visits_when(&site, |v| v["state"] == "failing");
    let error = failing["last_error"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("visits.csv"), "{failing}");
    assert_eq!(failing["last_run"]["error"], failing["last_error"]["error"]);

    let csv = site.dir.path().join("visits.csv");
    std::fs::write(&csv, "id,pid,name\n1,P1,One^A\n2,P2,Two^B\n").expect("csv");
    request_sync(&site.client, &site.token);
    let synced = visits_when(&site, |v| v["last_run"]["fetched"] == 2);
    let run = &synced["last_run"];
    assert_eq!(synced["state"], "idle", "{synced}");
    assert_eq!(
        (
            &run["new"],
            &run["updated"],
            &run["unchanged"],
            &run["rejected"]
        ),
        (&json!(2), &json!(0), &json!(0), &json!(0)),
        "{synced}"
    );
    assert!(run["error"].is_null(), "{synced}");
    assert!(run["duration_seconds"].as_f64().is_some_and(|d| d >= 0.0));
    // The last failure stays visible after a good run.
    assert_eq!(
        synced["last_error"]["error"],
        failing["last_error"]["error"]
    );
    let started: jiff::Timestamp = run["started_at"]
        .as_str()
        .expect("started")
        .parse()
        .expect("a time");
    let next: jiff::Timestamp = synced["next_run"]
        .as_str()
        .expect("next")
        .parse()
        .expect("a time");
    assert_eq!(next.duration_since(started).as_secs(), 3600, "{synced}");

    std::fs::write(&csv, "id,pid,name\n1,P1,One^A\n2,P2,Two^C\n").expect("csv");
    request_sync(&site.client, &site.token);
    let again = visits_when(&site, |v| v["last_run"]["updated"] == 1);
    assert_eq!(again["last_run"]["unchanged"], 1, "{again}");
    assert_eq!(again["last_run"]["new"], 0, "{again}");
}
