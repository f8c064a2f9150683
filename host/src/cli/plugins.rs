//! `pylantir plugins list` and `pylantir plugins info TYPE`.

use crate::isolation::process::WorkerCommand;
use crate::isolation::{journal, probe_registry};
use crate::loader::{plugin_dirs, LoadOptions, PluginEntry, PluginStatus, Registry};
use crate::store::runs;
use clap::{Args, Subcommand};
use pylantir_plugin_api::API_VERSION;
use serde_json::{json, Value};
use std::path::PathBuf;

/// The status of a plugin built with `panic = "abort"`: a worker runs it,
/// but `"isolation": "in-process"` refuses it.
const WORKER_ONLY: &str =
    "loaded (built with panic = \"abort\": runs only with \"isolation\": \"process\")";

/// Where plugins are loaded from; shared by every command that loads plugins.
#[derive(Debug, Clone, Args)]
pub struct PluginDirArgs {
    /// A directory to load plugins from, searched before the configured ones (repeatable).
    #[arg(long = "plugin-dir", value_name = "DIR")]
    pub plugin_dirs: Vec<PathBuf>,
    /// Load plugin files and directories that other users can write.
    #[arg(long)]
    pub allow_insecure_plugins: bool,
}

impl PluginDirArgs {
    /// The plugin directories in search order, with `config_dirs` from the configuration.
    pub fn dirs(&self, config_dirs: &[PathBuf]) -> Vec<PathBuf> {
        plugin_dirs(&self.plugin_dirs, config_dirs)
    }

    /// The load options these flags ask for.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            allow_insecure: self.allow_insecure_plugins,
            ..LoadOptions::default()
        }
    }
}

/// The `plugins` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Show every plugin found, the source types it provides and whether it loaded.
    /// Exits 1 when a plugin was refused or a type is provided twice.
    List {
        #[command(flatten)]
        dirs: PluginDirArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also search this configuration's `plugin_dirs`, and report its
        /// sources that the server disabled for crashing (from `sync_runs`).
        #[arg(
            long = "pylantir_config",
            visible_alias = "config",
            value_name = "FILE"
        )]
        config: Option<PathBuf>,
    },
    /// Show one source type's description and config schema.
    Info {
        /// The source `type`, as written in the configuration.
        #[arg(value_name = "TYPE")]
        source_type: String,
        #[command(flatten)]
        dirs: PluginDirArgs,
    },
    /// Write a ready-to-build plugin crate (same shape as examples/minimal-plugin).
    New(super::plugins_new::NewArgs),
    /// Load a plugin, check a source configuration with it, run one fetch and
    /// show the entries and every one the store would reject.
    Test(super::plugins_test::TestArgs),
    /// Check a plugin as `start` would and copy it into a plugin directory safely.
    Install(super::plugins_install::InstallArgs),
}

/// Runs a `plugins` subcommand; returns the exit code.
pub fn run(command: PluginsCommand) -> i32 {
    match command {
        PluginsCommand::List { dirs, json, config } => {
            let document = match config.as_deref().map(crate::config::read).transpose() {
                Ok(document) => document,
                Err(error) => {
                    eprintln!("error: {error}");
                    return 1;
                }
            };
            let config_dirs = document
                .as_ref()
                .map(|d| d.plugin_dirs())
                .unwrap_or_default();
            let searched = dirs.dirs(&config_dirs);
            let registry = probed(&searched, &dirs);
            let disabled = document.as_ref().map(disabled_sources).unwrap_or_default();
            if json {
                let mut document = list_json(&registry, &searched);
                document["disabled_sources"] = disabled
                    .iter()
                    .map(|(source, reason)| json!({"source": source, "reason": reason}))
                    .collect();
                println!("{document:#}");
            } else {
                print!("{}", list_table(&registry, &searched));
                for (source, reason) in &disabled {
                    println!("data source `{source}`: {reason}");
                }
            }
            if registry.all_usable() && disabled.is_empty() {
                0
            } else {
                1
            }
        }
        PluginsCommand::Info { source_type, dirs } => {
            let registry = probed(&dirs.dirs(&[]), &dirs);
            match info_text(&registry, &source_type) {
                Ok(text) => {
                    print!("{text}");
                    0
                }
                Err(message) => {
                    eprintln!("error: {message}");
                    1
                }
            }
        }
        PluginsCommand::New(args) => super::plugins_new::run(&args),
        PluginsCommand::Test(args) => super::plugins_test::run(&args),
        PluginsCommand::Install(args) => super::plugins_install::run(&args),
    }
}

/// The configuration's sources that the server disabled, as `sync_runs` says
/// (none when the database does not exist yet).
fn disabled_sources(document: &crate::config::Document) -> Vec<(String, String)> {
    let Ok(location) = document.database() else {
        return Vec::new();
    };
    if matches!(&location, crate::store::Location::Sqlite(path) if !path.exists()) {
        return Vec::new();
    }
    let disabled = crate::store::Store::open_existing(location).and_then(|store| {
        let conn = store.get()?;
        runs::last_errors_containing(&*conn, journal::DISABLED_MARK)
            .map_err(|e| crate::store::StoreError::database(store.location(), e))
    });
    match disabled {
        Ok(found) => found,
        Err(error) => {
            eprintln!("warning: {error}");
            Vec::new()
        }
    }
}

/// The plugins in `searched`, each loaded in a short-lived worker so that a
/// damaged or hostile file cannot crash the listing.
fn probed(searched: &[PathBuf], dirs: &PluginDirArgs) -> Registry {
    match WorkerCommand::current(dirs.allow_insecure_plugins) {
        Ok(command) => probe_registry(&command, searched),
        Err(error) => {
            log::warn!("cannot find the pylantir binary for plugin workers ({error}); loading plugins in-process");
            Registry::load(searched, &dirs.load_options())
        }
    }
}

/// One table row: type, plugin, version, api, file, status.
fn rows(registry: &Registry, entry: &PluginEntry) -> Vec<[String; 6]> {
    let file = entry.file.display().to_string();
    match &entry.status {
        PluginStatus::Loaded(plugin) => {
            let info = plugin.info();
            info.source_types
                .iter()
                .map(|t| {
                    let others = registry.conflicting_files(&t.name, &entry.file);
                    let status = if !others.is_empty() {
                        format!("conflict: type also provided by {}", join_paths(&others))
                    } else if info.panic_unwind {
                        "loaded".to_string()
                    } else {
                        WORKER_ONLY.to_string()
                    };
                    [
                        t.name.clone(),
                        info.plugin_name.clone(),
                        info.plugin_version.clone(),
                        info.api_version.clone(),
                        file.clone(),
                        status,
                    ]
                })
                .collect()
        }
        PluginStatus::Refused(refusal) => {
            let dash = || "-".to_string();
            let info = refusal.info.as_ref();
            vec![[
                info.map(|i| {
                    i.source_types
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|t| !t.is_empty())
                .unwrap_or_else(dash),
                info.map(|i| i.plugin_name.clone()).unwrap_or_else(dash),
                info.map(|i| i.plugin_version.clone()).unwrap_or_else(dash),
                info.map(|i| i.api_version.clone()).unwrap_or_else(dash),
                file,
                format!("refused: {}", refusal.reason),
            ]]
        }
    }
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `plugins list` table.
pub(crate) fn list_table(registry: &Registry, searched: &[PathBuf]) -> String {
    let header = ["TYPE", "PLUGIN", "VERSION", "API", "FILE", "STATUS"].map(String::from);
    let body: Vec<[String; 6]> = registry
        .entries()
        .iter()
        .flat_map(|entry| rows(registry, entry))
        .collect();
    if body.is_empty() {
        return format!("no plugins found in: {}\n", join_paths(searched));
    }
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&body) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&body) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The `plugins list --json` document.
pub fn list_json(registry: &Registry, searched: &[PathBuf]) -> Value {
    let plugins: Vec<Value> = registry
        .entries()
        .iter()
        .map(|entry| {
            let (status, reason, info) = match &entry.status {
                PluginStatus::Loaded(plugin) => {
                    let conflict = plugin
                        .info()
                        .source_types
                        .iter()
                        .any(|t| !registry.conflicting_files(&t.name, &entry.file).is_empty());
                    let status = if conflict { "conflict" } else { "loaded" };
                    (status, None, Some(plugin.info().clone()))
                }
                PluginStatus::Refused(r) => (
                    "refused",
                    Some(r.reason.clone()),
                    r.info.as_deref().cloned(),
                ),
            };
            let source_types: Vec<Value> = info
                .iter()
                .flat_map(|i| &i.source_types)
                .map(|t| {
                    json!({
                        "name": t.name,
                        "description": t.description,
                        "conflicts_with": registry.conflicting_files(&t.name, &entry.file),
                    })
                })
                .collect();
            json!({
                "file": entry.file,
                "status": status,
                "reason": reason,
                "plugin_name": info.as_ref().map(|i| &i.plugin_name),
                "plugin_version": info.as_ref().map(|i| &i.plugin_version),
                "api_version": info.as_ref().map(|i| &i.api_version),
                "rustc_version": info.as_ref().map(|i| &i.rustc_version),
                "panic_unwind": info.as_ref().map(|i| i.panic_unwind),
                "source_types": source_types,
            })
        })
        .collect();
    json!({
        "host_api_version": API_VERSION,
        "plugin_dirs": searched,
        "plugins": plugins,
    })
}

/// The `plugins info TYPE` text.
fn info_text(registry: &Registry, source_type: &str) -> Result<String, String> {
    let plugin = registry.resolve(source_type).map_err(|e| e.to_string())?;
    let info = plugin.info();
    let type_info = info
        .source_types
        .iter()
        .find(|t| t.name == source_type)
        .ok_or_else(|| format!("plugin {} lost type '{source_type}'", info.plugin_name))?;
    let schema = match &type_info.config_schema {
        Some(schema) => format!("{schema:#}"),
        None => "(the plugin publishes no config schema)".to_string(),
    };
    Ok(format!(
        "type:        {}\ndescription: {}\nplugin:      {} {} (plugin-api {})\nfile:        {}\nconfig schema:\n{schema}\n",
        type_info.name,
        type_info.description,
        info.plugin_name,
        info.plugin_version,
        info.api_version,
        plugin.file().display(),
    ))
}
