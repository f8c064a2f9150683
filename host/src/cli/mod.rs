//! The command line: parses arguments, calls the library, maps errors to exit codes.
//!
//! Each command lives in its own file; this one holds the argument types and
//! the dispatch.

pub mod check_config;
pub mod migrate_config;
pub mod plugin_worker;
pub mod plugins;
pub mod query_db;
pub mod start;
pub mod table;

use crate::isolation::process::WorkerCommand;
use crate::isolation::{probe_registry, CrashPolicy, IsolatingFactory};
use crate::loader::{plugin_dirs, LoadOptions, Registry};
use crate::source::SourceFactory;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

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
    /// Serve one plugin to the server over stdin/stdout (started by pylantir itself).
    #[command(hide = true)]
    PluginWorker(plugin_worker::PluginWorkerArgs),
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    if let Commands::PluginWorker(args) = &cli.command {
        return plugin_worker::run(args);
    }
    init_logging();
    match cli.command {
        Commands::Start(mut args) => {
            let config = args
                .config
                .get_or_insert_with(|| PathBuf::from(start::DEFAULT_CONFIG));
            *config = enter_config_dir(config, &mut args.plugins.plugin_dirs);
            start::run(&args)
        }
        Commands::Plugins(command) => plugins::run(command),
        Commands::CheckConfig(mut args) => {
            args.config = enter_config_dir(&args.config, &mut args.plugin_dirs);
            let cli_dirs = args.plugin_dirs.clone();
            check_config::run(&args, |config_dirs| load_plugins(&cli_dirs, config_dirs))
        }
        Commands::MigrateConfig(args) => migrate_config::run(&args),
        Commands::QueryDb(args) => query_db::run(&args),
        Commands::PluginWorker(args) => plugin_worker::run(&args),
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
    let options = LoadOptions::default();
    match WorkerCommand::current(options.allow_insecure) {
        Ok(command) => Box::new(IsolatingFactory::new(
            probe_registry(&command, &dirs),
            command,
            options,
            CrashPolicy::default(),
        )),
        Err(error) => {
            log::warn!("cannot find the pylantir binary for plugin workers ({error}); loading plugins in-process");
            Box::new(Registry::load(&dirs, &options))
        }
    }
}

/// Makes `config` and the `--plugin-dir` paths absolute, then changes the
/// working directory to the configuration file's directory, so that relative
/// paths inside the configuration (`db_path`, a CSV source's `file_path`, ...)
/// mean the same for the host and for every plugin. Returns the absolute
/// configuration path. When the directory cannot be entered, nothing changes
/// and the later read of the file reports the problem.
fn enter_config_dir(config: &Path, plugin_dirs: &mut [PathBuf]) -> PathBuf {
    let Ok(config) = std::path::absolute(config) else {
        return config.to_path_buf();
    };
    for dir in plugin_dirs.iter_mut() {
        if let Ok(absolute) = std::path::absolute(&*dir) {
            *dir = absolute;
        }
    }
    if let Some(parent) = config.parent() {
        if let Err(e) = std::env::set_current_dir(parent) {
            log::debug!("cannot enter {}: {e}", parent.display());
        }
    }
    config
}
