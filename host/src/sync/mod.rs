//! One scheduler per data source; normalising and upserting entries.
//!
//! - [`schedule`]: operation windows and how far back a fetch looks.
//! - [`normalise`]: dates, times, sex and lengths of a fetched entry.
//! - [`apply`]: one fetch into the store (normalise, then one transaction,
//!   with the retraction of what a complete fetch no longer returns).
//! - [`worker`]: the per-source loop (interval, deadline, rebuild, journal).
//! - [`stop`]: the stop signal.
//!
//! [`Engine::start`] starts a worker thread per enabled source and returns an
//! [`EngineHandle`]; [`EngineHandle::stop`] stops them at a safe point and
//! calls each source's `cleanup`.

pub mod apply;
pub mod normalise;
pub mod schedule;
pub mod stop;
pub mod worker;

use crate::config::Config;
use crate::source::SourceFactory;
use crate::store::{self, StoreError};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

pub use apply::{apply_entries, apply_fetch};
pub use stop::Stop;

/// Why the sync engine could not start.
#[derive(Debug)]
pub enum EngineError {
    /// The worklist database cannot be opened or migrated.
    Store(StoreError),
    /// A worker thread could not be started.
    Thread {
        source: String,
        error: std::io::Error,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Store(error) => error.fmt(f),
            EngineError::Thread { source, error } => {
                write!(
                    f,
                    "cannot start the sync worker of source `{source}`: {error}"
                )
            }
        }
    }
}

impl std::error::Error for EngineError {}

/// The sync engine: the workers of every enabled source.
pub struct Engine;

impl Engine {
    /// Opens (and migrates) the database at `db_path`, logs the startup
    /// summary and starts one worker per enabled source of `config`.
    pub fn start(
        config: &Config,
        db_path: &Path,
        factory: Arc<dyn SourceFactory>,
    ) -> Result<EngineHandle, EngineError> {
        store::open(db_path).map_err(EngineError::Store)?;
        log_summary(config, factory.as_ref());
        let stop = Arc::new(Stop::default());
        let guard = crate::config::lifecycle::retraction_guard(&config.raw);
        let mut handle = EngineHandle {
            stop: Arc::clone(&stop),
            workers: Vec::new(),
        };
        for source in config.enabled_sources() {
            let worker = worker::Worker::new(
                source.clone(),
                Arc::clone(&factory),
                db_path.to_path_buf(),
                Arc::clone(&stop),
            )
            .with_guard(guard);
            let thread = std::thread::Builder::new()
                .name(format!("sync {}", source.name))
                .spawn(move || worker.run())
                .map_err(|error| EngineError::Thread {
                    source: source.name.clone(),
                    error,
                })?;
            handle.workers.push(thread);
        }
        Ok(handle)
    }
}

/// Running workers. Dropping the handle stops them too.
pub struct EngineHandle {
    stop: Arc<Stop>,
    workers: Vec<JoinHandle<()>>,
}

impl EngineHandle {
    /// Asks every worker to stop at its next safe point, without waiting.
    pub fn request_stop(&self) {
        self.stop.raise();
    }

    /// Stops every worker (a running fetch is abandoned, a running write
    /// finishes its transaction), calls each source's `cleanup` and waits.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.raise();
        for worker in self.workers.drain(..) {
            if worker.join().is_err() {
                log::error!("a sync worker ended with a panic");
            }
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Logs every configured source: type, name, plugin file, interval, window.
fn log_summary(config: &Config, factory: &dyn SourceFactory) {
    log::info!(
        "{} data source(s) configured, {} enabled; worklist database {}",
        config.sources.len(),
        config.enabled_sources().count(),
        config.db_path.display()
    );
    for source in &config.sources {
        let plugin = factory
            .plugin_file(&source.source_type)
            .map_or_else(|| "no plugin".to_string(), |p| p.display().to_string());
        log::info!(
            "{} {}, every {} s, window {}, plugin {} ({})",
            source.log_prefix(),
            if source.enabled {
                "enabled"
            } else {
                "disabled"
            },
            source.sync_interval.as_secs_f64(),
            source.window,
            plugin,
            match source.isolation {
                crate::config::Isolation::Process => "in a worker process",
                crate::config::Isolation::InProcess => "in-process",
            }
        );
    }
}

#[cfg(test)]
mod tests;
