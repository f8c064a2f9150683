//! A plugin that aborts, segfaults, exits, overflows its stack, hangs or
//! panics with `panic = "abort"` never takes the worklist server down: the
//! real `pylantir start` keeps answering C-ECHO and C-FIND, the healthy
//! source keeps syncing, the failure is recorded in `sync_runs` with its
//! reason, and the source recovers once the plugin stops failing (the
//! fixture fails on its first fetch only).

use pylantir_tests::isolation::{assert_echo, find_patients, panic_abort_fixture, Site};
use pylantir_tests::library;
use serde_json::json;
use std::path::Path;

/// Runs the scenario for one failure `mode` of `fixture`; `reason` must
/// accept the error recorded for the failed run.
fn fails_once_and_recovers(fixture: &Path, mode: &str, reason: impl Fn(&str) -> bool) -> String {
    let site = Site::new(
        fixture,
        json!({"mode": mode, "marker": true}),
        json!({}),
        json!({}),
    );
    let server = site.start();
    // During the failure: the server answers.
    assert_echo(&server);
    find_patients(&server);

    let (failed, error) = site.wait_for_failure(&server, "bad", &reason);
    assert_echo(&server);
    site.wait_for_success(&server, "good", failed);
    assert!(
        find_patients(&server).contains(&"P001".to_string()),
        "the healthy source's item is served"
    );

    site.wait_for_success(&server, "bad", failed);
    assert_eq!(site.patients("bad"), ["F0"]);
    assert_eq!(find_patients(&server), ["F0", "P001"]);
    error
}

fn fixture() -> std::path::PathBuf {
    library("fixture_failing")
}

#[test]
fn an_aborting_plugin_is_recorded_as_sigabrt_and_recovers() {
    let error = fails_once_and_recovers(&fixture(), "abort", |e| e.contains("SIGABRT"));
    assert_eq!(error, "fetch failed: worker killed by SIGABRT during fetch");
}

#[test]
fn a_null_pointer_write_is_recorded_as_sigsegv_and_recovers() {
    let error = fails_once_and_recovers(&fixture(), "segfault", |e| e.contains("SIGSEGV"));
    assert_eq!(error, "fetch failed: worker killed by SIGSEGV during fetch");
}

#[test]
fn a_plugin_calling_exit_is_recorded_with_its_status_and_recovers() {
    let error = fails_once_and_recovers(&fixture(), "exit", |e| e.contains("status 7"));
    assert_eq!(
        error,
        "fetch failed: worker exited with status 7 during fetch"
    );
}

#[test]
fn a_stack_overflow_is_recorded_as_a_signal_and_recovers() {
    let error = fails_once_and_recovers(&fixture(), "stack-overflow", |e| {
        e.contains("worker killed by SIG")
    });
    assert!(
        error.contains("SIGABRT") || error.contains("SIGSEGV"),
        "{error}"
    );
}

fn timed_out(error: &str) -> bool {
    error.contains("fetch timed out after 1 s")
        || error.contains("did not answer `fetch` within 1 s")
}

#[test]
fn an_endless_loop_in_fetch_is_cut_at_the_deadline_and_recovers() {
    fails_once_and_recovers(&fixture(), "loop", timed_out);
}

#[test]
fn a_fetch_sleeping_past_the_deadline_is_cut_and_recovers() {
    fails_once_and_recovers(&fixture(), "sleep", timed_out);
}

#[test]
fn a_panic_in_a_panic_abort_plugin_kills_only_its_worker() {
    let error = fails_once_and_recovers(panic_abort_fixture(), "panic", |e| e.contains("SIGABRT"));
    assert_eq!(error, "fetch failed: worker killed by SIGABRT during fetch");
}

#[test]
fn a_plugin_printing_to_stdout_does_not_corrupt_the_protocol() {
    let site = Site::new(&fixture(), json!({"mode": "stdout"}), json!({}), json!({}));
    let server = site.start();
    let first = site.wait_for_success(&server, "bad", 0);
    assert!(
        site.runs("bad")
            .iter()
            .all(|(id, error)| *id > first || error.is_none()),
        "{:?}",
        site.runs("bad")
    );
    assert_eq!(site.patients("bad"), ["F0"]);
    assert!(
        server.wait_for_log(pylantir_tests::isolation::PATIENCE, |log| log
            .contains("[failing:bad] fixture noise on stdout 99")),
        "the plugin's stdout is relayed to the log under the source's name:\n{}",
        server.log()
    );
}
