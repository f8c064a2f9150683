//! Where plugin files are looked for, and which files in those directories
//! are plugin candidates.

use std::collections::HashMap;
use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::{Path, PathBuf};

/// The environment variable holding extra plugin directories, colon-separated.
pub const PLUGIN_PATH_ENV: &str = "PYLANTIR_PLUGIN_PATH";

/// The plugin directories in search order: `cli_dirs` (`--plugin-dir`), then
/// `config_dirs` (the configuration's `plugin_dirs`), then
/// `PYLANTIR_PLUGIN_PATH`, then the directory of the running binary.
pub fn plugin_dirs(cli_dirs: &[PathBuf], config_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let env_dirs: Vec<PathBuf> = std::env::var_os(PLUGIN_PATH_ENV)
        .map(|value| std::env::split_paths(&value).collect())
        .unwrap_or_default();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    cli_dirs
        .iter()
        .chain(config_dirs)
        .chain(&env_dirs)
        .chain(&exe_dir)
        .filter(|dir| !dir.as_os_str().is_empty())
        .cloned()
        .collect()
}

/// Whether a file name follows the plugin naming convention of this platform:
/// `libpylantir_*.so` (Linux), `libpylantir_*.dylib` (macOS), `pylantir_*.dll` (Windows).
pub fn is_plugin_file_name(name: &str) -> bool {
    name.strip_prefix(DLL_PREFIX)
        .and_then(|rest| rest.strip_prefix("pylantir_"))
        .and_then(|rest| rest.strip_suffix(DLL_SUFFIX))
        .is_some_and(|stem| !stem.is_empty())
}

/// The plugin files in `dirs`: per directory sorted by file name, directories
/// in the given order, no recursion. Like `PATH`, a file name found in an
/// earlier directory shadows the same name in later ones (so a `--plugin-dir`
/// copy of `libpylantir_csv.so` replaces the one next to the binary instead of
/// conflicting with it). A file reachable under several names
/// (symlinks, a directory listed twice) appears once, under its real name if
/// that is one of them, else under the first. Other files are skipped with a
/// debug line; a missing directory is skipped too. Dangling symlinks are kept,
/// so that loading them is refused with a message.
pub fn find_plugin_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                log::debug!("plugin directory {} skipped: {e}", dir.display());
                continue;
            }
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for path in names {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !is_plugin_file_name(name) {
                log::debug!("{} skipped: not a plugin file name", path.display());
            } else if let Some(earlier) = found.iter().find(|f| f.file_name() == path.file_name()) {
                log::debug!(
                    "{} skipped: shadowed by {}",
                    path.display(),
                    earlier.display()
                );
            } else {
                found.push(path);
            }
        }
    }
    deduplicate(found)
}

/// Keeps one path per canonical file, preferring a name that is not a symlink.
fn deduplicate(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut kept: Vec<PathBuf> = Vec::new();
    let mut by_target: HashMap<PathBuf, usize> = HashMap::new();
    for path in paths {
        let Ok(target) = std::fs::canonicalize(&path) else {
            kept.push(path);
            continue;
        };
        match by_target.get(&target) {
            None => {
                by_target.insert(target, kept.len());
                kept.push(path);
            }
            Some(&index) => {
                let previous = &kept[index];
                if is_symlink(previous) && !is_symlink(&path) {
                    log::debug!(
                        "{} is the same file as {}",
                        previous.display(),
                        path.display()
                    );
                    kept[index] = path;
                } else {
                    log::debug!(
                        "{} is the same file as {}",
                        path.display(),
                        previous.display()
                    );
                }
            }
        }
    }
    kept
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names_need_the_prefix_and_the_platform_suffix() {
        let name = |stem: &str| format!("{DLL_PREFIX}{stem}{DLL_SUFFIX}");
        assert!(is_plugin_file_name(&name("pylantir_csv")));
        assert!(!is_plugin_file_name(&name("csv")));
        assert!(!is_plugin_file_name(&name("pylantir_")));
        assert!(!is_plugin_file_name(&format!(
            "{}.tmp",
            name("pylantir_csv")
        )));
        assert!(!is_plugin_file_name("pylantir.json"));
    }

    #[test]
    fn directories_come_in_the_documented_order() {
        let dirs = plugin_dirs(&[PathBuf::from("/cli")], &[PathBuf::from("/config")]);
        assert_eq!(dirs[0], PathBuf::from("/cli"));
        assert_eq!(dirs[1], PathBuf::from("/config"));
        let exe_dir = std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        assert_eq!(dirs.last(), Some(&exe_dir));
    }
}
