//! The audit queue and its writer thread, so that auditing never holds up
//! a C-FIND answer for long.
//!
//! Records go into a bounded queue. When it is full, the recording thread
//! waits at most the queue's `max_wait` for room (not at all while the sink
//! is failing), then drops the record and counts it. The writer thread
//! takes everything queued as one batch, writes it (one write and one
//! fsync for the file), and after the batch that follows a loss it writes a
//! `records_lost` record with the count and the times of the first and last
//! drop. A batch that cannot be written is kept and tried again every
//! [`RETRY`] until it can, so a failing disk costs only records beyond the
//! queue, and those are counted.

use super::record::{Event, Outcome, Record, RecordsLost};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the writer waits before writing a failed batch again.
pub const RETRY: Duration = Duration::from_secs(1);

/// The most records written in one batch.
const BATCH: usize = 1000;

/// Where batches go (the audit file, and syslog when configured).
pub trait Sink: Send + 'static {
    /// Writes the batch, or says why it could not (the batch is tried again).
    fn write(&mut self, batch: &[Record]) -> Result<(), String>;
}

/// How much the queue holds and how long a full queue may make a caller wait.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Records queued at most.
    pub capacity: usize,
    /// The longest a caller waits for room before the record is dropped.
    pub max_wait: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            capacity: 10_000,
            max_wait: Duration::from_millis(50),
        }
    }
}

#[derive(Default)]
struct State {
    queued: VecDeque<Record>,
    lost: Option<RecordsLost>,
    /// The sink failed its last batch: callers do not wait for room.
    failing: bool,
    closing: bool,
}

struct Queue {
    state: Mutex<State>,
    not_empty: Condvar,
    not_full: Condvar,
    limits: Limits,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The queue and its writer thread.
pub struct Writer {
    queue: Arc<Queue>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer thread over `sink`.
    pub fn spawn(sink: Box<dyn Sink>, limits: Limits) -> Result<Writer, String> {
        let queue = Arc::new(Queue {
            state: Mutex::new(State::default()),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            limits,
        });
        let for_thread = Arc::clone(&queue);
        let thread = std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || run(&for_thread, sink))
            .map_err(|e| format!("cannot start the audit writer thread: {e}"))?;
        Ok(Writer {
            queue,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `record`; see the module documentation for a full queue.
    pub fn push(&self, record: Record) {
        let queue = &self.queue;
        let mut state = queue.lock();
        let deadline = Instant::now() + queue.limits.max_wait;
        while state.queued.len() >= queue.limits.capacity && !state.failing && !state.closing {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = queue
                .not_full
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        if state.closing {
            log::warn!(
                "audit: a {} record arrived after the audit log was closed",
                record.kind()
            );
            return;
        }
        if state.queued.len() >= queue.limits.capacity {
            let now = record.time;
            match &mut state.lost {
                Some(lost) => {
                    lost.count += 1;
                    lost.last_lost = now;
                }
                None => {
                    log::error!(
                        "audit: the queue is full ({} records): records are dropped and counted until the audit log catches up",
                        queue.limits.capacity
                    );
                    state.lost = Some(RecordsLost {
                        count: 1,
                        first_lost: now.clone(),
                        last_lost: now,
                    });
                }
            }
            queue.not_empty.notify_one();
            return;
        }
        state.queued.push_back(record);
        queue.not_empty.notify_one();
    }

    /// Writes what is queued, stops the thread and waits for it. A sink that
    /// still fails is given up after one more try (the records are logged as lost).
    pub fn close(&self) {
        self.queue.lock().closing = true;
        self.queue.not_empty.notify_all();
        self.queue.not_full.notify_all();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if thread.is_some_and(|t| t.join().is_err()) {
            log::error!("audit: the writer thread panicked");
        }
    }
}

fn run(queue: &Queue, mut sink: Box<dyn Sink>) {
    let mut batch: Vec<Record> = Vec::new();
    loop {
        let closing = {
            let mut state = queue.lock();
            while batch.is_empty()
                && state.queued.is_empty()
                && state.lost.is_none()
                && !state.closing
            {
                state = queue
                    .not_empty
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner());
            }
            if batch.is_empty() {
                let take = state.queued.len().min(BATCH);
                batch.extend(state.queued.drain(..take));
                if let Some(lost) = state.lost.take() {
                    batch.push(Record::now(
                        Outcome::Failure,
                        Some("the audit queue was full".into()),
                        Event::RecordsLost(lost),
                    ));
                }
                queue.not_full.notify_all();
            }
            if batch.is_empty() {
                return;
            }
            state.closing
        };
        let written = sink.write(&batch);
        let mut state = queue.lock();
        match written {
            Ok(()) => {
                if state.failing {
                    log::warn!("audit: the audit log is written again");
                }
                state.failing = false;
                batch.clear();
            }
            Err(error) => {
                if !state.failing {
                    log::error!(
                        "audit: {error}; keeping {} record(s) and trying again every {} s; \
                         records beyond the queue's {} are dropped and counted",
                        batch.len(),
                        RETRY.as_secs(),
                        queue.limits.capacity
                    );
                }
                state.failing = true;
                if closing {
                    log::error!(
                        "audit: {} record(s) could not be written before stopping: {error}",
                        batch.len() + state.queued.len()
                    );
                    return;
                }
                drop(state);
                std::thread::sleep(RETRY);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::SourceDisabled;
    use std::sync::mpsc;

    /// A sink that writes only when the test lets it (one batch per token),
    /// or fails while `failing` holds.
    struct GatedSink {
        tokens: mpsc::Receiver<Result<(), String>>,
        written: Arc<Mutex<Vec<Record>>>,
    }

    impl Sink for GatedSink {
        fn write(&mut self, batch: &[Record]) -> Result<(), String> {
            self.tokens.recv().map_err(|e| e.to_string())??;
            self.written.lock().unwrap().extend_from_slice(batch);
            Ok(())
        }
    }

    fn record(n: usize) -> Record {
        Record::now(
            Outcome::Success,
            None,
            Event::SourceDisabled(SourceDisabled {
                source: format!("s{n}"),
            }),
        )
    }

    /// The writer, the sender of the sink's write results, what was written.
    type Gated = (
        Writer,
        mpsc::Sender<Result<(), String>>,
        Arc<Mutex<Vec<Record>>>,
    );

    fn writer(capacity: usize) -> Gated {
        let (send, tokens) = mpsc::channel();
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = GatedSink {
            tokens,
            written: Arc::clone(&written),
        };
        let limits = Limits {
            capacity,
            max_wait: Duration::from_millis(20),
        };
        (
            Writer::spawn(Box::new(sink), limits).unwrap(),
            send,
            written,
        )
    }

    #[test]
    fn a_stalled_sink_costs_a_caller_at_most_max_wait_and_the_loss_is_recorded() {
        let (writer, tokens, written) = writer(10);
        // The first record is taken by the writer, which then stalls on it.
        writer.push(record(0));
        while !writer.queue.lock().queued.is_empty() {
            std::thread::yield_now();
        }
        for n in 1..=10 {
            writer.push(record(n));
        }
        let started = Instant::now();
        for n in 11..=15 {
            writer.push(record(n));
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        for _ in 0..3 {
            tokens.send(Ok(())).unwrap();
        }
        writer.close();
        let written = written.lock().unwrap();
        assert_eq!(written.len(), 12, "{written:?}");
        match &written[11].event {
            Event::RecordsLost(lost) => assert_eq!(lost.count, 5),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_batch_is_written_again_when_the_sink_recovers() {
        let (writer, tokens, written) = writer(100);
        writer.push(record(0));
        tokens.send(Err("disk full".into())).unwrap();
        while !writer.queue.lock().failing {
            std::thread::yield_now();
        }
        writer.push(record(1));
        tokens.send(Ok(())).unwrap();
        tokens.send(Ok(())).unwrap();
        writer.close();
        let sources: Vec<String> = written
            .lock()
            .unwrap()
            .iter()
            .map(|r| match &r.event {
                Event::SourceDisabled(s) => s.source.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sources, ["s0", "s1"]);
    }
}
