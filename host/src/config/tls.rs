//! A TLS block (the DICOM server's top-level `tls`, the HTTP API's
//! `api.tls`): `port`, `cert`, `key`, optional `client_ca`, and `plain`
//! (whether the plain listener runs too). The files are read and checked
//! here, so a missing, unreadable, expired or mismatched file is a
//! [`Problem`] at the block's JSON path naming the file.

use super::{paths, Problem};
use crate::tls::ServerFiles;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// The keys of a TLS block.
pub const KEYS: [&str; 5] = ["port", "cert", "key", "client_ca", "plain"];

/// A TLS block, read and its files checked.
#[derive(Debug, Clone)]
pub struct TlsBlock {
    /// `port`: where the TLS listener listens (0 = any free port).
    pub port: u16,
    /// `cert`, `key`, `client_ca`, relative to the configuration file.
    pub files: ServerFiles,
    /// The rustls configuration built from the files.
    pub config: Arc<rustls::ServerConfig>,
    /// `plain` (default true): whether the plain listener runs too.
    pub plain: bool,
}

/// Reads the TLS block `value` found at the JSON path `at` (`None`: no
/// block), with `default_port` when it has no `port`; paths are relative to
/// the configuration file `config_path`.
pub fn block(
    value: Option<&Value>,
    at: &str,
    default_port: u16,
    config_path: &Path,
) -> Result<Option<TlsBlock>, Vec<Problem>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let Some(block) = value.as_object() else {
        return Err(vec![Problem::new(
            at,
            Some(value),
            "must be an object with cert and key",
        )]);
    };
    let mut problems = Vec::new();
    for key in block.keys().filter(|k| !KEYS.contains(&k.as_str())) {
        problems.push(Problem::new(
            format!("{at}.{key}"),
            block.get(key),
            format!("unknown key (known: {})", KEYS.join(", ")),
        ));
    }
    let mut file = |key: &str, required: bool| match block.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => {
            Some(paths::resolve(config_path, text))
        }
        None if !required => None,
        other => {
            problems.push(Problem::new(
                format!("{at}.{key}"),
                other,
                "must be the path of a PEM file",
            ));
            None
        }
    };
    let cert = file("cert", true);
    let key = file("key", true);
    let client_ca = file("client_ca", false);
    let port = match block.get("port") {
        None => Some(default_port),
        Some(value) => {
            let port = value.as_u64().and_then(|p| u16::try_from(p).ok());
            if port.is_none() {
                problems.push(Problem::new(
                    format!("{at}.port"),
                    Some(value),
                    "must be a port number 0-65535",
                ));
            }
            port
        }
    };
    let plain = match block.get("plain") {
        None => true,
        Some(Value::Bool(plain)) => *plain,
        Some(other) => {
            problems.push(Problem::new(
                format!("{at}.plain"),
                Some(other),
                "must be true or false",
            ));
            true
        }
    };
    let (Some(cert), Some(key), Some(port)) = (cert, key, port) else {
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let files = ServerFiles {
        cert,
        key,
        client_ca,
    };
    match crate::tls::server_config(&files) {
        Ok(config) => Ok(Some(TlsBlock {
            port,
            files,
            config,
            plain,
        })),
        Err(e) => {
            let key = match &e.file {
                Some(file) if Some(file) == files.client_ca.as_ref() => "client_ca",
                Some(file) if *file == files.key => "key",
                _ => "cert",
            };
            Err(vec![Problem::new(
                format!("{at}.{key}"),
                block.get(key),
                e.message,
            )])
        }
    }
}
