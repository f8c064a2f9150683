//! One worker process as the host sees it: spawned from the server's own
//! binary with the server's environment, one request at a time with a
//! deadline, its stderr relayed to the log, its end described in words
//! ("worker killed by SIGSEGV", "worker exited with status 7").

use super::protocol::{ErrorBody, HelloLine, Response, PROTOCOL_VERSION};
use crate::loader::load::source_error;
use crate::source::{SourceError, SourceErrorKind};
use pylantir_plugin_api::{ErrorKind, PluginError, PluginInfo};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How long a worker may take to exit by itself once its stdin is closed.
pub const GRACE: Duration = Duration::from_millis(500);

/// How long a worker may take to load its plugin and say hello.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// What a worker process runs: the `pylantir` binary and its load options.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    /// The `pylantir` binary (normally the running one).
    pub program: PathBuf,
    /// Pass `--allow-insecure-plugins` to the worker.
    pub allow_insecure: bool,
}

impl WorkerCommand {
    /// The running binary as the worker program.
    pub fn current(allow_insecure: bool) -> io::Result<WorkerCommand> {
        Ok(WorkerCommand {
            program: std::env::current_exe()?,
            allow_insecure,
        })
    }
}

/// The child and its stdin, shared with [`Workers`] for shutdown.
struct Shared {
    child: Child,
    stdin: Option<ChildStdin>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every worker this server started that may still run, so that shutdown
/// also ends those an abandoned fetch still holds.
#[derive(Clone, Default)]
pub struct Workers {
    live: Arc<Mutex<Vec<Weak<Mutex<Shared>>>>>,
}

impl Workers {
    fn add(&self, shared: &Arc<Mutex<Shared>>) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(shared));
    }

    /// Closes every live worker's stdin, waits up to [`GRACE`], then kills
    /// and reaps the rest.
    pub fn stop_all(&self) {
        let live: Vec<_> = {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            live.drain(..).filter_map(|w| w.upgrade()).collect()
        };
        for shared in &live {
            lock(shared).stdin.take();
        }
        let deadline = Instant::now() + GRACE;
        for shared in &live {
            let mut shared = lock(shared);
            end_child(&mut shared.child, deadline);
        }
    }
}

/// Waits for `child` until `deadline`, then kills it; always reaps it.
fn end_child(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                return child.wait().ok();
            }
        }
    }
}

/// A signal's name (`SIGSEGV`), or its number.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSYS => "SIGSYS",
        other => return format!("signal {other}"),
    };
    name.to_string()
}

/// How a worker ended: "killed by SIGSEGV", "exited with status 7".
pub fn describe_exit(status: Option<ExitStatus>) -> String {
    match status {
        Some(status) => match (status.signal(), status.code()) {
            (Some(signal), _) => format!("killed by {}", signal_name(signal)),
            (None, Some(code)) => format!("exited with status {code}"),
            (None, None) => "ended".to_string(),
        },
        None => "ended (its status is unknown)".to_string(),
    }
}

/// Why a worker could not be started.
#[derive(Debug, Clone)]
pub struct SpawnError {
    /// `Other` for a refused plugin, `Crashed`/`Timeout` for a worker that died or hung.
    pub kind: SourceErrorKind,
    /// One line: the refusal reason, or "worker died: SIGBUS while loading".
    pub message: String,
    /// The plugin's description, when the worker got that far.
    pub info: Option<Box<PluginInfo>>,
}

/// A running worker with its plugin loaded.
pub struct WorkerProcess {
    shared: Arc<Mutex<Shared>>,
    lines: Receiver<io::Result<String>>,
    next_id: u64,
    info: PluginInfo,
    /// Set once the worker died or was killed: later requests fail at once.
    gone: Option<String>,
}

impl WorkerProcess {
    /// Starts a worker for the plugin `file` and waits for its hello.
    /// `log_name` prefixes the worker's stderr lines in the log.
    pub fn spawn(
        command: &WorkerCommand,
        file: &Path,
        log_name: &str,
        workers: &Workers,
    ) -> Result<WorkerProcess, SpawnError> {
        let failed = |message: String| SpawnError {
            kind: SourceErrorKind::Crashed,
            message,
            info: None,
        };
        let mut cmd = Command::new(&command.program);
        cmd.arg("plugin-worker").arg(file);
        if command.allow_insecure {
            cmd.arg("--allow-insecure-plugins");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                failed(format!(
                    "cannot start a plugin worker ({}): {e}",
                    command.program.display()
                ))
            })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        if let Some(stderr) = child.stderr.take() {
            relay_stderr(stderr, log_name.to_string());
        }
        let shared = Arc::new(Mutex::new(Shared { child, stdin }));
        workers.add(&shared);
        let (tx, lines) = mpsc::channel();
        if let Some(stdout) = stdout {
            read_lines(stdout, tx);
        }
        let mut worker = WorkerProcess {
            shared,
            lines,
            next_id: 1,
            info: placeholder_info(),
            gone: None,
        };
        let hello = match worker.lines.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(line)) => serde_json::from_str::<HelloLine>(&line).map_err(|e| {
                worker.kill();
                failed(format!("worker said something other than hello: {e}"))
            })?,
            Err(RecvTimeoutError::Timeout) => {
                worker.kill();
                return Err(SpawnError {
                    kind: SourceErrorKind::Timeout,
                    message: format!(
                        "worker did not load the plugin within {} s; killed",
                        STARTUP_TIMEOUT.as_secs()
                    ),
                    info: None,
                });
            }
            Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => {
                let status = worker.reap();
                return Err(failed(format!(
                    "worker died: {} while loading",
                    short_exit(status)
                )));
            }
        }
        .hello;
        if let Some(reason) = hello.refused {
            worker.stop();
            return Err(SpawnError {
                kind: SourceErrorKind::Other,
                message: reason,
                info: hello.plugin.map(Box::new),
            });
        }
        if hello.protocol != PROTOCOL_VERSION {
            worker.stop();
            return Err(failed(format!(
                "worker speaks protocol {}, this host speaks {PROTOCOL_VERSION} (a different pylantir binary?)",
                hello.protocol
            )));
        }
        match hello.plugin {
            Some(info) => worker.info = info,
            None => {
                worker.stop();
                return Err(failed("worker did not describe its plugin".to_string()));
            }
        }
        Ok(worker)
    }

    /// What the plugin says about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Sends `{"id":N,<body>}` and returns the raw `ok` answer. `op` names
    /// the request in messages. On expiry of `deadline`, EOF or a broken
    /// pipe the worker is killed and reaped, and the error says how it ended.
    pub fn request(
        &mut self,
        op: &str,
        body: &str,
        deadline: Duration,
    ) -> Result<String, SourceError> {
        if let Some(how) = &self.gone {
            return Err(SourceError::new(
                SourceErrorKind::Crashed,
                format!("worker {how} earlier"),
            ));
        }
        let id = self.next_id;
        self.next_id += 1;
        let line = format!("{{\"id\":{id},{body}}}\n");
        let written = match lock(&self.shared).stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(line.as_bytes())
                .and_then(|()| stdin.flush()),
            None => Err(io::Error::from(io::ErrorKind::BrokenPipe)),
        };
        if written.is_err() {
            return Err(self.died(op));
        }
        match self.lines.recv_timeout(deadline) {
            Ok(Ok(text)) => self.answer(id, op, text),
            Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => Err(self.died(op)),
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                let how = format!("did not answer `{op}` within {}; killed", seconds(deadline));
                let message = format!("worker {how}");
                self.gone = Some(how);
                Err(SourceError::new(SourceErrorKind::Timeout, message))
            }
        }
    }

    /// Reads the answer to request `id`.
    fn answer(&mut self, id: u64, op: &str, mut text: String) -> Result<String, SourceError> {
        if let Some(range) = ok_range(&text, id) {
            text.truncate(range.end);
            text.drain(..range.start);
            return Ok(text);
        }
        match serde_json::from_str::<Response>(&text) {
            Ok(Response {
                id: got,
                error: Some(ErrorBody { kind, message }),
                ..
            }) if got == id => Err(source_error(PluginError::new(ErrorKind(kind), message))),
            Ok(Response {
                id: got,
                ok: Some(raw),
                ..
            }) if got == id => Ok(raw.get().to_string()),
            _ => {
                self.kill();
                let how = format!("answered `{op}` out of protocol; killed");
                self.gone = Some(how.clone());
                Err(SourceError::new(
                    SourceErrorKind::Crashed,
                    format!("worker {how}"),
                ))
            }
        }
    }

    /// The worker's stream ended: reaps it and says how it ended.
    fn died(&mut self, op: &str) -> SourceError {
        let how = describe_exit(self.reap());
        let message = format!("worker {how} during {op}");
        self.gone = Some(how);
        SourceError::new(SourceErrorKind::Crashed, message)
    }

    /// Waits briefly for a worker whose stream ended, then kills; reaps it.
    fn reap(&mut self) -> Option<ExitStatus> {
        let mut shared = lock(&self.shared);
        shared.stdin.take();
        end_child(&mut shared.child, Instant::now() + Duration::from_secs(2))
    }

    /// Kills and reaps the worker at once.
    fn kill(&mut self) {
        let mut shared = lock(&self.shared);
        shared.stdin.take();
        end_child(&mut shared.child, Instant::now());
    }

    /// Closes stdin, waits up to [`GRACE`], then kills; reaps it.
    pub fn stop(&mut self) {
        let mut shared = lock(&self.shared);
        shared.stdin.take();
        end_child(&mut shared.child, Instant::now() + GRACE);
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// For "worker died: SIGBUS while loading": the signal, or "exit status 7".
fn short_exit(status: Option<ExitStatus>) -> String {
    match status {
        Some(status) => match (status.signal(), status.code()) {
            (Some(signal), _) => signal_name(signal),
            (None, Some(code)) => format!("exit status {code}"),
            (None, None) => "unknown status".to_string(),
        },
        None => "unknown status".to_string(),
    }
}

fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

/// Where the raw answer sits in `{"id":<id>,"ok":<raw>}`, as the worker writes
/// it; found without parsing the (possibly large) answer.
fn ok_range(line: &str, id: u64) -> Option<std::ops::Range<usize>> {
    let prefix = format!("{{\"id\":{id},\"ok\":");
    let end = line.trim_end().len();
    (line.starts_with(&prefix) && end > prefix.len() && line[..end].ends_with('}'))
        .then(|| prefix.len()..end - 1)
}

fn placeholder_info() -> PluginInfo {
    PluginInfo {
        plugin_name: String::new(),
        plugin_version: String::new(),
        api_version: String::new(),
        rustc_version: String::new(),
        panic_unwind: true,
        source_types: Vec::new(),
    }
}

/// Sends each stdout line to `tx`; the channel closes at EOF.
fn read_lines(stdout: impl Read + Send + 'static, tx: mpsc::Sender<io::Result<String>>) {
    let spawned = std::thread::Builder::new()
        .name("worker stdout".to_string())
        .spawn(move || {
            let mut reader = BufReader::with_capacity(64 * 1024, stdout);
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) => return,
                    Ok(_) => {
                        if tx.send(Ok(line)).is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        let _ = tx.send(Err(error));
                        return;
                    }
                }
            }
        });
    if let Err(error) = spawned {
        log::error!("cannot start a thread to read a plugin worker: {error}");
    }
}

/// Logs each stderr line of a worker under `name`, at the level the
/// worker's logger wrote ("WARN target: message"); other lines (a plugin's
/// `println!`, panic messages) as warnings.
fn relay_stderr(stderr: impl Read + Send + 'static, name: String) {
    let spawned = std::thread::Builder::new()
        .name("worker stderr".to_string())
        .spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                let (level, text) = match line.split_once(' ') {
                    Some((word, rest)) => match word.parse::<log::Level>() {
                        Ok(level) => (level, rest),
                        Err(_) => (log::Level::Warn, line.as_str()),
                    },
                    None => (log::Level::Warn, line.as_str()),
                };
                log::log!(target: "plugin", level, "[{name}] {text}");
            }
        });
    if let Err(error) = spawned {
        log::error!("cannot start a thread to relay a plugin worker's log: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ok_answer_is_found_without_parsing_it() {
        let line = "{\"id\":12,\"ok\":[{\"a\":\"}\"}]}\n";
        let range = ok_range(line, 12).unwrap();
        assert_eq!(&line[range], "[{\"a\":\"}\"}]");
        assert!(ok_range(line, 13).is_none());
        assert!(ok_range("{\"id\":12,\"error\":{}}", 12).is_none());
    }

    #[test]
    fn signals_are_named() {
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV");
        assert_eq!(
            describe_exit(Some(ExitStatus::from_raw(libc::SIGBUS))),
            "killed by SIGBUS"
        );
        assert_eq!(
            describe_exit(Some(ExitStatus::from_raw(7 << 8))),
            "exited with status 7"
        );
    }
}
