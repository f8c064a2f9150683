//! The listeners (plain TCP and/or TLS): bind, accept connections (within
//! the limits of [`admission`](super::admission)), enforce
//! `max_associations`, negotiate each association (TLS handshake, AE titles,
//! SOP classes, transfer syntaxes) and hand it to its own thread.

use super::admission::{Admission, Watch};
use super::association;
use super::options::ServerOptions;
use super::transport::{TlsStream, Transport};
use crate::audit::dicom as audited;
use crate::store::Store;
use dicom_dictionary_std::uids;
use dicom_transfer_syntax_registry::entries;
use dicom_ul::association::server::{AccessControl, ServerAssociationOptions};
use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
    AssociationRJServiceUserReason, AssociationRJSource, PresentationContextResultReason,
    UserIdentity,
};
use dicom_ul::Pdu;
use dicom_ul::ServerAssociation;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The SOP classes we serve as SCP.
pub const ABSTRACT_SYNTAXES: [&str; 3] = [
    uids::VERIFICATION,
    uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND,
    uids::MODALITY_PERFORMED_PROCEDURE_STEP,
];

/// The transfer syntaxes we accept (the client's order decides).
pub const TRANSFER_SYNTAXES: [&str; 3] = [
    entries::EXPLICIT_VR_LITTLE_ENDIAN.uid(),
    entries::IMPLICIT_VR_LITTLE_ENDIAN.uid(),
    entries::EXPLICIT_VR_BIG_ENDIAN.uid(), // retired, still accepted
];

/// What every association thread shares.
pub struct Shared {
    /// The options the server was started with.
    pub options: ServerOptions,
    /// The worklist database.
    pub store: Store,
    /// The connections: per-address caps, negotiation deadline, stop.
    pub admission: Arc<Admission>,
    /// Associations established and not yet ended.
    established: AtomicUsize,
    /// Where associations, queries and MPPS messages are recorded.
    pub audit: crate::audit::Audit,
}

/// Checks the called AE title and `allowed_aet` during negotiation.
struct Access {
    allowed: Vec<String>,
    peer: SocketAddr,
    audit: crate::audit::Audit,
}

impl AccessControl for Access {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if called_ae_title != this_ae_title {
            log::warn!(
                "refused association from {} (calling AE '{calling_ae_title}'): called AE title '{called_ae_title}' is not ours ('{this_ae_title}')",
                self.peer
            );
            let reason = format!("called AE title '{called_ae_title}' is not ours");
            let who = audited::dicom_peer(calling_ae_title, called_ae_title, self.peer);
            audited::refused(&self.audit, who, &reason);
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if !self.allowed.is_empty() && !self.allowed.iter().any(|a| a == calling_ae_title) {
            log::warn!(
                "refused association from {}: calling AE title '{calling_ae_title}' is not in allowed_aet",
                self.peer
            );
            let who = audited::dicom_peer(calling_ae_title, called_ae_title, self.peer);
            audited::refused(&self.audit, who, "calling AE title not in allowed_aet");
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        Ok(())
    }
}

/// A listening socket: plain, or TLS with this configuration.
struct Listener {
    socket: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Listener {
    fn bind(ip: &str, port: u16, tls: Option<Arc<rustls::ServerConfig>>) -> io::Result<Listener> {
        let socket = TcpListener::bind((ip, port))
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {ip}:{port}: {e}")))?;
        Ok(Listener { socket, tls })
    }

    fn kind(&self) -> &'static str {
        if self.tls.is_some() {
            "TLS"
        } else {
            "plain"
        }
    }
}

/// A bound DICOM server, ready to run.
pub struct Server {
    listeners: Vec<Listener>,
    shared: Arc<Shared>,
}

/// A server running on its own thread.
pub struct RunningServer {
    plain_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    /// The listening sockets, shut down to wake the accept loops at once.
    sockets: Vec<TcpListener>,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl RunningServer {
    /// The plain listener's address, or the TLS listener's when there is
    /// no plain one.
    pub fn local_addr(&self) -> SocketAddr {
        self.plain_addr
            .or(self.tls_addr)
            .unwrap_or_else(|| unreachable!("a server has at least one listener"))
    }

    /// The TLS listener's address, if it has one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Stops accepting, closes connections still negotiating, aborts
    /// established associations once their current answer is sent, waits
    /// for them (a few seconds at most) and returns the accept loops' result.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown.store(true, Ordering::SeqCst);
        // Wakes a blocked accept() at once on Linux; elsewhere the accept
        // loop's read timeout does.
        for socket in &self.sockets {
            let _ = socket2::SockRef::from(socket).shutdown(Shutdown::Both);
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the DICOM accept loop panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
    }
}

impl Server {
    /// Binds the listening sockets of a server answering from `store`
    /// (plain on `port` unless turned off, TLS on `tls.port` when configured).
    pub fn bind(options: ServerOptions, store: Store) -> io::Result<Server> {
        Server::bind_audited(options, store, crate::audit::Audit::off())
    }

    /// [`Server::bind`], recording associations, queries and MPPS in `audit`.
    pub fn bind_audited(
        options: ServerOptions,
        store: Store,
        audit: crate::audit::Audit,
    ) -> io::Result<Server> {
        let mut listeners = Vec::new();
        if options.plain {
            listeners.push(Listener::bind(&options.ip, options.port, None)?);
        }
        if let Some(tls) = &options.tls {
            listeners.push(Listener::bind(
                &options.ip,
                tls.port,
                Some(tls.config.clone()),
            )?);
        }
        if listeners.is_empty() {
            return Err(io::Error::other(
                "no listener: the plain listener is off (tls.plain is false) and no tls block is configured",
            ));
        }
        let admission = Admission::new(options.max_connections_per_address, options.acse_timeout);
        Ok(Server {
            listeners,
            shared: Arc::new(Shared {
                options,
                store,
                admission,
                established: AtomicUsize::new(0),
                audit,
            }),
        })
    }

    /// The address of the plain listener, or of the TLS one without it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listeners[0].socket.local_addr()
    }

    /// Runs the accept loops on a new thread.
    pub fn spawn(self) -> io::Result<RunningServer> {
        let mut plain_addr = None;
        let mut tls_addr = None;
        let mut sockets = Vec::new();
        for listener in &self.listeners {
            let addr = listener.socket.local_addr()?;
            match listener.tls {
                Some(_) => tls_addr = Some(addr),
                None => plain_addr = Some(addr),
            }
            sockets.push(listener.socket.try_clone()?);
        }
        let shutdown = Arc::new(AtomicBool::new(false));
        let flag = shutdown.clone();
        let thread = std::thread::Builder::new()
            .name("dicom-listener".into())
            .spawn(move || self.run(flag))?;
        Ok(RunningServer {
            plain_addr,
            tls_addr,
            sockets,
            shutdown,
            thread: Some(thread),
        })
    }

    /// Accepts connections on every listener until `shutdown` is set, then
    /// closes the connections and waits up to five seconds for
    /// associations to end.
    pub fn run(self, shutdown: Arc<AtomicBool>) -> io::Result<()> {
        let options = &self.shared.options;
        for listener in &self.listeners {
            log::info!(
                "DICOM server {} listening on {} ({}{}, max {} associations, {} connections per address)",
                options.ae_title,
                listener.socket.local_addr()?,
                listener.kind(),
                match &options.tls {
                    Some(tls) if listener.tls.is_some() && tls.client_certificates_required() =>
                        ", client certificates required",
                    _ => "",
                },
                options.max_associations,
                options.max_connections_per_address
            );
            // accept() also wakes up every 200 ms to look at the shutdown flag.
            socket2::SockRef::from(&listener.socket)
                .set_read_timeout(Some(Duration::from_millis(200)))?;
        }
        let admission = &self.shared.admission;
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("dicom-watchdog".into())
                .spawn_scoped(scope, || admission.run_watchdog())?;
            let loops = self
                .listeners
                .iter()
                .map(|listener| {
                    std::thread::Builder::new()
                        .name("dicom-accept".into())
                        .spawn_scoped(scope, || self.accept_loop(listener, &shutdown))
                })
                .collect::<io::Result<Vec<_>>>()?;
            for accept_loop in loops {
                let _ = accept_loop.join();
            }
            admission.stop();
            io::Result::Ok(())
        })?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.shared.established.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        log::info!("DICOM server stopped");
        Ok(())
    }

    fn accept_loop(&self, listener: &Listener, shutdown: &AtomicBool) {
        while !shutdown.load(Ordering::SeqCst) {
            match listener.socket.accept() {
                Ok((stream, peer)) => self.accept(stream, peer, listener.tls.clone()),
                Err(_) if shutdown.load(Ordering::SeqCst) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    log::warn!("accepting a connection failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn accept(&self, stream: TcpStream, peer: SocketAddr, tls: Option<Arc<rustls::ServerConfig>>) {
        // Over its address's cap, the connection is closed at once.
        let Some(admitted) = self.shared.admission.admit(peer.ip()) else {
            return;
        };
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("dicom-association".into())
            .stack_size(1024 * 1024)
            .spawn(move || {
                // Moved in whole: the connection counts against its address
                // until this thread ends, panicking or not.
                let _admitted = admitted;
                let watch = shared.admission.watch(&stream, peer);
                if !request_arrives(&stream, peer, &shared.options) {
                    return;
                }
                let busy =
                    shared.established.load(Ordering::SeqCst) >= shared.options.max_associations;
                match (busy, tls) {
                    (true, None) => refuse_busy(stream, peer, &shared),
                    (true, Some(tls)) => {
                        if let Some(stream) = tls_handshake(stream, peer, tls) {
                            refuse_busy(stream, peer, &shared);
                        }
                    }
                    (false, tls) => serve_connection(stream, peer, tls, &shared, &watch),
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot start a thread for the association from {peer}: {e}");
        }
    }
}

/// Waits for the first bytes of the association request, so that
/// `max_associations` is checked when the request arrives; false when the
/// connection closed or the negotiation deadline passed first.
fn request_arrives(stream: &TcpStream, peer: SocketAddr, options: &ServerOptions) -> bool {
    let _ = stream.set_read_timeout(Some(options.acse_timeout));
    match stream.peek(&mut [0u8; 1]) {
        Ok(n) if n > 0 => true,
        Ok(_) => {
            log::debug!("connection from {peer} closed before an association request");
            false
        }
        Err(e) => {
            log::debug!("no association request from {peer}: {e}");
            false
        }
    }
}

/// One established association counted in [`Shared::established`]; given
/// back when dropped, also when the association's thread panics.
struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    fn take(count: &'a AtomicUsize) -> Slot<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        Slot(count)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Low-latency socket settings: TCP_NODELAY, so a small PDU is sent at once
/// rather than held back by Nagle's algorithm waiting for our previous
/// PDU's ACK, and TCP_QUICKACK.
pub fn tune_socket(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    quickack(stream);
}

/// Sets TCP_QUICKACK (Linux) so our ACK is not delayed while we wait for the
/// rest of a PDU; it must be set again before each blocking receive.
pub fn quickack(stream: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    shared: &Shared,
    watch: &Watch<'_>,
) {
    let options = &shared.options;
    tune_socket(&stream);
    let mut scp = ServerAssociationOptions::new()
        .ae_access_control(Access {
            allowed: options.allowed_aet.clone(),
            peer,
            audit: shared.audit.clone(),
        })
        .ae_title(options.ae_title.clone())
        .max_pdu_length(options.max_pdu_length)
        .strict(false)
        .read_timeout(options.acse_timeout)
        .write_timeout(options.dimse_timeout);
    for uid in ABSTRACT_SYNTAXES {
        scp = scp.with_abstract_syntax(uid);
    }
    for uid in TRANSFER_SYNTAXES {
        scp = scp.with_transfer_syntax(uid);
    }
    let established = match tls {
        None => scp
            .establish(stream)
            .map(|assoc| start(assoc, peer, shared, watch)),
        Some(config) => scp
            .tls_config(config)
            .establish_tls(stream)
            .map(|assoc| start(assoc, peer, shared, watch)),
    };
    if let Err(e) = established {
        match tls_error(&e) {
            Some(tls) => log::warn!("TLS connection from {peer} refused: {tls}"),
            None => log::info!(
                "association from {peer} not established: {}",
                super::dimse::error_chain(&e)
            ),
        }
    }
}

/// The TLS error behind a failed negotiation, if that is what failed
/// (a peer certificate that is missing, expired or from an unknown CA, no
/// common protocol version or cipher suite, plain DICOM on the TLS port).
fn tls_error(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(inner) = e
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(inner.to_string());
        }
        source = e.source();
    }
    None
}

/// Serves an association once negotiated: aborts it when no presentation
/// context was accepted, else counts it as established for its lifetime.
fn start<S: Transport>(
    assoc: ServerAssociation<S>,
    peer: SocketAddr,
    shared: &Shared,
    watch: &Watch<'_>,
) {
    let accepted = assoc
        .presentation_contexts()
        .iter()
        .any(|pc| pc.reason == PresentationContextResultReason::Acceptance);
    if !accepted {
        log::warn!(
            "association from {peer} (calling AE '{}') proposed no SOP class we serve; aborting",
            dicom_ul::association::Association::peer_ae_title(&assoc)
        );
        let calling = dicom_ul::association::Association::peer_ae_title(&assoc);
        let who = audited::dicom_peer(calling, &shared.options.ae_title, peer);
        audited::refused(&shared.audit, who, "proposed no SOP class we serve");
        let _ = assoc.abort();
        return;
    }
    watch.established();
    let _slot = Slot::take(&shared.established);
    association::serve(assoc, peer, shared);
}

/// Completes a TLS handshake ourselves (to refuse a busy association over
/// TLS); `None`, logged, when it fails.
fn tls_handshake(
    mut stream: TcpStream,
    peer: SocketAddr,
    config: Arc<rustls::ServerConfig>,
) -> Option<TlsStream> {
    let mut conn = match rustls::ServerConnection::new(config) {
        Ok(conn) => conn,
        Err(e) => {
            log::warn!("TLS connection from {peer} refused: {e}");
            return None;
        }
    };
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut stream) {
            match tls_error(&e) {
                Some(tls) => log::warn!("TLS connection from {peer} refused: {tls}"),
                None => log::debug!("TLS handshake with {peer} failed: {e}"),
            }
            return None;
        }
    }
    Some(rustls::StreamOwned::new(conn, stream))
}

/// Answers an association request with A-ASSOCIATE-RJ (transient, local
/// limit exceeded) when `max_associations` are already established.
fn refuse_busy<S: Transport>(mut stream: S, peer: SocketAddr, shared: &Shared) {
    let options = &shared.options;
    let _ = stream.tcp().set_read_timeout(Some(options.acse_timeout));
    let mut buffer = bytes_buffer();
    let request = dicom_ul::association::read_pdu_from_wire(
        &mut stream,
        &mut buffer,
        options.max_pdu_length,
        false,
    );
    if let Ok(Pdu::AssociationRQ(rq)) = request {
        log::warn!(
            "refused association from {peer} (calling AE '{}'): {} associations already established",
            rq.calling_ae_title,
            options.max_associations
        );
        let who = audited::dicom_peer(&rq.calling_ae_title, &rq.called_ae_title, peer);
        audited::refused(&shared.audit, who, "max_associations reached");
        let rj = Pdu::AssociationRJ(AssociationRJ {
            result: AssociationRJResult::Transient,
            source: AssociationRJSource::ServiceProviderPresentation(
                AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
            ),
        });
        let mut bytes = Vec::new();
        if dicom_ul::write_pdu(&mut bytes, &rj).is_ok() {
            let _ = stream.write_all(&bytes).and_then(|()| stream.flush());
        }
    }
}

fn bytes_buffer() -> bytes::BytesMut {
    bytes::BytesMut::with_capacity(4096)
}
