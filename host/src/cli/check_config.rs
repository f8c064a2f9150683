//! `pylantir check-config`: validates a configuration with the code `start`
//! uses, prints every warning and a per-source summary (exit 0), or every
//! problem (exit 1). `--strict` also exits 1 on warnings.

use super::plugins::PluginDirArgs;
use super::table;
use crate::config;
use crate::isolation::{CrashPolicy, IsolatingFactory};
use crate::source::SourceFactory;
use clap::Args;
use std::path::PathBuf;

/// Options of `check-config`.
#[derive(Debug, Clone, Args)]
pub struct CheckConfigArgs {
    /// The configuration file (JSON).
    #[arg(
        long = "pylantir_config",
        visible_alias = "config",
        value_name = "FILE"
    )]
    pub config: PathBuf,
    /// Exit 1 on warnings too (entries with no effect, unknown keys).
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub dirs: PluginDirArgs,
}

/// Runs the check with the plugins found in `--plugin-dir`, the configured
/// `plugin_dirs` and the default places; returns the exit code.
pub fn run(args: &CheckConfigArgs) -> i32 {
    let document = match config::read(&args.config) {
        Ok(document) => document,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    let factory = match IsolatingFactory::discover(
        &args.dirs.dirs(&document.plugin_dirs()),
        args.dirs.load_options(),
        CrashPolicy::default().with_limits(&document.crash_limits()),
    ) {
        Ok(factory) => factory,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    let config = match config::check(&document, &factory) {
        Ok(config) => config,
        Err(problems) => {
            let error = config::ConfigError::Invalid {
                path: args.config.clone(),
                problems,
            };
            eprintln!("{error}");
            for conflict in factory.registry().conflicts() {
                eprintln!("  note: {conflict}");
            }
            for refusal in factory.registry().refusals() {
                eprintln!("  note: plugin refused: {refusal}");
            }
            return 1;
        }
    };
    for warning in &config.warnings {
        eprintln!("{}: {warning}", args.config.display());
    }
    // A PostgreSQL database is reached and its schema version read (nothing
    // is written); a SQLite file is created or migrated at start.
    if let crate::store::Location::Postgres(target) = &config.database {
        match target.check() {
            Ok(state) => println!("worklist database {target}: {state}"),
            Err(error) => {
                eprintln!("{}: {error}", args.config.display());
                return 1;
            }
        }
    }
    println!(
        "{}: valid; {} source(s), {} enabled; worklist database {}",
        args.config.display(),
        config.sources.len(),
        config.enabled_sources().count(),
        config.database
    );
    println!("{}", retention_line(&config.raw));
    let rows: Vec<Vec<String>> = config
        .sources
        .iter()
        .map(|source| {
            vec![
                source.name.clone(),
                source.source_type.clone(),
                factory
                    .plugin_file(&source.source_type)
                    .map_or_else(|| "-".to_string(), |p| p.display().to_string()),
                format!("{} s", source.sync_interval.as_secs_f64()),
                source.window.to_string(),
                if source.enabled { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        print!(
            "{}",
            table::render(
                &["NAME", "TYPE", "PLUGIN", "INTERVAL", "WINDOW", "ENABLED"],
                &rows
            )
        );
    }
    if args.strict && !config.warnings.is_empty() {
        eprintln!(
            "{}: {} warning(s); --strict refuses them",
            args.config.display(),
            config.warnings.len()
        );
        return 1;
    }
    0
}

/// What the configuration's `retention` deletes, in one line.
fn retention_line(raw: &serde_json::Map<String, serde_json::Value>) -> String {
    let Some(retention) = config::lifecycle::retention(raw).filter(|r| r.deletes_anything()) else {
        return "retention: not set; nothing is ever deleted from the worklist (as in Python \
                pylantir); add a `retention` object to expire old items"
            .to_string();
    };
    let days = |d: Option<std::time::Duration>| {
        d.map_or_else(
            || "kept".to_string(),
            |d| format!("{} days", d.as_secs_f64() / 86_400.0),
        )
    };
    format!(
        "retention: finished items {}, retracted items {}, past scheduled items {}, MPPS \
         instances {}; IN_PROGRESS items are never deleted",
        days(retention.finished),
        days(retention.retracted),
        days(retention.past_scheduled),
        days(retention.mpps)
    )
}
