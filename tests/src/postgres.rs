//! A throwaway PostgreSQL server for the tests: `initdb` and `pg_ctl` (from
//! the PostgreSQL 15 packages) into a temporary directory, listening on a
//! free loopback port (and a socket in that directory), stopped and removed
//! when the last test using it is done. Run as the `postgres` system user
//! when the tests run as root. Missing binaries fail the test with a message
//! saying what to install: these tests are never skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// A running server in a temporary directory; stopped and removed on drop.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

/// One empty database of the shared server, dropped with this value.
pub struct PgDatabase {
    server: Arc<PgServer>,
    name: String,
}

/// Where `initdb` and `pg_ctl` are: `PYLANTIR_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PYLANTIR_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(Result::ok)
                .map(|d| d.path().join("bin"))
                .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql: \
             install the `postgresql` package (or set PYLANTIR_PG_BIN); the PostgreSQL tests \
             cannot run without them"
        )
    })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `program args...`, as the `postgres` user when we are root.
fn pg_command(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgServer {
    /// Initialises and starts a new server.
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("pylantir-pg-")
            .tempdir()
            .expect("temp dir");
        if running_as_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres").arg(dir.path());
                    c
                },
                "chown postgres",
            );
        }
        let data = dir.path().join("data");
        let mut initdb = pg_command(&bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"]);
        run(initdb, "initdb");
        // A port taken between choosing and binding it: try another.
        for _ in 0..5 {
            let port = crate::server::free_port();
            let mut pg_ctl = pg_command(&bin.join("pg_ctl"));
            pg_ctl
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.path().join("log"))
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                     -c synchronous_commit=off -c full_page_writes=off",
                    dir.path().display()
                ))
                .args(["-w", "start"]);
            if pg_ctl.output().is_ok_and(|out| out.status.success()) {
                return PgServer { dir, bin, port };
            }
        }
        panic!(
            "PostgreSQL did not start: {}",
            std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
        );
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` (user `postgres`, no password).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs SQL on the `postgres` database (administration).
    pub fn admin(&self, sql: &str) {
        let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .expect("connect as postgres");
        client.batch_execute(sql).expect("admin statement");
    }

    /// Stops the server (`pg_ctl stop -m fast`), keeping its files.
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "stop"]);
    }

    /// Starts a stopped server again on the same port.
    pub fn restart(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.pg_ctl(&["-o", &options, "-w", "start"]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut command = pg_command(&self.bin.join("pg_ctl"));
        command
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(args);
        run(command, "pg_ctl");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let mut command = pg_command(&self.bin.join("pg_ctl"));
        command
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = command.output();
    }
}

/// The server the tests running now share (started by the first, stopped
/// after the last).
static SHARED: Mutex<Weak<PgServer>> = Mutex::new(Weak::new());
static NEXT: AtomicUsize = AtomicUsize::new(0);

impl PgDatabase {
    /// A new empty database on the shared server.
    pub fn new() -> PgDatabase {
        let server = {
            let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
            match shared.upgrade() {
                Some(server) => server,
                None => {
                    let server = Arc::new(PgServer::start());
                    *shared = Arc::downgrade(&server);
                    server
                }
            }
        };
        PgDatabase::on(server)
    }

    /// A new empty database on a server of its own (tests that stop it).
    pub fn alone() -> PgDatabase {
        PgDatabase::on(Arc::new(PgServer::start()))
    }

    fn on(server: Arc<PgServer>) -> PgDatabase {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        server.admin(&format!("CREATE DATABASE {name}"));
        PgDatabase { server, name }
    }

    /// Its URL, as `db_url` takes it.
    pub fn url(&self) -> String {
        self.server.url(&self.name)
    }

    /// The server it lives on.
    pub fn server(&self) -> &PgServer {
        &self.server
    }
}

impl Default for PgDatabase {
    fn default() -> Self {
        PgDatabase::new()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) =
            postgres::Client::connect(&self.server.url("postgres"), postgres::NoTls)
        {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
