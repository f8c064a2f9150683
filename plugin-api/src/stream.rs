//! A fetch handed over in bounded batches, added after plugin-api 1.0.0
//! without touching the checked ABI: it runs over the generic `call`.
//!
//! The host calls [`BEGIN`] with `{"field_mapping": {..}, "interval_seconds":
//! N, "batch_size": N}`, then [`NEXT`] with `{}` until an answer says
//! `"done": true`. Each answer is a fetch answer object holding at most
//! `batch_size` entries, `{"done": false, "entries": [..]}`; the last one
//! carries no entries but what comes after them: `{"done": true, "entries":
//! [], "complete_window": .., "skipped": [..]}`. A failed fetch fails its
//! [`NEXT`] call with the fetch's error, so the host keeps nothing of it.
//!
//! Meanwhile the source's [`Source::fetch_streamed`] runs on a thread of the
//! plugin and gives its entries to an [`EntrySink`], which holds one batch and
//! waits while the host has not taken the previous one: memory depends on
//! the batch, not the fetch. A host that never calls [`BEGIN`] (any host
//! before this) gets the single answer of `fetch_entries`; a plugin built
//! before this answers [`BEGIN`] with "unsupported operation", and its host
//! then uses `fetch_entries`.

use crate::entry::Entry;
use crate::fetch::{CompleteWindow, Fetch, Skipped};
use crate::ffi::{ErrorKind, PluginError};
use crate::source::{FieldMapping, Source};
use serde_json::Value;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The `call` operation that starts a streamed fetch.
pub const BEGIN: &str = "fetch_stream_begin";
/// The `call` operation that answers the next batch.
pub const NEXT: &str = "fetch_stream_next";

/// What comes after a streamed fetch's entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchEnd {
    /// Set when the fetch returned every booking of this window.
    pub complete_window: Option<CompleteWindow>,
    /// Records skipped upstream (malformed, out of scope).
    pub skipped: Vec<Skipped>,
}

/// The message of a sink whose host stopped listening: a source that gets it
/// from [`EntrySink::push`] should end its fetch (return the error).
pub const ABANDONED: &str = "the host abandoned this fetch";

/// Where [`Source::fetch_streamed`] puts its entries: one batch is held,
/// then handed to the host, waiting until it takes it.
pub struct EntrySink {
    /// `[` then the batch's entries as JSON objects, comma-separated.
    batch: String,
    count: usize,
    size: usize,
    out: SyncSender<Message>,
}

impl EntrySink {
    /// Adds one entry.
    pub fn push(&mut self, entry: &Entry) -> Result<(), String> {
        let text = serde_json::to_string(entry)
            .map_err(|e| format!("an entry could not be serialised: {e}"))?;
        self.push_json(&text)
    }

    /// Adds one entry written as a JSON object by the source itself.
    pub fn push_json(&mut self, entry_json: &str) -> Result<(), String> {
        self.batch.push(if self.count == 0 { '[' } else { ',' });
        self.batch.push_str(entry_json);
        self.count += 1;
        if self.count >= self.size {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands over a whole fetch answer as one batch (what a source that only
    /// implements `fetch` answers) and returns what came after its entries.
    pub fn push_fetch(&mut self, fetch: Fetch) -> Result<FetchEnd, String> {
        self.flush()?;
        self.send(fetch.entries_json)?;
        Ok(FetchEnd {
            complete_window: fetch.complete_window,
            skipped: fetch.skipped,
        })
    }

    /// Hands over the batch held, if any.
    fn flush(&mut self) -> Result<(), String> {
        if self.count == 0 {
            return Ok(());
        }
        self.batch.push(']');
        self.count = 0;
        let batch = std::mem::take(&mut self.batch);
        self.send(batch)
    }

    fn send(&self, entries_json: String) -> Result<(), String> {
        self.out
            .send(Message::Batch(entries_json))
            .map_err(|_| ABANDONED.to_string())
    }
}

/// What the fetch thread tells the `call`s of the host.
enum Message {
    /// A JSON array of entries.
    Batch(String),
    /// The fetch ended: what came after its entries, or its error.
    End(Result<FetchEnd, PluginError>),
}

/// The streamed fetch in progress of one source.
pub struct Stream {
    /// Behind a mutex only so that the source object stays `Sync`.
    answers: Mutex<Receiver<Message>>,
    thread: Option<JoinHandle<()>>,
}

impl Stream {
    /// Starts `source`'s streamed fetch as `payload` ([`BEGIN`]'s) asks, on
    /// a thread of its own.
    pub fn begin(source: Arc<Mutex<Box<dyn Source>>>, payload: &Value) -> Result<Stream, String> {
        let mapping: FieldMapping = match payload.get("field_mapping") {
            Some(Value::Object(map)) => map.clone(),
            None | Some(Value::Null) => FieldMapping::new(),
            Some(other) => return Err(format!("field_mapping must be an object, got {other}")),
        };
        let interval = payload
            .get("interval_seconds")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let size = payload
            .get("batch_size")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0)
            .ok_or("batch_size must be a whole number above 0")?;
        // One batch waits here while the source fills the next.
        let (out, answers) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("streamed fetch".into())
            .spawn(move || {
                let mut sink = EntrySink {
                    batch: String::new(),
                    count: 0,
                    size,
                    out: out.clone(),
                };
                let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let mut source = source.lock().unwrap_or_else(PoisonError::into_inner);
                    source
                        .fetch_streamed(&mapping, interval, &mut sink)
                        .and_then(|end| sink.flush().map(|()| end))
                        .map_err(|message| PluginError::new(ErrorKind::FETCH, message))
                }))
                .unwrap_or_else(|payload| {
                    Err(PluginError::new(
                        ErrorKind::PANICKED,
                        format!(
                            "plugin panicked: {}",
                            crate::adapter::panic_message(payload.as_ref())
                        ),
                    ))
                });
                let _ = out.send(Message::End(ended));
            })
            .map_err(|e| format!("cannot start the fetch thread: {e}"))?;
        Ok(Stream {
            answers: Mutex::new(answers),
            thread: Some(thread),
        })
    }

    /// The next answer of [`NEXT`], and whether it was the last.
    pub fn next_answer(&mut self) -> Result<(String, bool), PluginError> {
        let answers = self
            .answers
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let message = answers.recv().unwrap_or_else(|_| {
            Message::End(Err(PluginError::new(
                ErrorKind::OTHER,
                "the fetch thread ended without an answer",
            )))
        });
        match message {
            Message::Batch(entries) => {
                Ok((format!("{{\"done\":false,\"entries\":{entries}}}"), false))
            }
            Message::End(Ok(end)) => {
                // Written by hand: `done` first whatever the map order.
                let text =
                    |value: serde_json::Result<String>| value.unwrap_or_else(|_| "null".into());
                let tail = format!(
                    "{{\"done\":true,\"entries\":[],\"complete_window\":{},\"skipped\":{}}}",
                    text(serde_json::to_string(&end.complete_window)),
                    text(serde_json::to_string(&end.skipped)),
                );
                Ok((tail, true))
            }
            Message::End(Err(error)) => Err(error),
        }
    }
}

impl Drop for Stream {
    /// Stops listening (the source's next push fails with [`ABANDONED`]) and
    /// waits for the fetch thread, which holds the source until it ends.
    fn drop(&mut self) {
        let (_, answers) = sync_channel(0);
        drop(std::mem::replace(&mut self.answers, Mutex::new(answers)));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
