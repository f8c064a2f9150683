//! The web console in a real browser: the real `pylantir start` with a CSV
//! source, a failing source and the API on loopback, users made with
//! `create-user`, and a scenario of tests/browser/ run by node, which drives
//! Debian's headless Chromium through playwright-core. Each scenario saves
//! screenshots under target/console-screenshots/.

use pylantir_tests::api::{run_cli, Client};
use pylantir_tests::browser::{browser_dir, install_browser_packages};
use pylantir_tests::server::{free_port, ServerProcess};
use pylantir_tests::{install_plugins, workspace_root};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The Study Instance UID of Müller's item (the MPPS scenario performs it).
const MULLER_STUDY_UID: &str = "1.2.826.0.1.3680043.10.1.1";

/// A running site: the server, its API URL and the configuration's directory.
struct Site {
    server: ServerProcess,
    url: String,
    dir: tempfile::TempDir,
}

/// Today and tomorrow in the local time zone (the browser's), `YYYY-MM-DD`.
fn today_and_tomorrow() -> (String, String) {
    let now = jiff::ZonedDateTime::now();
    let tomorrow = now.tomorrow().expect("a tomorrow");
    let day = |z: &jiff::ZonedDateTime| z.strftime("%Y-%m-%d").to_string();
    (day(&now), day(&tomorrow))
}

fn create_user(config: &Path, username: &str, role: &str, password: &str) {
    let (code, out, err) = run_cli(
        &[
            "create-user",
            "--username",
            username,
            "--role",
            role,
            "--pylantir_config",
            config.to_str().expect("utf-8 path"),
        ],
        &format!("{password}\n"),
    );
    assert_eq!(code, 0, "create-user {username}: {out}{err}");
}

/// Today's visits of two stations and one of tomorrow from `visits.csv`,
/// and a source `broken` whose file is missing; users `reader` and `writer`.
fn start_site() -> Site {
    let dir = tempfile::tempdir().expect("temp dir");
    let (today, tomorrow) = today_and_tomorrow();
    std::fs::write(
        dir.path().join("visits.csv"),
        format!(
            "id,pid,name,acc,date,time,modality,station,uid\n\
             1,P001,Müller^Jürgen,ACC001,{today},09:30,MR,MR_SCANNER,{MULLER_STUDY_UID}\n\
             2,P002,Doe^Jane,ACC002,{today},10:00,CT,CT_SCANNER,1.2.826.0.1.3680043.10.1.2\n\
             3,P003,Roe^Richard,ACC003,{today},11:00,MR,MR_SCANNER,1.2.826.0.1.3680043.10.1.3\n\
             4,P004,Later^Lara,ACC004,{tomorrow},09:00,MR,MR_SCANNER,1.2.826.0.1.3680043.10.1.4\n"
        ),
    )
    .expect("csv written");
    let mapping = serde_json::json!({
        "pid": "patient_id", "name": "patient_name", "acc": "accession_number",
        "date": "scheduled_start_date", "time": "scheduled_start_time", "modality": "modality",
        "station": "scheduled_station_aetitle", "uid": "study_instance_uid"
    });
    let api_port = free_port();
    let config = serde_json::json!({
        "db_path": "worklist.db",
        "api": {"enabled": true, "host": "127.0.0.1", "port": api_port},
        "data_sources": [
            {"name": "visits", "type": "csv", "sync_interval": 60,
             "config": {"file_path": "visits.csv", "record_id_column": "id"},
             "field_mapping": mapping},
            {"name": "broken", "type": "csv", "sync_interval": 60,
             "config": {"file_path": "missing.csv", "record_id_column": "id"},
             "field_mapping": mapping}
        ]
    });
    let config_path = dir.path().join("pylantir.json");
    std::fs::write(&config_path, config.to_string()).expect("config written");
    create_user(&config_path, "reader", "read", "reader-password");
    create_user(&config_path, "writer", "write", "writer-password");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    install_plugins(&plugins, &["pylantir_csv"]);
    let server = ServerProcess::start(&config_path, &plugins, &[]);
    let synced = server.wait_for_log(Duration::from_secs(30), |log| {
        log.contains("HTTP API listening")
            && log.contains("[csv:visits] fetched")
            && log.contains("missing.csv")
    });
    assert!(
        synced,
        "the API listens and both sources ran:\n{}",
        server.log()
    );
    Site {
        server,
        url: format!("http://127.0.0.1:{api_port}"),
        dir,
    }
}

/// Runs `tests/browser/<scenario>.mjs` against `site`; panics with its
/// output unless it passes.
fn run_scenario(site: &Site, scenario: &str, extra_env: &[(&str, &str)]) {
    let dir = browser_dir();
    install_browser_packages(&dir);
    let screenshots = workspace_root()
        .join("target")
        .join("console-screenshots")
        .join(scenario);
    let output = Command::new("node")
        .arg(dir.join(format!("{scenario}.mjs")))
        .current_dir(&dir)
        .env("CONSOLE_URL", &site.url)
        .env("SCREENSHOT_DIR", &screenshots)
        .env("PYLANTIR_BIN", &pylantir_tests::artifacts().bin)
        .env("DICOM_PORT", site.server.port.to_string())
        .env("SECRET_FILE", site.dir.path().join("pylantir-jwt-secret"))
        .envs(extra_env.iter().copied())
        .output()
        .expect("node could be run (node 18 or later on PATH)");
    assert!(
        output.status.success(),
        "browser scenario {scenario} failed:\n{}{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        site.server.log()
    );
}

#[test]
fn console_read_user_sees_and_filters_today_without_edit_controls_and_relogs_after_expiry() {
    let site = start_site();
    run_scenario(&site, "read_user", &[]);
}

#[test]
fn console_write_user_adds_edits_and_cancels_an_item() {
    let site = start_site();
    run_scenario(&site, "write_user", &[]);
    let db = rusqlite::Connection::open(site.dir.path().join("worklist.db")).expect("db");
    let (procedure, status): (String, String) = db
        .query_row(
            "SELECT procedure_description, performed_procedure_step_status FROM worklist_items \
             WHERE patient_id = 'P900'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("the added item is stored");
    assert_eq!(
        (procedure.as_str(), status.as_str()),
        ("Brain MRI", "DISCONTINUED")
    );
}

#[test]
fn console_shows_an_mpps_n_create_on_the_worklist_and_in_the_items_history_and_keeps_its_status() {
    let site = start_site();
    run_scenario(&site, "mpps", &[("MPPS_STUDY_UID", MULLER_STUDY_UID)]);
}

#[test]
fn console_shows_a_failing_sources_error_and_the_plugins() {
    let site = start_site();
    run_scenario(&site, "sources", &[]);
}

#[test]
fn console_shows_an_item_its_source_retracted_as_retracted_on_the_worklist() {
    let site = start_site();
    let csv = site.dir.path().join("visits.csv");
    let rows = std::fs::read_to_string(&csv).expect("visits.csv");
    let kept: String = rows
        .lines()
        .filter(|line| !line.contains("Roe^Richard"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&csv, kept).expect("visits.csv without Roe^Richard");
    let client = Client::new(&site.url);
    let token = client.login("writer", "writer-password");
    let (status, body) = client.send(
        "POST",
        "/sources/visits/sync",
        Some(&token),
        &serde_json::json!({}),
    );
    assert_eq!(status, 202, "sync now: {body}");
    let synced = site.server.wait_for_log(Duration::from_secs(30), |log| {
        log.matches("[csv:visits] fetched").count() >= 2
    });
    assert!(synced, "the second sync ran:\n{}", site.server.log());
    run_scenario(&site, "retracted", &[]);
}
