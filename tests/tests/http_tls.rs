//! HTTPS for the HTTP API (`api.tls`): a real `pylantir start` or
//! `start-api` serving over rustls with certificates generated here
//! (rcgen); plain HTTP turned off; client certificates required with
//! `client_ca`; bad certificate files refused by `check-config` and `start`.

use pylantir_tests::api::{run_cli, ApiProcess};
use pylantir_tests::pki::{pki, Pem, Pki};
use pylantir_tests::server::{free_port, ServerProcess};
use serde_json::{json, Value};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The HTTPS URL a server log announces ("HTTP API listening on https://ADDR").
fn https_url_in(log: &str) -> Option<String> {
    log.lines().find_map(|line| {
        let (_, url) = line.split_once("HTTP API listening on https://")?;
        Some(format!("https://{}", url.trim()))
    })
}

fn write_config(pki: &Pki, api: Value) -> PathBuf {
    let path = pki.dir.path().join("cfg.json");
    let config =
        json!({"db_path": "wl.db", "users_db_path": "users.db", "data_sources": [], "api": api});
    std::fs::write(&path, config.to_string()).expect("config");
    path
}

/// `pylantir start` with the API enabled and `api` merged into its block;
/// returns the server and its HTTPS URL.
fn start(pki: &Pki, api: Value) -> (ServerProcess, String) {
    let mut block = json!({"enabled": true, "host": "127.0.0.1", "port": 0});
    if let (Some(block), Some(api)) = (block.as_object_mut(), api.as_object()) {
        block.extend(api.clone());
    }
    let config = write_config(pki, block);
    let plugins = pki.dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    let server = ServerProcess::start(&config, &plugins, &[]);
    assert!(
        server.wait_for_log(Duration::from_secs(20), |log| https_url_in(log).is_some()),
        "{}",
        server.log()
    );
    let url = https_url_in(&server.log()).expect("the HTTPS address in the log");
    (server, url)
}

/// The server's certificate files, relative to the configuration file.
fn server_files() -> Value {
    json!({"cert": "server.crt", "key": "server.key", "port": 0})
}

/// A client trusting only the test CA, presenting `identity` when given.
fn client(pki: &Pki, identity: Option<&Pem>) -> reqwest::blocking::Client {
    let ca = std::fs::read(&pki.ca).expect("CA file");
    let mut builder = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA certificate"))
        .timeout(Duration::from_secs(10));
    if let Some(pem) = identity {
        let mut both = std::fs::read(&pem.cert).expect("certificate");
        both.extend(std::fs::read(&pem.key).expect("key"));
        builder = builder.identity(reqwest::Identity::from_pem(&both).expect("identity"));
    }
    builder.build().expect("client")
}

fn health(client: &reqwest::blocking::Client, url: &str) -> Result<Value, reqwest::Error> {
    client.get(format!("{url}/health")).send()?.json()
}

#[test]
fn start_serves_health_over_https_to_a_client_trusting_the_ca() {
    let pki = pki();
    let (server, url) = start(&pki, json!({"tls": server_files()}));
    let answer = health(&client(&pki, None), &url).expect("/health over HTTPS");
    assert_eq!(answer["status"], "healthy", "{answer}");
    // A client that does not trust the test CA refuses the server.
    let stranger = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    assert!(health(&stranger, &url).is_err());
    // Plain HTTP still runs beside it by default, and is announced first.
    let plain = pylantir_tests::server::api_url_in(&server.log()).expect("plain URL");
    assert!(plain.starts_with("http://"), "{plain}");
}

#[test]
fn with_plain_http_disabled_only_https_answers() {
    let pki = pki();
    let plain_port = free_port();
    let mut tls = server_files();
    tls["plain"] = json!(false);
    let (server, url) = start(&pki, json!({"port": plain_port, "tls": tls}));
    assert!(health(&client(&pki, None), &url).is_ok());
    assert!(!server.log().contains("HTTP API listening on http://"));
    assert!(TcpStream::connect(("127.0.0.1", plain_port)).is_err());
    // Plain HTTP to the HTTPS port gets no HTTP answer.
    let http_url = url.replacen("https://", "http://", 1);
    let plain_client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    assert!(health(&plain_client, &http_url).is_err());
}

#[test]
fn with_client_ca_start_api_requires_a_client_certificate_it_issued() {
    let pki = pki();
    let mut tls = server_files();
    tls["client_ca"] = json!("ca.crt");
    let config = write_config(&pki, json!({"tls": tls}));
    let api = ApiProcess::start(&config, &[]);
    let url = https_url_in(&api.log()).expect("the HTTPS address in the log");
    let answer = health(&client(&pki, Some(&pki.client)), &url).expect("with a certificate");
    assert_eq!(answer["status"], "healthy");
    assert!(health(&client(&pki, None), &url).is_err());
    assert!(health(&client(&pki, Some(&pki.stranger)), &url).is_err());
}

/// Runs pylantir with `args` then `config`: whether it succeeded, and its output.
fn run(args: &[&str], config: &Path) -> (bool, String) {
    let config = config.display().to_string();
    let args: Vec<&str> = args.iter().copied().chain([config.as_str()]).collect();
    let (code, out, err) = run_cli(&args, "");
    (code == 0, out + &err)
}

#[test]
fn check_config_names_a_missing_api_key_file_and_start_refuses_it() {
    let pki = pki();
    let config = write_config(
        &pki,
        json!({"enabled": true, "host": "127.0.0.1", "port": 0,
               "tls": {"cert": "server.crt", "key": "missing.key", "port": 0}}),
    );
    let (ok, text) = run(&["check-config", "--config"], &config);
    assert!(
        !ok && text.contains("api.tls.key") && text.contains("missing.key"),
        "{text}"
    );
    let (ok, text) = run(
        &[
            "start",
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--pylantir_config",
        ],
        &config,
    );
    assert!(!ok && text.contains("missing.key"), "{text}");
    assert!(!text.contains("HTTP API listening"), "{text}");
}
