//! Plugin isolation: running a plugin in a worker process of its own, so
//! that an abort, a segfault, `exit`, a stack overflow or a hang in a plugin
//! ends only that worker, never the worklist server.
//!
//! It sits above [`crate::loader`] (the worker loads the plugin with the
//! same loader) and joins it with the configuration (`isolation`,
//! `fetch_timeout`, crash limits) and child processes, hence a module of its own.
//!
//! - [`protocol`]: the newline-delimited JSON spoken on the worker's stdin/stdout.
//! - [`serve`]: the worker side (`pylantir plugin-worker FILE`).
//! - [`process`]: one worker process seen from the host: spawn, requests
//!   with deadlines, exit status in words, shutdown.
//! - [`source`]: [`WorkerSource`], a source in a worker behind [`crate::source::DataSource`].
//! - [`health`]: crash counting, restart backoff and disabling a crash-looping source.
//! - [`journal`]: disabled sources as `sync_runs` records them (for `query-db`).
//! - [`factory`]: [`IsolatingFactory`], building each source in a worker or
//!   in-process as configured.
//! - [`probe`]: loading a plugin in a short-lived worker to describe it.

pub mod factory;
pub mod health;
pub mod journal;
pub mod probe;
pub mod process;
pub mod protocol;
pub mod serve;
pub mod source;

pub use factory::IsolatingFactory;
pub use health::CrashPolicy;
pub use probe::{probe_plugin, probe_registry};
pub use process::Workers;
pub use source::WorkerSource;
