//! A fetch taken from the plugin in bounded batches (plugin-api's
//! [`pylantir_plugin_api::stream`] operations, over the generic `call`, so
//! in-process and worker-process sources alike) and kept in an unnamed
//! temporary file, one batch per line, until it is complete. The sync then
//! writes it batch by batch in one short transaction, as any fetch: memory
//! depends on the batch, not the fetch, and the database is not held while
//! the upstream is read.
//!
//! A plugin built before the streamed fetch (plugin-api 1.0.0 and the first
//! 1.x) answers `fetch_stream_begin` with "unsupported operation": its fetch
//! answer is taken whole, as before.

use crate::loader::entries::BATCH;
use crate::source::{DataSource, FetchAnswer, SourceError, SourceErrorKind};
use pylantir_plugin_api::stream::{BEGIN, NEXT};
use serde_json::{json, Value};
use std::io::{BufReader, BufWriter, Seek, Write};
use std::time::Instant;

/// How a batch answer starts; the last one says `true`.
const NOT_DONE: &str = "{\"done\":false,";
const DONE: &str = "{\"done\":true,";

/// Fetches from `source`, in batches when it can stream, until `deadline`.
pub fn fetch(
    source: &mut dyn DataSource,
    field_mapping: &Value,
    interval_seconds: f64,
    deadline: Instant,
) -> Result<FetchAnswer, SourceError> {
    let begin = json!({"field_mapping": field_mapping, "interval_seconds": interval_seconds,
                       "batch_size": BATCH});
    match source.call_text(BEGIN, &begin) {
        Err(error) if error.kind == SourceErrorKind::Unsupported => {
            return source.fetch_answer(field_mapping, interval_seconds)
        }
        Err(error) => return Err(error),
        Ok(_) => {}
    }
    let spill_failed = |e: std::io::Error| {
        SourceError::new(
            SourceErrorKind::Other,
            format!("cannot keep the fetch in a temporary file: {e}"),
        )
    };
    let mut spill = BufWriter::new(tempfile::tempfile().map_err(spill_failed)?);
    loop {
        if Instant::now() >= deadline {
            return Err(SourceError::new(
                SourceErrorKind::Timeout,
                "the streamed fetch passed its deadline",
            ));
        }
        let batch = source.call_text(NEXT, &json!({}))?;
        let done = batch.starts_with(DONE);
        if !done && !batch.starts_with(NOT_DONE) {
            return Err(SourceError::new(
                SourceErrorKind::Other,
                format!("`{NEXT}` answered something else than a batch"),
            ));
        }
        // A raw line break can only be whitespace in JSON: one batch a line.
        let line = if batch.contains(['\n', '\r']) {
            batch.replace(['\n', '\r'], " ")
        } else {
            batch
        };
        spill
            .write_all(line.as_bytes())
            .and_then(|()| spill.write_all(b"\n"))
            .map_err(spill_failed)?;
        if done {
            break;
        }
    }
    let mut file = spill
        .into_inner()
        .map_err(|e| spill_failed(e.into_error()))?;
    file.rewind().map_err(spill_failed)?;
    Ok(FetchAnswer::Batches(Box::new(BufReader::new(file))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers `fetch_stream_next` with `answers` in turn (then fails).
    struct Scripted {
        answers: std::vec::IntoIter<Result<String, SourceError>>,
    }

    impl Scripted {
        fn new(answers: Vec<Result<&str, &str>>) -> Scripted {
            let answers: Vec<_> = answers
                .into_iter()
                .map(|a| {
                    a.map(str::to_string)
                        .map_err(|e| SourceError::new(SourceErrorKind::Fetch, e))
                })
                .collect();
            Scripted {
                answers: answers.into_iter(),
            }
        }
    }

    impl DataSource for Scripted {
        fn validate_config(&mut self, _: &Value) -> Result<(), SourceError> {
            Ok(())
        }

        fn fetch(&mut self, _: &Value, _: f64) -> Result<crate::source::Fetched, SourceError> {
            Err(SourceError::new(SourceErrorKind::Other, "not streamed"))
        }

        fn supports_incremental_sync(&self) -> bool {
            false
        }

        fn call_text(&mut self, op: &str, _: &Value) -> Result<String, SourceError> {
            match op {
                BEGIN => Ok("null".into()),
                _ => self
                    .answers
                    .next()
                    .unwrap_or_else(|| Err(SourceError::new(SourceErrorKind::Other, "no more"))),
            }
        }

        fn cleanup(&mut self) {}
    }

    fn fetch_from(
        answers: Vec<Result<&str, &str>>,
        deadline: Instant,
    ) -> Result<FetchAnswer, SourceError> {
        fetch(&mut Scripted::new(answers), &json!({}), 60.0, deadline)
    }

    fn later() -> Instant {
        Instant::now() + std::time::Duration::from_secs(60)
    }

    #[test]
    fn a_stream_that_fails_after_a_batch_answers_only_its_error() {
        let batch = r#"{"done":false,"entries":[{"patient_id":"P1"}]}"#;
        let Err(error) = fetch_from(vec![Ok(batch), Err("upstream went away")], later()) else {
            panic!("a failed stream answered");
        };
        assert_eq!(error.message, "upstream went away");
    }

    #[test]
    fn an_answer_that_is_not_a_batch_fails_the_fetch() {
        let Err(error) = fetch_from(vec![Ok(r#"[{"patient_id":"P1"}]"#)], later()) else {
            panic!("a stray answer was taken");
        };
        assert!(
            error.message.contains("something else than a batch"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_stream_past_its_deadline_ends_with_a_timeout() {
        let batch = r#"{"done":false,"entries":[]}"#;
        let Err(error) = fetch_from(vec![Ok(batch); 3], Instant::now()) else {
            panic!("a stream past its deadline answered");
        };
        assert_eq!(error.kind, SourceErrorKind::Timeout);
    }

    #[test]
    fn a_batch_written_over_several_lines_stays_one_line() {
        let answer = fetch_from(
            vec![
                Ok("{\"done\":false,\"entries\":[\n{\"patient_id\":\"P1\"}\n]}"),
                Ok(r#"{"done":true,"entries":[],"complete_window":null,"skipped":[]}"#),
            ],
            later(),
        );
        let Ok(FetchAnswer::Batches(lines)) = answer else {
            panic!("no batches");
        };
        assert_eq!(std::io::BufRead::lines(lines).count(), 2);
    }
}
