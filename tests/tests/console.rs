//! The web console in a real browser: the real `pylantir start` with a CSV
//! source, a failing source and the API on loopback, users made with
//! `create-user`, and a scenario of tests/browser/ run by node, which drives
//! Debian's headless Chromium through playwright-core. Each scenario saves
//! screenshots under target/console-screenshots/.

use pylantir_tests::api::Client;
use pylantir_tests::browser::{Browser, ConsoleSite, MULLER_STUDY_UID};
use pylantir_tests::workspace_root;
use std::time::Duration;

/// Set (to anything) to have the docs pictures test write
/// docs/console-worklist.png and docs/console-sources.png.
const WRITE_DOCS_PICTURES: &str = "PYLANTIR_WRITE_DOCS_PICTURES";

#[test]
fn console_read_user_sees_and_filters_today_without_edit_controls_and_relogs_after_expiry() {
    let site = ConsoleSite::start();
    site.run_scenario("read_user", Browser::Chromium, &[]);
}

#[test]
fn console_write_user_adds_edits_and_cancels_an_item() {
    let site = ConsoleSite::start();
    site.run_scenario("write_user", Browser::Chromium, &[]);
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
    let site = ConsoleSite::start();
    site.run_scenario(
        "mpps",
        Browser::Chromium,
        &[("MPPS_STUDY_UID", MULLER_STUDY_UID)],
    );
}

#[test]
fn console_shows_a_failing_sources_error_and_the_plugins() {
    let site = ConsoleSite::start();
    site.run_scenario("sources", Browser::Chromium, &[]);
}

#[test]
fn console_shows_an_item_its_source_retracted_as_retracted_on_the_worklist() {
    let site = ConsoleSite::start();
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
    site.run_scenario("retracted", Browser::Chromium, &[]);
}

/// Also regenerates the docs' pictures:
/// `PYLANTIR_WRITE_DOCS_PICTURES=1 cargo test -p pylantir-tests --test integration console_pictures`.
#[test]
fn console_pictures_for_the_docs_show_todays_worklist_and_the_failing_source() {
    let site = ConsoleSite::start();
    let docs = workspace_root().join("docs");
    let docs = docs.to_str().expect("a UTF-8 workspace path");
    let into_docs: &[(&str, &str)] = if std::env::var_os(WRITE_DOCS_PICTURES).is_some() {
        &[("SCREENSHOT_DIR", docs)]
    } else {
        &[]
    };
    site.run_scenario("docs_pictures", Browser::Chromium, into_docs);
}
