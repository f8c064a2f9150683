//! `pylantir test-mpps`: an MPPS client (N-CREATE, then N-SET COMPLETED or
//! DISCONTINUED), with pylantir 0.4's option spellings.

use super::echo::ConnectionArgs;
use clap::{Args, ValueEnum};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

/// What to send.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Action {
    /// N-CREATE with status IN PROGRESS.
    Create,
    /// N-SET with `--mpps_status`.
    Set,
}

/// Final statuses an N-SET may send.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FinalStatus {
    /// The procedure step completed.
    #[value(name = "COMPLETED", alias = "completed")]
    Completed,
    /// The procedure step was discontinued.
    #[value(name = "DISCONTINUED", alias = "discontinued")]
    Discontinued,
}

/// Arguments of `test-mpps`.
#[derive(Debug, Args)]
pub struct TestMppsArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// create (N-CREATE) or set (N-SET).
    #[arg(
        long = "mpps_action",
        alias = "mpps-action",
        value_enum,
        default_value = "create"
    )]
    pub action: Action,
    /// Status sent by `set`.
    #[arg(
        long = "mpps_status",
        alias = "mpps-status",
        value_enum,
        default_value = "COMPLETED"
    )]
    pub status: FinalStatus,
    /// Study Instance UID of the scheduled step (N-CREATE).
    #[arg(long = "study_uid", alias = "study-uid")]
    pub study_uid: Option<String>,
    /// SOP Instance UID of the MPPS (chosen by the server on create if absent; required for set).
    #[arg(long = "sop_uid", alias = "sop-uid")]
    pub sop_uid: Option<String>,
    /// Scheduled Procedure Step ID (N-CREATE).
    #[arg(long = "sps_id", alias = "sps-id")]
    pub sps_id: Option<String>,
    /// Patient ID (N-CREATE).
    #[arg(long = "patient-id", alias = "patient_id")]
    pub patient_id: Option<String>,
    /// Patient's Name (N-CREATE).
    #[arg(long = "patient-name", alias = "patient_name")]
    pub patient_name: Option<String>,
}

fn element(tag: Tag, vr: VR, value: Option<&str>) -> DataElement<InMemDicomObject> {
    match value {
        Some(v) if !v.is_empty() => DataElement::new(tag, vr, PrimitiveValue::from(v)),
        _ => DataElement::new(tag, vr, PrimitiveValue::Empty),
    }
}

fn sequence(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::new(items, Length::UNDEFINED))
}

fn now() -> (String, String) {
    let now = jiff::ZonedDateTime::now();
    (
        now.strftime("%Y%m%d").to_string(),
        now.strftime("%H%M%S").to_string(),
    )
}

/// The N-CREATE data set.
pub fn create_data(args: &TestMppsArgs) -> InMemDicomObject {
    let (date, time) = now();
    let scheduled = InMemDicomObject::from_element_iter([
        element(tags::STUDY_INSTANCE_UID, VR::UI, args.study_uid.as_deref()),
        element(
            tags::SCHEDULED_PROCEDURE_STEP_ID,
            VR::SH,
            args.sps_id.as_deref(),
        ),
        element(tags::ACCESSION_NUMBER, VR::SH, None),
    ]);
    InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            PrimitiveValue::from("ISO_IR 192"),
        ),
        sequence(tags::SCHEDULED_STEP_ATTRIBUTES_SEQUENCE, vec![scheduled]),
        element(tags::PATIENT_NAME, VR::PN, args.patient_name.as_deref()),
        element(tags::PATIENT_ID, VR::LO, args.patient_id.as_deref()),
        element(tags::PERFORMED_PROCEDURE_STEP_ID, VR::SH, Some("PPS1")),
        element(
            tags::PERFORMED_STATION_AE_TITLE,
            VR::AE,
            Some(&args.connection.calling_ae_title),
        ),
        element(
            tags::PERFORMED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            Some(&date),
        ),
        element(
            tags::PERFORMED_PROCEDURE_STEP_START_TIME,
            VR::TM,
            Some(&time),
        ),
        element(tags::PERFORMED_PROCEDURE_STEP_END_DATE, VR::DA, None),
        element(tags::PERFORMED_PROCEDURE_STEP_END_TIME, VR::TM, None),
        element(
            tags::PERFORMED_PROCEDURE_STEP_STATUS,
            VR::CS,
            Some("IN PROGRESS"),
        ),
        element(tags::MODALITY, VR::CS, Some("MR")),
        sequence(tags::PERFORMED_SERIES_SEQUENCE, Vec::new()),
    ])
}

/// The N-SET data set.
pub fn set_data(status: FinalStatus) -> InMemDicomObject {
    let (date, time) = now();
    let status = match status {
        FinalStatus::Completed => "COMPLETED",
        FinalStatus::Discontinued => "DISCONTINUED",
    };
    InMemDicomObject::from_element_iter([
        element(tags::PERFORMED_PROCEDURE_STEP_STATUS, VR::CS, Some(status)),
        element(tags::PERFORMED_PROCEDURE_STEP_END_DATE, VR::DA, Some(&date)),
        element(tags::PERFORMED_PROCEDURE_STEP_END_TIME, VR::TM, Some(&time)),
    ])
}

/// Runs `test-mpps`; exit code 0 on Success.
pub fn run(args: &TestMppsArgs) -> i32 {
    let options = args.connection.scu();
    if matches!(args.action, Action::Set) && args.sop_uid.is_none() {
        eprintln!("test-mpps --mpps_action set needs --sop_uid (the UID the create printed)");
        return 2;
    }
    let outcome = args
        .connection
        .connect(&[uids::MODALITY_PERFORMED_PROCEDURE_STEP])
        .and_then(|mut client| {
            let response = match args.action {
                Action::Create => client.n_create(args.sop_uid.as_deref(), &create_data(args))?,
                Action::Set => client.n_set(
                    args.sop_uid.as_deref().unwrap_or_default(),
                    &set_data(args.status),
                )?,
            };
            client.release()?;
            Ok(response)
        });
    match outcome {
        Ok(response) => {
            let uid = response
                .command
                .get(tags::AFFECTED_SOP_INSTANCE_UID)
                .and_then(|e| e.to_str().ok())
                .map(|s| s.trim_end_matches('\0').to_string())
                .unwrap_or_default();
            let verb = match args.action {
                Action::Create => "N-CREATE",
                Action::Set => "N-SET",
            };
            if response.status == 0 {
                println!("MPPS {verb} {uid}: Success");
                0
            } else {
                eprintln!("MPPS {verb} {uid}: status 0x{:04X}", response.status);
                1
            }
        }
        Err(e) => {
            eprintln!(
                "MPPS to {} at {} failed: {e}",
                options.called_ae, options.addr
            );
            1
        }
    }
}
