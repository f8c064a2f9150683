//! The HTTP API (`pylantir start-api`) against Python pylantir's: routes,
//! roles, tokens, shapes, and the Python defects it must not have. Each test
//! runs its own server on loopback with a Python-schema users.db.

use pylantir_tests::api::{self, header, python_tokens, ApiProcess, Client, PYTHON_USERS};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

struct Site {
    dir: tempfile::TempDir,
    api: ApiProcess,
}

impl Site {
    /// A site with a Python users.db (padmin, preader) and `extra` config keys.
    fn new(extra: Value) -> Site {
        Site::with_env(extra, &[("JWT_SECRET_KEY", api::SECRET)], true)
    }

    fn with_env(extra: Value, env: &[(&str, &str)], python_users: bool) -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = json!({
            "db_path": "wl.db",
            "users_db_path": "users.db",
            "data_sources": [],
        });
        if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            config.extend(extra.clone());
        }
        let path = dir.path().join("cfg.json");
        std::fs::write(&path, config.to_string()).expect("config");
        if python_users {
            api::python_users_db(&dir.path().join("users.db"));
        }
        let api = ApiProcess::start(&path, env);
        Site { dir, api }
    }

    fn client(&self) -> Client {
        self.api.client()
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn admin(&self) -> String {
        let (user, password, _, _) = PYTHON_USERS[0];
        self.client().login(user, password)
    }

    fn reader(&self) -> String {
        let (user, password, _, _) = PYTHON_USERS[1];
        self.client().login(user, password)
    }

    /// A `write` user created over the API by the admin; returns its token.
    fn writer(&self, admin: &str) -> String {
        let (status, body) = self.client().send(
            "POST",
            "/users",
            Some(admin),
            &json!({"username": "pwriter", "password": "writer-pw-1", "role": "write"}),
        );
        assert_eq!(status, 200, "{body}");
        self.client().login("pwriter", "writer-pw-1")
    }

    fn add_item(&self, token: &str, body: Value) -> Value {
        let (status, item) = self.client().send("POST", "/worklist", Some(token), &body);
        assert_eq!(status, 200, "{item}");
        item
    }
}

fn sqlite(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("sqlite")
}

const ALL_ROUTES: &[(&str, &str, &str)] = &[
    // (method, path, required role)
    ("GET", "/worklist", "read"),
    ("POST", "/worklist", "write"),
    ("PUT", "/worklist/999999", "write"),
    ("DELETE", "/worklist/999999", "write"),
    ("GET", "/worklist/999999/history", "read"),
    ("GET", "/users", "admin"),
    ("POST", "/users", "admin"),
    ("PUT", "/users/999999", "admin"),
    ("DELETE", "/users/999999", "admin"),
    ("GET", "/mpps", "read"),
    ("POST", "/explain", "read"),
];

/// Routes only `pylantir start` answers (503 from `start-api`).
const START_ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/sources", "read"),
    ("POST", "/sources/visits/sync", "write"),
    ("GET", "/plugins", "read"),
];

fn route_body(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("POST", "/worklist") => Some(json!({"patient_name": "M^X", "patient_id": "MX"})),
        ("POST", "/users") => Some(json!({"username": "made", "password": "made-pw-12"})),
        ("POST", "/explain") => Some(json!({"identifier": {"PatientID": "X*"}})),
        ("PUT", _) => Some(json!({})),
        _ => None,
    }
}

fn call(client: &Client, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    match route_body(method, path) {
        Some(body) => client.send(method, path, token, &body),
        None => {
            let (status, _, body) = client.raw(method, path, token, None);
            (status, body)
        }
    }
}

#[test]
fn every_route_refuses_missing_forged_expired_and_exp_less_tokens_with_401() {
    let site = Site::new(json!({}));
    let client = site.client();
    let bad: [(&str, Option<&str>); 5] = [
        ("none", None),
        ("forged", Some(python_tokens::FORGED)),
        ("expired", Some(python_tokens::EXPIRED)),
        ("no exp", Some(python_tokens::NO_EXP)),
        ("garbage", Some("not.a.token")),
    ];
    for (method, path, _) in ALL_ROUTES.iter().chain(START_ROUTES) {
        for (what, token) in bad {
            let answer = match route_body(method, path) {
                Some(body) => client.raw(method, path, token, Some(body.to_string().as_bytes())),
                None => client.raw(method, path, token, None),
            };
            assert_eq!(
                answer.0, 401,
                "{method} {path} with {what} token: {}",
                answer.2
            );
            assert_eq!(header(&answer, "www-authenticate"), Some("Bearer"));
            assert!(answer.2["detail"].is_string(), "{}", answer.2);
        }
    }
    assert_eq!(client.get("/health", None).0, 200);
    assert_eq!(
        sqlite(&site.path("wl.db"))
            .query_row("SELECT count(*) FROM worklist_items", [], |r| r
                .get::<_, i64>(0))
            .expect("count"),
        0
    );
}

#[test]
fn each_role_may_use_exactly_the_routes_python_allows_it() {
    let site = Site::new(json!({}));
    let client = site.client();
    let admin = site.admin();
    let tokens = [
        ("read", site.reader()),
        ("write", site.writer(&admin)),
        ("admin", admin),
    ];
    let rank = |role: &str| ["read", "write", "admin"].iter().position(|r| *r == role);
    for (role, token) in &tokens {
        for (method, path, needed) in ALL_ROUTES {
            let (status, body) = call(&client, method, path, Some(token));
            if rank(role) >= rank(needed) {
                assert!(
                    status != 401 && status != 403 && status < 500,
                    "{role} on {method} {path}: {status} {body}"
                );
            } else {
                assert_eq!(status, 403, "{role} on {method} {path}: {body}");
                let resource = if path.starts_with("/users") {
                    "users"
                } else {
                    "worklist"
                };
                let detail = body["detail"].as_str().unwrap_or_default();
                assert!(
                    detail.starts_with("Insufficient permissions for ")
                        && detail.ends_with(&format!(" on {resource}")),
                    "{detail}"
                );
            }
        }
    }
}

#[test]
fn python_users_log_in_with_their_passwords_and_python_tokens_stay_valid() {
    let site = Site::new(json!({}));
    let client = site.client();
    let token = site.admin();
    let (status, users) = client.get("/users", Some(&token));
    assert_eq!(status, 200);
    assert_eq!(users[0]["username"], "padmin");
    assert_eq!(users[0]["role"], "admin");
    assert_eq!(users[1]["role"], "read");
    assert_eq!(users[0]["created_at"], "2025-11-18T10:00:00.123456");
    assert!(users[0]["last_login"].is_string(), "{users}");
    assert!(users[0].get("hashed_password").is_none());
    let (status, _) = client.get("/users", Some(python_tokens::VALID));
    assert_eq!(
        status, 200,
        "a token python-jose issued with the same secret"
    );
}

#[test]
fn users_created_over_the_api_are_stored_as_python_writes_them() {
    let site = Site::new(json!({}));
    let admin = site.admin();
    site.writer(&admin);
    let (role, hash, created, active, by): (String, String, String, i64, i64) =
        sqlite(&site.path("users.db"))
            .query_row(
                "SELECT role, hashed_password, created_at, is_active, created_by FROM users \
         WHERE username = 'pwriter'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .expect("row");
    assert_eq!(role, "WRITE");
    assert!(hash.starts_with("$2b$12$"), "{hash}");
    assert_eq!(
        created.len(),
        "2025-11-18 10:00:00.123456".len(),
        "{created}"
    );
    assert_eq!(&created[10..11], " ");
    assert_eq!((active, by), (1, 1));
}

#[test]
fn an_empty_users_database_accepts_no_login_and_says_how_to_create_an_admin() {
    let site = Site::with_env(json!({}), &[("JWT_SECRET_KEY", api::SECRET)], false);
    for (user, password) in [("admin", "admin123"), ("admin", "")] {
        let (status, _) = site.client().send(
            "POST",
            "/auth/login",
            None,
            &json!({"username": user, "password": password}),
        );
        assert_eq!(status, 401);
    }
    assert!(
        site.api.log().contains("pylantir admin-password"),
        "{}",
        site.api.log()
    );
}

#[test]
fn without_jwt_secret_key_a_private_secret_is_generated_beside_users_db() {
    let site = Site::with_env(json!({}), &[], true);
    let secret = site.path("pylantir-jwt-secret");
    let meta = std::fs::metadata(&secret).expect("secret file");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(meta.len() >= 32);
    // The published Python fallback secret does not sign valid tokens here.
    let (status, _) = site.client().get("/worklist", Some(python_tokens::VALID));
    assert_eq!(status, 401);
    let token = site.admin();
    assert_eq!(site.client().get("/worklist", Some(&token)).0, 200);
}

fn token_exp(token: &str) -> u64 {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    let claims: Value = serde_json::from_slice(&bytes).expect("claims");
    claims["exp"].as_u64().expect("exp")
}

#[test]
fn a_requested_token_lifetime_is_capped_by_token_max_minutes() {
    let site = Site::new(json!({"api": {"token_max_minutes": 60}}));
    let (user, password, _, _) = PYTHON_USERS[0];
    let (status, body) = site.client().send(
        "POST",
        "/auth/login",
        None,
        &json!({"username": user, "password": password, "access_token_expire_minutes": 99_999_999_999u64}),
    );
    assert_eq!(status, 200, "{body}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let exp = token_exp(body["access_token"].as_str().expect("token"));
    assert!(exp <= now + 3600 + 5, "exp {exp}, now {now}");
    let (status, body) = site.client().send(
        "POST",
        "/auth/login",
        None,
        &json!({"username": user, "password": password, "access_token_expire_minutes": 0}),
    );
    assert_eq!(status, 422, "{body}");
}

#[test]
fn an_unknown_user_login_takes_as_long_as_a_wrong_password() {
    let site = Site::new(json!({}));
    let client = site.client();
    let time = |user: &str| {
        let mut times: Vec<Duration> = (0..3)
            .map(|_| {
                let started = Instant::now();
                let (status, _) = client.send(
                    "POST",
                    "/auth/login",
                    None,
                    &json!({"username": user, "password": "wrong-password"}),
                );
                assert_eq!(status, 401);
                started.elapsed()
            })
            .collect();
        times.sort();
        times[1]
    };
    let wrong = time("padmin");
    let unknown = time("nobody-here");
    assert!(
        unknown * 2 >= wrong,
        "unknown user {unknown:?} vs wrong password {wrong:?}"
    );
}

#[test]
fn repeated_failed_logins_are_answered_429() {
    let site = Site::new(json!({}));
    let client = site.client();
    let attempt = |password: &str| {
        client.send(
            "POST",
            "/auth/login",
            None,
            &json!({"username": "padmin", "password": password}),
        )
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong-password").0, 401);
    }
    let (status, body) = attempt("python-admin-pw");
    assert_eq!(status, 429, "{body}");
    let (user, password, _, _) = PYTHON_USERS[1];
    client.login(user, password);
}

#[test]
fn worklist_list_has_python_defaults_filters_and_a_stable_order() {
    let site = Site::new(json!({}));
    let client = site.client();
    let token = site.admin();
    for (pid, status, modality) in [
        ("AB_1", "SCHEDULED", "MR"),
        ("ABX1", "IN_PROGRESS", "CT"),
        ("ab%2", "COMPLETED", "MR"),
        ("Q9", "DISCONTINUED", "MR"),
    ] {
        site.add_item(
            &token,
            json!({"patient_name": "P^Q", "patient_id": pid,
                   "performed_procedure_step_status": status, "modality": modality}),
        );
    }
    let ids = |query: &str| -> Vec<String> {
        let (status, body) = client.get(&format!("/worklist{query}"), Some(&token));
        assert_eq!(status, 200, "{query}: {body}");
        body.as_array()
            .expect("list")
            .iter()
            .map(|i| i["patient_id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(ids(""), vec!["AB_1", "ABX1"]);
    assert_eq!(
        ids("?status=COMPLETED&status=DISCONTINUED"),
        vec!["ab%2", "Q9"]
    );
    assert_eq!(
        ids("?status=SCHEDULED&status=IN_PROGRESS&status=COMPLETED&patient_id=b_"),
        vec!["AB_1"]
    );
    assert_eq!(
        ids("?status=COMPLETED&status=SCHEDULED&patient_id=B%25"),
        vec!["ab%2"]
    );
    assert_eq!(ids("?modality=CT"), vec!["ABX1"]);
    assert_eq!(ids("?modality=ct"), Vec::<String>::new());
    assert_eq!(ids("?limit=1&offset=1"), vec!["ABX1"]);
    for bad in [
        "?limit=-1",
        "?limit=1001",
        "?limit=x",
        "?offset=-1",
        "?offset=99999999999999999999999",
    ] {
        let (status, body) = client.get(&format!("/worklist{bad}"), Some(&token));
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["detail"][0]["loc"][0], "query", "{body}");
    }
}

#[test]
fn worklist_writes_answer_with_python_shapes() {
    let site = Site::new(json!({}));
    let client = site.client();
    let token = site.admin();
    let item = site.add_item(
        &token,
        json!({"patient_name": "DOE^JANE", "patient_id": "P1", "accession_number": "A1"}),
    );
    let keys: Vec<&str> = item
        .as_object()
        .expect("item")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys[0], "id");
    assert_eq!(keys.len(), 21, "{keys:?}");
    assert_eq!(item["performed_procedure_step_status"], "SCHEDULED");
    assert_eq!(item["patient_weight_lb"], "100");
    assert!(item["study_instance_uid"]
        .as_str()
        .is_some_and(|u| u.starts_with("2.25.")));
    let id = item["id"].as_i64().expect("id");

    let (status, updated) = client.send(
        "PUT",
        &format!("/worklist/{id}"),
        Some(&token),
        &json!({"id": 77, "study_instance_uid": "9.9", "accession_number": "ZZ",
                "modality": "CT", "patient_sex": null}),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["study_instance_uid"], item["study_instance_uid"]);
    assert_eq!(updated["accession_number"], "A1");
    assert_eq!(updated["modality"], "CT");
    assert_eq!(updated["id"], id);

    let (status, body) = client.send("PUT", "/worklist/424242", Some(&token), &json!({}));
    assert_eq!(
        (status, body["detail"].as_str()),
        (404, Some("Worklist item 424242 not found"))
    );
    let (status, body) = client.get(&format!("/worklist/{id}"), Some(&token));
    assert_eq!(status, 405, "{body}");
    let (status, _, body) = client.raw("DELETE", &format!("/worklist/{id}"), Some(&token), None);
    assert_eq!(status, 200);
    assert_eq!(
        body["message"],
        format!("Worklist item {id} deleted successfully")
    );
    let (status, _, _) = client.raw("DELETE", &format!("/worklist/{id}"), Some(&token), None);
    assert_eq!(status, 404);
}

#[test]
fn an_api_write_never_changes_a_status_that_mpps_set() {
    let site = Site::new(json!({}));
    let client = site.client();
    let token = site.admin();
    let item = site.add_item(&token, json!({"patient_name": "A^B", "patient_id": "M1"}));
    let id = item["id"].as_i64().expect("id");
    let db = sqlite(&site.path("wl.db"));
    db.execute(
        "UPDATE worklist_items SET performed_procedure_step_status = 'COMPLETED' WHERE id = ?1",
        [id],
    )
    .expect("mpps status");
    db.execute(
        "INSERT INTO mpps_instances VALUES ('1.2.3.4', 'COMPLETED', ?1, 'SCU', x'', 'a', 'b')",
        [id],
    )
    .expect("mpps instance");
    let (status, body) = client.send(
        "PUT",
        &format!("/worklist/{id}"),
        Some(&token),
        &json!({"performed_procedure_step_status": "SCHEDULED", "modality": "CT"}),
    );
    assert_eq!(status, 409, "{body}");
    let (stored_status, modality): (String, Option<String>) = db
        .query_row(
            "SELECT performed_procedure_step_status, modality FROM worklist_items WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!((stored_status.as_str(), modality), ("COMPLETED", None));
}

#[test]
fn user_management_refuses_duplicates_and_changes_to_ones_own_account() {
    let site = Site::new(json!({}));
    let client = site.client();
    let token = site.admin();
    let (status, body) = client.send(
        "POST",
        "/users",
        Some(&token),
        &json!({"username": "second", "password": "second-pw", "email": "padmin@example.org"}),
    );
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Email already exists"))
    );
    let (status, body) = client.send(
        "POST",
        "/users",
        Some(&token),
        &json!({"username": "preader", "password": "x-password"}),
    );
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Username already exists"))
    );
    for change in [json!({"role": "read"}), json!({"is_active": false})] {
        let (status, body) = client.send("PUT", "/users/1", Some(&token), &change);
        assert_eq!(status, 400, "{change}: {body}");
    }
    let (status, _, body) = client.raw("DELETE", "/users/1", Some(&token), None);
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Cannot delete your own account"))
    );
    let (status, body) = client.send(
        "PUT",
        "/users/2",
        Some(&token),
        &json!({"is_active": false, "full_name": "Reader"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_active"], false);
    let (status, _, body) = client.raw("DELETE", "/users/2", Some(&token), None);
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("User preader deleted successfully"))
    );
}

#[test]
fn a_token_of_a_deactivated_user_is_refused_on_the_next_request() {
    let site = Site::new(json!({}));
    let client = site.client();
    let admin = site.admin();
    let reader = site.reader();
    assert_eq!(client.get("/worklist", Some(&reader)).0, 200);
    let (status, _) = client.send(
        "PUT",
        "/users/2",
        Some(&admin),
        &json!({"is_active": false}),
    );
    assert_eq!(status, 200);
    assert_eq!(client.get("/worklist", Some(&reader)).0, 401);
}

#[test]
fn a_token_of_a_deleted_user_is_refused_on_the_next_request() {
    let site = Site::new(json!({}));
    let client = site.client();
    let admin = site.admin();
    let reader = site.reader();
    assert_eq!(client.get("/worklist", Some(&reader)).0, 200);
    let (status, _, _) = client.raw("DELETE", "/users/2", Some(&admin), None);
    assert_eq!(status, 200);
    let (status, body) = client.get("/worklist", Some(&reader));
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("User not found or inactive"))
    );
}

#[test]
fn cors_preflight_answers_as_configured() {
    let site = Site::new(json!({"api": {
        "cors_allowed_origins": ["https://dash.example"],
        "cors_allow_methods": ["GET", "POST"],
    }}));
    let client = site.client();
    let preflight = |origin: &str| {
        client.raw_with(
            "OPTIONS",
            "/worklist",
            None,
            None,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
            ],
        )
    };
    let allowed = preflight("https://dash.example");
    assert_eq!(allowed.0, 200);
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        Some("https://dash.example")
    );
    assert_eq!(
        header(&allowed, "access-control-allow-credentials"),
        Some("true")
    );
    let methods = header(&allowed, "access-control-allow-methods").unwrap_or_default();
    assert!(
        methods.contains("POST") && !methods.contains("DELETE"),
        "{methods}"
    );
    let headers = header(&allowed, "access-control-allow-headers").unwrap_or_default();
    assert!(headers.contains("authorization"), "{headers}");
    let refused = preflight("https://evil.example");
    assert_eq!(header(&refused, "access-control-allow-origin"), None);
}

#[test]
fn bad_input_gets_the_right_4xx_with_a_detail_and_changes_nothing() {
    let site = Site::new(json!({}));
    let client = site.client();
    let token = site.admin();
    let item = site.add_item(&token, json!({"patient_name": "A^B", "patient_id": "K1"}));
    let id = item["id"].as_i64().expect("id");
    let big = format!(
        "{{\"patient_name\": \"{}\", \"patient_id\": \"x\"}}",
        "A".repeat(100_000)
    );
    let put = format!("/worklist/{id}");
    // Validation errors are 422 with FastAPI's list of problems, as Python
    // answers them; a body over the limit is 413; an unknown path 404.
    let cases: Vec<(u16, &str, &str, Vec<u8>)> = vec![
        (422, "POST", "/worklist", b"{not json".to_vec()),
        (422, "POST", "/worklist", b"[1, 2]".to_vec()),
        (422, "POST", "/worklist", br#"{"patient_name": 5, "patient_id": "x"}"#.to_vec()),
        (422, "POST", "/worklist", br#"{"patient_name": "a"}"#.to_vec()),
        (422, "POST", "/worklist", br#"{"patient_name": "a", "patient_id": "b", "colour": 1}"#.to_vec()),
        (422, "POST", "/worklist", br#"{"patient_name": "a", "patient_id": "b", "performed_procedure_step_status": "DONE"}"#.to_vec()),
        (413, "POST", "/worklist", big.into_bytes()),
        (422, "PUT", put.as_str(), br#"{"performed_procedure_step_status": null}"#.to_vec()),
        (422, "PUT", put.as_str(), br#"{"modality": ["MR"]}"#.to_vec()),
        (422, "PUT", "/worklist/abc", b"{}".to_vec()),
        (422, "PUT", "/worklist/99999999999999999999999", b"{}".to_vec()),
        (422, "POST", "/users", br#"{"username": "u", "password": "p", "role": "root"}"#.to_vec()),
        (422, "PUT", "/users/2", br#"{"is_active": "no"}"#.to_vec()),
        (422, "POST", "/auth/login", br#"{"username": 1}"#.to_vec()),
        (404, "PUT", "/worklist/424242", br#"{"modality": "MR"}"#.to_vec()),
        (404, "DELETE", "/worklist/424242", Vec::new()),
        (404, "GET", "/nowhere", Vec::new()),
    ];
    for (expected, method, path, body) in &cases {
        let body = (!body.is_empty()).then_some(body.as_slice());
        let (status, _, answer) = client.raw(method, path, Some(&token), body);
        assert_eq!(status, *expected, "{method} {path}: {answer}");
        assert!(answer.get("detail").is_some(), "{method} {path}: {answer}");
    }
    let (status, list) = client.get("/worklist?status=SCHEDULED", Some(&token));
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0], item);
}

#[test]
fn openapi_json_and_the_docs_page_are_public_and_cover_every_route() {
    let site = Site::new(json!({}));
    let client = site.client();
    let (status, doc) = client.get("/openapi.json", None);
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    let mut operation_ids = Vec::new();
    for (method, path, _) in ALL_ROUTES {
        let path = path.replace(
            "999999",
            if path.starts_with("/users") {
                "{user_id}"
            } else {
                "{item_id}"
            },
        );
        let operation = &doc["paths"][&path][method.to_lowercase()];
        assert!(operation.is_object(), "{method} {path} missing");
        operation_ids.push(
            operation["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    for path in ["/auth/login", "/health", "/sources", "/plugins", "/mpps"] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    let count = operation_ids.len();
    operation_ids.sort();
    operation_ids.dedup();
    assert_eq!(operation_ids.len(), count, "operation ids are unique");
    let item = &doc["components"]["schemas"]["WorklistItem"]["properties"];
    assert_eq!(item.as_object().map(|o| o.len()), Some(21));
    let (status, _, page) = client.raw("GET", "/docs", None, None);
    assert_eq!(status, 200);
    assert_eq!(page, Value::Null, "HTML, not JSON");
    let html = reqwest::blocking::get(format!("{}/docs", site.api.url))
        .and_then(|r| r.text())
        .expect("docs page");
    assert!(html.contains("openapi.json"));
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "no CDN"
    );
}

#[test]
fn concurrent_updates_of_one_item_lose_no_field() {
    let site = Site::new(json!({}));
    let token = site.admin();
    let item = site.add_item(&token, json!({"patient_name": "C^C", "patient_id": "C1"}));
    let id = item["id"].as_i64().expect("id");
    let fields = [
        "modality",
        "study_description",
        "station_name",
        "protocol_name",
        "performing_physician",
        "procedure_description",
        "referring_physician_name",
        "patient_sex",
    ];
    std::thread::scope(|scope| {
        for field in fields {
            let (client, token) = (site.client(), token.clone());
            scope.spawn(move || {
                let (status, body) = client.send(
                    "PUT",
                    &format!("/worklist/{id}"),
                    Some(&token),
                    &json!({ field: format!("v-{field}") }),
                );
                assert_eq!(status, 200, "{field}: {body}");
            });
        }
    });
    let (_, list) = site.client().get("/worklist", Some(&token));
    for field in fields {
        assert_eq!(list[0][field], format!("v-{field}"), "{list}");
    }
}
