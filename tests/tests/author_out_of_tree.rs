//! The third-party author's path, outside this repository: a plugin crate
//! in a directory of its own, built with plain `cargo build --release`
//! against plugin-api as an outsider gets it (the crate `cargo package`
//! writes, unpacked into a directory of its own), installed with `plugins
//! install`, served by the already-built server and seen through a C-FIND.
//!
//! Both tests build into one target directory (under the workspace's
//! `target/`), so the plugin's dependencies are compiled once per checkout.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::{Client, ScuOptions};
use pylantir_tests::server::ServerProcess;
use pylantir_tests::{artifacts, profile_dir, temp_dir, workspace_root};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

const MWL_FIND: &str = "1.2.840.10008.5.1.4.31";

/// One build at a time in the shared target directory (cargo would wait on
/// its lock anyway; this keeps the two tests' output apart).
static BUILD: Mutex<()> = Mutex::new(());

/// The target directory of the out-of-tree builds.
fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .expect("the profile directory lives in target/")
        .join("out-of-tree-plugins")
}

/// Runs cargo `args` in `crate_dir` (its own workspace) with the shared
/// target directory; the workspace's Cargo.lock pins the same dependency
/// versions the host was built with.
fn cargo(crate_dir: &Path, args: &[&str]) {
    std::fs::copy(
        workspace_root().join("Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .expect("Cargo.lock copied");
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    let status = Command::new(env!("CARGO"))
        .args(args)
        .arg("--target-dir")
        .arg(target_dir())
        .current_dir(crate_dir)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("cargo could be started");
    assert!(
        status.success(),
        "cargo {args:?} failed in {}",
        crate_dir.display()
    );
}

fn built_library(lib_name: &str) -> PathBuf {
    target_dir().join("release").join(format!(
        "{}{lib_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

fn pylantir(args: &[&str], cwd: &Path) -> Output {
    Command::new(&artifacts().bin)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("pylantir ran")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Packages plugin-api as `cargo package` does for a release, unpacks the
/// `.crate` into `dir` and returns the unpacked crate's directory.
fn packaged_plugin_api(dir: &Path) -> PathBuf {
    let package_dir = dir.join("package-target");
    let status = Command::new(env!("CARGO"))
        .args([
            "package",
            "--quiet",
            "--no-verify",
            "--allow-dirty",
            "-p",
            "pylantir-plugin-api",
        ])
        .arg("--target-dir")
        .arg(&package_dir)
        .current_dir(workspace_root())
        .status()
        .expect("cargo package could be started");
    assert!(
        status.success(),
        "cargo package -p pylantir-plugin-api failed"
    );
    let name = format!("pylantir-plugin-api-{}", pylantir_plugin_api::API_VERSION);
    let archive = package_dir.join("package").join(format!("{name}.crate"));
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .current_dir(dir)
        .status()
        .expect("tar could be started");
    assert!(status.success(), "{} unpacked", archive.display());
    dir.join(name)
}

/// Copies examples/minimal-plugin to `dir` and points its plugin-api
/// dependency at the packaged crate unpacked beside it, by absolute path.
fn copy_example(dir: &Path) -> PathBuf {
    let example = workspace_root().join("examples/minimal-plugin");
    let to = dir.join("minimal-plugin");
    std::fs::create_dir_all(to.join("src")).expect("crate directory");
    for file in ["src/lib.rs", "source.json"] {
        std::fs::copy(example.join(file), to.join(file)).expect("example file copied");
    }
    let manifest = std::fs::read_to_string(example.join("Cargo.toml")).expect("example manifest");
    let api = packaged_plugin_api(dir);
    let relocated = manifest.replace(
        r#"path = "../../plugin-api""#,
        &format!("path = {:?}", api.display().to_string()),
    );
    assert_ne!(
        relocated, manifest,
        "the example's plugin-api path was found"
    );
    std::fs::write(to.join("Cargo.toml"), relocated).expect("manifest written");
    to
}

fn find_patients(port: u16) -> Vec<(String, String)> {
    let options = ScuOptions {
        addr: format!("127.0.0.1:{port}"),
        called_ae: "MWL_SERVER".into(),
        calling_ae: "OUT_OF_TREE".into(),
        timeout: Duration::from_secs(10),
    };
    let mut client = Client::connect(&options, &[MWL_FIND]).expect("association accepted");
    let mut query = InMemDicomObject::new_empty();
    for tag in [tags::PATIENT_NAME, tags::PATIENT_ID] {
        let vr = if tag == tags::PATIENT_NAME {
            VR::PN
        } else {
            VR::LO
        };
        query.put(DataElement::new(tag, vr, PrimitiveValue::from("")));
    }
    let mut found = Vec::new();
    let status = client
        .find(&query, |_, identifier| {
            let value = |tag| {
                identifier
                    .element(tag)
                    .ok()
                    .and_then(|e| e.to_str().ok())
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default()
            };
            found.push((value(tags::PATIENT_ID), value(tags::PATIENT_NAME)));
            ControlFlow::Continue(())
        })
        .expect("C-FIND answered");
    assert_eq!(status, 0x0000, "final C-FIND status");
    let _ = client.release();
    found.sort();
    found
}

#[test]
fn the_example_built_out_of_tree_against_the_packaged_plugin_api_is_installed_and_served_over_c_find(
) {
    let outside = temp_dir();
    let crate_dir = copy_example(outside.path());
    cargo(&crate_dir, &["build", "--release", "--quiet"]);

    let site = temp_dir();
    let plugins = site.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugin directory");
    let library = built_library("pylantir_minimal");
    let install = pylantir(
        &[
            "plugins",
            "install",
            &library.display().to_string(),
            "--plugin-dir",
            &plugins.display().to_string(),
        ],
        site.path(),
    );
    let stdout = text(&install.stdout);
    assert!(
        install.status.success(),
        "{stdout}{}",
        text(&install.stderr)
    );
    let installed = plugins.join(library.file_name().expect("file name"));
    assert!(
        stdout.contains(&format!("installed {}", installed.display())),
        "{stdout}"
    );

    let config = site.path().join("pylantir.json");
    let source = serde_json::json!({
        "db_path": "worklist.db",
        "data_sources": [{
            "name": "greetings",
            "type": "greeter",
            "sync_interval": 1,
            "config": {"patients": ["DOE^JANE", "ROE^RICHARD"]},
            "field_mapping": {"greeting": "study_description"}
        }]
    });
    std::fs::write(&config, source.to_string()).expect("config written");
    let server = ServerProcess::start(&config, &plugins, &[]);
    assert!(
        server.wait_for_log(Duration::from_secs(20), |log| log
            .contains("[greeter:greetings] fetched 2")),
        "no sync logged:\n{}",
        server.log()
    );
    assert!(
        server
            .log()
            .contains(&format!("plugin {}", installed.display())),
        "the source did not use the installed file:\n{}",
        server.log()
    );
    assert_eq!(
        find_patients(server.port),
        vec![
            ("GREET0000".to_string(), "DOE^JANE".to_string()),
            ("GREET0001".to_string(), "ROE^RICHARD".to_string()),
        ]
    );
}

#[test]
fn plugins_new_writes_a_crate_that_builds_passes_its_test_and_plugins_test_shows_its_entries() {
    let outside = temp_dir();
    let new = pylantir(
        &[
            "plugins",
            "new",
            "clinic",
            "--dir",
            &outside.path().display().to_string(),
        ],
        outside.path(),
    );
    assert!(new.status.success(), "{}", text(&new.stderr));
    let crate_dir = outside.path().join("clinic");
    cargo(&crate_dir, &["test", "--release", "--quiet"]);
    cargo(&crate_dir, &["build", "--release", "--quiet"]);
    let library = built_library("pylantir_clinic").display().to_string();

    let tested = pylantir(
        &[
            "plugins",
            "test",
            &library,
            "--source-config",
            "source.json",
        ],
        &crate_dir,
    );
    let stdout = text(&tested.stdout);
    assert_eq!(
        tested.status.code(),
        Some(0),
        "{stdout}{}",
        text(&tested.stderr)
    );
    assert!(stdout.contains("configuration accepted"), "{stdout}");
    assert!(stdout.contains("Hello DOE^JANE"), "{stdout}");
    assert!(stdout.contains("2 accepted, 0 rejected"), "{stdout}");

    let long_name = "X".repeat(70);
    std::fs::write(
        crate_dir.join("long.json"),
        serde_json::json!({"config": {"patients": [long_name]}}).to_string(),
    )
    .expect("source config written");
    let truncated = pylantir(
        &["plugins", "test", &library, "--source-config", "long.json"],
        &crate_dir,
    );
    let stdout = text(&truncated.stdout);
    assert_eq!(truncated.status.code(), Some(0), "{stdout}");
    let warning = format!(
        "warning: entry 1 (source_record_id \"clinic-0\"): patient_name \"{long_name}\" is 70 characters long, more than the 64 its DICOM VR allows; truncated to \"{}\"",
        &long_name[..64]
    );
    assert!(stdout.contains(&warning), "{stdout}");
}
