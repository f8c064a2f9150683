//! The command line: parses arguments, calls the library, maps errors to exit codes.
//!
//! Each command lives in its own file; this one holds the argument types and
//! the dispatch.

pub mod plugins;

use clap::{Parser, Subcommand};

/// pylantir: a DICOM Modality Worklist and MPPS server fed by data-source plugins.
#[derive(Debug, Parser)]
#[command(name = "pylantir", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Commands {
    /// List or describe the data-source plugins.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    init_logging();
    let cli = Cli::parse();
    match cli.command {
        Commands::Plugins(command) => plugins::run(command),
    }
}

/// `DEBUG` set in the environment: debug level; otherwise `RUST_LOG`, or info.
fn init_logging() {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if std::env::var_os("DEBUG").is_some() {
        builder.filter_level(log::LevelFilter::Debug);
    }
    builder.init();
}
