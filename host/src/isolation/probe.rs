//! Describing plugin files by loading each in a short-lived worker, so that a
//! truncated or hostile library kills only that worker ("worker died: SIGBUS
//! while loading") and never the command that lists or uses the plugins.

use super::process::{WorkerCommand, WorkerProcess, Workers};
use crate::loader::{find_plugin_files, LoadedPlugin, Refusal, Registry};
use std::path::{Path, PathBuf};

/// Loads `file` in a worker and returns its description (not loaded here),
/// or why the worker refused it or died.
pub fn probe_plugin(command: &WorkerCommand, file: &Path) -> Result<LoadedPlugin, Refusal> {
    let name = file.file_stem().map_or_else(
        || file.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    match WorkerProcess::spawn(command, file, &name, &Workers::default()) {
        Ok(mut worker) => {
            let plugin = LoadedPlugin::described(file, worker.info().clone());
            worker.stop();
            Ok(plugin)
        }
        Err(error) => Err(Refusal {
            file: file.to_path_buf(),
            reason: error.message,
            info: error.info,
        }),
    }
}

/// The plugins found in `dirs`, each described by a worker.
pub fn probe_registry(command: &WorkerCommand, dirs: &[PathBuf]) -> Registry {
    Registry::from_files_with(&find_plugin_files(dirs), |file| probe_plugin(command, file))
}
