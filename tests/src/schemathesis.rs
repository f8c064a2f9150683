//! Schemathesis, the schema-based API fuzzer from PyPI, pinned to
//! [`VERSION`]: installed on first use into a virtual environment under the
//! cargo target directory (`python3 -m venv` + `pip install`), reused while
//! it is there, and run against a server's `/openapi.json`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The schemathesis release the tests run.
pub const VERSION: &str = "4.32.5";

/// The checks every run makes: no 5xx, and every status code, content type
/// and response body as the document says.
pub const CHECKS: &str = "not_a_server_error,status_code_conformance,\
                          content_type_conformance,response_schema_conformance";

/// The `schemathesis` executable, installed on first use. Panics, saying
/// what failed and what is needed, when it cannot be installed: the test
/// that needs it must not pass silently without it.
pub fn executable() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let venv = crate::profile_dir()
            .parent()
            .expect("the profile directory lives in the target directory")
            .join(format!("schemathesis-{VERSION}"));
        let bin = venv.join("bin").join("schemathesis");
        let marker = venv.join("installed");
        if !marker.exists() {
            install(&venv);
            std::fs::write(&marker, format!("schemathesis=={VERSION}\n"))
                .unwrap_or_else(|e| panic!("{}: {e}", marker.display()));
        }
        bin
    })
}

/// Creates the virtual environment `venv` afresh and installs schemathesis in it.
fn install(venv: &Path) {
    if venv.exists() {
        std::fs::remove_dir_all(venv)
            .unwrap_or_else(|e| panic!("removing the unfinished {}: {e}", venv.display()));
    }
    let steps: [(PathBuf, Vec<String>); 2] = [
        (
            PathBuf::from("python3"),
            vec!["-m".into(), "venv".into(), venv.display().to_string()],
        ),
        (
            venv.join("bin").join("pip"),
            vec![
                "install".into(),
                "--quiet".into(),
                "--disable-pip-version-check".into(),
                format!("schemathesis=={VERSION}"),
            ],
        ),
    ];
    for (program, args) in steps {
        let output = Command::new(&program).args(&args).output();
        let failure = match output {
            Ok(output) if output.status.success() => continue,
            Ok(output) => format!(
                "{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(e) => e.to_string(),
        };
        panic!(
            "cannot install schemathesis {VERSION} for the API fuzzing test: `{} {}` failed: \
             {failure}\nThe test needs python3 with its venv module (Debian: python3-venv) and \
             access to PyPI (or a PIP_INDEX_URL mirror).",
            program.display(),
            args.join(" ")
        );
    }
}

/// What one run found.
pub struct Run {
    /// Whether every check passed.
    pub passed: bool,
    /// Its report (stdout and stderr).
    pub output: String,
}

/// Runs schemathesis against `base_url`'s `/openapi.json`, every request
/// with `token` as its bearer token, at most `max_examples` cases per
/// operation, with a fixed seed, in `work_dir` (which keeps its example
/// database).
pub fn run(base_url: &str, token: &str, max_examples: u32, work_dir: &Path) -> Run {
    let output = Command::new(executable())
        .arg("run")
        .arg(format!("{base_url}/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &max_examples.to_string()])
        .args(["--seed", "1"])
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        .args(["--suppress-health-check", "all"])
        .arg("--no-color")
        .current_dir(work_dir)
        .output()
        .unwrap_or_else(|e| panic!("schemathesis could not be started: {e}"));
    Run {
        passed: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}
