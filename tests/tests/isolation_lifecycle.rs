//! The life of plugin workers around the server: a crash-looping source is
//! disabled while the server stays up, no worker outlives the server
//! (SIGTERM or SIGKILL), `"isolation": "in-process"` still works, and
//! `plugins list` survives a plugin that kills its loader.

use pylantir_tests::isolation::{
    assert_echo, find_patients, wait_until, workers_under, zombie_children, Site,
};
use pylantir_tests::{artifacts, library};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

#[test]
fn a_crash_looping_source_is_disabled_and_the_server_stays_up() {
    let site = Site::new(
        &library("fixture_failing"),
        json!({"mode": "segfault"}),
        json!({"max_crashes": 3, "crash_window_minutes": 10}),
        json!({}),
    );
    let server = site.start();
    let (disabled, error) = site.wait_for_failure(&server, "bad", |e| e.contains("disabled"));
    assert_eq!(
        error,
        "cannot create the source: source 'bad' disabled after 3 worker failures within 10 minutes \
         (last: worker killed by SIGSEGV during fetch); fix the plugin, then restart pylantir"
    );
    let crashes = site
        .runs("bad")
        .iter()
        .filter(|(_, e)| {
            e.as_deref() == Some("fetch failed: worker killed by SIGSEGV during fetch")
        })
        .count();
    assert_eq!(crashes, 3, "{:?}", site.runs("bad"));
    assert!(server
        .log()
        .contains("ERROR pylantir::isolation::health] source 'bad' disabled after 3"));

    let runs_when_disabled = site.runs("bad").len();
    assert_echo(&server);
    site.wait_for_success(&server, "good", disabled);
    assert_eq!(find_patients(&server), ["P001"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(
        site.runs("bad").len(),
        runs_when_disabled,
        "a disabled source stops syncing (sync_interval is 1 s): {:?}",
        site.runs("bad")
    );
    assert_eq!(zombie_children(server.pid()), Vec::<u32>::new());

    let query_db = Command::new(&artifacts().bin)
        .args(["query-db", "--pylantir_config"])
        .arg(&site.config)
        .output()
        .expect("pylantir query-db runs");
    let stderr = String::from_utf8_lossy(&query_db.stderr);
    assert!(
        stderr.contains(
            "warning: data source `bad`: cannot create the source: source 'bad' disabled after 3"
        ),
        "{stderr}"
    );
    let list = Command::new(&artifacts().bin)
        .args(["plugins", "list", "--plugin-dir"])
        .arg(&site.plugins)
        .arg("--pylantir_config")
        .arg(&site.config)
        .output()
        .expect("pylantir plugins list runs");
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert_eq!(list.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .contains("data source `bad`: cannot create the source: source 'bad' disabled after 3"),
        "{stdout}"
    );
}

/// A site whose `bad` source sits in a fetch for a minute.
fn busy_site() -> Site {
    Site::new(
        &library("fixture_failing"),
        json!({"mode": "sleep"}),
        json!({"fetch_timeout": 60}),
        json!({}),
    )
}

fn wait_for_workers(site: &Site, count: usize) -> Vec<u32> {
    wait_until(|| {
        let workers = workers_under(&site.plugins);
        (workers.len() >= count).then_some(workers)
    })
    .expect("the workers of both sources run")
}

#[test]
fn no_worker_remains_after_sigterm_even_one_stuck_in_a_fetch() {
    let site = busy_site();
    let mut server = site.start();
    wait_for_workers(&site, 2);
    let status = server
        .terminate(Duration::from_secs(20))
        .expect("pylantir stops after SIGTERM");
    assert!(status.success(), "{status}\n{}", server.log());
    let gone = wait_until(|| workers_under(&site.plugins).is_empty().then_some(()));
    assert!(
        gone.is_some(),
        "workers left: {:?}",
        workers_under(&site.plugins)
    );
}

#[test]
fn workers_end_when_the_server_is_killed() {
    let site = busy_site();
    let server = site.start();
    wait_for_workers(&site, 2);
    drop(server); // SIGKILL: no cleanup runs in the server
    let gone = wait_until(|| workers_under(&site.plugins).is_empty().then_some(()));
    assert!(
        gone.is_some(),
        "workers left: {:?}",
        workers_under(&site.plugins)
    );
}

#[test]
fn an_in_process_source_syncs_without_a_worker() {
    let site = Site::new(
        &library("fixture_failing"),
        json!({"mode": "ok"}),
        json!({"isolation": "in-process"}),
        json!({}),
    );
    let server = site.start();
    site.wait_for_success(&server, "bad", 0);
    site.wait_for_success(&server, "good", 0);
    assert_eq!(find_patients(&server), ["F0", "P001"]);
    let fixture_file = site.plugins.join("libpylantir_failing.so");
    let csv_file = site.plugins.join("libpylantir_csv.so");
    assert_eq!(workers_under(&fixture_file), Vec::<u32>::new());
    assert_eq!(
        workers_under(&csv_file).len(),
        1,
        "the csv source runs in a worker"
    );
}

#[test]
fn plugins_list_reports_a_plugin_that_kills_its_loader() {
    let site = Site::new(&library("fixture_failing"), json!({}), json!({}), json!({}));
    let output = Command::new(&artifacts().bin)
        .args(["plugins", "list", "--plugin-dir"])
        .arg(&site.plugins)
        .env("FIXTURE_FAILING_ON_LOAD", "SIGBUS")
        .output()
        .expect("pylantir plugins list runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let line = |file: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!("/{file}")))
            .unwrap_or_else(|| panic!("no line for {file}:\n{stdout}"))
            .to_string()
    };
    assert!(
        line("libpylantir_failing.so").ends_with("refused: worker died: SIGBUS while loading"),
        "{stdout}"
    );
    assert!(line("libpylantir_csv.so").ends_with(" loaded"), "{stdout}");
}

#[test]
fn a_plugin_built_with_panic_abort_is_listed_as_worker_only() {
    let site = Site::new(
        pylantir_tests::isolation::panic_abort_fixture(),
        json!({}),
        json!({}),
        json!({}),
    );
    let output = Command::new(&artifacts().bin)
        .args(["plugins", "list", "--plugin-dir"])
        .arg(&site.plugins)
        .output()
        .expect("pylantir plugins list runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("/libpylantir_failing.so"))
        .unwrap_or_else(|| panic!("no line for the fixture:\n{stdout}"));
    assert!(
        line.ends_with(
            "loaded (built with panic = \"abort\": runs only with \"isolation\": \"process\")"
        ),
        "{line}"
    );
}

#[test]
fn an_in_process_source_refuses_a_panic_abort_plugin() {
    let site = Site::new(
        pylantir_tests::isolation::panic_abort_fixture(),
        json!({}),
        json!({"isolation": "in-process"}),
        json!({}),
    );
    let output = Command::new(&artifacts().bin)
        .args(["check-config", "--plugin-dir"])
        .arg(&site.plugins)
        .arg("--pylantir_config")
        .arg(&site.config)
        .output()
        .expect("pylantir check-config runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("refused: built with panic = \"abort\": any panic in it would kill pylantir"),
        "{stderr}"
    );
}
