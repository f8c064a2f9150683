//! The real `pylantir start` as a child process on a free loopback port.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `pylantir start`; killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// The DICOM port it listens on (127.0.0.1).
    pub port: u16,
    /// Where its stderr (the log) goes.
    pub log_path: PathBuf,
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// The URL of the HTTP API a server log announces ("HTTP API listening on
/// http://ADDR"): how a test configured with API port 0 learns the port.
pub fn api_url_in(log: &str) -> Option<String> {
    log.lines().find_map(|line| {
        let (_, url) = line.split_once("HTTP API listening on ")?;
        Some(url.trim().to_string())
    })
}

impl ServerProcess {
    /// Starts `pylantir start --pylantir_config CONFIG --plugin-dir DIR` on
    /// 127.0.0.1 and a free port, with extra arguments, and waits (up to 20 s)
    /// until it accepts TCP connections. The port is free when chosen but may
    /// be taken before the server binds it: a server that exits because its
    /// address is in use is started again on another port.
    pub fn start(config: &Path, plugin_dir: &Path, extra_args: &[&str]) -> ServerProcess {
        Self::start_with_env(config, plugin_dir, extra_args, &[])
    }

    /// [`ServerProcess::start`] with these environment variables added to the
    /// child's (credentials a plugin reads from its environment), so no test
    /// changes the environment of its own process.
    pub fn start_with_env(
        config: &Path,
        plugin_dir: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> ServerProcess {
        const ATTEMPTS: usize = 5;
        for _ in 1..ATTEMPTS {
            match Self::try_start(config, plugin_dir, extra_args, env) {
                Ok(server) => return server,
                Err(log) if log.contains("cannot listen on") => continue,
                Err(log) => panic!("pylantir start exited early:\n{log}"),
            }
        }
        Self::try_start(config, plugin_dir, extra_args, env)
            .unwrap_or_else(|log| panic!("pylantir start exited early:\n{log}"))
    }

    /// One start; `Err(log)` when the server exited before listening.
    fn try_start(
        config: &Path,
        plugin_dir: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let port = free_port();
        let log_path = config.with_extension("log");
        let log = File::create(&log_path).expect("server log file");
        let child = Command::new(&crate::artifacts().bin)
            .arg("start")
            .arg("--pylantir_config")
            .arg(config)
            .arg("--plugin-dir")
            .arg(plugin_dir)
            .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(extra_args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("pylantir start could be spawned");
        let mut server = ServerProcess {
            child,
            port,
            log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("({status}) {}", server.log()));
            }
            assert!(
                Instant::now() < deadline,
                "server did not listen:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill could be run");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URL of its HTTP API, once it has logged listening (up to 20 s).
    pub fn api_url(&self) -> String {
        self.wait_for_log(Duration::from_secs(20), |log| api_url_in(log).is_some());
        api_url_in(&self.log())
            .unwrap_or_else(|| panic!("the HTTP API did not listen:\n{}", self.log()))
    }

    /// Waits until `pred(log)` holds (up to `timeout`); returns whether it did.
    pub fn wait_for_log(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if pred(&self.log()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        pred(&self.log())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
