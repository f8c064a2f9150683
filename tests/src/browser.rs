//! The console's browser scenarios (tests/browser/*.mjs): where they are,
//! their npm packages (playwright-core, puppeteer-core), installed on first
//! use, and the site they run against: the real `pylantir start` with a CSV
//! source, a failing source and the API on loopback.

use crate::api::run_cli;
use crate::server::{free_port, ServerProcess};
use crate::{artifacts, install_plugins, workspace_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

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
        let modules = dir.join("node_modules");
        if ["playwright-core", "puppeteer-core"]
            .iter()
            .all(|package| modules.join(package).is_dir())
        {
            return;
        }
        let output = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .env("PUPPETEER_SKIP_DOWNLOAD", "1")
            .output()
            .unwrap_or_else(|e| {
                panic!("the browser tests need npm (node 20 or later) on PATH: {e}")
            });
        assert!(
            output.status.success(),
            "npm ci --prefix tests/browser failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    });
}

/// The browser a scenario runs in.
#[derive(Clone, Copy, Debug)]
pub enum Browser {
    /// Debian's `/usr/bin/chromium`, through playwright-core.
    Chromium,
    /// Debian's `/usr/bin/firefox-esr`, through puppeteer-core (WebDriver BiDi).
    Firefox,
}

impl Browser {
    fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
        }
    }
}

/// The Study Instance UID of Müller's item (the MPPS scenario performs it).
pub const MULLER_STUDY_UID: &str = "1.2.826.0.1.3680043.10.1.1";

/// A running site: the server, its API URL and the configuration's directory.
pub struct ConsoleSite {
    /// The running `pylantir start`.
    pub server: ServerProcess,
    /// The API's base URL; the console is at `/`.
    pub url: String,
    /// The configuration's directory (`visits.csv`, `worklist.db`, the secret).
    pub dir: tempfile::TempDir,
}

/// Today and tomorrow in the local time zone (the browser's), `YYYY-MM-DD`.
fn today_and_tomorrow() -> (String, String) {
    let now = jiff::ZonedDateTime::now();
    let tomorrow = now.tomorrow().expect("a tomorrow");
    let day = |z: &jiff::ZonedDateTime| z.strftime("%Y-%m-%d").to_string();
    (day(&now), day(&tomorrow))
}

fn create_user(config: &Path, username: &str, role: &str, password: &str) {
    let (code, out, err) = run_cli(
        &[
            "create-user",
            "--username",
            username,
            "--role",
            role,
            "--pylantir_config",
            config.to_str().expect("utf-8 path"),
        ],
        &format!("{password}\n"),
    );
    assert_eq!(code, 0, "create-user {username}: {out}{err}");
}

impl ConsoleSite {
    /// Today's visits of two stations and one of tomorrow from `visits.csv`,
    /// and a source `broken` whose file is missing; users `reader` and `writer`.
    pub fn start() -> ConsoleSite {
        let dir = tempfile::tempdir().expect("temp dir");
        let (today, tomorrow) = today_and_tomorrow();
        std::fs::write(
            dir.path().join("visits.csv"),
            format!(
                "id,pid,name,acc,date,time,modality,station,uid\n\
             1,P001,Müller^Jürgen,ACC001,{today},09:30,MR,MR_SCANNER,{MULLER_STUDY_UID}\n\
             2,P002,Doe^Jane,ACC002,{today},10:00,CT,CT_SCANNER,1.2.826.0.1.3680043.10.1.2\n\
             3,P003,Roe^Richard,ACC003,{today},11:00,MR,MR_SCANNER,1.2.826.0.1.3680043.10.1.3\n\
             4,P004,Later^Lara,ACC004,{tomorrow},09:00,MR,MR_SCANNER,1.2.826.0.1.3680043.10.1.4\n"
            ),
        )
        .expect("csv written");
        let mapping = serde_json::json!({
            "pid": "patient_id", "name": "patient_name", "acc": "accession_number",
            "date": "scheduled_start_date", "time": "scheduled_start_time", "modality": "modality",
            "station": "scheduled_station_aetitle", "uid": "study_instance_uid"
        });
        let api_port = free_port();
        let config = serde_json::json!({
            "db_path": "worklist.db",
            "api": {"enabled": true, "host": "127.0.0.1", "port": api_port},
            "data_sources": [
                {"name": "visits", "type": "csv", "sync_interval": 60,
                 "config": {"file_path": "visits.csv", "record_id_column": "id"},
                 "field_mapping": mapping},
                {"name": "broken", "type": "csv", "sync_interval": 60,
                 "config": {"file_path": "missing.csv", "record_id_column": "id"},
                 "field_mapping": mapping}
            ]
        });
        let config_path = dir.path().join("pylantir.json");
        std::fs::write(&config_path, config.to_string()).expect("config written");
        create_user(&config_path, "reader", "read", "reader-password");
        create_user(&config_path, "writer", "write", "writer-password");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).expect("plugin dir");
        install_plugins(&plugins, &["pylantir_csv"]);
        let server = ServerProcess::start(&config_path, &plugins, &[]);
        let synced = server.wait_for_log(Duration::from_secs(30), |log| {
            log.contains("HTTP API listening")
                && log.contains("[csv:visits] fetched")
                && log.contains("missing.csv")
        });
        assert!(
            synced,
            "the API listens and both sources ran:\n{}",
            server.log()
        );
        ConsoleSite {
            server,
            url: format!("http://127.0.0.1:{api_port}"),
            dir,
        }
    }

    /// Runs `tests/browser/<scenario>.mjs` in `browser` against this site,
    /// its screenshots going to `target/console-screenshots/[firefox/]<scenario>`;
    /// panics with its output unless it passes.
    pub fn run_scenario(&self, scenario: &str, browser: Browser, extra_env: &[(&str, &str)]) {
        let dir = browser_dir();
        install_browser_packages(&dir);
        let mut screenshots = workspace_root().join("target").join("console-screenshots");
        if let Browser::Firefox = browser {
            screenshots.push("firefox");
        }
        screenshots.push(scenario);
        let output = Command::new("node")
            .arg(dir.join(format!("{scenario}.mjs")))
            .current_dir(&dir)
            .env("CONSOLE_BROWSER", browser.name())
            .env("CONSOLE_URL", &self.url)
            .env("SCREENSHOT_DIR", &screenshots)
            .env("PYLANTIR_BIN", &artifacts().bin)
            .env("DICOM_PORT", self.server.port.to_string())
            .env("SECRET_FILE", self.dir.path().join("pylantir-jwt-secret"))
            .envs(extra_env.iter().copied())
            .output()
            .expect("node could be run (node 20 or later on PATH)");
        assert!(
            output.status.success(),
            "browser scenario {scenario} in {browser:?} failed:\n{}{}\nserver log:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.server.log()
        );
    }
}
