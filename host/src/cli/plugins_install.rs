//! `pylantir plugins install FILE`: checks a plugin as `start` would and
//! puts it into a plugin directory safely.
//!
//! The file is copied under a temporary name into the target directory
//! (mode 0755), probed there, and only then renamed over the final name. A
//! rename never touches the old file's contents, so a running pylantir that
//! has the old version loaded keeps working until it is restarted
//! (overwriting a loaded library in place crashes the process that has it).

use super::plugin_probe;
use super::plugins::{list_table, PluginDirArgs};
use crate::loader::discovery::is_plugin_file_name;
use crate::loader::{find_plugin_files, plugin_dirs, LoadOptions, ResolveError};
use clap::Args;
use std::path::{Path, PathBuf};

/// Options of `plugins install`.
#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// The plugin library to install, e.g. `target/release/libpylantir_clinic.so`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The plugin directory to install into [default: the first directory of
    /// PYLANTIR_PLUGIN_PATH, else the directory of the pylantir binary].
    #[arg(long = "plugin-dir", value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// Accept a plugin directory that other users can write.
    #[arg(long)]
    pub allow_insecure_plugins: bool,
}

/// Runs `plugins install`; returns the exit code.
pub fn run(args: &InstallArgs) -> i32 {
    match install(args) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("error: {message}");
            1
        }
    }
}

fn install(args: &InstallArgs) -> Result<(), String> {
    let options = PluginDirArgs {
        plugin_dirs: Vec::new(),
        allow_insecure_plugins: args.allow_insecure_plugins,
    }
    .load_options();
    let name = args
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| is_plugin_file_name(n))
        .ok_or_else(|| {
            format!(
                "{}: pylantir only loads files named {}pylantir_<name>{}; rename it",
                args.file.display(),
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            )
        })?
        .to_string();
    let dest_dir = match &args.plugin_dir {
        Some(dir) => dir.clone(),
        None => plugin_dirs(&[], &[])
            .into_iter()
            .next()
            .ok_or("no plugin directory known; pass --plugin-dir")?,
    };
    if !dest_dir.is_dir() {
        return Err(format!(
            "plugin directory {} does not exist; create it (owned by the account pylantir runs as, not writable by others)",
            dest_dir.display()
        ));
    }
    let dest_dir = std::path::absolute(&dest_dir).map_err(|e| e.to_string())?;
    let target = dest_dir.join(&name);
    let temp = dest_dir.join(format!(".{name}.install-{}", std::process::id()));
    copy(&args.file, &temp)?;
    let checked = check(&temp, &name, &dest_dir, &options);
    if let Err(message) = checked {
        let _ = std::fs::remove_file(&temp);
        return Err(message);
    }
    let replaced = target.exists();
    if let Err(e) = std::fs::rename(&temp, &target) {
        let _ = std::fs::remove_file(&temp);
        return Err(format!(
            "cannot rename {} to {}: {e}",
            temp.display(),
            target.display()
        ));
    }
    if replaced {
        println!(
            "installed {} (replacing the previous file; a running pylantir uses the new one after a restart)",
            target.display()
        );
    } else {
        println!("installed {}", target.display());
    }
    let searched = plugin_dirs(&[dest_dir], &[]);
    let registry = plugin_probe::registry(&find_plugin_files(&searched), &options);
    print!("\n{}", list_table(&registry, &searched));
    Ok(())
}

/// Copies `from` to `to` with mode 0755 and flushes it to disk.
fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot set the mode of {}: {e}", to.display()))?;
    }
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot flush {}: {e}", to.display()))
}

/// Whether `start` would load the file at `temp` (to be installed as `name`
/// in `dest_dir`): it loads, and no other plugin already provides one of its types.
fn check(temp: &Path, name: &str, dest_dir: &Path, options: &LoadOptions) -> Result<(), String> {
    let plugin = plugin_probe::probe(temp, options)
        .map_err(|refusal| format!("{name} refused: {}", refusal.reason))?;
    let others: Vec<PathBuf> = find_plugin_files(&plugin_dirs(&[dest_dir.to_path_buf()], &[]))
        .into_iter()
        .filter(|f| f.file_name() != Some(name.as_ref()))
        .collect();
    let registry = plugin_probe::registry(&others, options);
    for source_type in &plugin.info().source_types {
        let holders = match registry.resolve(&source_type.name) {
            Ok(other) => vec![other.file().to_path_buf()],
            Err(ResolveError::Conflict { files, .. }) => files,
            Err(ResolveError::Unknown { .. }) => continue,
        };
        let holders: Vec<String> = holders.iter().map(|f| f.display().to_string()).collect();
        return Err(format!(
            "{name} refused: source type `{}` is already provided by {}; a type provided twice cannot start. Remove that plugin first, or install this one under its file name to replace it",
            source_type.name,
            holders.join(" and ")
        ));
    }
    Ok(())
}
