//! HTTPS: a listener for `axum::serve` that completes TLS handshakes (each
//! on a task of its own, with a time limit, so a slow or silent peer holds
//! up no one) and yields the encrypted streams.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a peer has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for `axum::serve` to take them.
const READY_QUEUE: usize = 64;

/// A TCP listener whose connections come out TLS-handshaken.
pub struct HttpsListener {
    addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accepting: JoinHandle<()>,
}

impl HttpsListener {
    /// Accepts on `listener` and handshakes with `config` (must be called
    /// inside the tokio runtime).
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let (sender, ready) = mpsc::channel(READY_QUEUE);
        let accepting = tokio::spawn(accept_and_handshake(
            listener,
            TlsAcceptor::from(config),
            sender,
        ));
        Ok(HttpsListener {
            addr,
            ready,
            accepting,
        })
    }
}

impl Drop for HttpsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Accepts connections and starts a handshake for each.
async fn accept_and_handshake(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                log::warn!("HTTPS: accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send((stream, peer)).await;
                }
                Ok(Err(e)) => log::info!("HTTPS connection from {peer} refused: {e}"),
                Err(_) => log::info!(
                    "HTTPS connection from {peer} closed: no TLS handshake within {} s",
                    HANDSHAKE_TIMEOUT.as_secs()
                ),
            }
        });
    }
}

impl axum::serve::Listener for HttpsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task ended (it does not, short of a panic).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}
