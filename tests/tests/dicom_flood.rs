//! Connection floods on loopback: clients bound to 127.0.0.2 flood the
//! server with connections that never negotiate, while a scanner on
//! 127.0.0.1 must still be answered at once; a connection that negotiates too
//! slowly is closed at `acse_timeout`.

use dicom_core::VR;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use pylantir_tests::dicom::*;
use socket2::{Domain, Socket, Type};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The flooding address.
const FLOODER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A TCP connection to the site from `from`.
fn connect_from(site: &Site, from: Ipv4Addr) -> Option<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    socket
        .bind(&SocketAddr::from((from, 0)).into())
        .expect("bind a loopback address");
    let target: SocketAddr = site.addr().parse().expect("server address");
    socket
        .connect_timeout(&target.into(), Duration::from_secs(1))
        .ok()?;
    Some(socket.into())
}

/// Whether the server closed `stream` (a read ends) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Whether a non-blocking `stream` was closed by the server.
fn is_closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

/// Keeps `count` idle connections from the flooding address open, opening a
/// new one for each that the server closes, until `stop` (or 20 s).
fn flood(site: &Site, count: usize, stop: &AtomicBool, ready: &AtomicBool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut open: Vec<TcpStream> = Vec::with_capacity(count);
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        open.retain_mut(|s| !is_closed(s));
        while open.len() < count {
            match connect_from(site, FLOODER) {
                Some(s) => {
                    s.set_nonblocking(true).expect("non-blocking");
                    open.push(s);
                }
                None => break,
            }
        }
        ready.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_flood_of_idle_connections_from_one_address_leaves_a_scanner_answered_within_a_second() {
    let site = Site::new(serde_json::json!({}));
    site.insert(&[("patient_id", "P1")]);
    let stop = AtomicBool::new(false);
    let ready = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let flooder = scope.spawn(|| flood(&site, 200, &stop, &ready));
        while !ready.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Over a few seconds, while the flood reconnects.
        for round in 0..4 {
            let started = Instant::now();
            let mut client = site.client("SCANNER");
            assert_eq!(client.echo().expect("C-ECHO"), 0);
            client.release().expect("release");
            let echo = started.elapsed();
            let started = Instant::now();
            let (status, answers) = site.find(&InMemDicomObject::from_element_iter([text(
                tags::PATIENT_ID,
                VR::LO,
                "",
            )]));
            let find = started.elapsed();
            assert_eq!((status, answers.len()), (0, 1));
            assert!(
                echo < Duration::from_secs(1) && find < Duration::from_secs(1),
                "round {round}: C-ECHO took {echo:?}, C-FIND {find:?}"
            );
            std::thread::sleep(Duration::from_millis(700));
        }
        stop.store(true, Ordering::SeqCst);
        flooder.join().expect("flooder");
    });
}

#[test]
fn connections_over_max_connections_per_address_are_closed_at_once() {
    let site = Site::new(serde_json::json!({"max_connections_per_address": 2}));
    let _held: Vec<TcpStream> = (0..2)
        .map(|_| connect_from(&site, FLOODER).expect("connect"))
        .collect();
    let mut third = connect_from(&site, FLOODER).expect("connect");
    assert!(
        closed_within(&mut third, Duration::from_secs(2)),
        "a third connection from one address should be closed at once"
    );
    let mut client = site.client("SCANNER");
    assert_eq!(client.echo().expect("C-ECHO from another address"), 0);
}

#[test]
fn a_connection_still_negotiating_at_acse_timeout_is_closed_however_slowly_it_sends() {
    let site = Site::new(serde_json::json!({"acse_timeout": 0.5}));
    let mut stream = connect_from(&site, Ipv4Addr::LOCALHOST).expect("connect");
    let started = Instant::now();
    // A valid A-ASSOCIATE-RQ header, then one byte every 100 ms.
    let mut closed = false;
    for byte in [0x01u8, 0x00, 0x00, 0x00, 0x01, 0x00]
        .into_iter()
        .chain(std::iter::repeat(0x00))
        .take(60)
    {
        if stream.write_all(&[byte]).is_err()
            || closed_within(&mut stream, Duration::from_millis(100))
        {
            closed = true;
            break;
        }
    }
    let elapsed = started.elapsed();
    assert!(closed, "still open after {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "closed only after {elapsed:?}"
    );
}
