//! Verification (C-ECHO): answers Success.

use super::association::{End, Peer};
use super::dimse::{status, Message, ResponseFields};
use dicom_dictionary_std::uids;

/// Answers a C-ECHO-RQ.
pub fn handle(peer: &mut Peer<'_>, request: &Message) -> Result<(), End> {
    log::debug!("C-ECHO from {} ('{}')", peer.addr, peer.aet);
    peer.respond(
        request,
        status::SUCCESS,
        &ResponseFields {
            sop_class: Some(uids::VERIFICATION),
            ..ResponseFields::default()
        },
    )
}
