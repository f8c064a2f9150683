//! Turns an author's [`Source`] into the FFI source object. Every entry point
//! runs under `catch_unwind`: a panic never crosses the boundary, it becomes an
//! error of kind [`ErrorKind::PANICKED`] carrying the panic message.

use crate::ffi::{DataSourceFfi, ErrorKind, PluginError};
use crate::source::{CallError, Source};
use abi_stable::std_types::{RResult, RStr, RString};
use serde_json::Value;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A source wrapped for the boundary.
pub struct GuardedSource {
    name: String,
    inner: Box<dyn Source>,
}

impl GuardedSource {
    /// Wraps `inner`, configured under `name`.
    pub fn new(name: String, inner: Box<dyn Source>) -> Self {
        GuardedSource { name, inner }
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
        let inner = &mut self.inner;
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
        let inner = &mut self.inner;
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
        let inner = &self.inner;
        catch_unwind(AssertUnwindSafe(|| inner.supports_incremental_sync())).unwrap_or(false)
    }

    fn call(&mut self, op: RStr<'_>, payload_json: RStr<'_>) -> RResult<RString, PluginError> {
        let inner = &mut self.inner;
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
        let inner = &mut self.inner;
        if catch_unwind(AssertUnwindSafe(|| inner.cleanup())).is_err() {
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

    #[test]
    fn the_default_call_answers_unsupported_operation() {
        let (kind, _) = call(Silent, "anything").unwrap_err();
        assert_eq!(kind, ErrorKind::UNSUPPORTED_OPERATION);
    }
}
