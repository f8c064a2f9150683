//! The [`SourceFactory`] of a server with isolation: every source type comes
//! from the plugins the workers described; each source is built in a worker
//! process of its own (`"isolation": "process"`, the default) or loaded into
//! this process (`"in-process"`), as its configuration says.

use super::health::{CrashPolicy, Health};
use super::process::{WorkerCommand, Workers};
use super::source::{WorkerSource, WorkerSpec};
use crate::config::{Isolation, SourceConfig, DEFAULT_FETCH_TIMEOUT};
use crate::loader::{load_plugin, InProcessSource, LoadOptions, LoadedPlugin, Registry};
use crate::source::{DataSource, SourceError, SourceErrorKind, SourceFactory};
use pylantir_plugin_api::SourceTypeInfo;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Builds sources in workers or in-process, and keeps each source's failure history.
pub struct IsolatingFactory {
    registry: Registry,
    command: WorkerCommand,
    options: LoadOptions,
    policy: CrashPolicy,
    workers: Workers,
    /// Plugins loaded into this process for `"in-process"` sources, by file.
    loaded: Mutex<HashMap<PathBuf, Arc<LoadedPlugin>>>,
    /// Failure history by source name.
    health: Mutex<HashMap<String, Arc<Mutex<Health>>>>,
    /// Where plugin refusals and disabled sources are recorded.
    audit: crate::audit::Audit,
}

impl IsolatingFactory {
    /// A factory over the plugins in `registry` (normally described by
    /// workers, see [`super::probe_registry`]). `options` apply to plugins
    /// loaded in-process; `policy` is the top-level crash policy.
    pub fn new(
        registry: Registry,
        command: WorkerCommand,
        options: LoadOptions,
        policy: CrashPolicy,
    ) -> IsolatingFactory {
        IsolatingFactory {
            registry,
            command,
            options,
            policy,
            workers: Workers::default(),
            loaded: Mutex::new(HashMap::new()),
            health: Mutex::new(HashMap::new()),
            audit: crate::audit::Audit::off(),
        }
    }

    /// The same, recording plugin refusals and disabled sources in `audit`.
    pub fn with_audit(self, audit: crate::audit::Audit) -> IsolatingFactory {
        IsolatingFactory { audit, ..self }
    }

    /// A factory over the plugins found in `dirs`, each described by a
    /// worker of the running binary.
    pub fn discover(
        dirs: &[PathBuf],
        options: LoadOptions,
        policy: CrashPolicy,
    ) -> Result<IsolatingFactory, String> {
        let command = WorkerCommand::current(options.allow_insecure)
            .map_err(|e| format!("cannot find the pylantir binary to start plugin workers: {e}"))?;
        let registry = super::probe_registry(&command, dirs);
        Ok(IsolatingFactory::new(registry, command, options, policy))
    }

    /// The plugins found.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every worker started so far that may still run (for shutdown).
    pub fn workers(&self) -> &Workers {
        &self.workers
    }

    fn health_of(&self, source: &SourceConfig) -> Arc<Mutex<Health>> {
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let policy = self.policy.with_limits(&source.crash_limits);
        Arc::clone(health.entry(source.name.clone()).or_insert_with(|| {
            let health = Health::new(policy).audited(self.audit.clone());
            Arc::new(Mutex::new(health))
        }))
    }

    fn file_of(&self, source_type: &str, pinned: Option<&str>) -> Result<PathBuf, SourceError> {
        self.registry
            .resolve_pinned(source_type, pinned)
            .map(|p| p.file().to_path_buf())
            .map_err(|e| SourceError::new(SourceErrorKind::Config, e.to_string()))
    }

    fn in_process(
        &self,
        source_type: &str,
        source_name: &str,
        pinned: Option<&str>,
    ) -> Result<Box<dyn DataSource>, SourceError> {
        let file = self.file_of(source_type, pinned)?;
        let plugin = {
            let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            match loaded.get(&file) {
                Some(plugin) => Arc::clone(plugin),
                None => {
                    let plugin =
                        Arc::new(load_plugin(&file, &self.options).map_err(|refusal| {
                            self.audit.plugin_refused(&refusal.file, &refusal.reason);
                            SourceError::new(SourceErrorKind::Config, refusal.to_string())
                        })?);
                    loaded.insert(file, Arc::clone(&plugin));
                    plugin
                }
            }
        };
        Ok(Box::new(InProcessSource::new(
            plugin,
            source_type,
            source_name,
        )?))
    }

    fn in_worker(&self, source: &SourceConfig) -> Result<Box<dyn DataSource>, SourceError> {
        let file = self.file_of(&source.source_type, source.plugin.as_deref())?;
        let health = self.health_of(source);
        let allowed = health.lock().unwrap_or_else(|p| p.into_inner()).may_start();
        allowed?;
        let spec = WorkerSpec {
            command: &self.command,
            workers: &self.workers,
            file: &file,
            source_type: &source.source_type,
            source_name: &source.name,
            fetch_timeout: source.fetch_timeout,
            health,
        };
        Ok(Box::new(WorkerSource::start(spec)?))
    }
}

impl SourceFactory for IsolatingFactory {
    fn source_types(&self) -> Vec<String> {
        self.registry.source_types()
    }

    fn type_info(&self, source_type: &str) -> Option<SourceTypeInfo> {
        let plugin = self.registry.resolve(source_type).ok()?;
        plugin
            .info()
            .source_types
            .iter()
            .find(|t| t.name == source_type)
            .cloned()
    }

    fn providers(&self, source_type: &str) -> Vec<String> {
        self.registry.provider_names(source_type)
    }

    fn plugin_file(&self, source_type: &str) -> Option<PathBuf> {
        self.registry.plugin_file(source_type)
    }

    /// A source in a worker, with the default deadlines and crash policy.
    fn create(
        &self,
        source_type: &str,
        source_name: &str,
    ) -> Result<Box<dyn DataSource>, SourceError> {
        let source = SourceConfig {
            index: 0,
            name: source_name.to_string(),
            source_type: source_type.to_string(),
            enabled: true,
            sync_interval: std::time::Duration::from_secs(60),
            window: Default::default(),
            config: serde_json::Value::Null,
            field_mapping: serde_json::Value::Null,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            isolation: Isolation::Process,
            plugin: None,
            crash_limits: Default::default(),
            mpps_write_back: false,
            raw: Default::default(),
        };
        self.in_worker(&source)
    }

    fn create_for(&self, source: &SourceConfig) -> Result<Box<dyn DataSource>, SourceError> {
        match source.isolation {
            Isolation::Process => self.in_worker(source),
            Isolation::InProcess => {
                self.in_process(&source.source_type, &source.name, source.plugin.as_deref())
            }
        }
    }
}
