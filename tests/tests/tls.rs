//! DICOM over TLS: our SCU and DCMTK's (`echoscu`/`findscu +tls`) against
//! the TLS listener, with and without client certificates; peers without a
//! valid certificate refused at the TLS layer; AE-title rules on top; bad
//! certificate files refused by `check-config` and `start`. Certificates
//! are generated here (rcgen), never committed.

use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::Client;
use pylantir::dicom::transport::TlsListener;
use pylantir::tls::ServerFiles;
use pylantir_tests::api::run_cli;
use pylantir_tests::dicom::*;
use pylantir_tests::pki::{pki, Ca, Pem, Pki};
use std::path::Path;
use std::process::Command;

fn listener(pki: &Pki, client_ca: bool) -> TlsListener {
    TlsListener::load(
        0,
        ServerFiles {
            cert: pki.server.cert.clone(),
            key: pki.server.key.clone(),
            client_ca: client_ca.then(|| pki.ca.clone()),
        },
    )
    .expect("the generated files load")
}

fn tls_scu(site: &Site, calling: &str) -> pylantir::dicom::scu::ScuOptions {
    let mut options = site.scu(calling);
    options.addr = format!("127.0.0.1:{}", site.tls_port());
    options
}

fn connect(site: &Site, pki: &Pki, identity: Option<&Pem>) -> Result<Client, String> {
    let config = pylantir::tls::client_config(
        &pki.ca,
        identity.map(|pem| (pem.cert.as_path(), pem.key.as_path())),
    )
    .expect("client configuration");
    Client::connect_tls(
        &tls_scu(site, "TLS_SCU"),
        config,
        &[uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND],
    )
    .map_err(|e| e.to_string())
}

fn find_all(client: &mut Client) -> Vec<InMemDicomObject> {
    let query =
        InMemDicomObject::from_element_iter([text(tags::PATIENT_ID, dicom_core::VR::LO, "")]);
    let mut answers = Vec::new();
    let status = client
        .find(&query, |_, answer| {
            answers.push(answer);
            std::ops::ControlFlow::Continue(())
        })
        .expect("find runs");
    assert_eq!(status, 0);
    answers
}

#[test]
fn our_scu_finds_over_tls_beside_the_plain_listener() {
    let pki = pki();
    let site = Site::with_tls(serde_json::json!({}), listener(&pki, false), true);
    site.insert(&[("patient_id", "TLS-1"), ("patient_name", "Secure^Sam")]);
    let mut client = connect(&site, &pki, None).expect("TLS association");
    let answers = find_all(&mut client);
    client.release().expect("release");
    assert_eq!(value(&answers[0], tags::PATIENT_ID), "TLS-1");
    let (status, plain) = site.find(&InMemDicomObject::from_element_iter([text(
        tags::PATIENT_ID,
        dicom_core::VR::LO,
        "",
    )]));
    assert_eq!((status, plain.len()), (0, 1));
}

#[test]
fn with_tls_alone_there_is_no_plain_listener() {
    let pki = pki();
    let site = Site::with_tls(serde_json::json!({}), listener(&pki, false), false);
    let addr = site.server.as_ref().expect("running").local_addr();
    assert_eq!(addr.port().to_string(), site.tls_port());
    assert!(connect(&site, &pki, None).is_ok());
}

#[test]
fn a_client_certificate_from_the_trusted_ca_is_accepted_and_its_subject_known() {
    pylantir_tests::logs::capture();
    let pki = pki();
    let site = Site::with_tls(serde_json::json!({}), listener(&pki, true), false);
    let mut client = connect(&site, &pki, Some(&pki.client)).expect("TLS association");
    assert!(client
        .server_subject()
        .is_some_and(|s| s.contains("pylantir test server")));
    find_all(&mut client);
    client.release().expect("release");
}

#[test]
fn without_a_client_certificate_the_peer_is_refused_at_the_tls_layer() {
    pylantir_tests::logs::capture();
    let pki = pki();
    let site = Site::with_tls(serde_json::json!({}), listener(&pki, true), false);
    let error = connect(&site, &pki, None)
        .err()
        .expect("refused without a certificate");
    assert!(!error.contains("A-ASSOCIATE-RJ"), "{error}");
    assert!(wait_for_log("TLS connection from 127.0.0.1"));
}

#[test]
fn a_client_certificate_from_another_ca_is_refused_with_a_clear_log_line() {
    pylantir_tests::logs::capture();
    let pki = pki();
    let site = Site::with_tls(serde_json::json!({}), listener(&pki, true), false);
    assert!(connect(&site, &pki, Some(&pki.stranger)).is_err());
    assert!(wait_for_log("invalid peer certificate: UnknownIssuer"));
}

#[test]
fn an_expired_client_certificate_is_refused_with_a_clear_log_line() {
    pylantir_tests::logs::capture();
    let pki = pki();
    let ca = Ca::new("expiring CA");
    let expired = ca.issue(pki.dir.path(), "expired", "OLD-MODALITY", false, true);
    let trusted = ca.write(pki.dir.path(), "expiring-ca");
    let listener = TlsListener::load(
        0,
        ServerFiles {
            cert: pki.server.cert.clone(),
            key: pki.server.key.clone(),
            client_ca: Some(trusted),
        },
    )
    .expect("files load");
    let site = Site::with_tls(serde_json::json!({}), listener, false);
    // Our client refuses to present an expired certificate, so DCMTK is the peer.
    if dcmtk("echoscu").is_none() {
        return;
    }
    let output = Command::new("echoscu")
        .args(["+tls"])
        .arg(&expired.key)
        .arg(&expired.cert)
        .arg("+cf")
        .arg(&pki.ca)
        .args(["-aec", AE, "-to", "10", "127.0.0.1", &site.tls_port()])
        .output()
        .expect("echoscu runs");
    assert!(!output.status.success());
    assert!(
        wait_for_log("invalid peer certificate: certificate expired"),
        "{:?}",
        pylantir_tests::logs::containing("TLS")
    );
}

#[test]
fn ae_title_rules_still_apply_over_tls() {
    let pki = pki();
    let site = Site::with_tls(
        serde_json::json!({"allowed_aet": ["MODALITY"]}),
        listener(&pki, true),
        false,
    );
    let error = connect(&site, &pki, Some(&pki.client))
        .err()
        .expect("calling AE not allowed");
    assert!(
        error.contains("rejected") || error.contains("RJ"),
        "{error}"
    );
}

#[test]
fn dcmtk_echoscu_and_findscu_work_over_tls_with_and_without_client_certificates() {
    if dcmtk("echoscu").is_none() || dcmtk("findscu").is_none() || dcmtk("dump2dcm").is_none() {
        return;
    }
    let pki = pki();
    for client_ca in [false, true] {
        let site = Site::with_tls(serde_json::json!({}), listener(&pki, client_ca), true);
        site.insert(&[("patient_id", "DCMTK-TLS"), ("patient_name", "Tls^Tom")]);
        let identity: Vec<&std::ffi::OsStr> = if client_ca {
            vec![
                "+tls".as_ref(),
                pki.client.key.as_os_str(),
                pki.client.cert.as_os_str(),
            ]
        } else {
            vec!["+tla".as_ref()]
        };
        let echo = Command::new("echoscu")
            .args(&identity)
            .arg("+cf")
            .arg(&pki.ca)
            .args(["-aec", AE, "-to", "10", "127.0.0.1", &site.tls_port()])
            .output()
            .expect("echoscu runs");
        assert!(
            echo.status.success(),
            "echoscu (client certificate: {client_ca}): {}",
            String::from_utf8_lossy(&echo.stderr)
        );
        let query = query_file(
            site.dir.path(),
            "q",
            "(0010,0020) LO []\n(0010,0010) PN []\n",
        );
        let out = site.dir.path().join("answers");
        std::fs::create_dir_all(&out).expect("answers dir");
        let find = Command::new("findscu")
            .args(&identity)
            .arg("+cf")
            .arg(&pki.ca)
            .args(["-W", "-X", "-od"])
            .arg(&out)
            .args(["-aec", AE, "-to", "10", "127.0.0.1", &site.tls_port()])
            .arg(&query)
            .output()
            .expect("findscu runs");
        assert!(
            find.status.success(),
            "findscu (client certificate: {client_ca}): {}",
            String::from_utf8_lossy(&find.stderr)
        );
        let answers = std::fs::read_dir(&out).expect("answers").count();
        assert_eq!(answers, 1, "findscu (client certificate: {client_ca})");
    }
    // With client certificates required, DCMTK without one is refused.
    let site = Site::with_tls(serde_json::json!({}), listener(&pki, true), false);
    let anonymous = Command::new("echoscu")
        .arg("+tla")
        .arg("+cf")
        .arg(&pki.ca)
        .args(["-aec", AE, "-to", "10", "127.0.0.1", &site.tls_port()])
        .output()
        .expect("echoscu runs");
    assert!(!anonymous.status.success());
}

#[test]
fn the_echo_command_connects_over_tls_with_a_client_certificate() {
    let pki = pki();
    let site = Site::with_tls(serde_json::json!({}), listener(&pki, true), false);
    let output = Command::new(&pylantir_tests::artifacts().bin)
        .args([
            "echo",
            "--ip",
            "127.0.0.1",
            "--port",
            &site.tls_port(),
            "--AEtitle",
            AE,
        ])
        .arg("--tls")
        .arg("--tls-ca")
        .arg(&pki.ca)
        .arg("--tls-cert")
        .arg(&pki.client.cert)
        .arg("--tls-key")
        .arg(&pki.client.key)
        .output()
        .expect("pylantir runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn check_config(config: &serde_json::Value, dir: &Path) -> (bool, String) {
    let path = dir.join("config.json");
    let mut config = config.clone();
    config["data_sources"] = serde_json::json!([]);
    std::fs::write(&path, config.to_string()).expect("write config");
    let path = path.display().to_string();
    let (code, out, err) = run_cli(&["check-config", "--config", &path], "");
    (code == 0, out + &err)
}

#[test]
fn check_config_names_missing_expired_and_mismatched_certificate_files() {
    let pki = pki();
    let dir = pki.dir.path();
    let expired = Ca::new("old CA").issue(dir, "old-server", "old server", true, true);
    // Relative paths are taken from the configuration file's directory.
    let (ok, text) = check_config(
        &serde_json::json!({"tls": {"cert": "server.crt", "key": "server.key", "client_ca": "ca.crt"}}),
        dir,
    );
    assert!(ok, "{text}");
    let (ok, text) = check_config(
        &serde_json::json!({"tls": {"cert": "missing.crt", "key": "server.key"}}),
        dir,
    );
    assert!(
        !ok && text.contains("tls.cert") && text.contains("missing.crt"),
        "{text}"
    );
    let (ok, text) = check_config(
        &serde_json::json!({"tls": {"cert": expired.cert, "key": expired.key}}),
        dir,
    );
    assert!(
        !ok && text.contains("tls.cert")
            && text.contains(&expired.cert.display().to_string())
            && text.contains("expired"),
        "{text}"
    );
    let (ok, text) = check_config(
        &serde_json::json!({"tls": {"cert": "server.crt", "key": "client.key"}}),
        dir,
    );
    assert!(
        !ok && text.contains("tls.key") && text.contains("client.key"),
        "{text}"
    );
}

#[test]
fn start_refuses_to_start_with_an_expired_server_certificate() {
    let pki = pki();
    let dir = pki.dir.path();
    Ca::new("old CA").issue(dir, "old-server", "old server", true, true);
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "db_path": dir.join("worklist.db"),
            "data_sources": [],
            "tls": {"cert": "old-server.crt", "key": "old-server.key", "port": 0}
        })
        .to_string(),
    )
    .expect("write config");
    let output = Command::new(&pylantir_tests::artifacts().bin)
        .args([
            "start",
            "--port",
            "0",
            "--ip",
            "127.0.0.1",
            "--pylantir_config",
        ])
        .arg(&config)
        .output()
        .expect("pylantir runs");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        text.contains("old-server.crt") && text.contains("expired"),
        "{text}"
    );
}

/// Whether a kept log record containing `text` appears within 5 s.
fn wait_for_log(text: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if !pylantir_tests::logs::containing(text).is_empty() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}
