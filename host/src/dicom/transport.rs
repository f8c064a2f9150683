//! What an association runs over: plain TCP or TLS (dicom-ul's rustls
//! stream), and the TLS listener's settings.

use crate::tls::{self, ServerFiles, TlsError};
use dicom_ul::association::CloseSocket;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

/// A TLS stream as dicom-ul's `establish_tls` returns it.
pub type TlsStream = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// A stream an association runs over.
pub trait Transport: Read + Write + CloseSocket {
    /// The TCP socket underneath (timeouts, TCP_QUICKACK, peeking).
    fn tcp(&self) -> &TcpStream;
    /// The subject of the certificate the peer presented, if any.
    fn peer_subject(&self) -> Option<String>;
    /// Whether decrypted bytes are waiting that the socket no longer shows.
    fn has_buffered_plaintext(&mut self) -> bool;
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }

    fn peer_subject(&self) -> Option<String> {
        None
    }

    fn has_buffered_plaintext(&mut self) -> bool {
        false
    }
}

impl Transport for TlsStream {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }

    fn peer_subject(&self) -> Option<String> {
        self.conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(tls::subject)
    }

    fn has_buffered_plaintext(&mut self) -> bool {
        self.conn
            .process_new_packets()
            .is_ok_and(|state| state.plaintext_bytes_to_read() > 0)
    }
}

impl Transport for crate::dicom::scu::TlsStream {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }

    fn peer_subject(&self) -> Option<String> {
        self.conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(tls::subject)
    }

    fn has_buffered_plaintext(&mut self) -> bool {
        self.conn
            .process_new_packets()
            .is_ok_and(|state| state.plaintext_bytes_to_read() > 0)
    }
}

/// The DICOM TLS listener (`tls`): its port and rustls configuration.
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// Port to listen on (`tls.port`, default 2762; 0 = any free port).
    pub port: u16,
    /// The certificate, key and client CA files.
    pub files: ServerFiles,
    /// The rustls configuration built from them.
    pub config: Arc<rustls::ServerConfig>,
}

impl TlsListener {
    /// DICOM's registered port for TLS.
    pub const DEFAULT_PORT: u16 = 2762;

    /// Reads and checks the files; an error names the file at fault.
    pub fn load(port: u16, files: ServerFiles) -> Result<TlsListener, TlsError> {
        let config = tls::server_config(&files)?;
        Ok(TlsListener {
            port,
            files,
            config,
        })
    }

    /// Whether clients must present a certificate (`tls.client_ca` set).
    pub fn client_certificates_required(&self) -> bool {
        self.files.client_ca.is_some()
    }
}
