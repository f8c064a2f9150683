//! `pylantir start`: loads the configuration and the plugins, validates every
//! source, starts the sync engine, the DICOM server and (with `api.enabled`)
//! the HTTP API, and runs until SIGINT or SIGTERM.

use super::plugins::PluginDirArgs;
use crate::audit::Audit;
use crate::config::{self, Config};
use crate::dicom::server::Server;
use crate::isolation::{CrashPolicy, IsolatingFactory};
use crate::source::SourceFactory;
use crate::store::Store;
use crate::sync::Engine;
use clap::Args;
use serde_json::Value;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::path::PathBuf;
use std::sync::Arc;

/// The configuration `start` reads when `--pylantir_config` is not given.
pub const DEFAULT_CONFIG: &str = "config/pylantir.json";

/// Options of `start` (Python pylantir's spellings, plus aliases).
#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// Address to listen on [config `ip`, else 0.0.0.0].
    #[arg(long)]
    pub ip: Option<String>,
    /// Port to listen on [config `port`, else 4242].
    #[arg(long)]
    pub port: Option<u16>,
    /// The server's AE title [config `ae_title`, else MWL_SERVER].
    #[arg(long = "AEtitle", visible_alias = "aetitle", value_name = "AET")]
    pub ae_title: Option<String>,
    /// The configuration file (JSON) [default: config/pylantir.json].
    #[arg(
        long = "pylantir_config",
        visible_alias = "config",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub plugins: PluginDirArgs,
}

/// Runs the server until SIGINT/SIGTERM; returns the exit code.
pub fn run(args: &StartArgs) -> i32 {
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let document = match config::read(&config_path) {
        Ok(document) => document,
        Err(error) => {
            log::error!("{error}");
            return 1;
        }
    };
    let audit = match config::audit::open(&document.raw, &document.path) {
        Ok(audit) => audit,
        Err(error) => {
            log::error!("{error}");
            return 1;
        }
    };
    let code = run_audited(args, &document, &audit);
    audit.close();
    code
}

/// [`run`] once the audit trail is open.
fn run_audited(args: &StartArgs, document: &config::Document, audit: &Audit) -> i32 {
    let config_path = &document.path;
    log::info!(
        "time zones: {}",
        pylantir_plugin_api::tz::database().describe()
    );
    let dirs = args.plugins.dirs(&document.plugin_dirs());
    let policy = CrashPolicy::default().with_limits(&document.crash_limits());
    let isolating = match IsolatingFactory::discover(&dirs, args.plugins.load_options(), policy) {
        Ok(factory) => factory.with_audit(audit.clone()),
        Err(error) => {
            log::error!("{error}");
            return 1;
        }
    };
    for refusal in isolating.registry().refusals() {
        log::warn!("plugin refused: {refusal}");
        audit.plugin_refused(&refusal.file, &refusal.reason);
    }
    let plugins = super::plugins::list_json(isolating.registry(), &dirs);
    let workers = isolating.workers().clone();
    let factory: Arc<dyn SourceFactory> = Arc::new(isolating);
    let config = match config::check(document, factory.as_ref()) {
        Ok(config) => config,
        Err(problems) => {
            let error = config::ConfigError::Invalid {
                path: config_path.clone(),
                problems,
            };
            log::error!("{error}");
            return 1;
        }
    };
    for warning in &config.warnings {
        log::warn!("{}: {warning}", config_path.display());
    }
    let served = serve(args, &config, factory, plugins, audit);
    workers.stop_all();
    match served {
        Ok(()) => 0,
        Err(message) => {
            log::error!("{message}");
            1
        }
    }
}

/// Starts the sync engine and the DICOM server and waits for a stop signal.
fn serve(
    args: &StartArgs,
    config: &Config,
    factory: Arc<dyn SourceFactory>,
    plugins: Value,
    audit: &Audit,
) -> Result<(), String> {
    let flags = config::server::Flags {
        ip: args.ip.clone(),
        port: args.port,
        ae_title: args.ae_title.clone(),
    };
    let options = config.server_options(&flags).map_err(|problems| {
        config::ConfigError::Invalid {
            path: config.path.clone(),
            problems,
        }
        .to_string()
    })?;

    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install the SIGINT/SIGTERM handler: {e}"))?;

    if config.sources.is_empty() {
        log::warn!("no data sources configured: serving the worklist database as it is");
    }
    let store = Store::open(config.database.clone()).map_err(|e| e.to_string())?;
    let write_back = crate::write_back::Delivery::start(config.enabled_sources(), &factory, &store)
        .map_err(|e| format!("cannot start the MPPS write-back: {e}"))?;
    let engine = Engine::start(config, &store, factory).map_err(|e| e.to_string())?;
    let housekeeping_stop = Arc::new(crate::sync::Stop::default());
    let housekeeping = match crate::config::lifecycle::retention(&config.raw) {
        Some(retention) if retention.deletes_anything() => Some(
            crate::housekeeping::spawn(store.clone(), retention, Arc::clone(&housekeeping_stop))
                .map_err(|e| format!("cannot start housekeeping: {e}"))?,
        ),
        _ => {
            log::info!("no retention configured: nothing is ever deleted from the worklist");
            None
        }
    };
    let api =
        super::start_api::with_start(config, &options, plugins, &store, audit, engine.run_now())?;
    let server =
        Server::bind_audited(options, store.clone(), audit.clone()).map_err(|e| e.to_string())?;
    let running = server
        .spawn()
        .map_err(|e| format!("cannot start the DICOM server: {e}"))?;
    log::info!("pylantir ready: worklist {}", store.location());

    // Blocks until a signal arrives (no polling delay).
    let signal = signals.forever().next().unwrap_or(SIGTERM);
    log::info!("stopping (signal {signal}): DICOM listener first, then the sync workers");
    if let Err(e) = running.stop() {
        log::warn!("DICOM server stopped with an error: {e}");
    }
    if let Some(api) = api {
        api.stop();
    }
    engine.stop();
    write_back.stop(std::time::Duration::from_secs(2));
    housekeeping_stop.raise();
    if housekeeping.is_some_and(|thread| thread.join().is_err()) {
        log::error!("housekeeping ended with a panic");
    }
    log::info!("stopped");
    Ok(())
}
