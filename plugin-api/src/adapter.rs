//! Turns an author's [`Source`] into the FFI source object. Every entry point
//! runs under `catch_unwind`: a panic never crosses the boundary, it becomes an
//! error of kind [`ErrorKind::PANICKED`] carrying the panic message.

use crate::ffi::{DataSourceFfi, ErrorKind, PluginError};
use crate::source::{CallError, Source};
use crate::stream::{self, Stream};
use abi_stable::std_types::{RResult, RStr, RString};
use serde_json::Value;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A source wrapped for the boundary.
pub struct GuardedSource {
    name: String,
    /// Shared with the thread of a streamed fetch, which holds it meanwhile.
    inner: Arc<Mutex<Box<dyn Source>>>,
    /// The streamed fetch in progress ([`crate::stream`]).
    stream: Option<Stream>,
}

impl GuardedSource {
    /// Wraps `inner`, configured under `name`.
    pub fn new(name: String, inner: Box<dyn Source>) -> Self {
        GuardedSource {
            name,
            inner: Arc::new(Mutex::new(inner)),
            stream: None,
        }
    }

    /// The source, once any streamed fetch is abandoned (its thread ended).
    fn source(&mut self) -> MutexGuard<'_, Box<dyn Source>> {
        self.stream = None;
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The streamed fetch's operations; `None` for any other.
    fn stream_call(
        &mut self,
        op: &str,
        payload_json: RStr<'_>,
    ) -> Option<RResult<RString, PluginError>> {
        match op {
            stream::BEGIN => {
                self.stream = None;
                let inner = Arc::clone(&self.inner);
                Some(guard(ErrorKind::FETCH, || {
                    let payload = parse_json("payload", payload_json)?;
                    self.stream = Some(Stream::begin(inner, &payload)?);
                    Ok(RString::from("null"))
                }))
            }
            stream::NEXT => {
                let Some(stream) = self.stream.as_mut() else {
                    return Some(RResult::RErr(PluginError::new(
                        ErrorKind::OTHER,
                        format!(
                            "no streamed fetch in progress (`{}` comes first)",
                            stream::BEGIN
                        ),
                    )));
                };
                let answer = stream.next_answer();
                if !matches!(answer, Ok((_, false))) {
                    self.stream = None;
                }
                Some(match answer {
                    Ok((text, _)) => RResult::ROk(RString::from(text)),
                    Err(error) => RResult::RErr(error),
                })
            }
            _ => None,
        }
    }
}

/// The message of a panic payload (`&str` or `String`), else a generic text.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs `f`, mapping its error to `kind` and a panic to `PANICKED`.
pub fn guard<T>(kind: ErrorKind, f: impl FnOnce() -> Result<T, String>) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => RResult::ROk(value),
        Ok(Err(message)) => RResult::RErr(PluginError::new(kind, message)),
        Err(payload) => RResult::RErr(PluginError::new(
            ErrorKind::PANICKED,
            format!("plugin panicked: {}", panic_message(payload.as_ref())),
        )),
    }
}

fn parse_json(what: &str, text: RStr<'_>) -> Result<Value, String> {
    serde_json::from_str(text.as_str()).map_err(|e| format!("{what} is not valid JSON: {e}"))
}

impl DataSourceFfi for GuardedSource {
    fn source_name(&self) -> RString {
        RString::from(self.name.as_str())
    }

    fn validate_config(&mut self, config_json: RStr<'_>) -> RResult<(), PluginError> {
        let mut inner = self.source();
        guard(ErrorKind::CONFIG, || {
            let config = parse_json("config", config_json)?;
            inner.validate_config(&config)
        })
    }

    fn fetch_entries(
        &mut self,
        field_mapping_json: RStr<'_>,
        interval_seconds: f64,
    ) -> RResult<RString, PluginError> {
        let mut inner = self.source();
        guard(ErrorKind::FETCH, || {
            let mapping = match parse_json("field_mapping", field_mapping_json)? {
                Value::Object(map) => map,
                Value::Null => serde_json::Map::new(),
                other => return Err(format!("field_mapping must be an object, got {other}")),
            };
            inner
                .fetch(&mapping, interval_seconds)
                .map(|fetch| RString::from(fetch.into_answer()))
        })
    }

    fn supports_incremental_sync(&self) -> bool {
        // Not while a streamed fetch holds the source: then it is not known.
        let Ok(inner) = self.inner.try_lock() else {
            return false;
        };
        catch_unwind(AssertUnwindSafe(|| inner.supports_incremental_sync())).unwrap_or(false)
    }

    fn call(&mut self, op: RStr<'_>, payload_json: RStr<'_>) -> RResult<RString, PluginError> {
        if let Some(answer) = self.stream_call(op.as_str(), payload_json) {
            return answer;
        }
        let mut inner = self.source();
        let answer = guard(ErrorKind::OTHER, || {
            let payload = parse_json("payload", payload_json)?;
            Ok(inner.call(op.as_str(), &payload))
        });
        match answer {
            RResult::ROk(Ok(value)) => RResult::ROk(RString::from(value.to_string())),
            RResult::ROk(Err(error)) => {
                let kind = match error {
                    CallError::Unsupported(_) => ErrorKind::UNSUPPORTED_OPERATION,
                    CallError::Failed(_) => ErrorKind::OTHER,
                };
                RResult::RErr(PluginError::new(kind, error.to_string()))
            }
            RResult::RErr(error) => RResult::RErr(error),
        }
    }

    fn cleanup(&mut self) {
        let panicked = {
            let mut inner = self.source();
            catch_unwind(AssertUnwindSafe(|| inner.cleanup())).is_err()
        };
        if panicked {
            log::error!("source '{}' panicked in cleanup", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Entry;
    use crate::source::FieldMapping;

    /// Knows `echo`; `fail` fails with a message that looks like an unknown
    /// operation's.
    struct Echo;

    impl Source for Echo {
        fn validate_config(&mut self, _config: &Value) -> Result<(), String> {
            Ok(())
        }

        fn fetch_entries(&mut self, _: &FieldMapping, _: f64) -> Result<Vec<Entry>, String> {
            Ok(Vec::new())
        }

        fn call(&mut self, op: &str, payload: &Value) -> Result<Value, CallError> {
            match op {
                "echo" => Ok(payload.clone()),
                "fail" => Err("unsupported operation in this state".into()),
                other => Err(CallError::Unsupported(other.to_string())),
            }
        }
    }

    struct Silent;

    impl Source for Silent {
        fn validate_config(&mut self, _config: &Value) -> Result<(), String> {
            Ok(())
        }

        fn fetch_entries(&mut self, _: &FieldMapping, _: f64) -> Result<Vec<Entry>, String> {
            Ok(Vec::new())
        }
    }

    fn call(source: impl Source, op: &str) -> Result<String, (ErrorKind, String)> {
        let mut guarded = GuardedSource::new("s".into(), Box::new(source));
        match guarded.call(RStr::from_str(op), RStr::from_str("[1]")) {
            RResult::ROk(answer) => Ok(answer.into_string()),
            RResult::RErr(e) => Err((e.kind, e.message.into_string())),
        }
    }

    #[test]
    fn a_known_operation_answers_its_json() {
        assert_eq!(call(Echo, "echo"), Ok("[1]".to_string()));
    }

    #[test]
    fn the_unsupported_kind_comes_from_the_error_value_not_its_text() {
        let (kind, message) = call(Echo, "fail").unwrap_err();
        assert_eq!(kind, ErrorKind::OTHER);
        assert_eq!(message, "unsupported operation in this state");
        let (kind, message) = call(Echo, "frobnicate").unwrap_err();
        assert_eq!(kind, ErrorKind::UNSUPPORTED_OPERATION);
        assert_eq!(message, "unsupported operation 'frobnicate'");
    }

    /// Streams `count` entries, then fails when `fail` says so.
    struct Counter {
        count: usize,
        fail: bool,
    }

    impl Source for Counter {
        fn validate_config(&mut self, _config: &Value) -> Result<(), String> {
            Ok(())
        }

        fn fetch_entries(&mut self, _: &FieldMapping, _: f64) -> Result<Vec<Entry>, String> {
            Ok(Vec::new())
        }

        fn fetch_streamed(
            &mut self,
            _: &FieldMapping,
            _: f64,
            sink: &mut crate::stream::EntrySink,
        ) -> Result<crate::stream::FetchEnd, String> {
            for n in 0..self.count {
                sink.push_json(&format!("{{\"patient_id\":\"P{n}\"}}"))?;
            }
            if self.fail {
                return Err("upstream went away".into());
            }
            Ok(crate::stream::FetchEnd {
                complete_window: Some(crate::fetch::CompleteWindow::everything()),
                skipped: Vec::new(),
            })
        }
    }

    /// Every answer of a streamed fetch of `source` in batches of 500.
    fn stream(source: impl Source) -> Vec<Result<Value, (ErrorKind, String)>> {
        let mut guarded = GuardedSource::new("s".into(), Box::new(source));
        let begin = guarded.call(
            RStr::from_str(crate::stream::BEGIN),
            RStr::from_str(r#"{"field_mapping": {}, "interval_seconds": 60, "batch_size": 500}"#),
        );
        assert!(matches!(begin, RResult::ROk(_)));
        let mut answers = Vec::new();
        loop {
            let next = guarded.call(RStr::from_str(crate::stream::NEXT), RStr::from_str("{}"));
            let answer = match next {
                RResult::ROk(text) => Ok(serde_json::from_str::<Value>(text.as_str()).unwrap()),
                RResult::RErr(e) => Err((e.kind, e.message.into_string())),
            };
            let last = !matches!(&answer, Ok(a) if a["done"] == false);
            answers.push(answer);
            if last {
                return answers;
            }
        }
    }

    fn sizes(answers: &[Result<Value, (ErrorKind, String)>]) -> Vec<usize> {
        answers
            .iter()
            .filter_map(|a| a.as_ref().ok())
            .map(|a| a["entries"].as_array().map_or(0, Vec::len))
            .collect()
    }

    #[test]
    fn a_streamed_fetch_answers_bounded_batches_then_what_comes_after() {
        let answers = stream(Counter {
            count: 1201,
            fail: false,
        });
        assert_eq!(sizes(&answers), [500, 500, 201, 0]);
        let last = answers[3].as_ref().unwrap();
        assert_eq!(last["done"], true);
        assert_eq!(
            last["complete_window"],
            serde_json::json!({"from": null, "to": null})
        );
        assert_eq!(
            answers[2].as_ref().unwrap()["entries"][200]["patient_id"],
            "P1200"
        );
    }

    #[test]
    fn a_stream_that_fails_after_a_batch_ends_with_the_fetch_error() {
        let answers = stream(Counter {
            count: 600,
            fail: true,
        });
        assert_eq!(sizes(&answers), [500]);
        assert_eq!(
            answers[1],
            Err((ErrorKind::FETCH, "upstream went away".to_string()))
        );
    }

    #[test]
    fn a_source_without_a_streamed_fetch_answers_its_fetch_as_one_batch() {
        let answers = stream(Silent);
        assert_eq!(sizes(&answers), [0, 0]);
        assert_eq!(
            answers[0].as_ref().unwrap()["entries"],
            serde_json::json!([])
        );
    }

    #[test]
    fn an_abandoned_stream_frees_the_source_for_the_next_call() {
        let mut guarded = GuardedSource::new(
            "s".into(),
            Box::new(Counter {
                count: 100_000,
                fail: false,
            }),
        );
        let begin = guarded.call(
            RStr::from_str(crate::stream::BEGIN),
            RStr::from_str(r#"{"batch_size": 10}"#),
        );
        assert!(matches!(begin, RResult::ROk(_)));
        // The fetch thread waits on its second batch; a validation ends it.
        assert!(matches!(
            guarded.validate_config(RStr::from_str("{}")),
            RResult::ROk(())
        ));
        let next = guarded.call(RStr::from_str(crate::stream::NEXT), RStr::from_str("{}"));
        assert!(
            matches!(next, RResult::RErr(e) if e.message.as_str().contains("no streamed fetch"))
        );
    }

    #[test]
    fn the_default_call_answers_unsupported_operation() {
        let (kind, _) = call(Silent, "anything").unwrap_err();
        assert_eq!(kind, ErrorKind::UNSUPPORTED_OPERATION);
    }
}
