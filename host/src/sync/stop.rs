//! The stop signal shared by the engine and its workers, and the workers'
//! store connections, interrupted when a write outlives the stop's grace.

use crate::store::pool::Interrupt;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A flag that, once raised, wakes every waiting worker.
#[derive(Default)]
pub struct Stop {
    raised: Mutex<bool>,
    wake: Condvar,
    writers: Mutex<Vec<Interrupt>>,
}

impl Stop {
    /// Raises the flag and wakes the waiters.
    pub fn raise(&self) {
        let mut raised = self.raised.lock().unwrap_or_else(|e| e.into_inner());
        *raised = true;
        self.wake.notify_all();
    }

    /// Whether the flag is raised.
    pub fn is_raised(&self) -> bool {
        *self.raised.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits up to `timeout`; returns true if the flag is (or gets) raised.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut raised = self.raised.lock().unwrap_or_else(|e| e.into_inner());
        while !*raised {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            raised = match self.wake.wait_timeout(raised, left) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
        *raised
    }

    /// Registers a worker's store connection for [`Stop::interrupt_writers`].
    pub fn register_writer(&self, handle: Interrupt) {
        self.writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    /// Interrupts the statements running on the workers' connections: a
    /// write in progress fails and its transaction is rolled back.
    pub fn interrupt_writers(&self) {
        for handle in self
            .writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            handle.interrupt();
        }
    }
}
