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
//! The load client is hyper's HTTP/1 connection client on one thread, so it
//! takes at most one core; the bench prints the CPU time server and client
//! each spent per request.
//!
//! Run: `cargo bench -p pylantir-tests --bench http_api [requests per client]`
//! (default 2,000).

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
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

/// CPU time (user + system) a process has used so far, from
/// `/proc/<pid>/stat`.
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at 3.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // SAFETY: sysconf reads a constant of the system; no memory is shared.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `requests` sequential `GET path` on each of `CLIENTS` keep-alive
/// connections to `address`. The client is hyper's connection-level HTTP/1
/// client, so that most of the CPU the machine has goes to the server.
async fn load(
    address: &str,
    path: &str,
    token: &str,
    requests: usize,
) -> (Duration, Vec<Duration>) {
    let mut senders = Vec::new();
    for _ in 0..CLIENTS {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
        tokio::spawn(connection);
        senders.push(sender);
    }
    let request = |path: &str, token: &str| {
        hyper::Request::get(path)
            .header(hyper::header::HOST, address)
            .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Empty::<Bytes>::new())
            .expect("a request")
    };
    let get = |mut sender: SendRequest<Empty<Bytes>>, warm_up: usize, timed: usize| {
        let request = request(path, token);
        async move {
            let mut latencies = Vec::with_capacity(timed);
            for i in 0..warm_up + timed {
                let t = Instant::now();
                let response = sender.send_request(request.clone()).await.expect("request");
                assert_eq!(response.status(), 200);
                let body = response.into_body().collect().await.expect("body");
                assert!(body.to_bytes().len() > 1000, "a short answer");
                if i >= warm_up {
                    latencies.push(t.elapsed());
                }
            }
            (sender, latencies)
        }
    };
    // Warm-up: every connection used, the server's caches filled.
    let mut warm = Vec::new();
    for sender in senders {
        warm.push(get(sender, 20, 0).await.0);
    }
    let started = Instant::now();
    let tasks: Vec<_> = warm
        .into_iter()
        .map(|sender| tokio::spawn(get(sender, 0, requests)))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task").1);
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

        let address = base.trim_start_matches("http://").trim_end_matches('/');
        let (server_cpu, client_cpu) = (process_cpu(server.pid()), process_cpu(std::process::id()));
        let (elapsed, mut latencies) = load(address, "/worklist?limit=100", &token, requests).await;
        let server_cpu = process_cpu(server.pid()) - server_cpu;
        let client_cpu = process_cpu(std::process::id()) - client_cpu;
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
        let total = (CLIENTS * 20) as f64 + n;
        println!(
            "CPU per request (warm-up included): server {:.0} us, this client {:.0} us",
            server_cpu.as_secs_f64() * 1e6 / total,
            client_cpu.as_secs_f64() * 1e6 / total
        );
    });
    println!(
        "VmRSS of pylantir start after the load: {} kB",
        resident_kb(server.pid())
    );
}
