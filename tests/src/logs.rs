//! A `log` logger that keeps every record, so a test can check what a source
//! (or the host, for plugins bridged into it) logged. Installed once per test
//! binary at trace level; tests look for their own markers in [`captured`].

use log::{LevelFilter, Log, Metadata, Record};
use std::sync::{Mutex, OnceLock};

struct Capture {
    lines: Mutex<Vec<String>>,
}

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        self.lines.lock().expect("log capture").push(line);
    }

    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| Capture {
        lines: Mutex::new(Vec::new()),
    })
}

/// Installs the capturing logger at trace level (idempotent).
pub fn install() {
    if log::set_logger(capture()).is_ok() {
        log::set_max_level(LevelFilter::Trace);
    }
}

/// Every line logged so far in this process: `LEVEL target: message`.
pub fn captured() -> Vec<String> {
    capture().lines.lock().expect("log capture").clone()
}
