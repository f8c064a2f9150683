//! Shared helpers of the DICOM tests: a site (a real SQLite worklist file
//! and the server running in-process on a free loopback port), row
//! insertion by plain SQL, DCMTK runners and our SCU.

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_object::InMemDicomObject;
use pylantir::dicom::scu::{Client, ScuOptions};
use pylantir::dicom::{RunningServer, Server, ServerOptions};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Our AE title in every test.
pub const AE: &str = "MWL_SERVER";

/// A worklist database and a server on it.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub config: serde_json::Value,
    pub server: Option<RunningServer>,
}

impl Site {
    /// A fresh database and a server with this configuration.
    pub fn new(config: serde_json::Value) -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("worklist.db");
        drop(pylantir::store::open(&db).expect("create the database"));
        let mut site = Site {
            dir,
            db,
            config,
            server: None,
        };
        site.start();
        site
    }

    /// Starts (or restarts) the server on a new free port.
    pub fn start(&mut self) {
        let options = ServerOptions::from_config(&self.config, AE, "127.0.0.1", 0)
            .expect("valid test configuration");
        let store =
            pylantir::store::Store::open(pylantir::store::Location::Sqlite(self.db.clone()))
                .expect("the database opens");
        let server = Server::bind(options, store).expect("server binds");
        self.server = Some(server.spawn().expect("server starts"));
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().expect("server stops cleanly");
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        self.server
            .as_ref()
            .expect("server running")
            .local_addr()
            .to_string()
    }

    /// The port, as text for DCMTK.
    pub fn port(&self) -> String {
        self.server
            .as_ref()
            .expect("server running")
            .local_addr()
            .port()
            .to_string()
    }

    /// A connection to the database.
    pub fn conn(&self) -> Connection {
        Connection::open(&self.db).expect("open the database")
    }

    /// Inserts a worklist row by plain SQL and returns its id.
    pub fn insert(&self, columns: &[(&str, &str)]) -> i64 {
        let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO worklist_items ({}) VALUES ({})",
            names.join(", "),
            marks.join(", ")
        );
        let conn = self.conn();
        conn.execute(
            &sql,
            rusqlite::params_from_iter(columns.iter().map(|(_, v)| *v)),
        )
        .expect("insert a worklist row");
        conn.last_insert_rowid()
    }

    /// The stored status of a worklist item.
    pub fn item_status(&self, id: i64) -> String {
        self.conn()
            .query_row(
                "SELECT performed_procedure_step_status FROM worklist_items WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .expect("item exists")
    }

    /// SCU options as `calling` AE.
    pub fn scu(&self, calling: &str) -> ScuOptions {
        ScuOptions {
            addr: self.addr(),
            called_ae: AE.into(),
            calling_ae: calling.into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// Our SCU, associated for every SOP class we serve.
    pub fn client(&self, calling: &str) -> Client {
        Client::connect(
            &self.scu(calling),
            &[
                dicom_dictionary_std::uids::VERIFICATION,
                dicom_dictionary_std::uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND,
                dicom_dictionary_std::uids::MODALITY_PERFORMED_PROCEDURE_STEP,
            ],
        )
        .expect("association established")
    }

    /// Runs a C-FIND with our SCU; returns the final status and the answers.
    pub fn find(&self, identifier: &InMemDicomObject) -> (u16, Vec<InMemDicomObject>) {
        let mut client = self.client("TESTSCU");
        let mut answers = Vec::new();
        let status = client
            .find(identifier, |_, answer| {
                answers.push(answer);
                std::ops::ControlFlow::Continue(())
            })
            .expect("C-FIND exchange");
        client.release().expect("release");
        (status, answers)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A text element.
pub fn text(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    if value.is_empty() {
        DataElement::new(tag, vr, PrimitiveValue::Empty)
    } else {
        DataElement::new(tag, vr, PrimitiveValue::from(value))
    }
}

/// A sequence element.
pub fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(
        tag,
        VR::SQ,
        dicom_core::value::DataSetSequence::new(items, dicom_core::Length::UNDEFINED),
    )
}

/// A trimmed string value, "" when absent.
pub fn value(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_matches(|c| c == ' ' || c == '\0').to_string())
        .unwrap_or_default()
}

/// The first item of a sequence.
pub fn item(obj: &InMemDicomObject, tag: Tag) -> InMemDicomObject {
    obj.get(tag)
        .and_then(|e| e.items())
        .and_then(|items| items.first().cloned())
        .expect("sequence with an item")
}

/// The path of a DCMTK tool, or `None` (with a loud message) when DCMTK is
/// not installed; under CI a missing DCMTK fails the test.
pub fn dcmtk(tool: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("DCMTK's {tool} is required under CI (apt-get install dcmtk)");
        }
        eprintln!(
            "\n!!!!! SKIPPED: DCMTK's {tool} is not installed (apt-get install dcmtk) !!!!!\n"
        );
    }
    found
}

/// Writes a DCMTK dump as a query file with dump2dcm.
pub fn query_file(dir: &Path, name: &str, dump: &str) -> PathBuf {
    let dump_path = dir.join(format!("{name}.dump"));
    std::fs::write(&dump_path, dump).expect("write dump");
    let out = dir.join(format!("{name}.wl"));
    let status = Command::new("dump2dcm")
        .arg(&dump_path)
        .arg(&out)
        .status()
        .expect("dump2dcm runs");
    assert!(status.success(), "dump2dcm failed on {name}");
    out
}

/// The outcome of a `findscu -W` run.
pub struct FindScu {
    /// Whether findscu exited with 0.
    pub ok: bool,
    /// Its stdout and stderr.
    pub log: String,
    /// The response identifiers it wrote (`-X`).
    pub answers: Vec<InMemDicomObject>,
}

/// Runs `findscu -W` against the site with a query file.
pub fn findscu(site: &Site, calling: &str, query: &Path, extra: &[&str]) -> FindScu {
    let out = tempfile::tempdir().expect("temp dir");
    let output = Command::new("findscu")
        .args(["-v", "-W", "-X", "-od"])
        .arg(out.path())
        .args([
            "-aet", calling, "-aec", AE, "-to", "10", "-ta", "10", "-td", "10",
        ])
        .args(extra)
        .args(["127.0.0.1", &site.port()])
        .arg(query)
        .output()
        .expect("findscu runs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.path())
        .expect("output dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let answers = files
        .iter()
        .map(|f| {
            dicom_object::open_file(f)
                .unwrap_or_else(|e| panic!("read {}: {e}", f.display()))
                .into_inner()
        })
        .collect();
    FindScu {
        ok: output.status.success(),
        log: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        answers,
    }
}
