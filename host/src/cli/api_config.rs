//! The configuration file as the API commands read it (`start-api`,
//! `admin-password`, `create-user`, `list-users`): only its `db_path`,
//! `users_db_path` and `api` block, so a file without sources is fine.

use crate::config::{self, Document};
use crate::http::settings::ApiSettings;
use clap::Args;
use std::path::PathBuf;

/// The `--pylantir_config` option of the API commands.
#[derive(Debug, Clone, Args)]
pub struct ApiConfigArgs {
    /// The configuration file (JSON) [default: config/pylantir.json when it exists].
    #[arg(
        long = "pylantir_config",
        visible_alias = "config",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
}

impl ApiConfigArgs {
    /// The DICOM server's options from the configuration (for `/explain`);
    /// `None` when there is no file or its DICOM settings are invalid.
    pub fn dicom_options(&self) -> Option<crate::dicom::ServerOptions> {
        let raw = config::read_json(self.config.as_ref()?).ok()?;
        config::server::options(&raw, &config::server::Flags::default()).ok()
    }

    /// The audit trail of the configuration's `audit_log` (off without a
    /// configuration file or without the key).
    pub fn audit(&self) -> Result<crate::audit::Audit, String> {
        let default = PathBuf::from(super::start::DEFAULT_CONFIG);
        let path = match &self.config {
            Some(path) => path.clone(),
            None if default.exists() => default,
            None => return Ok(crate::audit::Audit::off()),
        };
        let raw = config::read_json(&path).map_err(|e| e.to_string())?;
        config::audit::open(&raw, &path)
    }

    /// The API settings of the configuration, or (no file) the defaults:
    /// Python's `~/Desktop/worklist.db` and `users.db` beside it. Errors are
    /// printed whole.
    pub fn settings(&self) -> Result<ApiSettings, String> {
        let document = self.document()?;
        ApiSettings::from_config(&document.raw, &document.path, &document.db_path()).map_err(
            |problems| {
                format!(
                    "{}: invalid HTTP API settings:\n  {}",
                    document.path.display(),
                    problems.join("\n  ")
                )
            },
        )
    }

    /// The worklist database of the configuration (`db_url` or `db_path`).
    pub fn database(&self) -> Result<crate::store::Location, String> {
        self.document()?.database()
    }

    fn document(&self) -> Result<Document, String> {
        let default = PathBuf::from(super::start::DEFAULT_CONFIG);
        let path = match &self.config {
            Some(path) => path.clone(),
            None if default.exists() => default,
            None => PathBuf::from("pylantir.json"),
        };
        let raw = if self.config.is_none() && !path.exists() {
            serde_json::Map::new()
        } else {
            config::read_json(&path).map_err(|e| e.to_string())?
        };
        Ok(Document {
            path,
            raw,
            legacy: false,
        })
    }
}
