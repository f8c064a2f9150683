//! One test run again, alone, in a child process of its own test binary,
//! with environment variables of its own: for code that reads its
//! configuration from the process environment (a plugin's API URL and
//! credentials), so that no test changes the environment of a process
//! where other tests' threads run.
//!
//! Loopback listeners the parent binds are handed to the child as systemd
//! hands sockets over (file descriptors 3 and up, their count in
//! `LISTEN_FDS`): the child's fake servers answer on the addresses the
//! parent wrote into the child's environment, with no bind-drop-rebind race.

use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Names the test a child process was started to run.
const CHILD_OF: &str = "PYLANTIR_TEST_CHILD_OF";

/// How many listeners the child was handed, from [`FIRST_FD`] on.
const LISTEN_FDS: &str = "LISTEN_FDS";

/// The first file descriptor of the handed-over listeners.
const FIRST_FD: RawFd = 3;

/// Where the parent keeps its copies of the listeners until the child
/// starts: above every descriptor the child receives them at.
const PARKED_FROM: RawFd = 64;

/// The most listeners one child may be handed.
const MOST_LISTENERS: usize = 8;

/// In the parent: binds `N` listeners on 127.0.0.1, runs the calling test
/// (libtest names its thread after the test's path, e.g.
/// `redcap_plugin::a_test`) alone in a child process with the variables `env` returns for their URLs
/// (`http://127.0.0.1:<port>`) added to its environment, panics with the
/// child's output unless that one test passed there, and returns `None`.
///
/// In that child: returns the handed-over listeners, for the rest of the
/// test to serve on.
pub fn run_in_child<const N: usize>(
    env: impl FnOnce(&[String; N]) -> Vec<(String, String)>,
) -> Option<[TcpListener; N]> {
    let thread = std::thread::current();
    let test = thread.name().expect("libtest names each test's thread");
    if std::env::var(CHILD_OF).as_deref() == Ok(test) {
        return Some(handed_over());
    }
    assert!(N <= MOST_LISTENERS, "at most {MOST_LISTENERS} listeners");
    let bound: [TcpListener; N] =
        std::array::from_fn(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"));
    let urls = bound
        .each_ref()
        .map(|l| format!("http://{}", l.local_addr().expect("listener address")));
    let parked: Vec<OwnedFd> = bound.iter().map(park).collect();
    let parked_fds: Vec<RawFd> = parked.iter().map(AsRawFd::as_raw_fd).collect();
    let mut command = Command::new(std::env::current_exe().expect("current test executable"));
    command
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD_OF, test)
        .env(LISTEN_FDS, N.to_string())
        .envs(env(&urls));
    // SAFETY: the closure runs in the forked child before exec and calls
    // only dup2, which is async-signal-safe; it reads `parked_fds` without
    // allocating.
    unsafe {
        command.pre_exec(move || hand_over(&parked_fds));
    }
    let output = command.output().expect("the test binary could be started");
    drop(parked);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} in a child process ({}):\n{stdout}\n{stderr}",
        output.status
    );
    None
}

/// A copy of `listener`'s descriptor at [`PARKED_FROM`] or above (closed on
/// exec), so that moving the copies to 3, 4, ... in the child overwrites none of them.
fn park(listener: &TcpListener) -> OwnedFd {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor the listener owns; a
    // non-negative result is a new descriptor that nothing else owns.
    let fd = unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_DUPFD_CLOEXEC, PARKED_FROM) };
    assert!(
        fd >= 0,
        "copying a listener: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `fd` was just created and is owned by nothing else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// In the forked child: moves the parked listeners to 3, 4, ...; dup2
/// leaves the new descriptors open across exec.
fn hand_over(parked: &[RawFd]) -> std::io::Result<()> {
    for (target, &fd) in (FIRST_FD..).zip(parked) {
        // SAFETY: both are plain descriptor numbers; dup2 closes `target`
        // first if it was open (the child keeps nothing it needs there).
        if unsafe { libc::dup2(fd, target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The listeners the parent handed to this child.
fn handed_over<const N: usize>() -> [TcpListener; N] {
    let count: Option<usize> = std::env::var(LISTEN_FDS).ok().and_then(|n| n.parse().ok());
    assert_eq!(count, Some(N), "listeners handed to the child");
    // SAFETY: the parent put a listening socket at each of these
    // descriptors for this child, and nothing else in it owns them.
    std::array::from_fn(|n| unsafe { TcpListener::from_raw_fd(FIRST_FD + n as RawFd) })
}
