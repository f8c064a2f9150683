//! One established association, transport and dispatch only: receives PDUs,
//! reassembles DIMSE messages, hands each to its service ([`echo`],
//! [`find`], [`mpps`]), sends the responses, and aborts on timeouts and
//! protocol violations.

use super::dimse::{self, field, status, Assembler, Message, ResponseFields};
use super::server::{quickack, Shared};
use super::transport::Transport;
use super::{echo, find, mpps};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_encoding::TransferSyntax;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::association::{Association, SyncAssociation};
use dicom_ul::pdu::PresentationContextResultReason;
use dicom_ul::{Pdu, ServerAssociation};
use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::SocketAddr;

/// Why an association ends.
pub enum End {
    /// The peer released it.
    Released,
    /// The peer aborted it or closed the connection.
    PeerGone(String),
    /// We abort it, for this reason.
    Abort(String),
}

/// A running association and its reassembly state.
pub struct Peer<'s, S: Transport> {
    /// The association.
    pub assoc: ServerAssociation<S>,
    /// The peer's address, for the log.
    pub addr: SocketAddr,
    /// The calling AE title.
    pub aet: String,
    /// The subject of the peer's TLS certificate (TLS with client certificates only).
    pub tls_subject: Option<String>,
    /// Server-wide state.
    pub shared: &'s Shared,
    assembler: Assembler,
    backlog: VecDeque<Message>,
    out: Vec<u8>,
}

/// Bytes of queued PDUs written at once.
const OUT_BATCH: usize = 64 * 1024;

/// Serves an established association until it is released or aborted.
pub fn serve<S: Transport>(mut assoc: ServerAssociation<S>, addr: SocketAddr, shared: &Shared) {
    let aet = assoc.peer_ae_title().to_string();
    let _ = assoc
        .inner_stream()
        .tcp()
        .set_read_timeout(Some(shared.options.dimse_timeout));
    let tls_subject = assoc.inner_stream().peer_subject();
    log::debug!("association from {addr} (calling AE '{aet}') established");
    let mut peer = Peer {
        assoc,
        addr,
        aet,
        tls_subject,
        shared,
        assembler: Assembler::new(shared.options.max_message_bytes),
        backlog: VecDeque::new(),
        out: Vec::with_capacity(OUT_BATCH + 4096),
    };
    crate::audit::dicom::accepted(&peer);
    let end = loop {
        let message = match peer.next_message() {
            Ok(message) => message,
            Err(end) => break end,
        };
        if let Err(end) = peer.dispatch(message) {
            break end;
        }
    };
    match end {
        End::Released => log::debug!("association from {} ('{}') released", peer.addr, peer.aet),
        End::PeerGone(why) => log::info!(
            "association from {} ('{}') ended: {why}",
            peer.addr,
            peer.aet
        ),
        End::Abort(why) => {
            log::warn!(
                "aborting association from {} ('{}'): {why}",
                peer.addr,
                peer.aet
            );
            let _ = peer.assoc.abort();
        }
    }
}

/// Tells a receive timeout apart from other receive errors: dicom-ul wraps
/// the socket's `io::Error` (WouldBlock or TimedOut when the read timeout
/// passes) in its own error, so the cause chain is searched for it.
fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            );
        }
        source = e.source();
    }
    false
}

impl<S: Transport> Peer<'_, S> {
    fn receive(&mut self) -> Result<Pdu, End> {
        quickack(self.assoc.inner_stream().tcp());
        self.assoc.receive().map_err(|e| {
            if self.shared.admission.is_stopped() {
                End::Abort("the server is stopping".into())
            } else if is_timeout(&e) {
                End::Abort(format!(
                    "no message for {} s (dimse_timeout)",
                    self.shared.options.dimse_timeout.as_secs()
                ))
            } else if matches!(e, dicom_ul::association::Error::ConnectionClosed { .. }) {
                End::PeerGone("connection closed".into())
            } else {
                End::Abort(format!("bad PDU: {}", dimse::error_chain(&e)))
            }
        })
    }

    /// Feeds one received PDU; completed messages go to the backlog.
    fn take_pdu(&mut self, pdu: Pdu) -> Result<(), End> {
        match pdu {
            Pdu::PData { data } => {
                for pdv in data {
                    match self.assembler.feed(pdv) {
                        Ok(Some(message)) => self.backlog.push_back(message),
                        Ok(None) => {}
                        Err(e) => return Err(End::Abort(e.0)),
                    }
                }
                Ok(())
            }
            Pdu::ReleaseRQ => {
                if !self.assembler.is_idle() {
                    return Err(End::Abort(
                        "release requested in the middle of a message".into(),
                    ));
                }
                let _ = self.assoc.send(&Pdu::ReleaseRP);
                Err(End::Released)
            }
            Pdu::AbortRQ { source } => Err(End::PeerGone(format!("peer aborted ({source:?})"))),
            Pdu::Unknown { pdu_type, .. } => {
                Err(End::Abort(format!("unknown PDU type 0x{pdu_type:02X}")))
            }
            other => Err(End::Abort(format!("unexpected {} PDU", pdu_name(&other)))),
        }
    }

    fn next_message(&mut self) -> Result<Message, End> {
        loop {
            if let Some(message) = self.backlog.pop_front() {
                return Ok(message);
            }
            let pdu = self.receive()?;
            self.take_pdu(pdu)?;
        }
    }

    /// Whether a C-CANCEL for `message_id` has arrived (without blocking).
    pub(super) fn cancel_requested(&mut self, message_id: u16) -> Result<bool, End> {
        let (stream, buffer) = self.assoc.get_mut();
        if buffer.is_empty() && !stream.has_buffered_plaintext() {
            let mut probe = [0u8; 1];
            let socket = stream.tcp();
            let _ = socket.set_nonblocking(true);
            let peeked = socket.peek(&mut probe);
            let _ = socket.set_nonblocking(false);
            match peeked {
                Ok(0) => return Err(End::PeerGone("connection closed during a find".into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(End::PeerGone(format!("connection lost: {e}"))),
            }
        }
        let pdu = self.receive()?;
        self.take_pdu(pdu)?;
        let before = self.backlog.len();
        self.backlog.retain(|m| {
            !(m.field() == field::C_CANCEL_RQ
                && dimse::u16_of(&m.command, tags::MESSAGE_ID_BEING_RESPONDED_TO)
                    == Some(message_id))
        });
        Ok(self.backlog.len() != before)
    }

    /// Sends a response command and, if given, its data set, now.
    pub fn send(
        &mut self,
        pc_id: u8,
        command: &InMemDicomObject,
        data: Option<(&InMemDicomObject, &TransferSyntax)>,
    ) -> Result<(), End> {
        let command = dimse::encode_command(command).map_err(End::Abort)?;
        let data = match data {
            Some((data, ts)) => Some(dimse::encode_data(data, ts).map_err(End::Abort)?),
            None => None,
        };
        self.queue(pc_id, command, data)?;
        self.flush()
    }

    /// Queues an encoded message; small ones are written in batches (many
    /// PDUs per write), a data set larger than the peer's PDU is fragmented
    /// with `send_pdata`.
    pub(super) fn queue(
        &mut self,
        pc_id: u8,
        command: Vec<u8>,
        data: Option<Vec<u8>>,
    ) -> Result<(), End> {
        let (pdu, rest) =
            dimse::message_pdus(pc_id, command, data, self.assoc.peer_max_pdu_length());
        let lost = |e: &dyn std::error::Error| {
            End::PeerGone(format!("sending failed: {}", dimse::error_chain(e)))
        };
        if rest.is_none() {
            dicom_ul::write_pdu(&mut self.out, &pdu)
                .map_err(|e| End::Abort(format!("cannot encode a PDU: {e}")))?;
            if self.out.len() >= OUT_BATCH {
                self.flush()?;
            }
            return Ok(());
        }
        self.flush()?;
        self.assoc.send(&pdu).map_err(|e| lost(&e))?;
        if let Some(rest) = rest {
            let mut writer = self.assoc.send_pdata(pc_id);
            writer.write_all(&rest).map_err(|e| lost(&e))?;
            writer.finish().map_err(|e| lost(&e))?;
        }
        Ok(())
    }

    /// Writes the queued PDUs.
    fn flush(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        let stream = self.assoc.inner_stream();
        let result = stream.write_all(&self.out).and_then(|()| stream.flush());
        self.out.clear();
        result.map_err(|e| End::PeerGone(format!("sending failed: {e}")))
    }

    /// Sends a response without a data set.
    pub fn respond(
        &mut self,
        request: &Message,
        status_code: u16,
        fields: &ResponseFields<'_>,
    ) -> Result<(), End> {
        let command = dimse::response(
            request.field() | field::RESPONSE,
            request.message_id(),
            status_code,
            false,
            fields,
        );
        self.send(request.pc_id, &command, None)
    }

    fn dispatch(&mut self, message: Message) -> Result<(), End> {
        let Some(pc) = self
            .assoc
            .presentation_contexts()
            .iter()
            .find(|pc| {
                pc.id == message.pc_id && pc.reason == PresentationContextResultReason::Acceptance
            })
            .cloned()
        else {
            return Err(End::Abort(format!(
                "message on presentation context {} which was not accepted",
                message.pc_id
            )));
        };
        let Some(ts) = TransferSyntaxRegistry.get(&pc.transfer_syntax) else {
            return Err(End::Abort(format!(
                "unknown transfer syntax {}",
                pc.transfer_syntax
            )));
        };
        let requested_class = dimse::str_of(&message.command, tags::AFFECTED_SOP_CLASS_UID)
            .or_else(|| dimse::str_of(&message.command, tags::REQUESTED_SOP_CLASS_UID));
        let field_value = message.field();
        let expected = match field_value {
            field::C_ECHO_RQ => uids::VERIFICATION,
            field::C_FIND_RQ => uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND,
            field::N_CREATE_RQ | field::N_SET_RQ => uids::MODALITY_PERFORMED_PROCEDURE_STEP,
            field::C_CANCEL_RQ => return Ok(()), // a late cancel: ignored
            other => {
                log::warn!(
                    "unsupported command 0x{other:04X} from {} ('{}')",
                    self.addr,
                    self.aet
                );
                if other & field::RESPONSE != 0 {
                    return Ok(());
                }
                return self.respond(
                    &message,
                    status::UNRECOGNIZED_OPERATION,
                    &ResponseFields::default(),
                );
            }
        };
        if pc.abstract_syntax != expected || requested_class.as_deref() != Some(expected) {
            log::warn!(
                "{} ('{}') sent command 0x{field_value:04X} for SOP class {} on a {} context",
                self.addr,
                self.aet,
                requested_class.as_deref().unwrap_or("(none)"),
                pc.abstract_syntax
            );
            let class = requested_class.unwrap_or_default();
            return self.respond(
                &message,
                status::SOP_CLASS_NOT_SUPPORTED,
                &ResponseFields {
                    sop_class: Some(&class),
                    ..ResponseFields::default()
                },
            );
        }
        match field_value {
            field::C_ECHO_RQ => echo::handle(self, &message),
            field::C_FIND_RQ => find::handle(self, &message, ts),
            field::N_CREATE_RQ => mpps::handle_create(self, &message, ts),
            _ => mpps::handle_set(self, &message, ts),
        }
    }
}

fn pdu_name(pdu: &Pdu) -> &'static str {
    match pdu {
        Pdu::AssociationRQ(_) => "A-ASSOCIATE-RQ",
        Pdu::AssociationAC(_) => "A-ASSOCIATE-AC",
        Pdu::AssociationRJ(_) => "A-ASSOCIATE-RJ",
        Pdu::ReleaseRP => "A-RELEASE-RP",
        _ => "other",
    }
}
