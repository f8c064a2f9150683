//! One scheduler per data source; normalising and upserting entries.
//!
//! - [`schedule`]: operation windows, how far back a fetch looks, and
//!   requests to sync a source now.
//! - [`normalise`]: dates, times, sex and lengths of a fetched entry.
//! - [`apply`]: one fetch into the store (normalise, then one transaction,
//!   with the retraction of what a complete fetch no longer returns).
//! - [`worker`]: the per-source loop (interval, deadline, rebuild, journal).
//! - [`stream`]: a fetch taken from the plugin in bounded batches.
//! - [`stop`]: the stop signal.
//!
//! [`Engine::start`] starts a worker thread per enabled source and returns an
//! [`EngineHandle`]; [`EngineHandle::run_now`] asks a source for a sync now;
//! [`EngineHandle::stop`] stops them at a safe point and calls each source's
//! `cleanup`.

pub mod apply;
pub mod normalise;
pub mod schedule;
pub mod stop;
pub mod stream;
pub mod worker;

use crate::config::Config;
use crate::source::SourceFactory;
use crate::store::Store;
use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use apply::{apply_answer, apply_entries, apply_fetch};
pub use schedule::RunNow;
pub use stop::Stop;

/// Why the sync engine could not start.
#[derive(Debug)]
pub enum EngineError {
    /// A worker thread could not be started.
    Thread {
        source: String,
        error: std::io::Error,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
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
    /// Logs the startup summary and starts one worker per enabled source
    /// of `config`, writing to `store`.
    pub fn start(
        config: &Config,
        store: &Store,
        factory: Arc<dyn SourceFactory>,
    ) -> Result<EngineHandle, EngineError> {
        log_summary(config, factory.as_ref());
        let stop = Arc::new(Stop::default());
        let run_now = Arc::new(RunNow::default());
        let guard = crate::config::lifecycle::retraction_guard(&config.raw);
        let mut handle = EngineHandle {
            stop: Arc::clone(&stop),
            run_now: Arc::clone(&run_now),
            workers: Vec::new(),
        };
        for source in config.enabled_sources() {
            run_now.register(&source.name);
            let worker = worker::Worker::new(
                source.clone(),
                Arc::clone(&factory),
                store.clone(),
                Arc::clone(&stop),
                Arc::clone(&run_now),
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
    run_now: Arc<RunNow>,
    workers: Vec<JoinHandle<()>>,
}

impl EngineHandle {
    /// Asks every worker to stop at its next safe point, without waiting.
    pub fn request_stop(&self) {
        self.stop.raise();
        self.run_now.wake_all();
    }

    /// Where to ask a source's worker for a sync now.
    pub fn run_now(&self) -> Arc<RunNow> {
        Arc::clone(&self.run_now)
    }

    /// Stops every worker: a running fetch is abandoned, a running write
    /// gets [`WRITE_GRACE`] to commit and is then interrupted (its
    /// transaction rolled back); each source's `cleanup` is called. Waits
    /// [`WRITE_GRACE`] + [`LAST_WAIT`] at most: a worker still running then
    /// (stuck in a plugin's `cleanup`) is left behind and logged.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.raise();
        self.run_now.wake_all();
        if !join_until(&mut self.workers, Instant::now() + WRITE_GRACE) {
            log::warn!(
                "a sync is still writing {} s after the stop: interrupting it (its transaction is rolled back)",
                WRITE_GRACE.as_secs()
            );
            self.stop.interrupt_writers();
            if !join_until(&mut self.workers, Instant::now() + LAST_WAIT) {
                log::error!(
                    "{} sync worker(s) did not stop; leaving them",
                    self.workers.len()
                );
                self.workers.clear();
            }
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How long a write in progress at stop may take to commit.
pub const WRITE_GRACE: Duration = Duration::from_secs(2);

/// How long workers get after their writes were interrupted.
pub const LAST_WAIT: Duration = Duration::from_secs(1);

/// Joins the workers that end before `deadline`; true when none is left.
fn join_until(workers: &mut Vec<JoinHandle<()>>, deadline: Instant) -> bool {
    loop {
        let (done, running): (Vec<_>, Vec<_>) =
            workers.drain(..).partition(JoinHandle::is_finished);
        *workers = running;
        for worker in done {
            if worker.join().is_err() {
                log::error!("a sync worker ended with a panic");
            }
        }
        if workers.is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
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

#[cfg(test)]
mod entry_rules;
