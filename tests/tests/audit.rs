//! The audit trail through the real binary: each event kind written with
//! its fields, `pylantir audit` reading it back (rotated files included),
//! an unwritable audit file refused at start, a failing one survived, and
//! rotation under load losing no record.

use pylantir_tests::api::{run_cli, Client};
use pylantir_tests::server::{api_url_in, ServerProcess};
use pylantir_tests::{library, temp_dir};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Every record of the audit files in `dir` whose names start with
/// `audit` (the current file and the rotated ones), in name order.
fn records(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("audit directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("audit"))
        })
        .collect();
    files.sort_by_key(|p| {
        // The current file (audit.jsonl) holds the newest records: last.
        (p.file_name().is_some_and(|n| n == "audit.jsonl"), p.clone())
    });
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("audit file")
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("a JSON record"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The records of `kind`.
fn of_kind(records: &[Value], kind: &str) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r["kind"] == kind)
        .cloned()
        .collect()
}

/// Waits (10 s at most) until the audit files in `dir` satisfy `done`.
fn wait_for_records(dir: &Path, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    wait_until_records(dir, Duration::from_secs(10), done)
}

/// Waits (`patience` at most) until the audit files in `dir` satisfy `done`.
fn wait_until_records(
    dir: &Path,
    patience: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + patience;
    loop {
        let found = records(dir);
        if done(&found) || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A record's time is an RFC 3339 UTC time of today.
fn assert_recent(record: &Value) {
    let time: jiff::Timestamp = record["time"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no time in {record}"));
    let age = jiff::Timestamp::now().duration_since(time);
    assert!(age.as_secs() < 600 && age.as_secs() >= 0, "{record}");
}

fn write_config(dir: &Path, config: Value) -> PathBuf {
    let path = dir.join("cfg.json");
    std::fs::write(&path, config.to_string()).expect("config");
    path
}

/// A site with the HTTP API enabled beside DICOM and `audit_log` set; its
/// admin (`admin` / `admin-password-1`) was made with `admin-password`.
struct ApiSite {
    dir: tempfile::TempDir,
    server: ServerProcess,
    client: Client,
}

impl ApiSite {
    fn start(audit_log: Value) -> ApiSite {
        let dir = temp_dir();
        std::fs::create_dir(dir.path().join("logs")).expect("logs directory");
        let config = write_config(
            dir.path(),
            json!({
                "db_path": "wl.db",
                "data_sources": [],
                "audit_log": audit_log,
                "api": {"enabled": true, "host": "127.0.0.1", "port": 0},
            }),
        );
        let cfg = config.to_str().expect("path");
        let (code, _, err) = run_cli(
            &["admin-password", "--pylantir_config", cfg],
            "admin-password-1\n",
        );
        assert_eq!(code, 0, "{err}");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).expect("plugin dir");
        let server = ServerProcess::start(&config, &plugins, &[]);
        assert!(
            server.wait_for_log(Duration::from_secs(20), |log| log
                .contains("HTTP API listening")),
            "{}",
            server.log()
        );
        let url = api_url_in(&server.log()).expect("the API's address in the log");
        let client = Client::new(&url);
        ApiSite {
            dir,
            server,
            client,
        }
    }
}

#[test]
fn http_logins_are_audited_with_user_address_and_outcome() {
    let site = ApiSite::start(json!("audit.jsonl"));
    let (status, _) = site.client.send(
        "POST",
        "/auth/login",
        None,
        &json!({"username": "admin", "password": "wrong-password"}),
    );
    assert_eq!(status, 401);
    site.client.login("admin", "admin-password-1");
    let found = wait_for_records(site.dir.path(), |r| of_kind(r, "login").len() == 2);
    let logins = of_kind(&found, "login");
    assert_eq!(logins.len(), 2, "{found:?}");
    for login in &logins {
        assert_recent(login);
    }
    let fields = |r: &Value| json!({"outcome": r["outcome"], "reason": r["reason"], "user": r["user"], "address": r["address"]});
    assert_eq!(
        fields(&logins[0]),
        json!({"outcome": "failure", "reason": "invalid username or password", "user": "admin", "address": "127.0.0.1"})
    );
    assert_eq!(
        fields(&logins[1]),
        json!({"outcome": "success", "reason": null, "user": "admin", "address": "127.0.0.1"})
    );
}

#[test]
fn api_and_cli_writes_are_audited_with_who_what_and_status_before_and_after() {
    let site = ApiSite::start(json!("audit.jsonl"));
    let token = site.client.login("admin", "admin-password-1");
    let (status, item) = site.client.send(
        "POST",
        "/worklist",
        Some(&token),
        &json!({"patient_id": "P7", "patient_name": "DOE^JANE", "modality": "MR"}),
    );
    assert_eq!(status, 200, "{item}");
    let id = item["id"].as_i64().expect("id");
    let path = format!("/worklist/{id}");
    let (status, _) = site.client.send(
        "PUT",
        &path,
        Some(&token),
        &json!({"performed_procedure_step_status": "COMPLETED"}),
    );
    assert_eq!(status, 200);
    let (status, _) = site.client.send("DELETE", &path, Some(&token), &json!({}));
    assert_eq!(status, 200);
    let (status, _) = site.client.send(
        "POST",
        "/users",
        Some(&token),
        &json!({"username": "tech", "password": "tech-password", "role": "write"}),
    );
    assert_eq!(status, 200);

    let found = wait_for_records(site.dir.path(), |r| of_kind(r, "write").len() == 5);
    let writes = of_kind(&found, "write");
    assert_eq!(writes.len(), 5, "{found:?}");
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "uid 0".into());
    let patient = json!([{"id": "P7", "name": "DOE^JANE"}]);
    let expected = [
        // `admin-password` (the command line) created the admin.
        json!({"via": "cli", "user": who, "address": null, "target": "user", "action": "create",
               "id": "admin", "fields": ["username", "password", "role"],
               "status_before": null, "status_after": "admin", "patients": []}),
        json!({"via": "http", "user": "admin", "address": "127.0.0.1", "target": "worklist_item",
               "action": "create", "id": id.to_string(), "fields": ["patient_id", "patient_name", "modality"],
               "status_before": null, "status_after": "SCHEDULED", "patients": patient}),
        json!({"via": "http", "user": "admin", "address": "127.0.0.1", "target": "worklist_item",
               "action": "update", "id": id.to_string(), "fields": ["performed_procedure_step_status"],
               "status_before": "SCHEDULED", "status_after": "COMPLETED", "patients": patient}),
        json!({"via": "http", "user": "admin", "address": "127.0.0.1", "target": "worklist_item",
               "action": "delete", "id": id.to_string(), "fields": [],
               "status_before": "COMPLETED", "status_after": null, "patients": patient}),
        json!({"via": "http", "user": "admin", "address": "127.0.0.1", "target": "user",
               "action": "create", "id": "tech", "fields": ["username", "password", "role"],
               "status_before": null, "status_after": "write", "patients": []}),
    ];
    for (write, expected) in writes.iter().zip(expected) {
        assert_recent(write);
        assert_eq!(write["outcome"], "success", "{write}");
        let mut fields = write.as_object().expect("object").clone();
        for common in ["time", "kind", "outcome", "reason"] {
            fields.remove(common);
        }
        assert_eq!(Value::Object(fields), expected);
    }
}

#[test]
fn an_audit_log_in_a_missing_directory_stops_check_config_and_start() {
    let dir = temp_dir();
    let config = write_config(
        dir.path(),
        json!({"db_path": "wl.db", "data_sources": [], "audit_log": "logs/audit.jsonl"}),
    );
    let cfg = config.to_str().expect("path");
    let expected = format!(
        "audit_log: the audit file's directory {} does not exist; create it",
        dir.path().join("logs").display()
    );
    let (code, _, err) = run_cli(&["check-config", "--pylantir_config", cfg], "");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&expected), "{err}");
    let (code, _, err) = run_cli(&["start", "--pylantir_config", cfg, "--port", "0"], "");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&expected), "{err}");
}

#[test]
fn a_refused_plugin_is_audited_with_its_file_and_reason() {
    let dir = temp_dir();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin dir");
    let junk = plugins.join("libpylantir_junk.so");
    std::fs::write(&junk, b"not a shared library").expect("junk plugin");
    let config = write_config(
        dir.path(),
        json!({"db_path": "wl.db", "data_sources": [], "audit_log": "audit.jsonl"}),
    );
    let _server = ServerProcess::start(&config, &plugins, &[]);
    let found = wait_for_records(dir.path(), |r| !of_kind(r, "plugin_refused").is_empty());
    let refused = of_kind(&found, "plugin_refused");
    assert_eq!(refused.len(), 1, "{found:?}");
    assert_recent(&refused[0]);
    assert_eq!(refused[0]["outcome"], "failure");
    assert_eq!(refused[0]["file"], junk.display().to_string());
    let reason = refused[0]["reason"].as_str().expect("reason");
    assert!(!reason.is_empty(), "{reason}");
}

#[test]
fn a_source_disabled_after_crashes_is_audited_with_its_name_and_reason() {
    let site = pylantir_tests::isolation::Site::new(
        &library("fixture_failing"),
        json!({"mode": "segfault"}),
        json!({"max_crashes": 2, "crash_window_minutes": 10}),
        json!({"audit_log": "audit.jsonl"}),
    );
    let server = site.start();
    let found = wait_until_records(site.dir.path(), Duration::from_secs(60), |r| {
        !of_kind(r, "source_disabled").is_empty()
    });
    let disabled = of_kind(&found, "source_disabled");
    assert_eq!(disabled.len(), 1, "{found:?}\n{}", server.log());
    assert_recent(&disabled[0]);
    assert_eq!(disabled[0]["outcome"], "failure");
    assert_eq!(disabled[0]["source"], "bad");
    assert_eq!(
        disabled[0]["reason"],
        "source 'bad' disabled after 2 worker failures within 10 minutes (last: worker killed by \
         SIGSEGV during fetch); fix the plugin, then restart pylantir"
    );
}

#[test]
fn an_audit_directory_removed_at_run_time_costs_no_record_once_it_is_back() {
    let site = ApiSite::start(json!("logs/audit.jsonl"));
    let logs = site.dir.path().join("logs");
    site.client.login("admin", "admin-password-1");
    wait_for_records(&logs, |r| of_kind(r, "login").len() == 1);
    std::fs::remove_dir_all(&logs).expect("logs removed");

    // The API still answers at once; the record waits for the directory.
    let started = Instant::now();
    let (status, _) = site.client.send(
        "POST",
        "/auth/login",
        None,
        &json!({"username": "admin", "password": "wrong-password"}),
    );
    assert_eq!(status, 401);
    assert!(started.elapsed() < Duration::from_secs(5));
    let expected = format!(
        "audit: audit log {}: No such file or directory",
        logs.join("audit.jsonl").display()
    );
    assert!(
        site.server
            .wait_for_log(Duration::from_secs(10), |log| log.contains(&expected)),
        "{}",
        site.server.log()
    );
    std::fs::create_dir(&logs).expect("logs back");
    let found = wait_for_records(&logs, |r| !of_kind(r, "login").is_empty());
    let logins = of_kind(&found, "login");
    assert_eq!(logins.len(), 1, "{found:?}");
    assert_eq!(logins[0]["outcome"], "failure");
    assert!(
        site.server.wait_for_log(Duration::from_secs(10), |log| log
            .contains("audit: the audit log is written again")),
        "{}",
        site.server.log()
    );
}

#[test]
fn pylantir_audit_lists_who_saw_or_changed_a_patient_across_rotated_files() {
    let dir = temp_dir();
    let query = |time: &str, id: &str| {
        json!({"time": time, "outcome": "success", "reason": null, "kind": "query",
               "calling_ae": "CT1", "called_ae": "MWL", "address": "10.0.0.7:4000",
               "tls_subject": null, "sop_class": "1.2.840.10008.5.1.4.31",
               "keys": {"PatientID": id}, "matches": 1,
               "patients": [{"id": id, "name": "DOE^JANE"}]})
    };
    let write = json!({"time": "2026-12-05T09:00:00Z", "outcome": "success", "reason": null,
        "kind": "write", "via": "http", "user": "alice", "address": "10.0.0.9",
        "target": "worklist_item", "action": "update", "id": "4",
        "fields": ["performed_procedure_step_status"], "status_before": "SCHEDULED",
        "status_after": "COMPLETED", "patients": [{"id": "P1", "name": "DOE^JANE"}]});
    let lines = |records: &[Value]| records.iter().map(|r| format!("{r}\n")).collect::<String>();
    std::fs::write(
        dir.path().join("audit.20261201T000000.000000Z.jsonl"),
        lines(&[
            query("2026-12-01T08:00:00Z", "P1"),
            query("2026-12-01T08:05:00Z", "P2"),
        ]),
    )
    .expect("rotated file");
    std::fs::write(
        dir.path().join("audit.jsonl"),
        lines(std::slice::from_ref(&write)),
    )
    .expect("audit file");
    let config = write_config(
        dir.path(),
        json!({"db_path": "wl.db", "data_sources": [], "audit_log": "audit.jsonl"}),
    );
    let cfg = config.to_str().expect("path");
    let audit = |extra: &[&str]| {
        let mut args = vec!["audit", "--pylantir_config", cfg, "--patient-id", "P1"];
        args.extend_from_slice(extra);
        let (code, out, err) = run_cli(&args, "");
        assert_eq!(code, 0, "{err}");
        out
    };
    let json_lines = |out: String| {
        out.lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        json_lines(audit(&["--json"])),
        [query("2026-12-01T08:00:00Z", "P1"), write.clone()]
    );
    assert_eq!(
        json_lines(audit(&["--json", "--since", "2026-12-02"])),
        std::slice::from_ref(&write)
    );
    assert_eq!(
        json_lines(audit(&[
            "--json",
            "--until",
            "2026-12-05T09:00:00Z",
            "--kind",
            "query"
        ])),
        [query("2026-12-01T08:00:00Z", "P1")]
    );
    let table = audit(&[]);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows[0].contains("CT1@10.0.0.7:4000"), "{table}");
    assert!(rows[1].contains("alice@10.0.0.9 (http)"), "{table}");
    assert!(
        rows[1].contains("update worklist_item 4 [P1] SCHEDULED -> COMPLETED"),
        "{table}"
    );
}

/// A site serving a worklist with two items (P1 MR, P2 CT) over DICOM
/// through the real `pylantir start`, with `extra` configuration keys.
struct DicomSite {
    dir: tempfile::TempDir,
    server: ServerProcess,
}

impl DicomSite {
    fn start(extra: Value) -> DicomSite {
        let dir = temp_dir();
        let db = dir.path().join("wl.db");
        drop(pylantir::store::open(&db).expect("worklist database"));
        let conn = rusqlite::Connection::open(&db).expect("open");
        for (id, name, modality) in [("P1", "DOE^JANE", "MR"), ("P2", "ROE^RICH", "CT")] {
            conn.execute(
                "INSERT INTO worklist_items (patient_id, patient_name, modality) VALUES (?1, ?2, ?3)",
                [id, name, modality],
            )
            .expect("insert an item");
        }
        let mut config =
            json!({"db_path": "wl.db", "data_sources": [], "audit_log": "audit.jsonl"});
        if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            config.extend(extra.clone());
        }
        let config = write_config(dir.path(), config);
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).expect("plugin dir");
        let server = ServerProcess::start(&config, &plugins, &[]);
        DicomSite { dir, server }
    }

    fn port(&self) -> String {
        self.server.port.to_string()
    }

    /// `findscu -W` as `calling` for the MR items; returns how many answers.
    fn findscu_mr(&self, calling: &str) -> usize {
        let query = pylantir_tests::dicom::query_file(
            self.dir.path(),
            "mr",
            "(0010,0010) PN []\n(0010,0020) LO []\n(0040,0100) SQ\n(fffe,e000) -\n\
             (0008,0060) CS [MR]\n(0040,0001) AE []\n(fffe,e00d) -\n(fffe,e0dd) -\n",
        );
        let out = self.dir.path().join("answers");
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir(&out).expect("answers dir");
        let output = std::process::Command::new("findscu")
            .args(["-W", "-X", "-od"])
            .arg(&out)
            .args([
                "-aet",
                calling,
                "-aec",
                "MWL_SERVER",
                "-to",
                "10",
                "-ta",
                "10",
                "-td",
                "10",
            ])
            .args(["127.0.0.1", &self.port()])
            .arg(&query)
            .output()
            .expect("findscu runs");
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read_dir(&out).expect("answers").count()
    }
}

/// The DICOM peer fields of a record, with the port of the address dropped.
fn peer_fields(record: &Value) -> Value {
    let address = record["address"].as_str().unwrap_or("");
    let ip = address.rsplit_once(':').map_or(address, |(ip, _)| ip);
    json!({"outcome": record["outcome"], "reason": record["reason"],
           "calling_ae": record["calling_ae"], "called_ae": record["called_ae"],
           "ip": ip, "tls_subject": record["tls_subject"]})
}

#[test]
fn associations_accepted_and_refused_are_audited_with_both_aes_and_the_peer() {
    if pylantir_tests::dicom::dcmtk("echoscu").is_none() {
        return;
    }
    let site = DicomSite::start(json!({"allowed_aet": ["CT1"]}));
    for calling in ["CT1", "INTRUDER"] {
        let _ = std::process::Command::new("echoscu")
            .args([
                "-aet",
                calling,
                "-aec",
                "MWL_SERVER",
                "127.0.0.1",
                &site.port(),
            ])
            .output()
            .expect("echoscu runs");
    }
    let found = wait_for_records(site.dir.path(), |r| of_kind(r, "association").len() == 2);
    let associations = of_kind(&found, "association");
    assert_eq!(associations.len(), 2, "{found:?}\n{}", site.server.log());
    for record in &associations {
        assert_recent(record);
    }
    assert_eq!(
        peer_fields(&associations[0]),
        json!({"outcome": "success", "reason": null, "calling_ae": "CT1",
               "called_ae": "MWL_SERVER", "ip": "127.0.0.1", "tls_subject": null})
    );
    assert_eq!(
        peer_fields(&associations[1]),
        json!({"outcome": "failure", "reason": "calling AE title not in allowed_aet",
               "calling_ae": "INTRUDER", "called_ae": "MWL_SERVER", "ip": "127.0.0.1",
               "tls_subject": null})
    );
}

#[test]
fn an_association_over_tls_is_audited_with_the_client_certificates_subject() {
    let pki = pylantir_tests::pki::pki();
    let tls_port = pylantir_tests::server::free_port().to_string();
    let site = DicomSite::start(json!({"tls": {
        "cert": pki.server.cert, "key": pki.server.key, "client_ca": pki.ca,
        "port": tls_port.parse::<u16>().expect("port")}}));
    let output = std::process::Command::new(&pylantir_tests::artifacts().bin)
        .args(["echo", "--ip", "127.0.0.1", "--port", &tls_port])
        .args([
            "--AEtitle",
            "MWL_SERVER",
            "--callingAEtitle",
            "CT1",
            "--tls",
        ])
        .arg("--tls-ca")
        .arg(&pki.ca)
        .arg("--tls-cert")
        .arg(&pki.client.cert)
        .arg("--tls-key")
        .arg(&pki.client.key)
        .output()
        .expect("pylantir echo runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let found = wait_for_records(site.dir.path(), |r| !of_kind(r, "association").is_empty());
    let associations = of_kind(&found, "association");
    assert_eq!(associations.len(), 1, "{found:?}\n{}", site.server.log());
    assert_eq!(
        peer_fields(&associations[0]),
        json!({"outcome": "success", "reason": null, "calling_ae": "CT1",
               "called_ae": "MWL_SERVER", "ip": "127.0.0.1", "tls_subject": "CN=MODALITY-1"})
    );
}

#[test]
fn a_cfind_is_audited_with_its_keys_the_number_of_items_and_the_patients() {
    if pylantir_tests::dicom::dcmtk("findscu").is_none() {
        return;
    }
    let site = DicomSite::start(json!({}));
    assert_eq!(site.findscu_mr("CT1"), 1);
    let found = wait_for_records(site.dir.path(), |r| !of_kind(r, "query").is_empty());
    let queries = of_kind(&found, "query");
    assert_eq!(queries.len(), 1, "{found:?}");
    let query = &queries[0];
    assert_recent(query);
    assert_eq!(
        peer_fields(query),
        json!({"outcome": "success", "reason": null, "calling_ae": "CT1",
               "called_ae": "MWL_SERVER", "ip": "127.0.0.1", "tls_subject": null})
    );
    assert_eq!(query["sop_class"], "1.2.840.10008.5.1.4.31");
    assert_eq!(
        query["keys"],
        json!({"ScheduledProcedureStepSequence": {"Modality": "MR"}})
    );
    assert_eq!(query["matches"], 1);
    assert_eq!(query["patients"], json!([{"id": "P1", "name": "DOE^JANE"}]));
}

#[test]
fn mpps_n_create_and_n_set_are_audited_with_the_patient_and_status() {
    let site = DicomSite::start(json!({}));
    let port = site.port();
    let mpps = |extra: &[&str]| {
        let mut args = vec!["test-mpps", "--port", &port, "--callingAEtitle", "MR1"];
        args.extend_from_slice(extra);
        let (code, out, err) = run_cli(&args, "");
        assert_eq!(code, 0, "{out}{err}");
    };
    mpps(&[
        "--mpps_action",
        "create",
        "--sop_uid",
        "2.25.77",
        "--patient-id",
        "P1",
        "--patient-name",
        "DOE^JANE",
    ]);
    mpps(&[
        "--mpps_action",
        "set",
        "--sop_uid",
        "2.25.77",
        "--mpps_status",
        "COMPLETED",
    ]);
    let found = wait_for_records(site.dir.path(), |r| of_kind(r, "mpps").len() == 2);
    let messages = of_kind(&found, "mpps");
    assert_eq!(messages.len(), 2, "{found:?}\n{}", site.server.log());
    let patient = json!([{"id": "P1", "name": "DOE^JANE"}]);
    for (record, (operation, status)) in messages
        .iter()
        .zip([("N-CREATE", "IN PROGRESS"), ("N-SET", "COMPLETED")])
    {
        assert_recent(record);
        assert_eq!(
            peer_fields(record),
            json!({"outcome": "success", "reason": null, "calling_ae": "MR1",
                   "called_ae": "MWL_SERVER", "ip": "127.0.0.1", "tls_subject": null})
        );
        assert_eq!(record["operation"], operation);
        assert_eq!(record["sop_instance_uid"], "2.25.77");
        assert_eq!(record["status"], status);
        assert_eq!(record["patients"], patient);
    }
}

#[test]
fn a_full_audit_disk_never_holds_up_a_cfind() {
    if pylantir_tests::dicom::dcmtk("findscu").is_none() {
        return;
    }
    let site = DicomSite::start(json!({"audit_log": "/dev/full"}));
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(site.findscu_mr("CT1"), 1);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    assert!(
        site.server.wait_for_log(Duration::from_secs(10), |log| log
            .contains("audit: audit log /dev/full: No space left on device")),
        "{}",
        site.server.log()
    );
}

#[test]
fn rotation_under_load_loses_no_record() {
    let site = DicomSite::start(json!({"audit_log": {"path": "audit.jsonl", "rotate_mb": 1}}));
    let (clients, queries) = (4, 800);
    let (code, out, err) = run_cli(
        &[
            "bench-find",
            "--port",
            &site.port(),
            "--clients",
            &clients.to_string(),
            "--queries",
            &queries.to_string(),
            "--new-association",
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    let expected = clients * queries;
    let found = wait_until_records(site.dir.path(), Duration::from_secs(30), |r| {
        of_kind(r, "query").len() >= expected
    });
    let files = std::fs::read_dir(site.dir.path())
        .expect("site")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("audit."))
        .count();
    assert!(files >= 2, "no rotation happened: {files} file(s)");
    assert_eq!(of_kind(&found, "query").len(), expected);
    assert_eq!(of_kind(&found, "association").len(), expected);
    assert_eq!(of_kind(&found, "records_lost").len(), 0);
}

#[test]
fn a_syslog_collector_receives_each_record_as_an_rfc5424_a5_message() {
    let collector = std::net::UdpSocket::bind("127.0.0.1:0").expect("collector");
    collector
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let address = format!("udp:{}", collector.local_addr().expect("address"));
    let site = ApiSite::start(json!({"path": "audit.jsonl", "syslog": {"address": address}}));
    site.client.login("admin", "admin-password-1");
    let mut buffer = vec![0u8; 65536];
    let login = loop {
        let n = collector.recv(&mut buffer).expect("a syslog message");
        let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
        if text.contains("csd-code=\"110114\"") {
            break text;
        }
    };
    assert!(login.starts_with("<85>1 "), "{login}");
    assert!(
        login.contains(
            " IHE+RFC-3881 - \u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?><AuditMessage>"
        ),
        "{login}"
    );
    assert!(login.contains("EventOutcomeIndicator=\"0\""), "{login}");
    assert!(
        login.contains("<ActiveParticipant UserID=\"admin\" UserIsRequestor=\"true\" NetworkAccessPointID=\"127.0.0.1\" NetworkAccessPointTypeCode=\"2\""),
        "{login}"
    );
    assert!(login.ends_with("</AuditMessage>"), "{login}");
}
