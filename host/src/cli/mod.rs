//! The command line: parses arguments, calls the library, maps errors to exit codes.
//!
//! Each command lives in its own file; this one holds the argument types and
//! the dispatch.

pub mod check_config;
pub mod migrate_config;
pub mod plugins;
pub mod query_db;
pub mod start;
pub mod table;

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
    /// Serve the worklist over DICOM and keep it in step with the configured sources.
    Start(start::StartArgs),
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
        Commands::Start(args) => start::run(&args),
        Commands::Plugins(command) => plugins::run(command),
        Commands::CheckConfig(args) => check_config::run(&args),
        Commands::MigrateConfig(args) => migrate_config::run(&args),
        Commands::QueryDb(args) => query_db::run(&args),
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
