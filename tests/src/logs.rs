//! A logger that keeps every record, so a test can assert what was reported
//! (plugins' records reach it through the log bridge).

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

/// Installs the keeping logger (once per test binary) at debug level. Call
/// it before loading plugins: a plugin takes the host's level when loaded.
pub fn capture() {
    let keeper = KEEPER.get_or_init(|| Keeper(Mutex::new(Vec::new())));
    if log::set_logger(keeper).is_ok() {
        log::set_max_level(LevelFilter::Debug);
    }
}

/// The records so far whose message contains `text`.
pub fn containing(text: &str) -> Vec<Logged> {
    KEEPER
        .get()
        .and_then(|k| k.0.lock().ok().map(|kept| kept.clone()))
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.message.contains(text))
        .collect()
}
