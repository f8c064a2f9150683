//! `pylantir start-api`: serves the HTTP API alone (as Python pylantir's
//! `start-api` does), until SIGINT or SIGTERM.

use super::api_config::ApiConfigArgs;
use crate::config::Config;
use crate::dicom::ServerOptions;
use crate::http::{self, settings::ApiSettings, ApiServer};
use clap::Args;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Options of `start-api` (Python's spellings).
#[derive(Debug, Clone, Args)]
pub struct StartApiArgs {
    /// Address to listen on [config `api.host`, else 0.0.0.0].
    #[arg(long = "api-host", value_name = "ADDRESS")]
    pub host: Option<String>,
    /// Port to listen on [config `api.port`, else 8000].
    #[arg(long = "api-port", value_name = "PORT")]
    pub port: Option<u16>,
    #[command(flatten)]
    pub config: ApiConfigArgs,
}

/// Serves the API until a stop signal; returns the exit code.
pub fn run(args: &StartApiArgs) -> i32 {
    let mut settings = match args.config.settings() {
        Ok(settings) => settings,
        Err(message) => {
            log::error!("{message}");
            return 1;
        }
    };
    if let Some(host) = &args.host {
        settings.host = host.clone();
    }
    if let Some(port) = args.port {
        settings.port = port;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            log::error!("cannot install the handler for signal {signal}: {e}");
            return 1;
        }
    }
    let audit = match args.config.audit() {
        Ok(audit) => audit,
        Err(message) => {
            log::error!("{message}");
            return 1;
        }
    };
    let extras = http::Extras {
        dicom: args.config.dicom_options(),
        audit: audit.clone(),
        ..http::Extras::default()
    };
    let store = match args
        .config
        .database()
        .and_then(|location| crate::store::Store::open(location).map_err(|e| e.to_string()))
    {
        Ok(store) => store,
        Err(message) => {
            log::error!("{message}");
            return 1;
        }
    };
    let server = match http::start(settings, extras, store) {
        Ok(server) => server,
        Err(message) => {
            log::error!("{message}");
            audit.close();
            return 1;
        }
    };
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    log::info!("stopping the HTTP API");
    server.stop();
    audit.close();
    0
}

/// For `pylantir start`: serves the API too when the configuration's
/// `api.enabled` is true (on `api.host`:`api.port`), with the sources, the
/// plugins, the DICOM options and the sync engine of the running server.
pub fn with_start(
    config: &Config,
    dicom: &ServerOptions,
    plugins: serde_json::Value,
    store: &crate::store::Store,
    audit: &crate::audit::Audit,
    run_now: Arc<crate::sync::RunNow>,
) -> Result<Option<ApiServer>, String> {
    let settings = ApiSettings::from_config(&config.raw, &config.path, &config.db_path).map_err(
        |problems| {
            format!(
                "{}: invalid HTTP API settings:\n  {}",
                config.path.display(),
                problems.join("\n  ")
            )
        },
    )?;
    if !settings.enabled {
        return Ok(None);
    }
    let extras = http::Extras {
        dicom: Some(dicom.clone()),
        sources: Some(config.sources.clone()),
        plugins: Some(plugins),
        audit: audit.clone(),
        run_now: Some(run_now),
    };
    http::start(settings, extras, store.clone()).map(Some)
}
