//! Every plugin file found, loaded or refused, and which plugin provides each
//! source type. Two plugins providing one type is a conflict: that type
//! cannot be built until one of them is removed.

use super::discovery::find_plugin_files;
use super::in_process::InProcessSource;
use super::load::{load_plugin, LoadOptions, LoadedPlugin, Refusal};
use crate::source::{DataSource, SourceError, SourceErrorKind, SourceFactory};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What became of one plugin file.
#[derive(Debug, Clone)]
pub enum PluginStatus {
    Loaded(Arc<LoadedPlugin>),
    Refused(Refusal),
}

/// One plugin file and what became of it.
#[derive(Debug, Clone)]
pub struct PluginEntry {
    pub file: PathBuf,
    pub status: PluginStatus,
}

/// Why a source type cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// No loaded plugin provides the type.
    Unknown {
        source_type: String,
        known: Vec<String>,
    },
    /// Several loaded plugins provide the type.
    Conflict {
        source_type: String,
        files: Vec<PathBuf>,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Unknown { source_type, known } => write!(
                f,
                "no plugin provides source type '{source_type}' (available: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ),
            ResolveError::Conflict { source_type, files } => write!(
                f,
                "source type '{source_type}' is provided by several plugins: {}; remove all but one",
                files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        }
    }
}

impl std::error::Error for ResolveError {}

/// The plugins found in a list of directories and the source types they provide.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<PluginEntry>,
    providers: BTreeMap<String, Vec<Arc<LoadedPlugin>>>,
}

impl Registry {
    /// Finds and loads every plugin file in `dirs` (see
    /// [`super::plugin_dirs`] for the search order). Never fails: refusals and
    /// conflicts are recorded.
    pub fn load(dirs: &[PathBuf], options: &LoadOptions) -> Registry {
        Registry::from_files(&find_plugin_files(dirs), options)
    }

    /// Loads the given plugin files, in order.
    pub fn from_files(files: &[PathBuf], options: &LoadOptions) -> Registry {
        Registry::from_files_with(files, |file| load_plugin(file, options))
    }

    /// Loads the given plugin files, in order, with `load` (e.g. in a worker
    /// process, see [`crate::isolation::probe`]).
    pub fn from_files_with(
        files: &[PathBuf],
        mut load: impl FnMut(&Path) -> Result<LoadedPlugin, Refusal>,
    ) -> Registry {
        let mut registry = Registry::default();
        for file in files {
            let status = match load(file) {
                Ok(plugin) => PluginStatus::Loaded(Arc::new(plugin)),
                Err(refusal) => {
                    log::debug!("{refusal}");
                    PluginStatus::Refused(refusal)
                }
            };
            registry.add(PluginEntry {
                file: file.clone(),
                status,
            });
        }
        registry
    }

    fn add(&mut self, entry: PluginEntry) {
        if let PluginStatus::Loaded(plugin) = &entry.status {
            for source_type in &plugin.info().source_types {
                self.providers
                    .entry(source_type.name.clone())
                    .or_default()
                    .push(Arc::clone(plugin));
            }
        }
        self.entries.push(entry);
    }

    /// Every plugin file found, in discovery order.
    pub fn entries(&self) -> &[PluginEntry] {
        &self.entries
    }

    /// The refused plugin files.
    pub fn refusals(&self) -> impl Iterator<Item = &Refusal> {
        self.entries.iter().filter_map(|e| match &e.status {
            PluginStatus::Refused(r) => Some(r),
            PluginStatus::Loaded(_) => None,
        })
    }

    /// The source types provided by more than one plugin, with their files.
    pub fn conflicts(&self) -> Vec<ResolveError> {
        self.providers
            .keys()
            .filter_map(|t| self.resolve(t).err())
            .collect()
    }

    /// The other files that provide `source_type` besides `file`.
    pub fn conflicting_files(&self, source_type: &str, file: &Path) -> Vec<PathBuf> {
        self.providers
            .get(source_type)
            .map(|plugins| {
                plugins
                    .iter()
                    .map(|p| p.file().to_path_buf())
                    .filter(|f| f != file)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether every plugin found loaded and no type is provided twice.
    pub fn all_usable(&self) -> bool {
        self.refusals().next().is_none() && self.conflicts().is_empty()
    }

    /// The plugin that provides `source_type`.
    pub fn resolve(&self, source_type: &str) -> Result<&Arc<LoadedPlugin>, ResolveError> {
        self.resolve_pinned(source_type, None)
    }

    /// The names of the plugins that provide `source_type` (several: a conflict).
    pub fn provider_names(&self, source_type: &str) -> Vec<String> {
        self.providers
            .get(source_type)
            .map(|plugins| {
                plugins
                    .iter()
                    .map(|p| p.info().plugin_name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The plugin that provides `source_type`; with `pinned`, only the plugin
    /// of that name counts (a source's `plugin` key settles a conflict).
    pub fn resolve_pinned(
        &self,
        source_type: &str,
        pinned: Option<&str>,
    ) -> Result<&Arc<LoadedPlugin>, ResolveError> {
        let all = self
            .providers
            .get(source_type)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let chosen: Vec<&Arc<LoadedPlugin>> = all
            .iter()
            .filter(|p| pinned.is_none_or(|name| p.info().plugin_name == name))
            .collect();
        match chosen.as_slice() {
            [plugin] => Ok(plugin),
            plugins if !plugins.is_empty() => Err(ResolveError::Conflict {
                source_type: source_type.to_string(),
                files: plugins.iter().map(|p| p.file().to_path_buf()).collect(),
            }),
            _ => Err(ResolveError::Unknown {
                source_type: source_type.to_string(),
                known: self.source_types(),
            }),
        }
    }
}

impl SourceFactory for Registry {
    /// The types that resolve to exactly one plugin.
    fn source_types(&self) -> Vec<String> {
        self.providers
            .iter()
            .filter(|(_, plugins)| plugins.len() == 1)
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn type_info(&self, source_type: &str) -> Option<pylantir_plugin_api::SourceTypeInfo> {
        let plugin = self.resolve(source_type).ok()?;
        plugin
            .info()
            .source_types
            .iter()
            .find(|t| t.name == source_type)
            .cloned()
    }

    fn providers(&self, source_type: &str) -> Vec<String> {
        self.provider_names(source_type)
    }

    fn plugin_file(&self, source_type: &str) -> Option<PathBuf> {
        self.resolve(source_type)
            .ok()
            .map(|p| p.file().to_path_buf())
    }

    fn create(
        &self,
        source_type: &str,
        source_name: &str,
    ) -> Result<Box<dyn DataSource>, SourceError> {
        let plugin = self
            .resolve(source_type)
            .map_err(|e| SourceError::new(SourceErrorKind::Config, e.to_string()))?;
        let source = InProcessSource::new(Arc::clone(plugin), source_type, source_name)?;
        Ok(Box::new(source))
    }
}
