//! TLS on rustls for the DICOM listener, our SCU and the HTTP API: the
//! BCP 195 non-downgrading profile of PS3.15 (TLS 1.2 and 1.3 only, the
//! cipher suites below), PEM files read with errors that name the file,
//! and certificates checked for their validity period before use.

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The cipher suites offered, strongest first: the TLS 1.3 suites and the
/// TLS 1.2 ECDHE AEAD suites RFC 9325 (BCP 195) recommends. No CBC, no RSA
/// key exchange, no DHE (rustls has none).
pub const CIPHER_SUITES: [SupportedCipherSuite; 7] = [
    ring::cipher_suite::TLS13_AES_256_GCM_SHA384,
    ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
    ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
];

/// The protocol versions offered: TLS 1.3 and 1.2, nothing older.
pub const VERSIONS: [&rustls::SupportedProtocolVersion; 2] =
    [&rustls::version::TLS13, &rustls::version::TLS12];

/// A TLS file that cannot be used, and why.
#[derive(Debug, Clone)]
pub struct TlsError {
    /// The file at fault (none for a problem of the combination).
    pub file: Option<PathBuf>,
    /// What is wrong, naming the file.
    pub message: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsError {}

fn file_error(path: &Path, what: impl fmt::Display) -> TlsError {
    TlsError {
        file: Some(path.to_path_buf()),
        message: format!("{}: {what}", path.display()),
    }
}

/// The ring provider restricted to [`CIPHER_SUITES`].
pub fn provider() -> Arc<CryptoProvider> {
    let mut provider = ring::default_provider();
    provider.cipher_suites = CIPHER_SUITES.to_vec();
    Arc::new(provider)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| file_error(path, format!("cannot be read: {e}")))
}

/// Reads a PEM certificate chain (leaf first); each certificate must be
/// within its validity period now.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("is not a PEM certificate file: {e}")))?;
    if certificates.is_empty() {
        return Err(file_error(path, "holds no PEM certificate"));
    }
    for certificate in &certificates {
        check_validity(certificate).map_err(|why| file_error(path, why))?;
    }
    Ok(certificates)
}

/// Whether a certificate is within its validity period now.
fn check_validity(certificate: &CertificateDer<'_>) -> Result<(), String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate)
        .map_err(|e| format!("holds an unreadable certificate: {e}"))?;
    let validity = parsed.validity();
    let now = x509_parser::time::ASN1Time::now();
    if now > validity.not_after {
        return Err(format!(
            "certificate '{}' expired on {}",
            parsed.subject(),
            validity.not_after
        ));
    }
    if now < validity.not_before {
        return Err(format!(
            "certificate '{}' is not valid before {}",
            parsed.subject(),
            validity.not_before
        ));
    }
    Ok(())
}

/// The subject of a DER certificate, as an RFC 4514 string.
pub fn subject(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    Some(parsed.subject().to_string())
}

/// Reads a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| file_error(path, format!("holds no readable PEM private key: {e}")))
}

/// Reads a PEM bundle of trusted CA certificates.
pub fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(path)? {
        roots
            .add(certificate)
            .map_err(|e| file_error(path, format!("holds an unusable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// Where a server's certificate, key and optional client CA are.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerFiles {
    /// The certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// The private key (PEM).
    pub key: PathBuf,
    /// CA bundle (PEM): when set, clients must present a certificate it issued.
    pub client_ca: Option<PathBuf>,
}

/// A server configuration: our certificate and key, and, with a client CA,
/// client certificates required and verified against it.
pub fn server_config(files: &ServerFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let chain = read_certificates(&files.cert)?;
    let key = read_key(&files.key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&VERSIONS)
        .map_err(|e| TlsError {
            file: None,
            message: format!("TLS profile: {e}"),
        })?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(read_roots(ca)?), provider)
                    .build()
                    .map_err(|e| file_error(ca, format!("cannot verify clients with it: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| TlsError {
        file: Some(files.key.clone()),
        message: format!(
            "{} does not go with {}: {e}",
            files.key.display(),
            files.cert.display()
        ),
    })?;
    Ok(Arc::new(config))
}

/// A client configuration trusting the CAs in `ca`, presenting the
/// certificate and key in `identity` when given.
pub fn client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&VERSIONS)
        .map_err(|e| TlsError {
            file: None,
            message: format!("TLS profile: {e}"),
        })?
        .with_root_certificates(read_roots(ca)?);
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(read_certificates(cert)?, read_key(key)?)
            .map_err(|e| file_error(key, format!("does not go with {}: {e}", cert.display())))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The name a client checks the server's certificate against: the host
/// part of `host:port` (an IP address or a DNS name).
pub fn server_name(addr: &str) -> &str {
    match addr.rsplit_once(':') {
        Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    }
}
