//! Plugin files for tests: a built library under a chosen plugin name, the
//! `pylantir` binary placed beside them (so its default plugin directory is
//! the test's own), and the fixtures the workspace build does not produce.

use crate::{artifacts, profile_dir, workspace_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The platform's plugin file name for `stem`: `libpylantir_<stem>.so` on Linux.
pub fn plugin_file_name(stem: &str) -> String {
    format!(
        "{}pylantir_{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// Copies the library at `from` into `dir` as plugin `stem` and returns the new path.
pub fn install_as(dir: &Path, from: &Path, stem: &str) -> PathBuf {
    let to = dir.join(plugin_file_name(stem));
    std::fs::copy(from, &to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    to
}

/// Puts the `pylantir` binary into `dir` (hard link, else copy) and returns
/// its path. Run from there, its default plugin directory is `dir`, so the
/// plugins built into `target/` are not found.
pub fn binary_in(dir: &Path) -> PathBuf {
    let to = dir.join("pylantir");
    if to.exists() {
        return to;
    }
    let from = &artifacts().bin;
    if std::fs::hard_link(from, &to).is_err() {
        std::fs::copy(from, &to).expect("copy the pylantir binary");
    }
    to
}

fn profile_args(cmd: &mut Command) {
    if profile_dir()
        .file_name()
        .is_some_and(|name| name == "release")
    {
        cmd.arg("--release");
    }
}

fn run(mut cmd: Command, what: &str) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("{what}: cargo could not be started: {e}"));
    assert!(status.success(), "{what} failed");
}

/// The fixture plugin built with `panic = "abort"` (`fixture_abort`). Only
/// that crate gets the flag (`cargo rustc`), so the workspace's compiled
/// dependencies are reused; the workspace build makes an rlib of it only.
pub fn abort_fixture() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(workspace_root()).args([
            "rustc",
            "--quiet",
            "-p",
            "fixture-abort-plugin",
            "--lib",
            "--crate-type",
            "cdylib",
        ]);
        profile_args(&mut cmd);
        cmd.args(["--", "-C", "panic=abort"]);
        run(cmd, "building the panic=abort fixture");
        fixture_library("fixture_abort")
    })
}

/// The fixture plugin built against a plugin-api copy whose source object
/// differs (`fixture_api_changed`). It is its own cargo workspace (the copy
/// has plugin-api's package name), built into the main target directory.
pub fn api_changed_fixture() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target_root = profile_dir()
            .parent()
            .expect("the profile directory lives in the target directory")
            .to_path_buf();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(workspace_root().join("tests/fixtures/api-changed-plugin"))
            .args(["build", "--quiet", "--target-dir"])
            .arg(&target_root);
        profile_args(&mut cmd);
        run(cmd, "building the incompatible plugin-api fixture");
        fixture_library("fixture_api_changed")
    })
}

/// The fixture plugin built against the unchanged plugin-api 1.0.0
/// (`fixture_api_100`): its own cargo workspace, like [`api_changed_fixture`].
pub fn api_100_fixture() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target_root = profile_dir()
            .parent()
            .expect("the profile directory lives in the target directory")
            .to_path_buf();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(workspace_root().join("tests/fixtures/api-1.0.0-plugin"))
            .args(["build", "--quiet", "--target-dir"])
            .arg(&target_root);
        profile_args(&mut cmd);
        run(cmd, "building the plugin-api 1.0.0 fixture");
        fixture_library("fixture_api_100")
    })
}

fn fixture_library(lib_name: &str) -> PathBuf {
    profile_dir().join(format!(
        "{}{lib_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

/// Loads the built libraries `lib_names` (e.g. `pylantir_csv`) in this
/// process through the real loader, from a private plugin directory.
pub fn load_in_process(lib_names: &[&str]) -> pylantir::loader::Registry {
    let dir = crate::temp_dir();
    for name in lib_names {
        let stem = name
            .trim_start_matches("pylantir_")
            .trim_start_matches("fixture_");
        install_as(dir.path(), &crate::library(name), stem);
    }
    let registry = pylantir::loader::Registry::load(
        &[dir.path().to_path_buf()],
        &pylantir::loader::LoadOptions::default(),
    );
    if let Some(refusal) = registry.refusals().next() {
        panic!("{refusal}");
    }
    registry
}
