//! Fuzzes what a peer controls on the way in: PDU decoding, DIMSE message
//! reassembly, command and identifier decoding, C-FIND query parsing and SQL
//! building, and reading an MPPS data set. None of it may panic.
#![no_main]

use dicom_transfer_syntax_registry::entries::{EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN};
use libfuzzer_sys::fuzz_target;
use pylantir::dicom::dimse::{decode_data, Assembler};
use pylantir::dicom::{find, ServerOptions};

fuzz_target!(|data: &[u8]| {
    let options = ServerOptions::new("MWL_SERVER", "127.0.0.1", 0);
    let mut assembler = Assembler::new(1 << 20);
    let mut rest = data;
    // A stream of PDUs, as the association loop would receive them.
    while let Ok(Some(pdu)) = dicom_ul::read_pdu(&mut rest, 1 << 20, false) {
        let dicom_ul::Pdu::PData { data: pdvs } = pdu else {
            continue;
        };
        for pdv in pdvs {
            let Ok(Some(message)) = assembler.feed(pdv) else {
                continue;
            };
            let _ = message.field();
            let _ = message.message_id();
            let Some(bytes) = message.data else { continue };
            for ts in [IMPLICIT_VR_LITTLE_ENDIAN.erased(), EXPLICIT_VR_LITTLE_ENDIAN.erased()] {
                if let Ok(identifier) = decode_data(&bytes, &ts) {
                    if let Ok(request) = find::parse(identifier, &options, "FUZZER") {
                        let _ = pylantir::store::find::build_sql(&request.filter);
                        let row = pylantir::store::find::ItemRow::default();
                        let _ = find::response_identifier(&request, &row);
                    }
                }
            }
        }
    }
});
