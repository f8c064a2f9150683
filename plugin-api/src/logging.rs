//! The log bridge. A plugin has its own copy of the `log` crate, so without
//! this its records would go nowhere; [`install`] points them at the host's
//! sink with the plugin's name as target, and [`host_sink`] is the sink the
//! host hands out (it feeds the host's own logger). A host calling into an
//! in-process plugin names the source with [`with_source`], so the plugin's
//! lines carry the `[type:name]` prefix that worker processes' lines get.

use crate::ffi::{HostContext, HostLogFn};
use abi_stable::std_types::RStr;
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::cell::RefCell;
use std::sync::OnceLock;

struct Bridge {
    sink: HostLogFn,
    target: String,
}

static BRIDGE: OnceLock<Bridge> = OnceLock::new();

impl Log for Bridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let message = record.args().to_string();
            (self.sink)(
                level_to_u8(record.level()),
                RStr::from_str(&self.target),
                RStr::from_str(&message),
            );
        }
    }

    fn flush(&self) {}
}

/// Installs the bridge in the plugin (once; later calls change nothing).
pub fn install(ctx: &HostContext, plugin_name: &str) {
    let bridge = BRIDGE.get_or_init(|| Bridge {
        sink: ctx.log,
        target: plugin_name.to_string(),
    });
    if log::set_logger(bridge).is_ok() {
        log::set_max_level(filter_from_u8(ctx.max_level));
    }
}

/// `log::Level` as the number that crosses the boundary (1 = error .. 5 = trace).
pub fn level_to_u8(level: Level) -> u8 {
    level as usize as u8
}

/// The boundary number back to a level filter (0 or unknown = off).
pub fn filter_from_u8(level: u8) -> LevelFilter {
    match level {
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        5 => LevelFilter::Trace,
        _ => LevelFilter::Off,
    }
}

thread_local! {
    /// The source (`type:name`) this thread is calling into, host side.
    static SOURCE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Restores the previous source label when a [`with_source`] call ends.
struct SourceGuard(Option<String>);

impl Drop for SourceGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        SOURCE.with(|source| *source.borrow_mut() = previous);
    }
}

/// Host side: runs `f` (a call into an in-process plugin) with `label`
/// (`type:name`) as the source of the log records the plugin writes on this
/// thread meanwhile; [`host_sink`] prefixes them with `[label]`.
pub fn with_source<R>(label: &str, f: impl FnOnce() -> R) -> R {
    let previous = SOURCE.with(|source| source.replace(Some(label.to_string())));
    let _guard = SourceGuard(previous);
    f()
}

/// The host's sink: logs the record through the host's `log` logger, with
/// the plugin's name as target; inside [`with_source`] the message starts
/// with `[type:name]`, as the lines of a worker process do.
pub extern "C" fn host_sink(level: u8, target: RStr<'_>, message: RStr<'_>) {
    let level = match level {
        1 => Level::Error,
        2 => Level::Warn,
        3 => Level::Info,
        4 => Level::Debug,
        _ => Level::Trace,
    };
    SOURCE.with(|source| {
        let label = source.borrow();
        let prefix = label
            .as_deref()
            .map(|l| format!("[{l}] "))
            .unwrap_or_default();
        log::logger().log(
            &Record::builder()
                .level(level)
                .target(target.as_str())
                .args(format_args!("{prefix}{}", message.as_str()))
                .build(),
        );
    });
}
