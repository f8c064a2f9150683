//! `pylantir test-client`: an MWL C-FIND client that prints the worklist a
//! scanner would see, as a table or as JSON.

use super::echo::ConnectionArgs;
use clap::Args;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use std::ops::ControlFlow;

/// Arguments of `test-client`.
#[derive(Debug, Args)]
pub struct TestClientArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Patient's Name to match (wildcards `*` and `?` allowed).
    #[arg(long = "patient-name", alias = "patient_name")]
    pub patient_name: Option<String>,
    /// Patient ID to match.
    #[arg(long = "patient-id", alias = "patient_id")]
    pub patient_id: Option<String>,
    /// Modality to match.
    #[arg(long)]
    pub modality: Option<String>,
    /// Scheduled Station AE Title to match.
    #[arg(long = "station-aet", alias = "station_aet")]
    pub station_aet: Option<String>,
    /// SPS Start Date: `YYYYMMDD` or a range `YYYYMMDD-YYYYMMDD`.
    #[arg(long)]
    pub date: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Columns: header, top-level tag or SPS tag.
const COLUMNS: [(&str, Tag, bool); 10] = [
    ("PatientName", tags::PATIENT_NAME, false),
    ("PatientID", tags::PATIENT_ID, false),
    ("Accession", tags::ACCESSION_NUMBER, false),
    ("StudyInstanceUID", tags::STUDY_INSTANCE_UID, false),
    ("Modality", tags::MODALITY, true),
    ("StationAET", tags::SCHEDULED_STATION_AE_TITLE, true),
    ("Date", tags::SCHEDULED_PROCEDURE_STEP_START_DATE, true),
    ("Time", tags::SCHEDULED_PROCEDURE_STEP_START_TIME, true),
    ("SPSID", tags::SCHEDULED_PROCEDURE_STEP_ID, true),
    ("Status", tags::SCHEDULED_PROCEDURE_STEP_STATUS, true),
];

fn element(tag: Tag, vr: VR, value: Option<&String>) -> DataElement<InMemDicomObject> {
    match value {
        Some(v) => DataElement::new(tag, vr, PrimitiveValue::from(v.as_str())),
        None => DataElement::new(tag, vr, PrimitiveValue::Empty),
    }
}

/// The query identifier for these arguments.
pub fn identifier(args: &TestClientArgs) -> InMemDicomObject {
    let sps = InMemDicomObject::from_element_iter([
        element(tags::MODALITY, VR::CS, args.modality.as_ref()),
        element(
            tags::SCHEDULED_STATION_AE_TITLE,
            VR::AE,
            args.station_aet.as_ref(),
        ),
        element(
            tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            args.date.as_ref(),
        ),
        element(tags::SCHEDULED_PROCEDURE_STEP_START_TIME, VR::TM, None),
        element(tags::SCHEDULED_PROCEDURE_STEP_ID, VR::SH, None),
        element(tags::SCHEDULED_PROCEDURE_STEP_STATUS, VR::CS, None),
    ]);
    InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            PrimitiveValue::from("ISO_IR 192"),
        ),
        element(tags::PATIENT_NAME, VR::PN, args.patient_name.as_ref()),
        element(tags::PATIENT_ID, VR::LO, args.patient_id.as_ref()),
        element(tags::ACCESSION_NUMBER, VR::SH, None),
        element(tags::STUDY_INSTANCE_UID, VR::UI, None),
        DataElement::new(
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            VR::SQ,
            DataSetSequence::new(vec![sps], Length::UNDEFINED),
        ),
    ])
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_matches(|c| c == ' ' || c == '\0').to_string())
        .unwrap_or_default()
}

fn row(answer: &InMemDicomObject) -> Vec<String> {
    let sps = answer
        .get(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|items| items.first().cloned())
        .unwrap_or_else(InMemDicomObject::new_empty);
    COLUMNS
        .iter()
        .map(|(_, tag, in_sps)| text(if *in_sps { &sps } else { answer }, *tag))
        .collect()
}

/// Runs `test-client`; exit code 0 when the find ended with Success.
pub fn run(args: &TestClientArgs) -> i32 {
    let options = args.connection.scu();
    let query = identifier(args);
    let mut rows = Vec::new();
    let outcome = args
        .connection
        .connect(&[uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND])
        .and_then(|mut client| {
            let status = client.find(&query, |_, answer| {
                rows.push(row(&answer));
                ControlFlow::Continue(())
            })?;
            client.release()?;
            Ok(status)
        });
    let status = match outcome {
        Ok(status) => status,
        Err(e) => {
            eprintln!(
                "C-FIND {} at {} failed: {e}",
                options.called_ae, options.addr
            );
            return 1;
        }
    };
    if args.json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::Value::Object(
                    COLUMNS
                        .iter()
                        .zip(r)
                        .map(|((name, _, _), v)| {
                            (name.to_string(), serde_json::Value::from(v.as_str()))
                        })
                        .collect(),
                )
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
    } else {
        let headers: Vec<&str> = COLUMNS.iter().map(|(name, _, _)| *name).collect();
        print!("{}", super::table::render(&headers, &rows));
        println!("{} item(s), final status 0x{status:04X}", rows.len());
    }
    i32::from(status != 0)
}
