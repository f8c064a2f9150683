//! DIMSE messages: command fields, status codes, command-set building and
//! reading, reassembly of messages from P-DATA values, and sending them.

use super::wire_checks;
use dicom_core::{dicom_value, DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::Endianness;
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
                wire_checks::check_command(&self.command_bytes).map_err(ProtocolError)?;
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
    let explicit = ts.uid().trim_end_matches('\0') != IMPLICIT_VR_LITTLE_ENDIAN.uid();
    let big_endian = ts.endianness() == Endianness::Big;
    wire_checks::check_lengths(bytes, explicit, big_endian)?;
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

/// An error and its causes on one line.
pub use pylantir_plugin_api::messages::error_chain;
