//! The console's browser scenarios (tests/browser/*.mjs): where they are and
//! their npm packages (playwright-core), installed on first use.

use crate::workspace_root;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `tests/browser`, the scenarios and their package.json.
pub fn browser_dir() -> PathBuf {
    workspace_root().join("tests").join("browser")
}

/// Installs the pinned npm packages of `dir` (`npm ci`, from its
/// package-lock.json) once per process when they are not there yet; panics
/// saying what is missing when npm cannot do it.
pub fn install_browser_packages(dir: &Path) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if dir.join("node_modules").join("playwright-core").is_dir() {
            return;
        }
        let output = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("the browser tests need npm (node 18 or later) on PATH: {e}")
            });
        assert!(
            output.status.success(),
            "npm ci --prefix tests/browser failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    });
}
