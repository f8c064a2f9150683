//! The HTTP API under load, served by the real `pylantir start` on a
//! worklist of 10,000 items (seeded by `pylantir bench-find --seed-db`):
//!
//! - `GET /worklist?limit=100` from 8 clients, each on its own keep-alive
//!   connection, one request after the other: requests/s and latency
//!   percentiles (targets >= 5,000 requests/s, p99 < 10 ms);
//! - `POST /auth/login`: the bcrypt cost and the logins per second it allows;
//! - the idle resident memory the API adds: `VmRSS` of `pylantir start`
//!   with and without the `api` block (target < 5 MB).
//!
//! The client is async reqwest on one thread, so it takes at most one core.
//!
//! Run: `cargo bench -p pylantir-tests --bench http_api [requests per client]`
//! (default 2,000).

use pylantir_tests::api::{run_cli, START_ADMIN_PASSWORD};
use pylantir_tests::server::{api_url_in, ServerProcess};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ITEMS: usize = 10_000;
const CLIENTS: usize = 8;
const LOGINS: usize = 16;

/// `VmRSS` (resident set) of a process, in kB.
fn resident_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Writes a configuration in `dir` on the seeded `wl.db`, with the API when
/// `api`, and returns its path.
fn config(dir: &Path, api: bool) -> PathBuf {
    let mut config = json!({"db_path": "wl.db", "data_sources": []});
    if api {
        config["api"] = json!({"enabled": true, "host": "127.0.0.1", "port": 0});
    }
    let cfg = dir.join(if api { "api.json" } else { "plain.json" });
    std::fs::write(&cfg, config.to_string()).expect("config");
    cfg
}

/// Starts `pylantir start` on the configuration `cfg` in `dir` and waits
/// until it is ready.
fn start(dir: &Path, cfg: &Path) -> ServerProcess {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    let server = ServerProcess::start(cfg, &plugins, &[]);
    assert!(
        server.wait_for_log(Duration::from_secs(20), |l| l.contains("pylantir ready")),
        "not ready:\n{}",
        server.log()
    );
    server
}

/// Idle `VmRSS` after `settle`, in kB.
fn idle_kb(server: &ServerProcess, settle: Duration) -> u64 {
    std::thread::sleep(settle);
    resident_kb(server.pid())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `requests` sequential `GET url` on each of `CLIENTS` connections.
async fn load(url: &str, token: &str, requests: usize) -> (Duration, Vec<Duration>) {
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        // One client per task: its own pool, so its own keep-alive connection.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("http client");
        clients.push(client);
    }
    let get = |client: reqwest::Client| {
        let (url, token) = (url.to_string(), token.to_string());
        async move {
            let mut latencies = Vec::with_capacity(requests);
            for _ in 0..requests {
                let t = Instant::now();
                let response = client
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status(), 200);
                let body = response.bytes().await.expect("body");
                assert!(body.len() > 1000, "a short answer: {body:?}");
                latencies.push(t.elapsed());
            }
            latencies
        }
    };
    // Warm-up: every connection opened, the server's caches filled.
    for client in &clients {
        for _ in 0..20 {
            let response = client.get(url).bearer_auth(token).send().await;
            let _ = response.expect("warm-up request").bytes().await;
        }
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(get(client)))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    (started.elapsed(), latencies)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let requests: usize = args.first().and_then(|r| r.parse().ok()).unwrap_or(2_000);
    let bin = &pylantir_tests::artifacts().bin;
    let dir = pylantir_tests::temp_dir();
    let db = dir.path().join("wl.db");
    let seeded = std::process::Command::new(bin)
        .args(["bench-find", "--seed-db"])
        .arg(&db)
        .args(["--items", &ITEMS.to_string()])
        .output()
        .expect("bench-find --seed-db");
    assert!(seeded.status.success(), "{seeded:?}");

    // Idle memory: the same site without and with the API.
    let plain = start(dir.path(), &config(dir.path(), false));
    let without = idle_kb(&plain, Duration::from_secs(2));
    drop(plain);
    let cfg = config(dir.path(), true);
    let (code, _, err) = run_cli(
        &[
            "admin-password",
            "--pylantir_config",
            cfg.to_str().expect("utf-8"),
        ],
        &format!("{START_ADMIN_PASSWORD}\n"),
    );
    assert_eq!(code, 0, "admin-password: {err}");
    let server = start(dir.path(), &cfg);
    let with = idle_kb(&server, Duration::from_secs(2));
    println!(
        "idle VmRSS of pylantir start ({ITEMS} items): {without} kB without the API, {with} kB \
         with it: +{} kB",
        with as i64 - without as i64
    );

    let base = api_url_in(&server.log()).expect("the API's address");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let login = |username: &str, password: &str| {
            let body = json!({"username": username, "password": password});
            http.post(format!("{base}/auth/login")).json(&body).send()
        };
        let started = Instant::now();
        let mut token = String::new();
        for _ in 0..LOGINS {
            let answer: serde_json::Value = login("admin", START_ADMIN_PASSWORD)
                .await
                .expect("login")
                .json()
                .await
                .expect("token");
            token = answer["access_token"].as_str().expect("a token").into();
        }
        let one = started.elapsed() / LOGINS as u32;
        let started = Instant::now();
        let pairs: Vec<_> = (0..LOGINS)
            .map(|_| login("admin", START_ADMIN_PASSWORD))
            .collect();
        for pending in pairs {
            assert_eq!(pending.await.expect("login").status(), 200);
        }
        let parallel = LOGINS as f64 / started.elapsed().as_secs_f64();
        println!(
            "login (bcrypt cost {}): {:.0} ms each one after the other, {:.1} logins/s with \
             {LOGINS} at once",
            pylantir::http::users::BCRYPT_COST,
            ms(one),
            parallel
        );

        let url = format!("{base}/worklist?limit=100");
        let (elapsed, mut latencies) = load(&url, &token, requests).await;
        latencies.sort();
        let n = latencies.len() as f64;
        println!(
            "GET /worklist?limit=100: {} requests ({CLIENTS} keep-alive clients) in {:.2} s: \
             {:.0} requests/s",
            latencies.len(),
            elapsed.as_secs_f64(),
            n / elapsed.as_secs_f64()
        );
        println!(
            "latency ms: p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.95)),
            ms(percentile(&latencies, 0.99)),
            ms(latencies[latencies.len() - 1])
        );
    });
    println!(
        "VmRSS of pylantir start after the load: {} kB",
        resident_kb(server.pid())
    );
}
