//! When a source syncs and how far back it looks: its daily window, the
//! fetch interval (with the overlap Python pylantir uses) and requests to
//! sync a source now ([`RunNow`]).

use super::stop::Stop;
use crate::config::{ClockTime, Window};
use jiff::civil::{DateTime, Time};
use jiff::ToSpan;
use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Added to every incremental look-back so no change is missed between runs.
pub const OVERLAP: Duration = Duration::from_secs(300);

fn minutes(t: ClockTime) -> u32 {
    t.hour * 60 + t.minute
}

/// Whether `now` lies in the window (both ends inclusive, to the minute).
pub fn in_window(window: &Window, now: DateTime) -> bool {
    let m = now.hour() as u32 * 60 + now.minute() as u32;
    let (start, end) = (minutes(window.start), minutes(window.end));
    if start <= end {
        start <= m && m <= end
    } else {
        m >= start || m <= end
    }
}

fn at(now: DateTime, t: ClockTime, second: i8) -> DateTime {
    match (i8::try_from(t.hour), i8::try_from(t.minute)) {
        (Ok(hour), Ok(minute)) => Time::new(hour, minute, second, 0)
            .map(|time| now.date().to_datetime(time))
            .unwrap_or(now),
        _ => now,
    }
}

/// When the window last closed before `now` (the end minute's last second).
pub fn last_close(window: &Window, now: DateTime) -> DateTime {
    let today = at(now, window.end, 59);
    if today < now {
        today
    } else {
        today.saturating_sub(1.day())
    }
}

/// How long until the window opens; zero inside it.
pub fn until_open(window: &Window, now: DateTime) -> Duration {
    if in_window(window, now) {
        return Duration::ZERO;
    }
    let mut open = at(now, window.start, 0);
    if open <= now {
        open = open.saturating_add(1.day());
    }
    Duration::try_from(open.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// How far back a fetch at `now` looks, in seconds: since the last
/// successful sync (at startup: since the window last closed, as Python
/// pylantir's first sync of the day does) plus the overlap, and never less
/// than `sync_interval` + the overlap.
pub fn lookback(
    window: &Window,
    sync_interval: Duration,
    now: DateTime,
    last_success: Option<DateTime>,
) -> f64 {
    let floor = (sync_interval + OVERLAP).as_secs_f64();
    let gap = match last_success {
        Some(last) => Duration::try_from(now.duration_since(last)).unwrap_or_default() + OVERLAP,
        None => Duration::try_from(now.duration_since(last_close(window, now))).unwrap_or_default(),
    };
    gap.as_secs_f64().max(floor)
}

/// What one source's worker is doing, as [`RunNow`] knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Syncing (or about to): a request now would be refused.
    Busy,
    /// Waiting for its next run.
    Waiting,
    /// Waiting, and asked to sync now.
    Requested,
    /// The worker has ended (disabled after crashes, or stopping).
    Ended,
}

/// The answer to [`RunNow::request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// The worker was waiting: it syncs now.
    Queued,
    /// A sync of that source is running.
    Running,
    /// No worker runs that source (disabled, ended, or unknown).
    NoWorker,
}

/// Why a worker's wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The stop flag was raised.
    Stop,
    /// Someone asked for a sync now.
    RunNow,
    /// The wait was over.
    Due,
}

/// Requests to sync a source before its interval is over, shared by the
/// engine's workers (which wait here between runs) and whoever asks (the
/// HTTP API's `POST /sources/{name}/sync`).
#[derive(Default)]
pub struct RunNow {
    phases: Mutex<HashMap<String, Phase>>,
    wake: Condvar,
}

impl RunNow {
    fn phases(&self) -> std::sync::MutexGuard<'_, HashMap<String, Phase>> {
        self.phases.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the worker of `source`, busy with its first run.
    pub fn register(&self, source: &str) {
        self.phases().insert(source.to_string(), Phase::Busy);
    }

    /// Marks the worker of `source` as ended: requests are refused.
    pub fn end(&self, source: &str) {
        self.phases().insert(source.to_string(), Phase::Ended);
    }

    /// Asks the worker of `source` to sync now.
    pub fn request(&self, source: &str) -> Request {
        let mut phases = self.phases();
        match phases.get_mut(source) {
            Some(phase @ (Phase::Waiting | Phase::Requested)) => {
                *phase = Phase::Requested;
                self.wake.notify_all();
                Request::Queued
            }
            Some(Phase::Busy) => Request::Running,
            Some(Phase::Ended) | None => Request::NoWorker,
        }
    }

    /// Wakes every waiting worker, so each sees a stop just raised.
    pub fn wake_all(&self) {
        let _phases = self.phases();
        self.wake.notify_all();
    }

    /// The worker of `source` waits up to `timeout`, until `stop` is
    /// raised or a sync is requested; it is busy again when this returns.
    /// Whoever raises `stop` calls [`RunNow::wake_all`] afterwards.
    pub fn wait(&self, source: &str, timeout: Duration, stop: &Stop) -> Wake {
        let deadline = Instant::now() + timeout;
        let mut phases = self.phases();
        phases.insert(source.to_string(), Phase::Waiting);
        let wake = loop {
            if stop.is_raised() {
                break Wake::Stop;
            }
            if phases.get(source) == Some(&Phase::Requested) {
                break Wake::RunNow;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Wake::Due;
            }
            phases = match self.wake.wait_timeout(phases, left) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        };
        phases.insert(source.to_string(), Phase::Busy);
        wake
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn window(start: (u32, u32), end: (u32, u32)) -> Window {
        Window {
            start: ClockTime {
                hour: start.0,
                minute: start.1,
            },
            end: ClockTime {
                hour: end.0,
                minute: end.1,
            },
        }
    }

    fn time(h: i8, m: i8, s: i8) -> DateTime {
        date(2025, 3, 7).at(h, m, s, 0)
    }

    #[test]
    fn a_window_includes_both_end_minutes() {
        let w = window((8, 0), (18, 0));
        assert!(in_window(&w, time(8, 0, 0)));
        assert!(in_window(&w, time(18, 0, 59)));
        assert!(!in_window(&w, time(7, 59, 59)));
        assert!(!in_window(&w, time(18, 1, 0)));
    }

    #[test]
    fn a_window_ending_before_it_starts_wraps_past_midnight() {
        let w = window((22, 0), (6, 0));
        assert!(in_window(&w, time(23, 0, 0)));
        assert!(in_window(&w, time(5, 0, 0)));
        assert!(!in_window(&w, time(12, 0, 0)));
    }

    #[test]
    fn the_first_sync_looks_back_to_when_the_window_last_closed() {
        let w = window((8, 0), (18, 0));
        let now = time(8, 0, 0);
        // Yesterday 18:00:59 to today 08:00:00.
        assert_eq!(
            lookback(&w, Duration::from_secs(60), now, None),
            14.0 * 3600.0 - 59.0
        );
    }

    #[test]
    fn later_syncs_look_back_one_interval_plus_the_overlap() {
        let w = window((8, 0), (18, 0));
        let now = time(10, 0, 0);
        let last = time(9, 59, 0);
        assert_eq!(
            lookback(&w, Duration::from_secs(60), now, Some(last)),
            360.0
        );
    }

    #[test]
    fn after_failures_the_look_back_covers_the_time_since_the_last_success() {
        let w = window((0, 0), (23, 59));
        let now = time(10, 0, 0);
        let last = time(9, 0, 0);
        assert_eq!(
            lookback(&w, Duration::from_secs(60), now, Some(last)),
            3900.0
        );
    }

    #[test]
    fn a_requested_sync_ends_a_waiting_workers_wait_at_once() {
        let run_now = std::sync::Arc::new(RunNow::default());
        let stop = std::sync::Arc::new(Stop::default());
        run_now.register("s");
        assert_eq!(run_now.request("s"), Request::Running);
        let waiter = {
            let (run_now, stop) = (run_now.clone(), stop.clone());
            std::thread::spawn(move || run_now.wait("s", Duration::from_secs(60), &stop))
        };
        while run_now.request("s") != Request::Queued {
            std::thread::yield_now();
        }
        assert_eq!(waiter.join().expect("waiter"), Wake::RunNow);
        assert_eq!(run_now.request("s"), Request::Running);
        assert_eq!(run_now.request("other"), Request::NoWorker);
        run_now.end("s");
        assert_eq!(run_now.request("s"), Request::NoWorker);
    }

    #[test]
    fn a_raised_stop_ends_a_waiting_workers_wait() {
        let run_now = std::sync::Arc::new(RunNow::default());
        let stop = std::sync::Arc::new(Stop::default());
        run_now.register("s");
        let waiter = {
            let (run_now, stop) = (run_now.clone(), stop.clone());
            std::thread::spawn(move || run_now.wait("s", Duration::from_secs(60), &stop))
        };
        stop.raise();
        run_now.wake_all();
        assert_eq!(waiter.join().expect("waiter"), Wake::Stop);
        assert_eq!(
            run_now.wait("s", Duration::from_millis(1), &Stop::default()),
            Wake::Due
        );
    }

    #[test]
    fn outside_the_window_the_wait_is_until_it_opens() {
        let w = window((8, 0), (18, 0));
        assert_eq!(until_open(&w, time(7, 30, 0)), Duration::from_secs(1800));
        assert_eq!(
            until_open(&w, time(19, 0, 0)),
            Duration::from_secs(13 * 3600)
        );
        assert_eq!(until_open(&w, time(9, 0, 0)), Duration::ZERO);
    }
}
