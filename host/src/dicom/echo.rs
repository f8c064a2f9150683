//! Verification (C-ECHO): answers Success.

use super::association::{End, Peer};
use super::dimse::{status, Message, ResponseFields};
use super::transport::Transport;
use dicom_dictionary_std::uids;

/// Answers a C-ECHO-RQ.
pub fn handle<S: Transport>(peer: &mut Peer<'_, S>, request: &Message) -> Result<(), End> {
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
