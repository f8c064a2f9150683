//! The command line: parses arguments, calls the library, maps errors to exit codes.
//!
//! Each command lives in its own file; this one holds the argument types and
//! the dispatch.

pub mod api_config;
pub mod audit;
pub mod bench_find;
pub mod check_config;
pub mod echo;
pub mod explain;
pub mod housekeeping;
pub mod migrate_config;
pub mod migrate_db;
pub mod plugin_probe;
pub mod plugin_worker;
pub mod plugins;
pub mod plugins_install;
pub mod plugins_new;
pub mod plugins_test;
pub mod query_db;
pub mod query_db_write_back;
pub mod start;
pub mod start_api;
pub mod table;
pub mod test_client;
pub mod test_mpps;
pub mod user_admin;

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
    /// Copy a SQLite worklist (Python pylantir's or ours) into the configuration's PostgreSQL `db_url`.
    MigrateDb(migrate_db::MigrateDbArgs),
    /// Print the worklist database.
    QueryDb(query_db::QueryDbArgs),
    /// Delete what the `retention` configuration no longer keeps (or list it with --dry-run).
    Housekeeping(housekeeping::HousekeepingArgs),
    /// Query a worklist server with C-FIND and print what a scanner would see.
    TestClient(test_client::TestClientArgs),
    /// Send an MPPS N-CREATE or N-SET to a server.
    TestMpps(test_mpps::TestMppsArgs),
    /// Send a C-ECHO to a DICOM server.
    Echo(echo::EchoArgs),
    /// Serve the HTTP API alone (without DICOM or sync).
    StartApi(start_api::StartApiArgs),
    /// Set a user's password in the API users database; creates the admin if missing.
    AdminPassword(user_admin::AdminPasswordArgs),
    /// Add a user to the API users database.
    CreateUser(user_admin::CreateUserArgs),
    /// List the users of the API users database.
    ListUsers(user_admin::ListUsersArgs),
    /// Explain which items a C-FIND would return, and why others are not.
    Explain(explain::ExplainArgs),
    /// Who saw or changed a patient: the audit trail, filtered.
    Audit(audit::AuditArgs),
    /// Load-test a worklist server with concurrent C-FINDs.
    BenchFind(bench_find::BenchFindArgs),
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
            args.config = enter_config_dir(&args.config, &mut args.dirs.plugin_dirs);
            check_config::run(&args)
        }
        Commands::MigrateConfig(args) => migrate_config::run(&args),
        Commands::MigrateDb(args) => migrate_db::run(&args),
        Commands::QueryDb(args) => query_db::run(&args),
        Commands::Housekeeping(args) => housekeeping::run(&args),
        Commands::TestClient(args) => test_client::run(&args),
        Commands::TestMpps(args) => test_mpps::run(&args),
        Commands::Echo(args) => echo::run(&args),
        Commands::BenchFind(args) => bench_find::run(&args),
        Commands::StartApi(mut args) => {
            if let Some(config) = args.config.config.as_mut() {
                *config = enter_config_dir(config, &mut []);
            }
            start_api::run(&args)
        }
        Commands::Explain(args) => explain::run(&args),
        Commands::Audit(args) => audit::run(&args),
        Commands::AdminPassword(args) => user_admin::admin_password(&args),
        Commands::CreateUser(args) => user_admin::create_user(&args),
        Commands::ListUsers(args) => user_admin::list_users(&args),
        Commands::PluginWorker(args) => plugin_worker::run(&args),
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
