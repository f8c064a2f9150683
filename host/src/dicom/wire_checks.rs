//! Checks on an encoded command set or data set before dicom-rs decodes
//! it: the decoder trusts declared lengths (it reserves memory for them and
//! loses its place on a length that is not a whole number of values), so a
//! peer's bytes are checked here first.

use dicom_core::{Tag, VR};

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
