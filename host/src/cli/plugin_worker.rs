//! `pylantir plugin-worker FILE` (hidden): serves one plugin to the server
//! over stdin/stdout; see [`crate::isolation`]. Started by pylantir itself.

use crate::isolation::serve;
use crate::loader::LoadOptions;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

/// Options of `plugin-worker`.
#[derive(Debug, Clone, Args)]
pub struct PluginWorkerArgs {
    /// The plugin file to load.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Load a plugin file that other users can write.
    #[arg(long)]
    pub allow_insecure_plugins: bool,
}

/// Serves the plugin until stdin closes; returns the exit code.
pub fn run(args: &PluginWorkerArgs) -> i32 {
    init_logging();
    let options = LoadOptions {
        allow_insecure: args.allow_insecure_plugins,
        // A panic here ends only this worker, which the server survives.
        allow_panic_abort: true,
    };
    serve::run(&args.file, &options)
}

/// Logs to stderr as `LEVEL target: message`; the server relays each line
/// at that level. `RUST_LOG`/`DEBUG` as for the server (it passes its environment).
fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("info");
    let mut builder = env_logger::Builder::from_env(env);
    if std::env::var_os("DEBUG").is_some() {
        builder.filter_level(log::LevelFilter::Debug);
    }
    builder
        .format(|out, record| {
            writeln!(
                out,
                "{} {}: {}",
                record.level(),
                record.target(),
                record.args()
            )
        })
        .init();
}
