//! MWL C-FIND SCP (PS3.4 Annex K): answers a C-FIND-RQ with one pending
//! response per matching worklist item, then a final status; honours
//! C-CANCEL between items.
//!
//! - [`query`]: the query identifier parsed into a store filter.
//! - [`response`]: the response identifier built for each matching item.

pub mod query;
pub mod response;

pub use query::{parse, FindRequest, QueryError};
pub use response::response_identifier;

use super::association::{End, Peer};
use super::dimse::{self, field, status, Message, ResponseFields};
use super::transport::Transport;
use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntax;
use std::ops::ControlFlow;

/// Answers a C-FIND-RQ.
pub fn handle<S: Transport>(
    peer: &mut Peer<'_, S>,
    message: &Message,
    ts: &TransferSyntax,
) -> Result<(), End> {
    let class = uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND;
    fn fail(comment: &str, offending: Option<dicom_core::Tag>) -> ResponseFields<'_> {
        ResponseFields {
            sop_class: Some(uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND),
            error_comment: Some(comment),
            offending,
            ..ResponseFields::default()
        }
    }
    let identifier = match message.data.as_deref().map(|d| dimse::decode_data(d, ts)) {
        Some(Ok(identifier)) => identifier,
        Some(Err(e)) => {
            log::warn!("C-FIND from {} ('{}'): {e}", peer.addr, peer.aet);
            return peer.respond(
                message,
                status::IDENTIFIER_DOES_NOT_MATCH,
                &fail("unreadable identifier", None),
            );
        }
        None => {
            log::warn!(
                "C-FIND from {} ('{}') without an identifier",
                peer.addr,
                peer.aet
            );
            return peer.respond(
                message,
                status::IDENTIFIER_DOES_NOT_MATCH,
                &fail("no identifier", None),
            );
        }
    };
    let mut audited = crate::audit::dicom::FindAudit::new(&peer.shared.audit, &identifier);
    let request = match parse(identifier, &peer.shared.options, &peer.aet) {
        Ok(request) => request,
        Err(e) => {
            log::warn!(
                "C-FIND from {} ('{}') refused: {}",
                peer.addr,
                peer.aet,
                e.comment
            );
            return peer.respond(message, e.status, &fail(&e.comment, e.offending));
        }
    };
    log::debug!(
        "C-FIND from {} ('{}'): {:?}",
        peer.addr,
        peer.aet,
        request.filter
    );
    let pending = if request.unsupported_keys {
        status::PENDING_WARNING
    } else {
        status::PENDING
    };
    let message_id = message.message_id();
    let pending_command = dimse::response(
        field::C_FIND_RQ | field::RESPONSE,
        message_id,
        pending,
        true,
        &ResponseFields {
            sop_class: Some(class),
            ..ResponseFields::default()
        },
    );
    let pending_command = match dimse::encode_command(&pending_command) {
        Ok(bytes) => bytes,
        Err(e) => return Err(End::Abort(e)),
    };
    let shared = peer.shared;
    let conn = match shared.store.get() {
        Ok(conn) => conn,
        Err(e) => {
            log::error!(
                "C-FIND from {} ('{}'): the worklist database cannot be opened: {e}",
                peer.addr,
                peer.aet
            );
            return peer.respond(
                message,
                status::UNABLE_TO_PROCESS,
                &fail("worklist database unavailable", None),
            );
        }
    };
    let mut sent: u64 = 0;
    let mut outcome: Result<bool, End> = Ok(false);
    let result = crate::store::find::for_each_item(&*conn, &request.filter, |row| {
        if sent % 16 == 0 {
            match peer.cancel_requested(message_id) {
                Ok(false) => {}
                Ok(true) => {
                    outcome = Ok(true);
                    return ControlFlow::Break(());
                }
                Err(end) => {
                    outcome = Err(end);
                    return ControlFlow::Break(());
                }
            }
        }
        audited.returned(row.patient_id.as_deref(), row.patient_name.as_deref());
        let identifier = response_identifier(&request, &row);
        let queued = dimse::encode_data(&identifier, ts)
            .map_err(End::Abort)
            .and_then(|data| peer.queue(message.pc_id, pending_command.clone(), Some(data)));
        if let Err(end) = queued {
            outcome = Err(end);
            return ControlFlow::Break(());
        }
        sent += 1;
        ControlFlow::Continue(())
    });
    drop(conn);
    let cancelled = outcome?;
    if let Err(e) = result {
        log::error!(
            "C-FIND from {} ('{}'): query failed: {e}",
            peer.addr,
            peer.aet
        );
        return peer.respond(
            message,
            status::UNABLE_TO_PROCESS,
            &fail("worklist query failed", None),
        );
    }
    let final_status = if cancelled {
        status::CANCEL
    } else {
        status::SUCCESS
    };
    log::info!(
        "C-FIND from {} ('{}'): {sent} match(es){}",
        peer.addr,
        peer.aet,
        if cancelled { ", cancelled" } else { "" }
    );
    audited.answered(peer, sent, cancelled);
    peer.respond(
        message,
        final_status,
        &ResponseFields {
            sop_class: Some(class),
            ..ResponseFields::default()
        },
    )
}
