//! `pylantir start`: loads the configuration and the plugins, validates every
//! source, starts the sync engine, the DICOM server and (with `api.enabled`)
//! the HTTP API, and runs until SIGINT or SIGTERM.

use super::plugins::PluginDirArgs;
use crate::config::{self, Config};
use crate::dicom::server::Server;
use crate::dicom::ServerOptions;
use crate::isolation::{CrashPolicy, IsolatingFactory};
use crate::source::SourceFactory;
use crate::sync::Engine;
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

/// The DICOM server's options: listening address and AE title from the
/// flags, else the configuration's top-level `ip` / `port` / `ae_title`, else
/// Python pylantir's defaults; the rest from the configuration. Every problem
/// is reported, each with its key.
pub fn server_options(
    raw: &serde_json::Map<String, Value>,
    ip: Option<&str>,
    port: Option<u16>,
    ae_title: Option<&str>,
) -> Result<ServerOptions, Vec<String>> {
    let mut problems = Vec::new();
    let mut text_key = |key: &str| match raw.get(key) {
        None => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            problems.push(format!("{key}: expected a string, found {other}"));
            None
        }
    };
    let ip = ip.map(str::to_string).or_else(|| text_key("ip"));
    let ae_title = ae_title
        .map(str::to_string)
        .or_else(|| text_key("ae_title"));
    let port = port.or_else(|| {
        let value = raw.get("port")?;
        let port = value.as_u64().and_then(|p| u16::try_from(p).ok());
        if port.is_none() {
            problems.push(format!(
                "port: expected a port number 0-65535, found {value}"
            ));
        }
        port
    });
    let options = ServerOptions::from_config(
        &Value::Object(raw.clone()),
        ae_title.as_deref().unwrap_or("MWL_SERVER"),
        ip.as_deref().unwrap_or("0.0.0.0"),
        port.unwrap_or(4242),
    );
    match options {
        Ok(options) if problems.is_empty() => Ok(options),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
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
    let dirs = args.plugins.dirs(&document.plugin_dirs());
    let policy = CrashPolicy::default().with_keys(&document.raw, "configuration");
    let isolating = match IsolatingFactory::discover(&dirs, args.plugins.load_options(), policy) {
        Ok(factory) => factory,
        Err(error) => {
            log::error!("{error}");
            return 1;
        }
    };
    for refusal in isolating.registry().refusals() {
        log::warn!("plugin refused: {refusal}");
    }
    let plugins = super::plugins::list_json(isolating.registry(), &dirs);
    let workers = isolating.workers().clone();
    let factory: Arc<dyn SourceFactory> = Arc::new(isolating);
    let config = match config::check(&document, factory.as_ref()) {
        Ok(config) => config,
        Err(problems) => {
            let error = config::ConfigError::Invalid {
                path: config_path,
                problems,
            };
            log::error!("{error}");
            return 1;
        }
    };
    let served = serve(args, &config, factory, plugins);
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
) -> Result<(), String> {
    let options = server_options(
        &config.raw,
        args.ip.as_deref(),
        args.port,
        args.ae_title.as_deref(),
    )
    .map_err(|problems| {
        format!(
            "{}: invalid DICOM settings:\n  {}",
            config.path.display(),
            problems.join("\n  ")
        )
    })?;

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| format!("cannot install the handler for signal {signal}: {e}"))?;
    }

    if config.sources.is_empty() {
        log::warn!("no data sources configured: serving the worklist database as it is");
    }
    let engine = Engine::start(config, &config.db_path, factory).map_err(|e| e.to_string())?;
    let api = super::start_api::with_start(config, &options, plugins)?;
    let server = Server::bind(options, &config.db_path).map_err(|e| e.to_string())?;
    let running = server
        .spawn()
        .map_err(|e| format!("cannot start the DICOM server: {e}"))?;
    log::info!("pylantir ready: worklist {}", config.db_path.display());

    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    log::info!("stopping: DICOM listener first, then the sync workers");
    if let Err(e) = running.stop() {
        log::warn!("DICOM server stopped with an error: {e}");
    }
    if let Some(api) = api {
        api.stop();
    }
    engine.stop();
    log::info!("stopped");
    Ok(())
}
