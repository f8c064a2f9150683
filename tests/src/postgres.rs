//! A throwaway PostgreSQL server for the tests: `initdb` and `pg_ctl` (from
//! the PostgreSQL 15 packages) into a temporary directory, listening on a
//! free loopback port (and a socket in that directory). One server serves
//! the whole test process (started on first use, stopped when the process
//! exits); each test gets a database of its own on it. Run as the
//! `postgres` system user when the tests run as root. Missing binaries fail
//! the test with a message saying what to install: these tests are never
//! skipped.
//!
//! Every server has a watchdog: a shell process that waits for end-of-file
//! on a pipe only this process writes to, then stops the server and removes
//! its directory. Closing the pipe (on drop, or at exit) stops a server;
//! so does the end of this process however it ends (a crash, `kill -9`),
//! because the kernel closes the pipe then.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A running server in a temporary directory; stopped and removed on drop
/// (or by its watchdog when this process ends).
pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    watchdog: Mutex<Option<Child>>,
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

/// Starts the watchdog of the server in `dir`: it waits for end-of-file on
/// its standard input (the pipe kept in [`PgServer`]), then stops the
/// server (`pg_ctl stop -m immediate`) and removes `dir`. It runs in a
/// process group of its own and ignores SIGINT/SIGTERM/SIGHUP, so a Ctrl-C
/// on the test run reaches only the test process, whose end it then sees.
fn watchdog(bin: &Path, dir: &Path) -> Child {
    let mut stop = pg_command(&bin.join("pg_ctl"));
    stop.arg("-D")
        .arg(dir.join("data"))
        .args(["-m", "immediate", "-w", "stop"]);
    let script = "trap '' INT TERM HUP; cat >/dev/null; dir=$1; shift; \"$@\"; rm -rf \"$dir\"";
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("pylantir-pg-watchdog")
        .arg(dir)
        .arg(stop.get_program())
        .args(stop.get_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the PostgreSQL watchdog (sh): {e}"))
}

impl PgServer {
    /// Initialises and starts a new server.
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("pylantir-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        // From here on the watchdog removes the directory.
        let server = PgServer {
            watchdog: Mutex::new(Some(watchdog(&bin, &dir))),
            dir,
            bin,
            port: 0,
        };
        server.initialise_and_start()
    }

    fn initialise_and_start(mut self) -> PgServer {
        let (bin, dir) = (&self.bin, &self.dir);
        if running_as_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres").arg(dir);
                    c
                },
                "chown postgres",
            );
        }
        let data = dir.join("data");
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
                .arg(dir.join("log"))
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                     -c synchronous_commit=off -c full_page_writes=off",
                    dir.display()
                ))
                .args(["-w", "start"]);
            if pg_ctl.output().is_ok_and(|out| out.status.success()) {
                self.port = port;
                return self;
            }
        }
        panic!(
            "PostgreSQL did not start: {}",
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
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
            self.dir.display()
        );
        self.pg_ctl(&["-o", &options, "-w", "start"]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut command = pg_command(&self.bin.join("pg_ctl"));
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(args);
        run(command, "pg_ctl");
    }

    /// Stops the server and removes its directory, once: closes the
    /// watchdog's pipe and waits for the watchdog to finish.
    fn shut_down(&self) {
        let watchdog = self
            .watchdog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut watchdog) = watchdog {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The server all tests of this process share: started by the first test
/// that asks for it, stopped at exit (or by its watchdog).
static SHARED: OnceLock<Arc<PgServer>> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Stops the shared server when the process exits normally (the test
/// harness returns from `main`, or calls `exit` after a failure).
extern "C" fn shut_down_shared() {
    if let Some(server) = SHARED.get() {
        server.shut_down();
    }
}

fn shared() -> Arc<PgServer> {
    SHARED
        .get_or_init(|| {
            let server = Arc::new(PgServer::start());
            // SAFETY: registers a plain `extern "C"` function that takes
            // no arguments and does not unwind (shut_down never panics).
            let registered = unsafe { libc::atexit(shut_down_shared) };
            assert_eq!(registered, 0, "atexit failed for the PostgreSQL server");
            server
        })
        .clone()
}

impl PgDatabase {
    /// A new empty database on the shared server.
    pub fn new() -> PgDatabase {
        PgDatabase::on(shared())
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
