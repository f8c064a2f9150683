//! The optional syslog sink: each record as one RFC 5424 message (facility
//! authpriv, severity notice, as IHE ATNA asks) carrying the PS3.15 A.5 XML
//! or the record's JSON line, to the local socket (`/dev/log`), a UDP
//! collector (RFC 5426, one datagram each) or a TCP one (RFC 6587 octet
//! counting). Syslog is best effort: a failure is logged and the record
//! stays in the audit file; a TCP connection is made again at the next record.

use super::atna;
use super::record::Record;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

/// `<PRI>` of every message: facility 10 (authpriv) * 8 + severity 5 (notice).
const PRI: u8 = 85;

/// How long a TCP connect or send may take.
const TCP_TIMEOUT: Duration = Duration::from_secs(2);

/// Where syslog messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local datagram socket such as `/dev/log`.
    Unix(PathBuf),
    /// `host:port` over UDP.
    Udp(String),
    /// `host:port` over TCP.
    Tcp(String),
}

/// What a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The PS3.15 A.5 audit message (MSGID `IHE+RFC-3881`).
    Xml,
    /// The audit file's JSON line (MSGID `pylantir-audit`).
    Json,
}

/// The `audit_log.syslog` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogSettings {
    pub target: Target,
    pub format: Format,
}

enum Connection {
    Unix(UnixDatagram),
    Udp(UdpSocket),
    Tcp {
        address: String,
        stream: Option<TcpStream>,
    },
}

/// An open syslog destination.
pub struct SyslogSink {
    settings: SyslogSettings,
    connection: Connection,
    hostname: String,
    /// Whether the last send failed (to log a failure once, not per record).
    failing: bool,
}

impl SyslogSink {
    /// Opens the destination (UDP and Unix sockets now, TCP at the first record).
    pub fn new(settings: &SyslogSettings) -> Result<SyslogSink, String> {
        let connection = match &settings.target {
            Target::Unix(path) => {
                let socket = UnixDatagram::unbound()
                    .and_then(|s| s.connect(path).map(|()| s))
                    .map_err(|e| format!("audit syslog {}: {e}", path.display()))?;
                Connection::Unix(socket)
            }
            Target::Udp(address) => {
                let to = resolve(address)?;
                let local = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let socket = UdpSocket::bind(local)
                    .and_then(|s| s.connect(to).map(|()| s))
                    .map_err(|e| format!("audit syslog udp {address}: {e}"))?;
                Connection::Udp(socket)
            }
            Target::Tcp(address) => {
                resolve(address)?;
                Connection::Tcp {
                    address: address.clone(),
                    stream: None,
                }
            }
        };
        Ok(SyslogSink {
            settings: settings.clone(),
            connection,
            hostname: hostname(),
            failing: false,
        })
    }

    /// Sends each record; failures are logged (once until a send succeeds).
    pub fn send(&mut self, batch: &[Record]) {
        for record in batch {
            let message = self.message(record);
            match self.send_one(&message) {
                Ok(()) => {
                    if self.failing {
                        log::warn!("audit syslog: messages are delivered again");
                    }
                    self.failing = false;
                }
                Err(e) => {
                    if !self.failing {
                        log::error!(
                            "audit syslog {:?}: {e}; records stay in the audit file",
                            self.settings.target
                        );
                    }
                    self.failing = true;
                }
            }
        }
    }

    /// The RFC 5424 message: `<85>1 TIME HOST pylantir PID MSGID - MSG`.
    fn message(&self, record: &Record) -> Vec<u8> {
        let (msgid, body) = match self.settings.format {
            Format::Xml => {
                let source = format!("pylantir@{}", self.hostname);
                (
                    "IHE+RFC-3881",
                    atna::audit_message(record, &source, "pylantir"),
                )
            }
            Format::Json => (
                "pylantir-audit",
                serde_json::to_string(record).unwrap_or_default(),
            ),
        };
        let mut message = format!(
            "<{PRI}>1 {} {} pylantir {} {msgid} - ",
            record.time,
            self.hostname,
            std::process::id()
        )
        .into_bytes();
        // RFC 5424: a UTF-8 MSG starts with the byte order mark.
        message.extend_from_slice("\u{feff}".as_bytes());
        message.extend_from_slice(body.as_bytes());
        message
    }

    fn send_one(&mut self, message: &[u8]) -> std::io::Result<()> {
        match &mut self.connection {
            Connection::Unix(socket) => socket.send(message).map(drop),
            Connection::Udp(socket) => socket.send(message).map(drop),
            Connection::Tcp { address, stream } => {
                if stream.is_none() {
                    let to = resolve(address).map_err(std::io::Error::other)?;
                    let opened = TcpStream::connect_timeout(&to, TCP_TIMEOUT)?;
                    opened.set_write_timeout(Some(TCP_TIMEOUT))?;
                    *stream = Some(opened);
                }
                let Some(open) = stream.as_mut() else {
                    return Ok(());
                };
                let mut framed = format!("{} ", message.len()).into_bytes();
                framed.extend_from_slice(message);
                let sent = open.write_all(&framed);
                if sent.is_err() {
                    *stream = None;
                }
                sent
            }
        }
    }
}

fn resolve(address: &str) -> Result<std::net::SocketAddr, String> {
    address
        .to_socket_addrs()
        .map_err(|e| format!("audit syslog address {address:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("audit syslog address {address:?} resolves to nothing"))
}

/// This machine's name (RFC 5424 HOSTNAME), `-` when unknown.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.is_ascii() && !h.contains(' '))
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::{Event, Login, Outcome};

    fn login() -> Record {
        Record::now(
            Outcome::Failure,
            Some("wrong password".into()),
            Event::Login(Login {
                user: "alice".into(),
                address: "127.0.0.1".into(),
            }),
        )
    }

    #[test]
    fn a_udp_collector_gets_one_rfc5424_message_with_the_a5_xml() {
        let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
        collector
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let settings = SyslogSettings {
            target: Target::Udp(collector.local_addr().unwrap().to_string()),
            format: Format::Xml,
        };
        let mut sink = SyslogSink::new(&settings).unwrap();
        sink.send(&[login()]);
        let mut buffer = [0u8; 8192];
        let n = collector.recv(&mut buffer).unwrap();
        let text = String::from_utf8_lossy(&buffer[..n]);
        assert!(text.starts_with("<85>1 "), "{text}");
        assert!(text.contains(" pylantir "), "{text}");
        assert!(text.contains(" IHE+RFC-3881 - \u{feff}<?xml"), "{text}");
        assert!(text.contains("<EventID csd-code=\"110114\""), "{text}");
        assert!(text.contains("EventOutcomeIndicator=\"4\""), "{text}");
        assert!(text.contains("<ActiveParticipant UserID=\"alice\" UserIsRequestor=\"true\" NetworkAccessPointID=\"127.0.0.1\""), "{text}");
    }

    #[test]
    fn the_local_socket_gets_one_datagram_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let settings = SyslogSettings {
            target: Target::Unix(path),
            format: Format::Json,
        };
        SyslogSink::new(&settings).unwrap().send(&[login()]);
        let mut buffer = [0u8; 8192];
        let n = socket.recv(&mut buffer).unwrap();
        let text = String::from_utf8_lossy(&buffer[..n]);
        assert!(text.starts_with("<85>1 "), "{text}");
        assert!(
            text.ends_with("\"user\":\"alice\",\"address\":\"127.0.0.1\"}"),
            "{text}"
        );
    }

    #[test]
    fn a_tcp_collector_gets_octet_counted_json_messages() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let settings = SyslogSettings {
            target: Target::Tcp(listener.local_addr().unwrap().to_string()),
            format: Format::Json,
        };
        let mut sink = SyslogSink::new(&settings).unwrap();
        sink.send(&[login(), login()]);
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        while received.iter().filter(|&&b| b == b'}').count() < 2 {
            let n = std::io::Read::read(&mut stream, &mut buffer).unwrap();
            assert!(n > 0);
            received.extend_from_slice(&buffer[..n]);
        }
        let text = String::from_utf8(received).unwrap();
        let (length, rest) = text.split_once(' ').unwrap();
        let length: usize = length.parse().unwrap();
        let first = &rest[..length];
        assert!(first.starts_with("<85>1 "), "{first}");
        assert!(first.contains(" pylantir-audit - \u{feff}{"), "{first}");
        assert!(
            first.ends_with("\"user\":\"alice\",\"address\":\"127.0.0.1\"}"),
            "{first}"
        );
    }
}
