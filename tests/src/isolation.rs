//! A site for the isolation tests: the real `pylantir start` with a failing
//! fixture source and a healthy CSV source, helpers to read `sync_runs`, ask
//! over DICOM, and find worker processes in /proc.

use crate::server::ServerProcess;
use crate::{artifacts, library, profile_dir, temp_dir, workspace_root};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::{Client, ScuOptions};
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a test waits for something the server does every second.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The failing fixture built with `panic = "abort"` (only that crate gets the
/// flag, so the workspace's compiled dependencies are reused).
pub fn panic_abort_fixture() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        artifacts();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(workspace_root()).args([
            "rustc",
            "--quiet",
            "-p",
            "fixture-failing-abort-plugin",
            "--lib",
            "--crate-type",
            "cdylib",
        ]);
        if profile_dir().ends_with("release") {
            cmd.arg("--release");
        }
        cmd.args(["--", "-C", "panic=abort"]);
        let status = cmd.status().expect("cargo could be started");
        assert!(status.success(), "building the panic=abort fixture failed");
        library("fixture_failing_abort")
    })
}

/// A temporary site: plugin directory, CSV export, configuration.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub plugins: PathBuf,
}

impl Site {
    /// A site whose `bad` source uses the failing fixture (`fixture`, a
    /// library path) with `bad_config`, next to a healthy CSV source `good`.
    /// `bad_extra` adds keys to the `bad` source, `top_extra` to the top level.
    /// `"marker": true` in `bad_config` becomes a file path inside the site.
    pub fn new(fixture: &Path, mut bad_config: Value, bad_extra: Value, top_extra: Value) -> Site {
        let dir = temp_dir();
        if bad_config["marker"] == json!(true) {
            bad_config["marker"] = json!(dir.path().join("failed-once"));
        }
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).expect("plugin dir");
        std::fs::copy(fixture, plugins.join("libpylantir_failing.so")).expect("fixture copied");
        std::fs::copy(library("pylantir_csv"), plugins.join("libpylantir_csv.so"))
            .expect("csv plugin copied");
        std::fs::write(
            dir.path().join("visits.csv"),
            "id,pid,name,modality\n1,P001,Doe^John,MR\n",
        )
        .expect("csv written");
        let mut bad = json!({
            "name": "bad",
            "type": "failing",
            "sync_interval": 1,
            "fetch_timeout": 1,
            "config": bad_config,
            "field_mapping": {"x": "patient_id"}
        });
        merge(&mut bad, bad_extra);
        let mut config = json!({
            "db_path": "worklist.db",
            "max_crashes": 100,
            "data_sources": [bad, {
                "name": "good",
                "type": "csv",
                "sync_interval": 1,
                "config": {"file_path": "visits.csv", "record_id_column": "id"},
                "field_mapping": {"pid": "patient_id", "name": "patient_name", "modality": "modality"}
            }]
        });
        merge(&mut config, top_extra);
        let path = dir.path().join("pylantir.json");
        std::fs::write(&path, config.to_string()).expect("config written");
        Site {
            config: path,
            plugins,
            dir,
        }
    }

    /// A file path inside the site (for markers).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `pylantir start` on it.
    pub fn start(&self) -> ServerProcess {
        ServerProcess::start(&self.config, &self.plugins, &[])
    }

    fn db(&self) -> Option<Connection> {
        Connection::open_with_flags(
            self.dir.path().join("worklist.db"),
            OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .ok()
    }

    /// The finished runs of `source`: (id, error), oldest first.
    pub fn runs(&self, source: &str) -> Vec<(i64, Option<String>)> {
        let Some(conn) = self.db() else {
            return Vec::new();
        };
        let Ok(mut stmt) = conn.prepare(
            "SELECT id, error FROM sync_runs WHERE source = ?1 AND finished_at IS NOT NULL ORDER BY id",
        ) else {
            return Vec::new();
        };
        stmt.query_map([source], |r| Ok((r.get(0)?, r.get(1)?)))
            .map(|rows| rows.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }

    /// The patient ids `source` put into the worklist.
    pub fn patients(&self, source: &str) -> Vec<String> {
        let Some(conn) = self.db() else {
            return Vec::new();
        };
        let Ok(mut stmt) = conn.prepare(
            "SELECT patient_id FROM worklist_items WHERE data_source = ?1 ORDER BY patient_id",
        ) else {
            return Vec::new();
        };
        stmt.query_map([source], |r| r.get(0))
            .map(|rows| rows.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }

    /// Waits until `source` has a run whose error satisfies `pred`; returns
    /// that run's id and error, or panics with the log.
    pub fn wait_for_failure(
        &self,
        server: &ServerProcess,
        source: &str,
        pred: impl Fn(&str) -> bool,
    ) -> (i64, String) {
        let found = wait_until(|| {
            self.runs(source)
                .into_iter()
                .find_map(|(id, error)| error.filter(|e| pred(e)).map(|e| (id, e)))
        });
        found.unwrap_or_else(|| {
            panic!(
                "no matching failure of `{source}` in sync_runs: {:?}\n{}",
                self.runs(source),
                server.log()
            )
        })
    }

    /// Waits until `source` has a successful run after run `after`.
    pub fn wait_for_success(&self, server: &ServerProcess, source: &str, after: i64) -> i64 {
        wait_until(|| {
            self.runs(source)
                .into_iter()
                .find(|(id, error)| *id > after && error.is_none())
                .map(|(id, _)| id)
        })
        .unwrap_or_else(|| {
            panic!(
                "no successful run of `{source}` after run {after}: {:?}\n{}",
                self.runs(source),
                server.log()
            )
        })
    }
}

fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

/// Polls `check` every 50 ms for up to [`PATIENCE`].
pub fn wait_until<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scu(server: &ServerProcess) -> Client {
    Client::connect(
        &ScuOptions {
            addr: format!("127.0.0.1:{}", server.port),
            called_ae: "MWL_SERVER".into(),
            calling_ae: "TESTSCU".into(),
            timeout: Duration::from_secs(10),
        },
        &[
            uids::VERIFICATION,
            uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND,
        ],
    )
    .expect("association established")
}

/// C-ECHO answers success.
pub fn assert_echo(server: &ServerProcess) {
    let mut client = scu(server);
    assert_eq!(client.echo().expect("C-ECHO"), 0x0000);
    client.release().expect("release");
}

/// C-FIND for every item answers success; returns the patient ids.
pub fn find_patients(server: &ServerProcess) -> Vec<String> {
    let mut client = scu(server);
    let mut query = InMemDicomObject::new_empty();
    query.put(DataElement::new(
        tags::PATIENT_ID,
        VR::LO,
        PrimitiveValue::from(""),
    ));
    let mut ids = Vec::new();
    let status = client
        .find(&query, |_, answer| {
            if let Some(id) = answer
                .element(tags::PATIENT_ID)
                .ok()
                .and_then(|e| e.to_str().ok())
            {
                ids.push(id.trim().to_string());
            }
            ControlFlow::Continue(())
        })
        .expect("C-FIND exchange");
    client.release().expect("release");
    assert_eq!(status, 0x0000, "C-FIND final status");
    ids.sort();
    ids
}

fn processes() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The ids of live `plugin-worker` processes whose command line mentions `dir`.
pub fn workers_under(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    processes()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
                let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
                cmdline.contains("plugin-worker") && cmdline.contains(&needle)
            })
        })
        .collect()
}

/// The children of `parent` that exited but were not reaped (zombies).
pub fn zombie_children(parent: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
            let mut fields = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_whitespace();
            fields.next() == Some("Z") && fields.next() == Some(parent.to_string().as_str())
        })
        .collect()
}
