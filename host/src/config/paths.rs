//! Paths in the configuration: `~` expansion, relative to the file's directory.

use std::path::{Path, PathBuf};

/// Expands a leading `~` (or `~/`) to the home directory (`HOME`).
pub fn expand_home(text: &str) -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match (text.strip_prefix('~'), home) {
        (Some(""), Some(home)) => home,
        (Some(rest), Some(home)) if rest.starts_with('/') => home.join(&rest[1..]),
        _ => PathBuf::from(text),
    }
}

/// Resolves a path written in the configuration file `config_path`: `~`
/// expanded, a relative path taken from the file's directory.
pub fn resolve(config_path: &Path, text: &str) -> PathBuf {
    let path = expand_home(text);
    if path.is_absolute() {
        return path;
    }
    match config_path.parent() {
        Some(dir) => dir.join(path),
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_path_is_taken_from_the_config_directory() {
        let resolved = resolve(Path::new("/etc/pylantir/cfg.json"), "db/worklist.db");
        assert_eq!(resolved, PathBuf::from("/etc/pylantir/db/worklist.db"));
    }

    #[test]
    fn an_absolute_path_is_kept() {
        let resolved = resolve(Path::new("/etc/pylantir/cfg.json"), "/var/worklist.db");
        assert_eq!(resolved, PathBuf::from("/var/worklist.db"));
    }

    #[test]
    fn a_tilde_is_the_home_directory() {
        let home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
        let resolved = resolve(Path::new("cfg.json"), "~/Desktop/worklist.db");
        assert_eq!(resolved, home.join("Desktop/worklist.db"));
    }
}
