//! The HTTP API under test: `pylantir start-api` as a child process on a
//! free loopback port, a small blocking client, and a users database in
//! Python pylantir's schema with passlib hashes (written here, no Python).

use crate::server::api_url_in;
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The secret the API tests run with (`JWT_SECRET_KEY`).
pub const SECRET: &str = "shared-secret-for-tests";

/// Python's users table, exactly as SQLAlchemy created it (pylantir 0.4.6).
pub const PYTHON_USERS_SCHEMA: &str = "
CREATE TABLE users (
	id INTEGER NOT NULL,
	username VARCHAR(50) NOT NULL,
	email VARCHAR(100),
	full_name VARCHAR(100),
	hashed_password VARCHAR(255) NOT NULL,
	role VARCHAR(5) NOT NULL,
	is_active BOOLEAN,
	created_at DATETIME,
	last_login DATETIME,
	created_by INTEGER,
	PRIMARY KEY (id),
	UNIQUE (email)
);
CREATE UNIQUE INDEX ix_users_username ON users (username);
";

/// Users of the fixture: (username, password, stored role, passlib hash).
/// The hashes were made once by passlib 1.7.4 + bcrypt 4.0.1.
pub const PYTHON_USERS: &[(&str, &str, &str, &str)] = &[
    (
        "padmin",
        "python-admin-pw",
        "ADMIN",
        "$2b$12$w6CL94v5er0c32e4ovVkaeKKP9wthxWRdJPaYvcpd8qjW/0GpdeSa",
    ),
    (
        "preader",
        "python-reader-pw",
        "READ",
        "$2b$12$mpcIdMS25SOm.P4V9BwF0ehKnHokeRjq.K.T6KStG7h1TcBx/MlQa",
    ),
];

/// Tokens python-jose issued with [`SECRET`] (HS256).
pub mod python_tokens {
    /// `{"sub": "padmin", "exp": 4102444800}` (year 2100).
    pub const VALID: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwYWRtaW4iLCJleHAiOjQxMDI0NDQ4MDB9.gopUtrpgwqIQ1ozU9BTV8WGK6n-uL3_xtdtOtPXvCRs";
    /// `{"sub": "padmin", "exp": 1700000000}` (2023).
    pub const EXPIRED: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwYWRtaW4iLCJleHAiOjE3MDAwMDAwMDB9.GmZeZ7Jpubd7A5RDVxIBNXaiGMffOda9M68jrMCMAmA";
    /// `{"sub": "padmin"}`: no `exp` (Python accepts it for ever).
    pub const NO_EXP: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwYWRtaW4ifQ.JbBu-b4VLVexAI7kEtYXAgUdqS-JFnyW4Pj-KtQgIT0";
    /// [`VALID`]'s claims signed with another secret (`not-the-secret`).
    pub const FORGED: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwYWRtaW4iLCJleHAiOjQxMDI0NDQ4MDB9.v2WeP_V0Ilxr3uJbSDB7Sn_L7coyxeC0D9KWCeyGe8E";
}

/// Writes a users database in Python's schema holding [`PYTHON_USERS`]
/// (ids 1, 2, ...), as Python pylantir 0.4.6 stores them.
pub fn python_users_db(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("users db");
    conn.execute_batch(PYTHON_USERS_SCHEMA)
        .expect("python schema");
    for (username, _, role, hash) in PYTHON_USERS {
        conn.execute(
            "INSERT INTO users (username, email, full_name, hashed_password, role, is_active, \
             created_at) VALUES (?1, ?2, NULL, ?3, ?4, 1, '2025-11-18 10:00:00.123456')",
            rusqlite::params![username, format!("{username}@example.org"), hash, role],
        )
        .expect("python user");
    }
}

/// A running `pylantir start-api`; killed when dropped.
pub struct ApiProcess {
    child: Child,
    /// The base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// Where its stderr (the log) goes.
    pub log_path: PathBuf,
}

impl ApiProcess {
    /// Starts `start-api` with the configuration `config` (written by the
    /// test) and the environment `env` on a port the system picks (read
    /// from its log), and waits until `/health` answers.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> ApiProcess {
        let log_path = config.with_extension("api.log");
        let log = File::create(&log_path).expect("api log file");
        let mut command = Command::new(&crate::artifacts().bin);
        command
            .args(["start-api", "--api-host", "127.0.0.1", "--api-port", "0"])
            .arg("--pylantir_config")
            .arg(config)
            .env("RUST_LOG", "info")
            .env_remove("JWT_SECRET_KEY")
            .env_remove("USERS_DB_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .expect("pylantir start-api could be spawned");
        let mut api = ApiProcess {
            child,
            url: String::new(),
            log_path,
        };
        api.url = api.wait_url();
        api.wait_ready();
        api
    }

    /// Waits until the log names the URL it listens on (20 s at most).
    fn wait_url(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(url) = api_url_in(&self.log()) {
                return url;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("start-api exited early ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "API not listening:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `/health` answers (20 s at most).
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = Client::new(&self.url);
        while client.get("/health", None).0 != 200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("start-api exited early ({status}):\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "API not ready:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A client for it.
    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP client for one server.
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

/// An answer: status, headers (lowercase names), body as JSON (`Null` when
/// it is not JSON).
pub type Answer = (u16, Vec<(String, String)>, Value);

impl Client {
    /// A client for the server at `base`.
    pub fn new(base: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    /// Sends `method path` with an optional bearer token and raw body.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Answer {
        self.raw_with(method, path, token, body, &[])
    }

    /// As [`Client::raw`], with extra headers.
    pub fn raw_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_vec());
        }
        let response = match request.send() {
            Ok(response) => response,
            Err(e) => return (0, Vec::new(), Value::String(e.to_string())),
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let bytes = response.bytes().unwrap_or_default();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// `GET path`: (status, body).
    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let (status, _, body) = self.raw("GET", path, token, None);
        (status, body)
    }

    /// `method path` with a JSON body: (status, body).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).expect("json");
        let (status, _, body) = self.raw(method, path, token, Some(&bytes));
        (status, body)
    }

    /// Logs in; panics unless it succeeds. Returns the access token.
    pub fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self.send(
            "POST",
            "/auth/login",
            None,
            &serde_json::json!({"username": username, "password": password}),
        );
        assert_eq!(status, 200, "login of {username}: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }
}

/// The value of header `name` (lowercase) in an answer.
pub fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer
        .1
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Runs `pylantir <args>` with `stdin` as its input; returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(&crate::artifacts().bin)
        .args(args)
        .env_remove("USERS_DB_PATH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pylantir could be spawned");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    let output = child.wait_with_output().expect("pylantir output");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The password of `admin` in a [`StartedApi`].
pub const START_ADMIN_PASSWORD: &str = "admin-password-1";

/// A real `pylantir start` serving the API too (`api.enabled`), with an
/// `admin` created by `pylantir admin-password`; stopped when dropped.
pub struct StartedApi {
    /// The site's directory: configuration, databases, `plugins/`.
    pub dir: tempfile::TempDir,
    pub server: crate::server::ServerProcess,
    pub client: Client,
    /// An admin's token.
    pub token: String,
}

impl StartedApi {
    /// Writes `cfg.json` (`db_path` `wl.db`, the `api` block, then `extra`
    /// keys), installs the plugins `lib_names` and starts the server.
    pub fn start(extra: Value, lib_names: &[&str]) -> StartedApi {
        let dir = crate::temp_dir();
        let mut config = serde_json::json!({
            "db_path": "wl.db",
            "data_sources": [],
            "api": {"enabled": true, "host": "127.0.0.1", "port": 0},
        });
        if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            config.extend(extra.clone());
        }
        let cfg = dir.path().join("cfg.json");
        std::fs::write(&cfg, config.to_string()).expect("config");
        let cfg_text = cfg.to_str().expect("utf-8 path");
        let (code, _, err) = run_cli(
            &["admin-password", "--pylantir_config", cfg_text],
            &format!("{START_ADMIN_PASSWORD}\n"),
        );
        assert_eq!(code, 0, "admin-password: {err}");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).expect("plugin dir");
        crate::install_plugins(&plugins, lib_names);
        let server = crate::server::ServerProcess::start(&cfg, &plugins, &[]);
        assert!(
            server.wait_for_log(Duration::from_secs(20), |l| l
                .contains("HTTP API listening")),
            "no API:\n{}",
            server.log()
        );
        let url = api_url_in(&server.log()).expect("the API's address in the log");
        let client = Client::new(&url);
        let token = client.login("admin", START_ADMIN_PASSWORD);
        StartedApi {
            dir,
            server,
            client,
            token,
        }
    }
}
