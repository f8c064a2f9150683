//! DIMSE messages: command fields, status codes, command-set building and
//! reading, reassembly of messages from P-DATA values, and sending them.

use dicom_core::{dicom_value, DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntax;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;
use dicom_ul::pdu::{PDataValue, PDataValueType};
use dicom_ul::Pdu;
use std::fmt;

/// Command Field (0000,0100) values.
pub mod field {
    /// C-FIND-RQ.
    pub const C_FIND_RQ: u16 = 0x0020;
    /// C-ECHO-RQ.
    pub const C_ECHO_RQ: u16 = 0x0030;
    /// N-SET-RQ.
    pub const N_SET_RQ: u16 = 0x0120;
    /// N-CREATE-RQ.
    pub const N_CREATE_RQ: u16 = 0x0140;
    /// C-CANCEL-RQ.
    pub const C_CANCEL_RQ: u16 = 0x0FFF;
    /// The bit that turns a request field into its response field.
    pub const RESPONSE: u16 = 0x8000;
}

/// Status (0000,0900) values we send or read.
pub mod status {
    /// Success.
    pub const SUCCESS: u16 = 0x0000;
    /// Pending: a match, optional keys supported.
    pub const PENDING: u16 = 0xFF00;
    /// Pending: a match, some optional keys were not supported.
    pub const PENDING_WARNING: u16 = 0xFF01;
    /// Matching terminated due to cancel.
    pub const CANCEL: u16 = 0xFE00;
    /// Refused: out of resources.
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Identifier does not match SOP class.
    pub const IDENTIFIER_DOES_NOT_MATCH: u16 = 0xA900;
    /// Unable to process.
    pub const UNABLE_TO_PROCESS: u16 = 0xC000;
    /// Invalid attribute value.
    pub const INVALID_ATTRIBUTE_VALUE: u16 = 0x0106;
    /// Processing failure.
    pub const PROCESSING_FAILURE: u16 = 0x0110;
    /// Duplicate SOP instance.
    pub const DUPLICATE_SOP_INSTANCE: u16 = 0x0111;
    /// No such SOP instance.
    pub const NO_SUCH_SOP_INSTANCE: u16 = 0x0112;
    /// No such SOP class.
    pub const NO_SUCH_SOP_CLASS: u16 = 0x0118;
    /// Missing attribute.
    pub const MISSING_ATTRIBUTE: u16 = 0x0120;
    /// SOP class not supported.
    pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
    /// Mistyped argument.
    pub const MISTYPED_ARGUMENT: u16 = 0x0212;
    /// Unrecognised operation.
    pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
}

/// CommandDataSetType value meaning "no data set follows".
pub const NO_DATA_SET: u16 = 0x0101;
/// CommandDataSetType value we send when a data set follows.
pub const DATA_SET_PRESENT: u16 = 0x0001;

/// A reassembled DIMSE message: its command set and the raw data set bytes.
pub struct Message {
    /// The presentation context it arrived on.
    pub pc_id: u8,
    /// The decoded command set.
    pub command: InMemDicomObject,
    /// The data set bytes, still encoded in the context's transfer syntax.
    pub data: Option<Vec<u8>>,
}

impl Message {
    /// The Command Field, 0 if absent.
    pub fn field(&self) -> u16 {
        u16_of(&self.command, tags::COMMAND_FIELD).unwrap_or(0)
    }

    /// The Message ID, 0 if absent.
    pub fn message_id(&self) -> u16 {
        u16_of(&self.command, tags::MESSAGE_ID).unwrap_or(0)
    }
}

/// A violation of the DIMSE protocol by the peer; the association is aborted.
#[derive(Debug)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Reassembles messages from P-DATA values (several PDVs per PDU, or one
/// message over several PDUs), with a cap on the buffered size.
pub struct Assembler {
    max_bytes: usize,
    pc_id: Option<u8>,
    command_bytes: Vec<u8>,
    command: Option<InMemDicomObject>,
    data: Vec<u8>,
}

impl Assembler {
    /// An assembler that refuses messages larger than `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        Assembler {
            max_bytes,
            pc_id: None,
            command_bytes: Vec::new(),
            command: None,
            data: Vec::new(),
        }
    }

    /// Whether a message has started but is not complete yet.
    pub fn is_idle(&self) -> bool {
        self.pc_id.is_none()
    }

    /// Adds one PDV; returns a message when it completes one.
    pub fn feed(&mut self, pdv: PDataValue) -> Result<Option<Message>, ProtocolError> {
        if let Some(pc) = self.pc_id {
            if pc != pdv.presentation_context_id {
                return Err(ProtocolError(format!(
                    "a fragment arrived on presentation context {} in the middle of a message on context {pc}",
                    pdv.presentation_context_id
                )));
            }
        }
        self.pc_id = Some(pdv.presentation_context_id);
        if self.command_bytes.len() + self.data.len() + pdv.data.len() > self.max_bytes {
            return Err(ProtocolError(format!(
                "message larger than the {} bytes allowed",
                self.max_bytes
            )));
        }
        match pdv.value_type {
            PDataValueType::Command => {
                if self.command.is_some() {
                    return Err(ProtocolError(
                        "command fragment while a data set was expected".into(),
                    ));
                }
                self.command_bytes.extend_from_slice(&pdv.data);
                if !pdv.is_last {
                    return Ok(None);
                }
                check_command(&self.command_bytes).map_err(ProtocolError)?;
                let command = InMemDicomObject::read_dataset_with_ts(
                    self.command_bytes.as_slice(),
                    &IMPLICIT_VR_LITTLE_ENDIAN.erased(),
                )
                .map_err(|e| ProtocolError(format!("unreadable command set: {e}")))?;
                self.command_bytes.clear();
                let has_data = u16_of(&command, tags::COMMAND_DATA_SET_TYPE).unwrap_or(NO_DATA_SET)
                    != NO_DATA_SET;
                if has_data {
                    self.command = Some(command);
                    Ok(None)
                } else {
                    let pc_id = pdv.presentation_context_id;
                    self.pc_id = None;
                    Ok(Some(Message {
                        pc_id,
                        command,
                        data: None,
                    }))
                }
            }
            PDataValueType::Data => {
                if self.command.is_none() {
                    return Err(ProtocolError("data fragment without a command".into()));
                }
                self.data.extend_from_slice(&pdv.data);
                if !pdv.is_last {
                    return Ok(None);
                }
                let command = self
                    .command
                    .take()
                    .ok_or_else(|| ProtocolError("data fragment without a command".to_string()))?;
                self.pc_id = None;
                Ok(Some(Message {
                    pc_id: pdv.presentation_context_id,
                    command,
                    data: Some(std::mem::take(&mut self.data)),
                }))
            }
        }
    }
}

/// Reads a US element as u16.
pub fn u16_of(obj: &InMemDicomObject, tag: Tag) -> Option<u16> {
    obj.get(tag).and_then(|e| e.to_int::<u16>().ok())
}

/// Reads a text element, trimmed of padding; `None` when absent or empty.
pub fn str_of(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = obj.get(tag)?.to_str().ok()?;
    let value = value.trim_matches(|c: char| c == ' ' || c == '\0');
    (!value.is_empty()).then(|| value.to_string())
}

/// What a response command carries besides its field and status.
#[derive(Default)]
pub struct ResponseFields<'a> {
    /// Affected SOP Class UID (0000,0002).
    pub sop_class: Option<&'a str>,
    /// Affected SOP Instance UID (0000,1000).
    pub sop_instance: Option<&'a str>,
    /// Error Comment (0000,0902).
    pub error_comment: Option<&'a str>,
    /// Error ID (0000,0903).
    pub error_id: Option<u16>,
    /// Offending Element (0000,0901).
    pub offending: Option<Tag>,
}

/// Builds a response command set (group length computed by dicom-object).
pub fn response(
    field: u16,
    responded_to: u16,
    status: u16,
    with_data: bool,
    extra: &ResponseFields<'_>,
) -> InMemDicomObject {
    let mut elements = Vec::with_capacity(8);
    if let Some(class) = extra.sop_class {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            dicom_value!(Str, class),
        ));
    }
    elements.push(DataElement::new(
        tags::COMMAND_FIELD,
        VR::US,
        dicom_value!(U16, [field]),
    ));
    elements.push(DataElement::new(
        tags::MESSAGE_ID_BEING_RESPONDED_TO,
        VR::US,
        dicom_value!(U16, [responded_to]),
    ));
    let data_set_type = if with_data {
        DATA_SET_PRESENT
    } else {
        NO_DATA_SET
    };
    elements.push(DataElement::new(
        tags::COMMAND_DATA_SET_TYPE,
        VR::US,
        dicom_value!(U16, [data_set_type]),
    ));
    elements.push(DataElement::new(
        tags::STATUS,
        VR::US,
        dicom_value!(U16, [status]),
    ));
    if let Some(tag) = extra.offending {
        elements.push(DataElement::new(
            tags::OFFENDING_ELEMENT,
            VR::AT,
            dicom_core::PrimitiveValue::Tags([tag].into_iter().collect()),
        ));
    }
    if let Some(comment) = extra.error_comment {
        let comment: String = comment.chars().filter(char::is_ascii).take(64).collect();
        elements.push(DataElement::new(
            tags::ERROR_COMMENT,
            VR::LO,
            dicom_value!(Str, comment),
        ));
    }
    if let Some(id) = extra.error_id {
        elements.push(DataElement::new(
            tags::ERROR_ID,
            VR::US,
            dicom_value!(U16, [id]),
        ));
    }
    if let Some(instance) = extra.sop_instance {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            dicom_value!(Str, instance),
        ));
    }
    InMemDicomObject::command_from_element_iter(elements)
}

/// Encodes a command set (always implicit VR little endian).
pub fn encode_command(command: &InMemDicomObject) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(160);
    command
        .write_dataset_with_ts(&mut bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| format!("cannot encode a command set: {e}"))?;
    Ok(bytes)
}

/// Encodes a data set in the given transfer syntax.
pub fn encode_data(data: &InMemDicomObject, ts: &TransferSyntax) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(512);
    data.write_dataset_with_ts(&mut bytes, ts)
        .map_err(|e| format!("cannot encode a data set: {}", error_chain(&e)))?;
    Ok(bytes)
}

/// Decodes a data set received in the given transfer syntax.
pub fn decode_data(bytes: &[u8], ts: &TransferSyntax) -> Result<InMemDicomObject, String> {
    let explicit = ts.uid().trim_end_matches('\0') != "1.2.840.10008.1.2";
    let big_endian = ts.uid().trim_end_matches('\0') == "1.2.840.10008.1.2.2";
    check_lengths(bytes, explicit, big_endian)?;
    InMemDicomObject::read_dataset_with_ts(bytes, ts)
        .map_err(|e| format!("unreadable data set: {}", error_chain(&e)))
}

/// The P-DATA PDU(s) for one message. The command and a small data set go
/// in one PDU (two PDVs); a data set that does not fit is returned apart, to
/// be fragmented by the caller with `send_pdata`.
pub fn message_pdus(
    pc_id: u8,
    command: Vec<u8>,
    data: Option<Vec<u8>>,
    peer_max_pdu: u32,
) -> (Pdu, Option<Vec<u8>>) {
    let command_pdv = PDataValue {
        presentation_context_id: pc_id,
        value_type: PDataValueType::Command,
        is_last: true,
        data: command,
    };
    match data {
        Some(data)
            if (command_pdv.data.len() + data.len() + 12) as u64 <= u64::from(peer_max_pdu) =>
        {
            let data_pdv = PDataValue {
                presentation_context_id: pc_id,
                value_type: PDataValueType::Data,
                is_last: true,
                data,
            };
            (
                Pdu::PData {
                    data: vec![command_pdv, data_pdv],
                },
                None,
            )
        }
        rest => (
            Pdu::PData {
                data: vec![command_pdv],
            },
            rest,
        ),
    }
}

/// The VR the standard dictionary gives a tag (UN when unknown).
fn dictionary_vr(tag: Tag) -> VR {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    dicom_dictionary_std::StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.vr().relaxed())
        .unwrap_or(VR::UN)
}

/// The size of one value of a binary VR (1 for text and bytes); a length
/// must be a multiple of it, or the decoder loses its place.
fn value_size(vr: VR) -> usize {
    match vr {
        VR::US | VR::SS | VR::OW => 2,
        VR::UL | VR::SL | VR::FL | VR::AT | VR::OL | VR::OF => 4,
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
        _ => 1,
    }
}

/// Checks a command set before decoding: group 0000 elements only, each
/// with a defined length within the bytes received.
pub fn check_command(bytes: &[u8]) -> Result<(), String> {
    let mut at = 0usize;
    while at < bytes.len() {
        let header = bytes
            .get(at..at + 8)
            .ok_or_else(|| "command set truncated inside an element header".to_string())?;
        let group = u16::from_le_bytes([header[0], header[1]]);
        let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if group != 0 {
            return Err(format!("command set holds an element of group {group:04X}"));
        }
        if length > bytes.len() - at - 8 {
            return Err("command set element longer than the command set".into());
        }
        let tag = Tag(group, u16::from_le_bytes([header[2], header[3]]));
        if length % value_size(dictionary_vr(tag)) != 0 {
            return Err(format!(
                "command element {tag} has an impossible length {length}"
            ));
        }
        at += 8 + length;
    }
    Ok(())
}

/// Checks that no element of an encoded data set declares a length beyond
/// the bytes that follow it, and that sequences hold items, before the
/// decoder sees it: the decoder reserves memory for a declared length, so a
/// 40-byte message claiming a 3 GB value would otherwise cost 3 GB (found by
/// the fuzz target).
pub fn check_lengths(bytes: &[u8], explicit: bool, big_endian: bool) -> Result<(), String> {
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = bytes.get(at..at + 2)?.try_into().ok()?;
        Some(if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let truncated = || "data set truncated inside an element header".to_string();
    let mut at = 0usize;
    let mut expect_item = false;
    while at < bytes.len() {
        let group = u16_at(at).ok_or_else(truncated)?;
        let element = u16_at(at + 2).ok_or_else(truncated)?;
        let tag = Tag(group, element);
        if expect_item && group != 0xFFFE {
            return Err(format!(
                "sequence content starts with {tag} instead of an item"
            ));
        }
        expect_item = false;
        if group == 0xFFFE {
            // Items and delimiters: tag and a 4-byte length, no VR; an item's
            // content follows.
            u32_at(at + 4).ok_or_else(truncated)?;
            at += 8;
            continue;
        }
        let (length, value_at, sequence, vr) = if explicit {
            let vr = bytes.get(at + 4..at + 6).ok_or_else(truncated)?;
            // Unknown VR codes are read as UN (4-byte length), as the decoder does.
            const SHORT: [&[u8]; 21] = [
                b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
                b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
            ];
            let long = !SHORT.contains(&vr);
            let vr_code = VR::from_binary([vr[0], vr[1]]).unwrap_or(VR::UN);
            if long {
                let length = u32_at(at + 8).ok_or_else(truncated)?;
                let sequence = vr == b"SQ" || length == u32::MAX;
                (length, at + 12, sequence, vr_code)
            } else {
                let length = u32::from(u16_at(at + 6).ok_or_else(truncated)?);
                (length, at + 8, false, vr_code)
            }
        } else {
            let length = u32_at(at + 4).ok_or_else(truncated)?;
            let vr = dictionary_vr(tag);
            (length, at + 8, vr == VR::SQ || length == u32::MAX, vr)
        };
        if sequence {
            at = value_at;
            expect_item = length != 0;
            continue;
        }
        if length == u32::MAX {
            return Err(format!(
                "element {tag} has an undefined length but is no sequence"
            ));
        }
        let length = length as usize;
        if length % value_size(vr) != 0 {
            return Err(format!("element {tag} has an impossible length {length}"));
        }
        if length > bytes.len().saturating_sub(value_at) {
            return Err(format!(
                "element {tag} declares {length} bytes but only {} follow",
                bytes.len().saturating_sub(value_at)
            ));
        }
        at = value_at + length;
    }
    Ok(())
}

/// An error and its causes on one line.
pub use pylantir_plugin_api::messages::error_chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_length_beyond_the_data_is_refused_before_decoding() {
        // (0010,0010) implicit VR, length 0xA43F3F3F, 4 bytes of value.
        let bytes = [
            0x10, 0x00, 0x10, 0x00, 0x3F, 0x3F, 0x3F, 0xA4, b'A', b'B', b'C', b'D',
        ];
        assert!(check_lengths(&bytes, false, false).is_err());
        let ok = [
            0x10, 0x00, 0x10, 0x00, 0x04, 0x00, 0x00, 0x00, b'A', b'B', b'C', b'D',
        ];
        assert!(check_lengths(&ok, false, false).is_ok());
    }

    #[test]
    fn an_unknown_explicit_vr_code_is_checked_with_a_4_byte_length() {
        // (5200,0040), VR bytes 07 08 (unknown: read as UN), length 0xFFF90000.
        let bytes = [
            0x00, 0x52, 0x40, 0x00, 0x07, 0x08, 0x05, 0x00, 0x00, 0x00, 0xF9, 0xFF, 1, 2,
        ];
        assert!(check_lengths(&bytes, true, false).is_err());
    }

    #[test]
    fn lengths_inside_explicit_vr_sequences_are_checked_too() {
        let mut bytes = vec![
            0x40, 0x00, 0x00, 0x01, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        bytes.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        bytes.extend_from_slice(&[
            0x08, 0x00, 0x60, 0x00, b'U', b'T', 0, 0, 0x00, 0x00, 0x00, 0x40,
        ]);
        assert!(check_lengths(&bytes, true, false).is_err());
    }
}
