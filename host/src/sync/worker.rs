//! One source's worker: waits for its window and interval, fetches with a
//! deadline, writes the fetch, journals the run, and rebuilds its source
//! after a panic, crash or timeout.

use super::apply::apply_answer;
use super::schedule::{self, RunNow, Wake};
use super::stop::Stop;
use crate::config::SourceConfig;
use crate::source::{DataSource, FetchAnswer, SourceError, SourceErrorKind, SourceFactory};
use crate::store::retract::Guard;
use crate::store::{runs, Conn, Db, Store};
use jiff::civil::DateTime;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How often a waiting fetch checks the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// The name of the lock a node holds while it syncs the source `name`.
pub fn sync_lock(name: &str) -> String {
    format!("pylantir sync {name}")
}

/// The worker of one enabled source.
pub struct Worker {
    source: SourceConfig,
    prefix: String,
    factory: Arc<dyn SourceFactory>,
    store: Store,
    /// The worker's own connection (it holds the source's sync lock);
    /// opened again when the database went away.
    conn: Option<Conn>,
    stop: Arc<Stop>,
    run_now: Arc<RunNow>,
    built: Option<Box<dyn DataSource>>,
    last_success: Option<DateTime>,
    /// Set when the factory says the source is disabled (crash loop): the
    /// worker records that run and ends.
    disabled: bool,
    /// The answer channel of a fetch that passed its deadline and still runs
    /// (an in-process plugin cannot be killed): no new fetch starts until it
    /// ends, so a hung plugin costs one thread, not one per interval.
    abandoned: Option<FetchReply>,
    /// When a retraction is too large to believe (`retraction_guard`).
    guard: Guard,
}

/// Where a fetch thread hands back its source and its result.
type FetchReply = mpsc::Receiver<(Box<dyn DataSource>, Result<FetchAnswer, SourceError>)>;

impl Worker {
    /// A worker for `source`, writing to `store`.
    pub fn new(
        source: SourceConfig,
        factory: Arc<dyn SourceFactory>,
        store: Store,
        stop: Arc<Stop>,
        run_now: Arc<RunNow>,
    ) -> Self {
        Worker {
            prefix: source.log_prefix(),
            source,
            factory,
            store,
            conn: None,
            stop,
            run_now,
            built: None,
            last_success: None,
            disabled: false,
            abandoned: None,
            guard: Guard::default(),
        }
    }

    /// The same worker with the configured `retraction_guard`.
    pub fn with_guard(mut self, guard: Guard) -> Self {
        self.guard = guard;
        self
    }

    /// Runs until the stop flag is raised, then cleans the source up. A
    /// sync asked for through [`RunNow`] runs at once, even outside the window.
    pub fn run(mut self) {
        let mut requested = false;
        while !self.stop.is_raised() {
            let now = jiff::Timestamp::now()
                .to_zoned_datetime(pylantir_plugin_api::tz::system())
                .datetime();
            let wait = if requested || schedule::in_window(&self.source.window, now) {
                let interval = schedule::lookback(
                    &self.source.window,
                    self.source.sync_interval,
                    now,
                    self.last_success,
                );
                self.sync_locked(interval, now);
                if self.disabled {
                    break;
                }
                self.source.sync_interval
            } else {
                let until = schedule::until_open(&self.source.window, now);
                log::debug!(
                    "{} outside its window {}; next check in {} s",
                    self.prefix,
                    self.source.window,
                    until.min(self.source.sync_interval).as_secs()
                );
                until.min(self.source.sync_interval)
            };
            match self.run_now.wait(&self.source.name, wait, &self.stop) {
                Wake::Stop => break,
                Wake::RunNow => {
                    log::info!("{} sync requested now", self.prefix);
                    requested = true;
                }
                Wake::Due => requested = false,
            }
        }
        self.run_now.end(&self.source.name);
        if let Some(mut source) = self.built.take() {
            source.cleanup();
        }
        log::info!("{} stopped", self.prefix);
    }

    /// The worker's connection, opened (again) if it has none or it broke.
    fn connection(&mut self) -> Option<Conn> {
        if let Some(conn) = self.conn.take().filter(|c| !c.is_broken()) {
            return Some(conn);
        }
        match self.store.connect_writer() {
            Ok(conn) => {
                self.stop.register_writer(conn.interrupt());
                Some(conn)
            }
            Err(error) => {
                log::error!("{} cannot sync: {error}", self.prefix);
                None
            }
        }
    }

    /// One run under the source's lock: with several nodes on one
    /// PostgreSQL database, the node that holds it fetches and writes, the
    /// others skip this interval (and take over if that node goes away).
    fn sync_locked(&mut self, interval: f64, now: DateTime) {
        let Some(conn) = self.connection() else {
            return;
        };
        let lock = sync_lock(&self.source.name);
        match conn.try_lock(&lock) {
            Ok(true) => {
                self.sync(&conn, interval, now);
                if let Err(e) = conn.unlock(&lock) {
                    log::warn!("{} cannot release the sync lock: {e}", self.prefix);
                }
            }
            Ok(false) => log::debug!(
                "{} another node is syncing this source; skipped this interval",
                self.prefix
            ),
            Err(e) => log::error!("{} cannot take the sync lock: {e}", self.prefix),
        }
        self.conn = Some(conn);
    }

    /// One run: fetch, write, journal.
    fn sync(&mut self, conn: &Conn, interval: f64, now: DateTime) {
        let run = runs::start(conn, &self.source.name);
        if let Err(error) = &run {
            log::warn!(
                "{} cannot record the run in sync_runs: {error}",
                self.prefix
            );
        }
        log::debug!("{} fetching (looking back {interval:.0} s)", self.prefix);
        let guard = self.guard;
        let result = self.fetch(interval).and_then(|answer| {
            apply_answer(
                conn,
                &self.source.source_type,
                &self.source.name,
                answer,
                guard,
            )
        });
        let mut records = Vec::new();
        let (counts, error) = match result {
            Ok((counts, rejected_or_skipped)) => {
                self.last_success = Some(now);
                records = rejected_or_skipped;
                log::info!(
                    "{} fetched {}: {} new, {} updated, {} unchanged, {} conflicts, {} rejected, \
                     {} skipped by the source, {} retracted, {} restored",
                    self.prefix,
                    counts.fetched,
                    counts.inserted,
                    counts.updated,
                    counts.unchanged,
                    counts.conflicts,
                    counts.rejected,
                    counts.skipped,
                    counts.retracted,
                    counts.restored
                );
                (counts, None)
            }
            Err(error) if self.disabled => {
                log::error!(
                    "{} {error}; it stays off until pylantir restarts",
                    self.prefix
                );
                (runs::RunCounts::default(), Some(error))
            }
            Err(error) => {
                log::error!(
                    "{} sync failed: {error}; retrying in {} s",
                    self.prefix,
                    self.source.sync_interval.as_secs()
                );
                (runs::RunCounts::default(), Some(error))
            }
        };
        if let Ok(id) = run {
            let recorded = runs::finish(conn, id, &counts, error.as_deref())
                .and_then(|()| runs::record(conn, id, &records))
                .and_then(|_| runs::prune(conn, &self.source.name));
            if let Err(e) = recorded {
                log::warn!("{} cannot record the run in sync_runs: {e}", self.prefix);
            }
        }
    }

    /// The configured source, built and validated if it is not yet.
    fn build(&mut self) -> Result<Box<dyn DataSource>, String> {
        let mut source = self.factory.create_for(&self.source).map_err(|e| {
            self.disabled = e.kind == SourceErrorKind::Disabled;
            format!("cannot create the source: {e}")
        })?;
        source
            .validate_config(&self.source.config)
            .map_err(|e| format!("configuration refused: {e}"))?;
        Ok(source)
    }

    /// Fetches on a thread of its own, so a stuck plugin costs only its
    /// deadline (`fetch_timeout`) and a shutdown never waits for it.
    fn fetch(&mut self, interval: f64) -> Result<FetchAnswer, String> {
        if let Some(previous) = &self.abandoned {
            match previous.try_recv() {
                Err(TryRecvError::Empty) => {
                    return Err(
                        "the previous fetch, past its deadline, is still running; run skipped"
                            .into(),
                    )
                }
                // It ended: its source is dropped, a fresh one is built below.
                Ok(_) | Err(TryRecvError::Disconnected) => self.abandoned = None,
            }
        }
        let mut source = match self.built.take() {
            Some(source) => source,
            None => self.build()?,
        };
        let (tx, rx) = mpsc::channel();
        let mapping = self.source.field_mapping.clone();
        let deadline = Instant::now() + self.source.fetch_timeout;
        thread::Builder::new()
            .name(format!("fetch {}", self.source.name))
            .spawn(move || {
                let result = super::stream::fetch(source.as_mut(), &mapping, interval, deadline);
                let _ = tx.send((source, result));
            })
            .map_err(|e| format!("cannot start the fetch thread: {e}"))?;
        loop {
            match rx.recv_timeout(POLL) {
                Ok((source, Ok(fetched))) => {
                    self.built = Some(source);
                    return Ok(fetched);
                }
                Ok((source, Err(error))) => {
                    let rebuild = matches!(
                        error.kind,
                        SourceErrorKind::Panicked
                            | SourceErrorKind::Crashed
                            | SourceErrorKind::Timeout
                    );
                    if rebuild {
                        log::warn!(
                            "{} the source is rebuilt before its next fetch",
                            self.prefix
                        );
                    } else {
                        self.built = Some(source);
                    }
                    return Err(format!("fetch failed: {error}"));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the fetch ended without an answer (panic in the source)".into())
                }
                Err(RecvTimeoutError::Timeout) if self.stop.is_raised() => {
                    return Err("fetch abandoned: pylantir is stopping".into())
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                    self.abandoned = Some(rx);
                    return Err(format!(
                        "fetch timed out after {} s (fetch_timeout); the source is rebuilt before its next fetch",
                        self.source.fetch_timeout.as_secs()
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
}
