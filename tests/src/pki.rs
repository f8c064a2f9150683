//! Test certificates, generated per test with rcgen (no private key is
//! committed): a CA, server and client certificates it issued, expired ones.

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use std::path::{Path, PathBuf};

/// A test CA.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    /// A self-signed CA named `name` (its CN).
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca { cert, key }
    }

    /// Issues a certificate for `name` (server: SANs 127.0.0.1 and
    /// localhost); `expired`: valid in 2020 only. Writes `<stem>.crt` and
    /// `<stem>.key` into `dir`.
    pub fn issue(&self, dir: &Path, stem: &str, name: &str, server: bool, expired: bool) -> Pem {
        let key = KeyPair::generate().expect("leaf key");
        let names = if server {
            vec!["127.0.0.1".to_string(), "localhost".to_string()]
        } else {
            Vec::new()
        };
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        if expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2020, 12, 31);
        }
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf certificate");
        let pem = Pem {
            cert: dir.join(format!("{stem}.crt")),
            key: dir.join(format!("{stem}.key")),
        };
        std::fs::write(&pem.cert, cert.pem()).expect("write certificate");
        std::fs::write(&pem.key, key.serialize_pem()).expect("write key");
        pem
    }

    pub fn write(&self, dir: &Path, stem: &str) -> PathBuf {
        let path = dir.join(format!("{stem}.crt"));
        std::fs::write(&path, self.cert.pem()).expect("write CA certificate");
        path
    }
}

/// A certificate file and its key file.
pub struct Pem {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// Certificates for one test: a CA, a server and a client certificate it
/// issued, and a client certificate from a CA the server does not trust.
pub struct Pki {
    /// Where the files are.
    pub dir: tempfile::TempDir,
    /// The CA certificate (`ca.crt`).
    pub ca: PathBuf,
    /// `server.crt` / `server.key`: CN "pylantir test server", SANs 127.0.0.1 and localhost.
    pub server: Pem,
    /// `client.crt` / `client.key`: CN "MODALITY-1".
    pub client: Pem,
    /// `stranger.crt` / `stranger.key`: CN "STRANGER", from "another CA".
    pub stranger: Pem,
}

/// Generates a [`Pki`] in a temporary directory.
pub fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("pylantir test CA");
    let server = ca.issue(dir.path(), "server", "pylantir test server", true, false);
    let client = ca.issue(dir.path(), "client", "MODALITY-1", false, false);
    let stranger = Ca::new("another CA").issue(dir.path(), "stranger", "STRANGER", false, false);
    let ca = ca.write(dir.path(), "ca");
    Pki {
        dir,
        ca,
        server,
        client,
        stranger,
    }
}
