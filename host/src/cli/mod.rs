//! The command line: parses arguments, calls the library, maps errors to exit codes.
//!
//! Each command lives in its own file; this one holds the argument types and
//! the dispatch.

pub mod check_config;
pub mod migrate_config;
pub mod plugins;
pub mod query_db;
pub mod table;

use crate::loader::{plugin_dirs, LoadOptions, Registry};
use crate::source::SourceFactory;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    /// Validate a configuration file as `start` would; print its sources or its problems.
    CheckConfig(check_config::CheckConfigArgs),
    /// Rewrite a legacy (`redcap2wl`) configuration in the `data_sources` format.
    MigrateConfig(migrate_config::MigrateConfigArgs),
    /// Print the worklist database.
    QueryDb(query_db::QueryDbArgs),
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    init_logging();
    let cli = Cli::parse();
    match cli.command {
        Commands::Plugins(command) => plugins::run(command),
        Commands::CheckConfig(args) => {
            let cli_dirs = args.plugin_dirs.clone();
            check_config::run(&args, |config_dirs| load_plugins(&cli_dirs, config_dirs))
        }
        Commands::MigrateConfig(args) => migrate_config::run(&args),
        Commands::QueryDb(args) => query_db::run(&args),
    }
}

/// `DEBUG` set in the environment: debug level; otherwise `RUST_LOG`, or info.
fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("info");
    let mut builder = env_logger::Builder::from_env(env);
    if std::env::var_os("DEBUG").is_some() {
        builder.filter_level(log::LevelFilter::Debug);
    }
    builder.init();
}

/// The plugins found in the `--plugin-dir` directories, then the configured
/// ones, `PYLANTIR_PLUGIN_PATH` and the binary's directory.
fn load_plugins(cli_dirs: &[PathBuf], config_dirs: &[PathBuf]) -> Box<dyn SourceFactory> {
    let dirs = plugin_dirs(cli_dirs, config_dirs);
    Box::new(Registry::load(&dirs, &LoadOptions::default()))
}
