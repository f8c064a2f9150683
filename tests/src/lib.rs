//! Shared helpers for the end-to-end tests.
//!
//! `cargo test` does not build the `.so` files of cdylib crates, so
//! [`artifacts`] runs `cargo build --workspace` once per test binary (cargo's
//! own lock serialises concurrent callers) and hands out the paths of the
//! `pylantir` binary and the built plugins.
//!
//! - [`plugin_files`]: plugin directories for a test: plugins under chosen
//!   names, the binary beside them, the fixture plugins that need their own build.
//! - [`pki`]: test certificates (a CA, server and client certificates), made with rcgen.
//! - [`logs`]: a logger that keeps every record, for asserting what was (not) reported.
//! - [`server`]: the real `pylantir start` as a child process on a free loopback port.
//! - [`http`]: a fake HTTP server on 127.0.0.1 for upstream APIs.
//! - [`in_child`]: one test run again in a child process with environment
//!   variables of its own (and loopback listeners handed over).
//! - [`api`]: `pylantir start-api` as a child process, an HTTP client, a Python-schema users.db.
//! - [`dicom`]: a worklist site with the DICOM server in-process, rows by
//!   plain SQL, DCMTK runners and our SCU.
//! - [`isolation`]: a site running the real `pylantir start` with plugins in
//!   worker processes, and the fixture plugins that crash in every way.
//! - [`redcap`], [`calpendo`]: fakes that answer as the REDCap and Calpendo APIs do.
//! - [`bench_entries`]: generated worklist entries for the store benches.
//! - [`browser`]: the console's browser scenarios and their npm packages.
//! - [`schemathesis`]: the pinned schema-based API fuzzer, installed on first use.
//! - [`postgres`]: a throwaway PostgreSQL server (initdb + pg_ctl) and fresh databases on it.
//! - [`stores`]: one test on both stores (SQLite and PostgreSQL), `both_stores!`.

pub mod api;
pub mod bench_entries;
pub mod browser;
pub mod calpendo;
pub mod dicom;
pub mod http;
pub mod in_child;
pub mod isolation;
pub mod logs;
pub mod pki;
pub mod plugin_files;
pub mod postgres;
pub mod redcap;
pub mod schemathesis;
pub mod server;
pub mod stores;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What `cargo build --workspace` produced for this profile.
pub struct Artifacts {
    /// The `pylantir` binary.
    pub bin: PathBuf,
    /// The directory holding the binary and every built plugin library.
    pub dir: PathBuf,
}

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf()
}

/// The profile directory this test binary was built into (`target/debug`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    // target/debug/deps/<test> -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// Builds the whole workspace (binary and plugins) once, and returns where it is.
pub fn artifacts() -> &'static Artifacts {
    static BUILT: OnceLock<Artifacts> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = profile_dir();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--workspace", "--quiet"])
            .current_dir(workspace_root());
        // `cargo test` gives this process the variables of the test's own
        // crate (CARGO_MANIFEST_DIR, CARGO_PKG_NAME, ...); build scripts that
        // watch them (ring's) would rebuild half the workspace on every run.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(is_per_crate_cargo_variable) {
                cmd.env_remove(&name);
            }
        }
        if dir.file_name().is_some_and(|name| name == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo build could be started");
        assert!(status.success(), "cargo build --workspace failed");
        Artifacts {
            bin: dir.join("pylantir"),
            dir,
        }
    })
}

/// Whether `name` is one of the variables cargo sets for the crate it runs
/// (not the user's CARGO_HOME, CARGO_TARGET_DIR, ...).
fn is_per_crate_cargo_variable(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || name.starts_with("CARGO_BIN_")
        || matches!(
            name,
            "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR"
        )
}

/// The path of a built library by its crate `lib` name (e.g. `pylantir_csv`).
pub fn library(lib_name: &str) -> PathBuf {
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        lib_name,
        std::env::consts::DLL_SUFFIX
    );
    artifacts().dir.join(file)
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// Copies built libraries (by `lib` name) into `dir`, keeping their file names,
/// and returns the new paths. Tests give each server its own plugin directory.
pub fn install_plugins(dir: &Path, lib_names: &[&str]) -> Vec<PathBuf> {
    lib_names
        .iter()
        .map(|name| {
            let from = library(name);
            let to = dir.join(from.file_name().expect("library file name"));
            std::fs::copy(&from, &to)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
            to
        })
        .collect()
}
