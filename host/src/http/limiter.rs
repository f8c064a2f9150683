//! Login rate limiting: failed logins are counted per client address and per
//! (address, username) over a sliding window; past the limit, logins from
//! there are answered 429 without checking the password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window failed logins are counted over.
pub const WINDOW: Duration = Duration::from_secs(300);
/// Failed logins allowed per (address, username) in the window.
pub const PER_USER: usize = 5;
/// Failed logins allowed per address in the window, whatever the username.
pub const PER_ADDRESS: usize = 20;
/// Keys kept before old ones are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    User(IpAddr, String),
}

/// The failed-login counters.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<Key, Vec<Instant>>>,
}

impl LoginLimiter {
    /// `Err(seconds to wait)` when `address` (or `address` + `username`) is
    /// over its limit.
    pub fn check(&self, address: IpAddr, username: &str) -> Result<(), u64> {
        let Ok(mut failures) = self.failures.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let mut wait = None;
        for (key, limit) in [
            (Key::Address(address), PER_ADDRESS),
            (Key::User(address, username.to_string()), PER_USER),
        ] {
            if let Some(times) = failures.get_mut(&key) {
                times.retain(|t| now.duration_since(*t) < WINDOW);
                if times.len() >= limit {
                    let oldest = times[times.len() - limit];
                    let left = WINDOW.saturating_sub(now.duration_since(oldest));
                    wait = wait.max(Some(left.as_secs().max(1)));
                }
            }
        }
        wait.map_or(Ok(()), Err)
    }

    /// Counts a failed login.
    pub fn failed(&self, address: IpAddr, username: &str) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        let now = Instant::now();
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < WINDOW));
        }
        for key in [
            Key::Address(address),
            Key::User(address, username.to_string()),
        ] {
            failures.entry(key).or_default().push(now);
        }
    }

    /// Forgets the failures of `username` from `address` after a good login.
    pub fn succeeded(&self, address: IpAddr, username: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&Key::User(address, username.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_refused_after_five_failures_from_one_address() {
        let limiter = LoginLimiter::default();
        let here: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..PER_USER {
            assert!(limiter.check(here, "admin").is_ok());
            limiter.failed(here, "admin");
        }
        assert!(limiter.check(here, "admin").is_err());
        assert!(limiter.check(here, "other").is_ok());
        assert!(limiter.check([127, 0, 0, 2].into(), "admin").is_ok());
    }
}
