//! `pylantir plugins test PATH_OR_TYPE --source-config FILE`: the plugin
//! author's inner loop without a server. Loads the plugin, checks the source
//! configuration the way `start` does (the plugin's `validate_config`
//! included), runs one fetch, prints the entries as the store would keep them
//! and every entry the store would reject, with the reason.

use super::plugin_probe;
use super::plugins::PluginDirArgs;
use super::table;
use crate::config::{self, Document, SourceConfig};
use crate::loader::{find_plugin_files, Registry};
use crate::source::SourceFactory;
use crate::sync::normalise::{label, normalise};
use crate::sync::schedule::OVERLAP;
use clap::Args;
use pylantir_plugin_api::{Entry, WORKLIST_FIELDS};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Options of `plugins test`.
#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// A plugin file, or a source type provided by a plugin in the plugin directories.
    #[arg(value_name = "PATH_OR_TYPE")]
    pub plugin: String,
    /// The source to test: one `data_sources` entry as a JSON file, or a
    /// whole configuration (its first source of the plugin's type is used).
    #[arg(long = "source-config", value_name = "FILE")]
    pub source_config: PathBuf,
    /// How far back the fetch looks, in seconds [default: the source's
    /// `sync_interval` + 300, as the sync loop asks].
    #[arg(long, value_name = "S")]
    pub interval: Option<f64>,
    #[command(flatten)]
    pub dirs: PluginDirArgs,
}

/// What one test run found.
#[derive(Debug, Default)]
struct Outcome {
    /// Entries the store would keep, normalised.
    accepted: Vec<(usize, crate::store::items::Item)>,
    /// Entries the store would reject: number, label, reason.
    rejected: Vec<(usize, String, String)>,
    /// Values the store would change or leave out: number, label, note.
    notes: Vec<(usize, String, String)>,
    /// Values the store would truncate: number, label, warning.
    warnings: Vec<(usize, String, String)>,
}

/// Runs `plugins test`; returns the exit code (0 when the fetch succeeded
/// and every entry would be stored).
pub fn run(args: &TestArgs) -> i32 {
    match test(args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(message) => {
            eprintln!("error: {message}");
            1
        }
    }
}

fn test(args: &TestArgs) -> Result<bool, String> {
    let options = args.dirs.load_options();
    let source_config = std::path::absolute(&args.source_config)
        .map_err(|e| format!("{}: {e}", args.source_config.display()))?;
    let (registry, wanted_type) = plugins(args)?;
    let raw = config::read_json(&source_config).map_err(|e| e.to_string())?;
    let source = pick_source(raw, &registry, wanted_type.as_deref(), &source_config)?;
    // Relative paths in the source's config mean what they mean to `start`:
    // relative to the configuration file's directory.
    if let Some(dir) = source_config.parent() {
        std::env::set_current_dir(dir)
            .map_err(|e| format!("cannot enter {}: {e}", dir.display()))?;
    }
    let factory = plugin_probe::factory(registry, &options)?;
    let source = check(&source_config, source, &factory)?;
    let plugin_file = factory
        .plugin_file(&source.source_type)
        .map_or_else(|| "-".to_string(), |p| p.display().to_string());
    println!(
        "source `{}` (type `{}`, plugin {plugin_file}): configuration accepted",
        source.name, source.source_type
    );

    let interval = args
        .interval
        .unwrap_or_else(|| (source.sync_interval + OVERLAP).as_secs_f64());
    let mut built = factory
        .create_for(&source)
        .map_err(|e| format!("cannot build source `{}`: {e}", source.name))?;
    let fetched = built
        .validate_config(&source.config)
        .and_then(|()| built.fetch(&source.field_mapping, interval));
    built.cleanup();
    let fetched = fetched.map_err(|e| format!("fetch failed: {e}"))?;
    let entries = &fetched.entries;
    println!("fetched {} entries (interval {interval} s)", entries.len());
    print!("{}", lifecycle_report(&fetched));
    let outcome = examine(entries);
    print!("{}", report(&outcome));
    Ok(outcome.rejected.is_empty())
}

/// What the fetch said beyond its entries: its complete window (what a
/// sync would retract against) and the records the plugin skipped.
fn lifecycle_report(fetched: &crate::source::Fetched) -> String {
    let mut text = match &fetched.complete_window {
        Some(window) => format!(
            "complete for {window}: a sync retracts this source's scheduled items there that were not returned\n"
        ),
        None => "no complete window: a sync retracts nothing\n".to_string(),
    };
    if fetched.skipped_count > 0 {
        text.push_str(&format!(
            "{} records skipped by the plugin:\n",
            fetched.skipped_count
        ));
        for skipped in &fetched.skipped {
            let id = skipped.record_id.as_deref().unwrap_or("-");
            text.push_str(&format!("  skipped {id}: {}\n", skipped.reason));
        }
    }
    for dropped in &fetched.dropped {
        let id = dropped.record_id.as_deref().unwrap_or("-");
        text.push_str(&format!("  dropped {id}: {}\n", dropped.reason));
    }
    text
}

/// The plugin registry to test with, and the source type asked for (when
/// PATH_OR_TYPE names a type rather than a file).
fn plugins(args: &TestArgs) -> Result<(Registry, Option<String>), String> {
    let options = args.dirs.load_options();
    let as_path = Path::new(&args.plugin);
    if as_path.exists()
        || args.plugin.contains('/')
        || args.plugin.ends_with(std::env::consts::DLL_SUFFIX)
    {
        let file =
            std::path::absolute(as_path).map_err(|e| format!("{}: {e}", as_path.display()))?;
        let registry = plugin_probe::registry(&[file], &options);
        if let Some(refusal) = registry.refusals().next() {
            return Err(format!("{refusal}; `pylantir start` would refuse it too"));
        }
        return Ok((registry, None));
    }
    let dirs = args.dirs.dirs(&[]);
    let registry = plugin_probe::registry(&find_plugin_files(&dirs), &options);
    registry.resolve(&args.plugin).map_err(|e| e.to_string())?;
    Ok((registry, Some(args.plugin.clone())))
}

/// The source object to test: the file itself, or the first source of a
/// whole configuration that the plugin can build. A missing `type` is the
/// plugin's (when it has one type).
fn pick_source(
    mut raw: Map<String, Value>,
    registry: &Registry,
    wanted_type: Option<&str>,
    path: &Path,
) -> Result<Map<String, Value>, String> {
    let types = registry.source_types();
    let provided = |t: &str| wanted_type.map_or(types.iter().any(|x| x == t), |w| w == t);
    if let Some(Value::Array(sources)) = raw.get("data_sources") {
        return sources
            .iter()
            .filter_map(Value::as_object)
            .find(|s| s.get("type").and_then(Value::as_str).is_some_and(provided))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "{} has no source of type {}",
                    path.display(),
                    wanted_type.map_or_else(|| types.join(" or "), str::to_string)
                )
            });
    }
    match raw.get("type").and_then(Value::as_str) {
        Some(t) if !provided(t) => Err(format!(
            "{}: type `{t}` is not provided by the plugin under test (it provides: {})",
            path.display(),
            types.join(", ")
        )),
        Some(_) => Ok(raw),
        None => {
            let only = match (wanted_type, types.as_slice()) {
                (Some(t), _) => t.to_string(),
                (None, [t]) => t.clone(),
                (None, _) => {
                    return Err(format!(
                        "{}: add a `type` (the plugin provides: {})",
                        path.display(),
                        types.join(", ")
                    ))
                }
            };
            raw.insert("type".to_string(), Value::String(only));
            Ok(raw)
        }
    }
}

/// Checks the source exactly as `start` checks a configuration (shape,
/// `field_mapping` targets, the plugin's `validate_config`).
fn check(
    path: &Path,
    mut source: Map<String, Value>,
    factory: &dyn SourceFactory,
) -> Result<SourceConfig, String> {
    source.insert("enabled".to_string(), Value::Bool(true));
    let mut raw = Map::new();
    raw.insert(
        "data_sources".to_string(),
        Value::Array(vec![Value::Object(source)]),
    );
    let document = Document {
        path: path.to_path_buf(),
        raw,
        legacy: false,
    };
    let config = config::check(&document, factory).map_err(|problems| {
        config::ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        }
        .to_string()
    })?;
    config
        .sources
        .into_iter()
        .next()
        .ok_or_else(|| format!("{}: no source to test", path.display()))
}

/// Passes every entry through the store's normalisation.
fn examine(entries: &[Entry]) -> Outcome {
    let mut outcome = Outcome::default();
    for (index, entry) in entries.iter().enumerate() {
        let number = index + 1;
        match normalise(entry) {
            Ok(normalised) => {
                for note in normalised.notes {
                    outcome.notes.push((number, label(entry), note));
                }
                for warning in normalised.warnings {
                    outcome.warnings.push((number, label(entry), warning));
                }
                outcome.accepted.push((number, normalised.item));
            }
            Err(reason) => outcome.rejected.push((number, label(entry), reason)),
        }
    }
    outcome
}

/// The accepted entries as a table (the fields any of them carries), then
/// the notes and the rejected entries.
fn report(outcome: &Outcome) -> String {
    let used: Vec<usize> = (0..WORKLIST_FIELDS.len())
        .filter(|&i| {
            outcome
                .accepted
                .iter()
                .any(|(_, item)| item.value(i).is_some())
        })
        .collect();
    let mut headers = vec!["#", "source_record_id"];
    headers.extend(used.iter().map(|&i| WORKLIST_FIELDS[i].0));
    let rows: Vec<Vec<String>> = outcome
        .accepted
        .iter()
        .map(|(number, item)| {
            let mut row = vec![
                number.to_string(),
                item.record_id.clone().unwrap_or_else(|| "-".to_string()),
            ];
            row.extend(
                used.iter()
                    .map(|&i| item.value(i).unwrap_or("-").to_string()),
            );
            row
        })
        .collect();
    let mut out = String::new();
    if !rows.is_empty() {
        out.push_str(&table::render(&headers, &rows));
    }
    for (number, label, note) in &outcome.notes {
        out.push_str(&format!("note: entry {number} ({label}): {note}\n"));
    }
    for (number, label, warning) in &outcome.warnings {
        out.push_str(&format!("warning: entry {number} ({label}): {warning}\n"));
    }
    out.push_str(&format!(
        "{} accepted, {} rejected\n",
        outcome.accepted.len(),
        outcome.rejected.len()
    ));
    for (number, label, reason) in &outcome.rejected {
        out.push_str(&format!("rejected: entry {number} ({label}): {reason}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries(value: Value) -> Vec<Entry> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn rejections_come_from_the_stores_normalisation_with_its_reason() {
        let outcome = examine(&entries(json!([
            {"patient_id": "P1", "scheduled_start_date": "20250307"},
            {"patient_name": "DOE^JANE", "source_record_id": "r2"},
            {"patient_id": "P3", "scheduled_start_date": "2025-02-30"},
            {"patient_id": "P4", "study_instance_uid": "1".repeat(65)},
            {"patient_id": "P5", "modality": "X".repeat(17)},
        ])));
        assert_eq!(outcome.accepted.len(), 2);
        assert_eq!(outcome.warnings.len(), 1);
        assert!(
            outcome.warnings[0].2.contains("truncated"),
            "{:?}",
            outcome.warnings
        );
        assert!(report(&outcome).contains("warning: entry 5 (patient_id \"P5\"): modality"));
        let reasons: Vec<&str> = outcome.rejected.iter().map(|r| r.2.as_str()).collect();
        assert_eq!(reasons[0], "no patient_id");
        assert!(reasons[1].starts_with("scheduled_start_date \"2025-02-30\" is not a date"));
        assert_eq!(
            reasons[2],
            "study_instance_uid is 65 characters long, more than the 64 allowed"
        );
        assert_eq!(outcome.rejected[0].1, "source_record_id \"r2\"");
    }

    #[test]
    fn the_table_shows_values_as_the_store_keeps_them() {
        let text = report(&examine(&entries(json!([
            {"patient_id": "P1", "scheduled_start_date": "20250307", "patient_sex": "female"},
        ]))));
        assert!(text.contains("2025-03-07"), "{text}");
        assert!(text.contains("  F"), "{text}");
        assert!(!text.contains("modality"), "{text}");
        assert!(text.ends_with("1 accepted, 0 rejected\n"), "{text}");
    }
}
