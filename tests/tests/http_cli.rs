//! The HTTP API's commands: `admin-password`, `create-user`, `list-users`
//! (non-interactive, password on stdin), and `pylantir start` serving the
//! API beside DICOM when `api.enabled` is set.

use pylantir_tests::api::{run_cli, ApiProcess, Client};
use pylantir_tests::server::ServerProcess;
use serde_json::{json, Value};
use std::path::Path;

fn config(dir: &Path, extra: Value) -> std::path::PathBuf {
    let mut config = json!({"db_path": "wl.db", "data_sources": []});
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    let path = dir.join("cfg.json");
    std::fs::write(&path, config.to_string()).expect("config");
    path
}

#[test]
fn admin_password_from_stdin_creates_the_first_admin_who_can_log_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), json!({}));
    let cfg = cfg.to_str().expect("path");
    let (code, _, err) = run_cli(
        &[
            "admin-password",
            "--username",
            "root",
            "--pylantir_config",
            cfg,
        ],
        "short\n",
    );
    assert_ne!(code, 0, "a 5-character password is refused");
    assert!(err.contains("at least 8"), "{err}");
    let (code, out, err) = run_cli(
        &[
            "admin-password",
            "--username",
            "root",
            "--pylantir_config",
            cfg,
        ],
        "first-admin-pw\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        dir.path().join("users.db").exists(),
        "users.db beside wl.db"
    );
    let api = ApiProcess::start(Path::new(cfg), &[]);
    let token = api.client().login("root", "first-admin-pw");
    assert_eq!(api.client().get("/users", Some(&token)).0, 200);
    let (code, _, err) = run_cli(
        &[
            "admin-password",
            "--username",
            "root",
            "--pylantir_config",
            cfg,
        ],
        "second-admin-pw\n",
    );
    assert_eq!(code, 0, "{err}");
    api.client().login("root", "second-admin-pw");
}

#[test]
fn create_user_and_list_users_work_without_a_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), json!({"users_db_path": "accounts.db"}));
    let cfg = cfg.to_str().expect("path");
    let (code, out, err) = run_cli(
        &[
            "create-user",
            "--username",
            "tech",
            "--role",
            "write",
            "--email",
            "tech@example.org",
            "--pylantir_config",
            cfg,
        ],
        "tech-password\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, _) = run_cli(
        &[
            "create-user",
            "--username",
            "tech",
            "--pylantir_config",
            cfg,
        ],
        "another-password\n",
    );
    assert_ne!(code, 0, "a taken username is refused");
    let (code, out, err) = run_cli(&["list-users", "--json", "--pylantir_config", cfg], "");
    assert_eq!(code, 0, "{err}");
    let users: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(users[0]["username"], "tech");
    assert_eq!(users[0]["role"], "write");
    assert_eq!(users[0]["email"], "tech@example.org");
    let (code, out, _) = run_cli(&["list-users", "--pylantir_config", cfg], "");
    assert_eq!(code, 0);
    assert!(
        out.contains("tech") && out.contains("Total users: 1"),
        "{out}"
    );
    assert!(dir.path().join("accounts.db").exists());
}

#[test]
fn start_serves_the_api_beside_dicom_when_api_enabled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(
        dir.path(),
        json!({
            "api": {"enabled": true, "host": "127.0.0.1", "port": 0},
            "data_sources": [{"name": "old_csv", "type": "csv", "enabled": false,
                              "sync_interval": 120, "config": {}}],
        }),
    );
    let (code, _, err) = run_cli(
        &[
            "admin-password",
            "--pylantir_config",
            cfg.to_str().expect("path"),
        ],
        "admin-password-1\n",
    );
    assert_eq!(code, 0, "{err}");
    let plugins = tempfile::tempdir().expect("plugin dir");
    let server = ServerProcess::start(&cfg, plugins.path(), &[]);
    let client = Client::new(&server.api_url());
    assert!(
        server.wait_for_log(std::time::Duration::from_secs(20), |log| log
            .contains("HTTP API listening")),
        "{}",
        server.log()
    );
    let token = client.login("admin", "admin-password-1");
    let (status, body) = client.get("/worklist", Some(&token));
    assert_eq!((status, body), (200, json!([])));
    let (status, sources) = client.get("/sources", Some(&token));
    assert_eq!(status, 200, "{sources}");
    assert_eq!(sources[0]["name"], "old_csv");
    assert_eq!(sources[0]["state"], "disabled");
    assert_eq!(sources[0]["isolation"], "process");
    assert_eq!(sources[0]["sync_interval_seconds"], 120.0);
    let (status, plugins) = client.get("/plugins", Some(&token));
    assert_eq!(status, 200, "{plugins}");
    assert!(plugins["plugins"].is_array(), "{plugins}");
}

#[test]
fn mpps_lists_recent_instances_with_their_item_and_sources_needs_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), json!({}));
    let (code, _, err) = run_cli(
        &[
            "admin-password",
            "--pylantir_config",
            cfg.to_str().expect("path"),
        ],
        "admin-password-1\n",
    );
    assert_eq!(code, 0, "{err}");
    let api = ApiProcess::start(&cfg, &[]);
    let client = api.client();
    let token = client.login("admin", "admin-password-1");
    let (status, item) = client.send(
        "POST",
        "/worklist",
        Some(&token),
        &json!({"patient_name": "A^B", "patient_id": "P7"}),
    );
    assert_eq!(status, 200);
    let db = rusqlite::Connection::open(dir.path().join("wl.db")).expect("db");
    db.execute(
        "INSERT INTO mpps_instances VALUES ('1.2.9', 'COMPLETED', ?1, 'SCANNER', x'', \
         '2026-01-01T10:00:00Z', '2026-01-01T10:30:00Z')",
        [item["id"].as_i64()],
    )
    .expect("mpps");
    let (status, mpps) = client.get("/mpps", Some(&token));
    assert_eq!(status, 200, "{mpps}");
    assert_eq!(mpps[0]["sop_instance_uid"], "1.2.9");
    assert_eq!(mpps[0]["worklist_item"]["patient_id"], "P7");
    assert_eq!(mpps[0]["status_history"][1]["status"], "COMPLETED");
    let (status, body) = client.get("/sources", Some(&token));
    assert_eq!(status, 503, "{body}");
}

#[test]
fn users_db_path_env_names_the_users_database_when_the_config_does_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("dir");
    let users_db = elsewhere.join("accounts.db");
    pylantir_tests::api::python_users_db(&users_db);
    let (username, password, _, _) = pylantir_tests::api::PYTHON_USERS[0];
    let env = [("USERS_DB_PATH", users_db.to_str().expect("path"))];

    let api = ApiProcess::start(&config(dir.path(), json!({})), &env);
    api.client().login(username, password);
    assert!(
        !dir.path().join("users.db").exists(),
        "no users.db beside the worklist database"
    );
    drop(api);

    // The config's users_db_path wins over the environment.
    let cfg = config(dir.path(), json!({"users_db_path": "local-users.db"}));
    let api = ApiProcess::start(&cfg, &env);
    let (status, body) = Client::new(&api.url).send(
        "POST",
        "/auth/login",
        None,
        &json!({"username": username, "password": password}),
    );
    assert_eq!(status, 401, "{body}");
    assert!(dir.path().join("local-users.db").exists());
}
