//! A logger that keeps every record, so a test can assert what was reported
//! (plugins' records reach it through the log bridge) and what was not (a
//! secret must never appear). Installed once per test binary at trace level.

use log::{LevelFilter, Log, Metadata, Record};
use std::sync::{Mutex, OnceLock};

/// One kept record.
#[derive(Debug, Clone)]
pub struct Logged {
    pub level: log::Level,
    pub target: String,
    pub message: String,
}

struct Keeper(Mutex<Vec<Logged>>);

impl Log for Keeper {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        if let Ok(mut kept) = self.0.lock() {
            kept.push(Logged {
                level: record.level(),
                target: record.target().to_string(),
                message: record.args().to_string(),
            });
        }
    }

    fn flush(&self) {}
}

static KEEPER: OnceLock<Keeper> = OnceLock::new();

/// Installs the keeping logger (idempotent) at trace level. Call it before
/// loading plugins: a plugin takes the host's level when loaded.
pub fn capture() {
    let keeper = KEEPER.get_or_init(|| Keeper(Mutex::new(Vec::new())));
    if log::set_logger(keeper).is_ok() {
        log::set_max_level(LevelFilter::Trace);
    }
}

fn kept() -> Vec<Logged> {
    KEEPER
        .get()
        .and_then(|k| k.0.lock().ok().map(|kept| kept.clone()))
        .unwrap_or_default()
}

/// The records so far whose message contains `text`.
pub fn containing(text: &str) -> Vec<Logged> {
    kept()
        .into_iter()
        .filter(|r| r.message.contains(text))
        .collect()
}

/// Every record so far as a line: `LEVEL target: message`.
pub fn captured() -> Vec<String> {
    kept()
        .into_iter()
        .map(|r| format!("{} {}: {}", r.level, r.target, r.message))
        .collect()
}
