//! Which connections the server keeps, against floods and for a quick stop:
//! a cap on the connections open from one remote address
//! (`max_connections_per_address`), a deadline for association negotiation
//! (`acse_timeout`, enforced by a watchdog that closes connections still
//! negotiating past it, however slowly they send), and closing every
//! connection when the server stops.

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The open connections of a server, by remote address and by stage.
pub struct Admission {
    per_address: usize,
    deadline: Duration,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    addresses: HashMap<IpAddr, Address>,
    watched: HashMap<u64, Watched>,
    next_id: u64,
    stopped: bool,
}

/// The connections of one remote address.
#[derive(Default)]
struct Address {
    open: usize,
    /// Connections refused since the address last had none open.
    refused: u64,
}

struct Watched {
    stream: TcpStream,
    peer: SocketAddr,
    /// When negotiation must be over; `None` once the association is established.
    due: Option<Instant>,
}

/// One admitted connection: it counts against its address until dropped.
pub struct Admitted {
    admission: Arc<Admission>,
    ip: IpAddr,
}

/// A connection that the watchdog and [`Admission::stop`] can close;
/// forgotten when dropped.
pub struct Watch<'a> {
    admission: &'a Admission,
    id: Option<u64>,
}

impl Admission {
    /// At most `per_address` connections per remote address; negotiation
    /// must be over within `deadline`.
    pub fn new(per_address: usize, deadline: Duration) -> Arc<Admission> {
        Arc::new(Admission {
            per_address,
            deadline,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a new connection from `ip`; `None` when that address already
    /// has its `max_connections_per_address` open (a warning is logged for
    /// the first one refused).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let mut state = self.lock();
        let address = state.addresses.entry(ip).or_default();
        if address.open >= self.per_address {
            address.refused += 1;
            if address.refused == 1 {
                log::warn!(
                    "closing new connections from {ip}: {} already open (max_connections_per_address)",
                    address.open
                );
            }
            return None;
        }
        address.open += 1;
        Some(Admitted {
            admission: Arc::clone(self),
            ip,
        })
    }

    /// Puts `stream` under the negotiation deadline, counted from now.
    pub fn watch(&self, stream: &TcpStream, peer: SocketAddr) -> Watch<'_> {
        let stream = match stream.try_clone() {
            Ok(stream) => stream,
            Err(e) => {
                // Only the socket's own read timeout bounds this one.
                log::warn!("cannot watch the connection from {peer}: {e}");
                return Watch {
                    admission: self,
                    id: None,
                };
            }
        };
        let mut state = self.lock();
        if state.stopped {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let id = state.next_id;
        state.next_id += 1;
        state.watched.insert(
            id,
            Watched {
                stream,
                peer,
                due: Some(Instant::now() + self.deadline),
            },
        );
        self.wake.notify_all();
        Watch {
            admission: self,
            id: Some(id),
        }
    }

    /// Closes the connections still negotiating past their deadline, until
    /// [`Admission::stop`].
    pub fn run_watchdog(&self) {
        let mut state = self.lock();
        while !state.stopped {
            let now = Instant::now();
            let deadline = self.deadline;
            state.watched.retain(|_, w| match w.due {
                Some(due) if due <= now => {
                    log::info!(
                        "closing the connection from {}: no association within {} s (acse_timeout)",
                        w.peer,
                        deadline.as_secs_f64()
                    );
                    let _ = w.stream.shutdown(Shutdown::Both);
                    false
                }
                _ => true,
            });
            let next = state.watched.values().filter_map(|w| w.due).min();
            state = match next {
                Some(due) => {
                    let wait = due.saturating_duration_since(now);
                    match self.wake.wait_timeout(state, wait) {
                        Ok((guard, _)) => guard,
                        Err(e) => e.into_inner().0,
                    }
                }
                None => self.wake.wait(state).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    /// Ends the watchdog and closes every watched connection: those still
    /// negotiating at once, established ones for reading (an answer being
    /// sent is finished; the next receive ends the association).
    pub fn stop(&self) {
        let mut state = self.lock();
        state.stopped = true;
        for w in state.watched.values() {
            let how = if w.due.is_some() {
                Shutdown::Both
            } else {
                Shutdown::Read
            };
            let _ = w.stream.shutdown(how);
        }
        self.wake.notify_all();
    }

    /// Whether [`Admission::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }
}

impl Watch<'_> {
    /// The association is established: the deadline no longer applies.
    pub fn established(&self) {
        if let Some(id) = self.id {
            let mut state = self.admission.lock();
            if let Some(w) = state.watched.get_mut(&id) {
                w.due = None;
            }
        }
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.admission.lock().watched.remove(&id);
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut state = self.admission.lock();
        let Some(address) = state.addresses.get_mut(&self.ip) else {
            return;
        };
        address.open = address.open.saturating_sub(1);
        if address.open == 0 {
            if address.refused > 0 {
                log::warn!(
                    "{} connection(s) from {} were closed at once over max_connections_per_address",
                    address.refused,
                    self.ip
                );
            }
            state.addresses.remove(&self.ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn an_address_at_its_cap_is_refused_while_others_are_admitted() {
        let admission = Admission::new(2, Duration::from_secs(5));
        let flood = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        let first = admission.admit(flood).expect("first");
        let _second = admission.admit(flood).expect("second");
        assert!(admission.admit(flood).is_none());
        assert!(admission.admit(IpAddr::V4(Ipv4Addr::LOCALHOST)).is_some());
        drop(first);
        assert!(admission.admit(flood).is_some());
    }
}
