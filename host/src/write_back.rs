//! Delivery of MPPS outcomes to their sources (`mpps_write_back`): one
//! thread per such source takes the outcomes the MPPS transactions queued
//! ([`crate::store::outcomes`]), oldest first, and sends each to the
//! source's plugin as the `call` operation [`OPERATION`], through a source
//! built by the same factory as the sync's (in its own worker process when
//! the source is isolated), so a slow upstream never holds up a sync or an
//! MPPS answer.
//!
//! A failed attempt is retried after [`backoff`] (10 s doubling to 10 min),
//! [`MAX_ATTEMPTS`] times at most; a plugin that does not know the
//! operation (one built against plugin-api 1.0.0) is logged once and its
//! outcomes are marked `unsupported`, never retried.

use crate::config::SourceConfig;
use crate::source::{DataSource, SourceErrorKind, SourceFactory};
use crate::store::{outcomes, Db, Store};
use crate::sync::Stop;
use serde_json::Value;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The `call` operation that carries an outcome.
pub const OPERATION: &str = "mpps_outcome";

/// Attempts made at most for one outcome.
pub const MAX_ATTEMPTS: u32 = 8;

/// How often the queue is looked at when nothing is due.
const POLL: Duration = Duration::from_secs(1);

/// The delay before attempt `attempts + 1`, after `attempts` failed ones.
pub fn backoff(attempts: u32) -> Duration {
    let doubled = 10u64.saturating_mul(1 << attempts.saturating_sub(1).min(10));
    Duration::from_secs(doubled.min(600))
}

/// The name of the lock a node holds while it delivers `source`'s outcomes.
fn lock_name(source: &str) -> String {
    format!("pylantir write-back {source}")
}

/// The delivery threads of every enabled source with `mpps_write_back`.
pub struct Delivery {
    stop: Arc<Stop>,
    threads: Vec<JoinHandle<()>>,
}

impl Delivery {
    /// Starts one thread per source in `sources` that has `mpps_write_back`.
    pub fn start<'a>(
        sources: impl Iterator<Item = &'a SourceConfig>,
        factory: &Arc<dyn SourceFactory>,
        store: &Store,
    ) -> std::io::Result<Delivery> {
        let stop = Arc::new(Stop::default());
        let mut threads = Vec::new();
        for source in sources.filter(|s| s.mpps_write_back) {
            let deliverer = Deliverer {
                prefix: source.log_prefix(),
                source: source.clone(),
                factory: Arc::clone(factory),
                built: None,
                unsupported: false,
            };
            let (store, stop) = (store.clone(), Arc::clone(&stop));
            log::info!(
                "{} MPPS outcomes are written back to the source (mpps_write_back)",
                deliverer.prefix
            );
            threads.push(
                std::thread::Builder::new()
                    .name(format!("write-back {}", source.name))
                    .spawn(move || deliverer.run(&store, &stop))?,
            );
        }
        Ok(Delivery { stop, threads })
    }

    /// Stops the threads; waits `grace` at most for one busy in a call.
    pub fn stop(mut self, grace: Duration) {
        self.stop.raise();
        let deadline = Instant::now() + grace;
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for thread in self.threads.drain(..) {
            if !thread.is_finished() {
                log::warn!("an MPPS write-back is still running at shutdown; left behind");
            } else if thread.join().is_err() {
                log::error!("an MPPS write-back thread ended with a panic");
            }
        }
    }
}

/// One source's delivery loop.
struct Deliverer {
    prefix: String,
    source: SourceConfig,
    factory: Arc<dyn SourceFactory>,
    built: Option<Box<dyn DataSource>>,
    /// The plugin said it does not know [`OPERATION`].
    unsupported: bool,
}

impl Deliverer {
    fn run(mut self, store: &Store, stop: &Stop) {
        loop {
            if let Err(error) = self.pass(store, stop) {
                log::error!("{} MPPS write-back: {error}", self.prefix);
            }
            if stop.wait(POLL) {
                break;
            }
        }
        if let Some(mut source) = self.built.take() {
            source.cleanup();
        }
    }

    /// Delivers what is due, under the source's write-back lock (one node
    /// at a time on a shared PostgreSQL database).
    fn pass(&mut self, store: &Store, stop: &Stop) -> Result<(), String> {
        let conn = store.get().map_err(|e| e.to_string())?;
        let lock = lock_name(&self.source.name);
        if !conn.try_lock(&lock).map_err(|e| e.to_string())? {
            return Ok(());
        }
        let result = self.deliver_due(&*conn, stop);
        let unlocked = conn.unlock(&lock).map_err(|e| e.to_string());
        result.map_err(|e| format!("worklist database: {e}"))?;
        unlocked
    }

    fn deliver_due(&mut self, db: &dyn Db, stop: &Stop) -> crate::store::DbResult<()> {
        if self.unsupported {
            outcomes::unsupported(
                db,
                &self.source.name,
                "the plugin does not know the operation",
            )?;
            return Ok(());
        }
        while !stop.is_raised() {
            let Some(queued) = outcomes::next(db, &self.source.name)? else {
                break;
            };
            if queued.due_at > jiff::Timestamp::now().as_second() {
                break;
            }
            if !self.deliver(db, &queued)? {
                break;
            }
        }
        outcomes::prune(db, &self.source.name)?;
        Ok(())
    }

    /// One attempt; whether the next outcome may follow now.
    fn deliver(&mut self, db: &dyn Db, queued: &outcomes::Queued) -> crate::store::DbResult<bool> {
        let payload: Value = serde_json::from_str(&queued.payload).unwrap_or(Value::Null);
        let what = format!(
            "MPPS outcome {} of record {}",
            payload["status"].as_str().unwrap_or("?"),
            payload["source_record_id"].as_str().unwrap_or("?")
        );
        match self.call(&payload) {
            Ok(answer) => {
                outcomes::delivered(db, queued.id)?;
                log::info!("{} {what} written back (answer: {answer})", self.prefix);
                Ok(true)
            }
            Err((SourceErrorKind::Unsupported, message)) => {
                self.unsupported = true;
                let marked = outcomes::unsupported(db, &self.source.name, &message)?;
                log::warn!(
                    "{} the plugin does not support MPPS write-back ({message}): {marked} \
                     outcome(s) marked unsupported, none will be sent until pylantir restarts",
                    self.prefix
                );
                Ok(false)
            }
            Err((_, message)) => {
                let attempts = queued.attempts + 1;
                if attempts >= MAX_ATTEMPTS {
                    outcomes::attempt_failed(db, queued.id, &message, None)?;
                    log::error!(
                        "{} {what} could not be written back after {attempts} attempts; \
                         given up: {message}",
                        self.prefix
                    );
                    return Ok(true);
                }
                let delay = backoff(attempts);
                let retry_at = jiff::Timestamp::now().as_second()
                    + i64::try_from(delay.as_secs()).unwrap_or(600);
                outcomes::attempt_failed(db, queued.id, &message, Some(retry_at))?;
                log::warn!(
                    "{} {what} not written back (attempt {attempts} of {MAX_ATTEMPTS}): \
                     {message}; retrying in {} s",
                    self.prefix,
                    delay.as_secs()
                );
                Ok(false)
            }
        }
    }

    /// Calls [`OPERATION`] on the source, built first if needed; a source
    /// that panicked, crashed or timed out is rebuilt for the next attempt.
    fn call(&mut self, payload: &Value) -> Result<Value, (SourceErrorKind, String)> {
        let mut source = match self.built.take() {
            Some(source) => source,
            None => {
                let mut source = self
                    .factory
                    .create_for(&self.source)
                    .map_err(|e| (e.kind, format!("cannot create the source: {e}")))?;
                source
                    .validate_config(&self.source.config)
                    .map_err(|e| (e.kind, format!("configuration refused: {e}")))?;
                source
            }
        };
        let result = source.call(OPERATION, payload);
        let rebuild = matches!(
            &result,
            Err(e) if matches!(
                e.kind,
                SourceErrorKind::Panicked | SourceErrorKind::Crashed | SourceErrorKind::Timeout
            )
        );
        if !rebuild {
            self.built = Some(source);
        }
        result.map_err(|e| (e.kind, e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_from_ten_seconds_up_to_ten_minutes() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(backoff(40), Duration::from_secs(600));
    }
}
