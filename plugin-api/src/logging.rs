//! The log bridge. A plugin has its own copy of the `log` crate, so without
//! this its records would go nowhere; [`install`] points them at the host's
//! sink with the plugin's name as target, and [`host_sink`] is the sink the
//! host hands out (it feeds the host's own logger).

use crate::ffi::{HostContext, HostLogFn};
use abi_stable::std_types::RStr;
use log::{Level, LevelFilter, Log, Metadata, Record};
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

/// The host's sink: logs the record through the host's `log` logger.
pub extern "C" fn host_sink(level: u8, target: RStr<'_>, message: RStr<'_>) {
    let level = match level {
        1 => Level::Error,
        2 => Level::Warn,
        3 => Level::Info,
        4 => Level::Debug,
        _ => Level::Trace,
    };
    log::logger().log(
        &Record::builder()
            .level(level)
            .target(target.as_str())
            .args(format_args!("{}", message.as_str()))
            .build(),
    );
}
