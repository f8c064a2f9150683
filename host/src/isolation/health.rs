//! A source's worker failures: each one (crash, kill after a deadline, death
//! while loading) is counted; the next worker starts after an exponential
//! backoff, and a source with `max_crashes` failures within
//! `crash_window_minutes` is disabled until pylantir restarts.

use crate::config::CrashLimits;
use crate::source::{SourceError, SourceErrorKind};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// When a crash-looping source is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashPolicy {
    /// Failures within `window` that disable the source (`max_crashes`, default 5).
    pub max_crashes: u32,
    /// `crash_window_minutes` (default 10).
    pub window: Duration,
}

impl Default for CrashPolicy {
    fn default() -> Self {
        CrashPolicy {
            max_crashes: 5,
            window: Duration::from_secs(600),
        }
    }
}

/// The longest wait between two worker starts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl CrashPolicy {
    /// The configured limits (validated by the configuration reader), each
    /// unset one falling back to `self`.
    pub fn with_limits(self, limits: &CrashLimits) -> CrashPolicy {
        CrashPolicy {
            max_crashes: limits.max_crashes.unwrap_or(self.max_crashes),
            window: limits.window.unwrap_or(self.window),
        }
    }
}

/// The failure history of one source.
#[derive(Debug)]
pub struct Health {
    policy: CrashPolicy,
    failures: VecDeque<Instant>,
    in_a_row: u32,
    disabled: Option<String>,
    audit: crate::audit::Audit,
}

impl Health {
    /// A source with no failures yet.
    pub fn new(policy: CrashPolicy) -> Health {
        Health {
            policy,
            failures: VecDeque::new(),
            in_a_row: 0,
            disabled: None,
            audit: crate::audit::Audit::off(),
        }
    }

    /// The same, recording its disabling in `audit`.
    pub fn audited(self, audit: crate::audit::Audit) -> Health {
        Health { audit, ..self }
    }

    /// Counts a worker failure of `source` (`reason` in words); disables the
    /// source when it reaches the policy's limit.
    pub fn record_failure(&mut self, source: &str, reason: &str) {
        let now = Instant::now();
        self.failures.push_back(now);
        self.in_a_row += 1;
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.policy.window)
        {
            self.failures.pop_front();
        }
        let count = self.failures.len();
        if self.disabled.is_none() && count >= self.policy.max_crashes as usize {
            let message = format!(
                "source '{source}' disabled after {count} worker failures within {} minutes (last: {reason}); fix the plugin, then restart pylantir",
                self.policy.window.as_secs_f64() / 60.0
            );
            log::error!("{message}");
            self.audit.source_disabled(source, &message);
            self.disabled = Some(message);
        }
    }

    /// A fetch succeeded: the backoff starts over.
    pub fn record_success(&mut self) {
        self.in_a_row = 0;
    }

    /// Why no worker may be started now: the source is disabled, or the
    /// backoff after failures in a row has not passed (the first restart is
    /// immediate, then 1 s, 2 s, 4 s ... up to a minute).
    pub fn may_start(&self) -> Result<(), SourceError> {
        if let Some(message) = &self.disabled {
            return Err(SourceError::new(SourceErrorKind::Disabled, message.clone()));
        }
        let (Some(last), Some(wait)) = (self.failures.back(), self.backoff()) else {
            return Ok(());
        };
        let elapsed = last.elapsed();
        if elapsed < wait {
            return Err(SourceError::new(
                SourceErrorKind::Crashed,
                format!(
                    "worker restart postponed for {:.1} s (backoff after {} failures in a row)",
                    (wait - elapsed).as_secs_f64(),
                    self.in_a_row
                ),
            ));
        }
        Ok(())
    }

    fn backoff(&self) -> Option<Duration> {
        (self.in_a_row >= 2).then(|| {
            Duration::from_secs(1)
                .saturating_mul(1 << (self.in_a_row - 2).min(16))
                .min(MAX_BACKOFF)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max: u32) -> CrashPolicy {
        CrashPolicy {
            max_crashes: max,
            window: Duration::from_secs(600),
        }
    }

    #[test]
    fn the_first_restart_is_immediate_the_second_waits() {
        let mut health = Health::new(policy(5));
        health.record_failure("s", "worker killed by SIGSEGV");
        assert_eq!(health.may_start(), Ok(()));
        health.record_failure("s", "worker killed by SIGSEGV");
        let wait = health.may_start().unwrap_err();
        assert_eq!(wait.kind, SourceErrorKind::Crashed);
        let wait = wait.message;
        assert!(wait.contains("backoff after 2 failures in a row"), "{wait}");
    }

    #[test]
    fn a_source_is_disabled_after_max_crashes_in_the_window() {
        let mut health = Health::new(policy(3));
        for _ in 0..3 {
            health.record_failure("ward", "worker exited with status 7");
        }
        let error = health.may_start().unwrap_err();
        assert_eq!(error.kind, SourceErrorKind::Disabled);
        assert_eq!(
            error.message,
            "source 'ward' disabled after 3 worker failures within 10 minutes (last: worker exited with status 7); fix the plugin, then restart pylantir"
        );
        health.record_success();
        assert_eq!(health.may_start(), Err(error));
    }

    #[test]
    fn a_success_resets_the_backoff() {
        let mut health = Health::new(policy(5));
        health.record_failure("s", "x");
        health.record_failure("s", "x");
        health.record_success();
        assert_eq!(health.may_start(), Ok(()));
    }

    #[test]
    fn a_source_overrides_the_top_level_limits() {
        let top = CrashPolicy::default().with_limits(&CrashLimits {
            max_crashes: Some(3),
            window: None,
        });
        let source = top.with_limits(&CrashLimits {
            max_crashes: None,
            window: Some(Duration::from_secs(30)),
        });
        assert_eq!(source.max_crashes, 3);
        assert_eq!(source.window, Duration::from_secs(30));
    }
}
