//! Association handling: AE title checks, unsupported SOP classes,
//! C-CANCEL mid-stream, concurrency and its limit, and robustness against
//! garbage and truncated PDUs (the server must go on serving).

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_ul::pdu::{PDataValue, PDataValueType, PresentationContextProposed, UserVariableItem};
use dicom_ul::Pdu;
use pylantir::dicom::scu::Client;
use pylantir::store::Db;
use pylantir_tests::dicom::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::ControlFlow;
use std::time::Duration;

fn patient_query() -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        text(tags::PATIENT_ID, VR::LO, ""),
        text(tags::PATIENT_NAME, VR::PN, ""),
    ])
}

fn fill(site: &Site, count: usize) {
    let conn = site.conn();
    pylantir::store::db::write(&conn, |tx| {
        for i in 0..count {
            tx.execute(
                "INSERT INTO worklist_items (patient_id, patient_name, scheduled_start_date) \
                 VALUES (?1, ?2, '2025-01-30')",
                &[format!("P{i}").into(), format!("Patient^{i}").into()],
            )?;
        }
        Ok::<_, pylantir::store::DbError>(())
    })
    .expect("rows inserted");
}

fn connect_error(site: &Site, calling: &str, called: &str) -> String {
    let mut options = site.scu(calling);
    options.called_ae = called.into();
    match Client::connect(&options, &[uids::VERIFICATION]) {
        Ok(_) => panic!("association {calling} -> {called} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_calling_ae_title_outside_allowed_aet_is_rejected() {
    let site = Site::new(serde_json::json!({"allowed_aet": ["SCANNER1"]}));
    let error = connect_error(&site, "INTRUDER", AE);
    assert!(error.contains("calling AE title not recognized"), "{error}");
    let mut client = site.client("SCANNER1");
    assert_eq!(client.echo().expect("echo"), 0);
}

#[test]
fn a_wrong_called_ae_title_is_rejected() {
    let site = Site::new(serde_json::json!({}));
    let error = connect_error(&site, "SCANNER1", "SOMEONE_ELSE");
    assert!(error.contains("called AE title not recognized"), "{error}");
}

#[test]
fn an_association_proposing_only_unsupported_sop_classes_is_aborted() {
    let site = Site::new(serde_json::json!({}));
    let study_root_find = "1.2.840.10008.5.1.4.1.2.2.1";
    let outcome =
        Client::connect(&site.scu("SCANNER1"), &[study_root_find]).and_then(|mut c| c.echo());
    assert!(
        outcome.is_err(),
        "an association without a usable context must not work"
    );
    let mut client = site.client("SCANNER1");
    assert_eq!(client.echo().expect("echo after"), 0);
}

#[test]
fn c_cancel_stops_a_running_find_with_status_cancel() {
    let site = Site::new(serde_json::json!({}));
    fill(&site, 30_000);
    let mut client = site.client("SCANNER1");
    let mut received = 0;
    let status = client
        .find(&patient_query(), |_, _| {
            received += 1;
            ControlFlow::Break(())
        })
        .expect("find");
    assert_eq!(status, 0xFE00);
    assert!(
        received < 30_000,
        "all {received} answers came although cancelled"
    );
    // The association is still usable.
    assert_eq!(client.echo().expect("echo"), 0);
}

#[test]
fn twenty_concurrent_associations_are_all_served() {
    // All from 127.0.0.1: above the default 16 connections per address.
    let site = Site::new(serde_json::json!({"max_connections_per_address": 20}));
    fill(&site, 50);
    let results: Vec<(u16, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let site = &site;
                scope.spawn(move || {
                    let mut client = site.client(&format!("SCU{i}"));
                    let mut n = 0;
                    let status = client
                        .find(&patient_query(), |_, _| {
                            n += 1;
                            ControlFlow::Continue(())
                        })
                        .expect("find");
                    client.release().expect("release");
                    (status, n)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(results, vec![(0, 50); 20]);
}

#[test]
fn associations_beyond_max_associations_are_rejected_as_transient() {
    let site = Site::new(serde_json::json!({"max_associations": 1}));
    let mut first = site.client("SCU1");
    assert_eq!(first.echo().expect("echo"), 0);
    let error = connect_error(&site, "SCU2", AE);
    assert!(error.contains("local limit exceeded"), "{error}");
    first.release().expect("release");
    // The slot frees once the first association's thread has ended.
    let mut attempts = 0;
    let mut again = loop {
        match Client::connect(&site.scu("SCU3"), &[uids::VERIFICATION]) {
            Ok(client) => break client,
            Err(e) if attempts < 100 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
                let _ = e;
            }
            Err(e) => panic!("no association after the first ended: {e}"),
        }
    };
    assert_eq!(again.echo().expect("echo"), 0);
}

fn association_rq() -> Vec<u8> {
    let rq = Pdu::AssociationRQ(dicom_ul::pdu::AssociationRQ {
        protocol_version: 1,
        calling_ae_title: "RAW".into(),
        called_ae_title: AE.into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![PresentationContextProposed {
            id: 1,
            abstract_syntax: uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND.into(),
            transfer_syntaxes: vec![uids::IMPLICIT_VR_LITTLE_ENDIAN.into()],
        }],
        user_variables: vec![UserVariableItem::MaxLength(16384)],
    });
    let mut bytes = Vec::new();
    dicom_ul::write_pdu(&mut bytes, &rq).expect("encode RQ");
    bytes
}

/// Sends bytes on a fresh connection and reads until the server closes it.
fn send_raw(site: &Site, chunks: &[&[u8]]) {
    let mut stream = TcpStream::connect(site.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    for chunk in chunks {
        if stream.write_all(chunk).is_err() {
            return;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
}

#[test]
fn garbage_and_truncated_pdus_do_not_stop_the_server() {
    let site = Site::new(serde_json::json!({"acse_timeout": 2, "dimse_timeout": 2}));
    fill(&site, 3);
    let rq = association_rq();
    let garbage_pdata = {
        let pdu = Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: 1,
                value_type: PDataValueType::Command,
                is_last: true,
                data: vec![0xFF; 37],
            }],
        };
        let mut bytes = Vec::new();
        dicom_ul::write_pdu(&mut bytes, &pdu).expect("encode");
        bytes
    };
    let data_without_command = {
        let pdu = Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: 1,
                value_type: PDataValueType::Data,
                is_last: true,
                data: vec![0; 8],
            }],
        };
        let mut bytes = Vec::new();
        dicom_ul::write_pdu(&mut bytes, &pdu).expect("encode");
        bytes
    };
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"],
        vec![&rq[..rq.len() / 2]],
        vec![&[0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01]],
        vec![&[0x07, 0x00, 0x00, 0x00, 0x00, 0x02]],
        vec![&rq, &garbage_pdata],
        vec![&rq, &data_without_command],
        vec![&rq, &[0x04, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00]],
        vec![&rq, &[0x09, 0x00, 0x00, 0x00, 0x00, 0x00]],
    ];
    for case in &cases {
        send_raw(&site, case);
    }
    let (status, answers) = site.find(&patient_query());
    assert_eq!((status, answers.len()), (0, 3));
}

#[test]
fn an_idle_association_is_aborted_after_dimse_timeout() {
    let site = Site::new(serde_json::json!({"dimse_timeout": 0.5}));
    let mut client = site.client("SCANNER1");
    assert_eq!(client.echo().expect("echo"), 0);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        client.echo().is_err(),
        "the idle association should have been aborted"
    );
    let mut again = site.client("SCANNER1");
    assert_eq!(again.echo().expect("new association"), 0);
}

#[test]
fn an_oversized_message_aborts_the_association_and_stores_nothing() {
    let site = Site::new(serde_json::json!({}));
    let mut client = site.client("SCANNER1");
    let huge = "x".repeat(17 * 1024 * 1024);
    let data = InMemDicomObject::from_element_iter([
        text(tags::PERFORMED_PROCEDURE_STEP_STATUS, VR::CS, "IN PROGRESS"),
        text(
            tags::COMMENTS_ON_THE_PERFORMED_PROCEDURE_STEP,
            VR::LT,
            &huge,
        ),
    ]);
    assert!(client.n_create(Some("2.25.5"), &data).is_err());
    let stored = site
        .conn()
        .query_row("SELECT count(*) FROM mpps_instances", &[])
        .expect("count")
        .and_then(|row| row.int(0))
        .unwrap_or_default();
    assert_eq!(stored, 0);
    let mut again = site.client("SCANNER1");
    assert_eq!(again.echo().expect("server still serves"), 0);
}

/// Sends one command set on the presentation context of `sop_class` and
/// returns the response's Status.
fn raw_command(site: &Site, sop_class: &str, command: InMemDicomObject) -> u16 {
    let mut assoc = dicom_ul::ClientAssociationOptions::new()
        .calling_ae_title("RAW")
        .called_ae_title(AE)
        .with_abstract_syntax(sop_class)
        .read_timeout(Duration::from_secs(10))
        .establish_with(&site.addr())
        .expect("associate");
    let pc = assoc.presentation_contexts()[0].id;
    let mut bytes = Vec::new();
    command
        .write_dataset_with_ts(
            &mut bytes,
            &dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
        )
        .expect("encode command");
    assoc
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: bytes,
            }],
        })
        .expect("send");
    let Pdu::PData { data } = assoc.receive().expect("response") else {
        panic!("no P-DATA response");
    };
    let rsp = InMemDicomObject::read_dataset_with_ts(
        data[0].data.as_slice(),
        &dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
    )
    .expect("decode response");
    let _ = assoc.release();
    rsp.get(tags::STATUS)
        .and_then(|e| e.to_int::<u16>().ok())
        .expect("status")
}

fn command(field: u16, class: &str) -> InMemDicomObject {
    use dicom_core::{dicom_value, DataElement};
    InMemDicomObject::command_from_element_iter([
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            dicom_value!(Str, class),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [field])),
        DataElement::new(tags::MESSAGE_ID, VR::US, dicom_value!(U16, [1])),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [0x0101]),
        ),
    ])
}

#[test]
fn an_unsupported_command_is_answered_unrecognized_operation() {
    let site = Site::new(serde_json::json!({}));
    let mwl = uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND;
    assert_eq!(
        raw_command(&site, mwl, command(0x0010, mwl)),
        0x0211,
        "C-GET-RQ"
    );
}

#[test]
fn a_command_for_another_sop_class_than_its_context_is_0122() {
    let site = Site::new(serde_json::json!({}));
    let find_on_verification = command(0x0020, uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND);
    assert_eq!(
        raw_command(&site, uids::VERIFICATION, find_on_verification),
        0x0122
    );
}
