//! A configured source whose plugin runs in a worker process, behind the
//! host's [`DataSource`]. Every request has a deadline (`fetch_timeout` for
//! fetches, [`REQUEST_TIMEOUT`] for the rest); a worker that dies or misses
//! one is killed and reaped, the failure is counted in the source's
//! [`Health`], and the sync loop builds a new source (a new worker) for its
//! next cycle.

use super::health::Health;
use super::process::{WorkerCommand, WorkerProcess, Workers};
use super::protocol::quote;
use crate::loader::entries::parse_fetch;
use crate::loader::in_process::answer_of;
use crate::source::{DataSource, FetchAnswer, Fetched, SourceError, SourceErrorKind};
use pylantir_plugin_api::stream;
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The deadline of every request but `fetch`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The deadline of the `cleanup` request at shutdown.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(2);

/// What a [`WorkerSource`] is built from.
pub struct WorkerSpec<'a> {
    pub command: &'a WorkerCommand,
    pub workers: &'a Workers,
    /// The plugin file.
    pub file: &'a Path,
    pub source_type: &'a str,
    pub source_name: &'a str,
    pub fetch_timeout: Duration,
    /// The source's failure history, shared by its successive workers.
    pub health: Arc<Mutex<Health>>,
}

/// One configured source in its own worker process.
pub struct WorkerSource {
    worker: WorkerProcess,
    source_name: String,
    incremental: bool,
    fetch_timeout: Duration,
    health: Arc<Mutex<Health>>,
}

fn record_failure(health: &Mutex<Health>, source_name: &str, error: &SourceError) {
    if matches!(
        error.kind,
        SourceErrorKind::Crashed | SourceErrorKind::Timeout
    ) {
        health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record_failure(source_name, &error.message);
    }
}

impl WorkerSource {
    /// Starts a worker for the plugin and builds the source in it.
    pub fn start(spec: WorkerSpec<'_>) -> Result<WorkerSource, SourceError> {
        let log_name = format!("{}:{}", spec.source_type, spec.source_name);
        let worker = WorkerProcess::spawn(spec.command, spec.file, &log_name, spec.workers)
            .map_err(|e| {
                let error = SourceError::new(e.kind, e.message);
                record_failure(&spec.health, spec.source_name, &error);
                error
            })?;
        let mut source = WorkerSource {
            worker,
            source_name: spec.source_name.to_string(),
            incremental: false,
            fetch_timeout: spec.fetch_timeout,
            health: spec.health,
        };
        let body = format!(
            "\"op\":\"new\",\"source_type\":{},\"source_name\":{}",
            quote(spec.source_type),
            quote(spec.source_name)
        );
        let answer = source.request("new", &body, REQUEST_TIMEOUT)?;
        source.incremental = serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|v| v.get("incremental").and_then(Value::as_bool))
            .unwrap_or(false);
        Ok(source)
    }

    /// The plugin's fetch answer, as it wrote it.
    fn answer(
        &mut self,
        field_mapping: &Value,
        interval_seconds: f64,
    ) -> Result<String, SourceError> {
        let interval = serde_json::to_string(&interval_seconds).unwrap_or_else(|_| "0".into());
        let body =
            format!("\"op\":\"fetch\",\"field_mapping\":{field_mapping},\"interval\":{interval}");
        let answer = self.request("fetch", &body, self.fetch_timeout)?;
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record_success();
        Ok(answer)
    }

    /// One request; a worker failure is counted in the source's health.
    fn request(&mut self, op: &str, body: &str, deadline: Duration) -> Result<String, SourceError> {
        self.worker
            .request(op, body, deadline)
            .inspect_err(|error| {
                record_failure(&self.health, &self.source_name, error);
            })
    }
}

impl DataSource for WorkerSource {
    fn validate_config(&mut self, config: &Value) -> Result<(), SourceError> {
        let body = format!("\"op\":\"validate\",\"config\":{config}");
        self.request("validate", &body, REQUEST_TIMEOUT).map(drop)
    }

    fn fetch(
        &mut self,
        field_mapping: &Value,
        interval_seconds: f64,
    ) -> Result<Fetched, SourceError> {
        let answer = self.answer(field_mapping, interval_seconds)?;
        parse_fetch(&self.source_name, &answer)
    }

    fn fetch_answer(
        &mut self,
        field_mapping: &Value,
        interval_seconds: f64,
    ) -> Result<FetchAnswer, SourceError> {
        let answer = self.answer(field_mapping, interval_seconds)?;
        Ok(FetchAnswer::Text(Box::new(answer)))
    }

    fn supports_incremental_sync(&self) -> bool {
        self.incremental
    }

    /// A call has the source's `fetch_timeout` as its deadline.
    fn call(&mut self, op: &str, payload: &Value) -> Result<Value, SourceError> {
        let answer = self.call_text(op, payload)?;
        answer_of(op, &answer)
    }

    fn call_text(&mut self, op: &str, payload: &Value) -> Result<String, SourceError> {
        let body = format!(
            "\"op\":\"call\",\"name\":{},\"payload\":{payload}",
            quote(op)
        );
        // A streamed fetch is the fetch, in the log and the run's error.
        let what = match op {
            stream::BEGIN | stream::NEXT => "fetch",
            _ => "call",
        };
        self.request(what, &body, self.fetch_timeout)
    }

    fn cleanup(&mut self) {
        if let Err(error) = self
            .worker
            .request("cleanup", "\"op\":\"cleanup\"", CLEANUP_TIMEOUT)
        {
            log::debug!("source '{}': cleanup: {error}", self.source_name);
        }
        self.worker.stop();
    }
}
