//! MWL C-FIND matching rules and visibility, checked with our SCU:
//! sequence matching, optional keys, UID lists, statuses, per-source
//! windows, the calling-AE filter and pylantir 0.4's missing-value defaults.

use dicom_core::VR;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use pylantir_tests::dicom::*;
use pylantir_tests::stores::Backend;

fn query(
    top: Vec<dicom_core::DataElement<InMemDicomObject>>,
    sps: Option<Vec<dicom_core::DataElement<InMemDicomObject>>>,
) -> InMemDicomObject {
    let mut elements = top;
    elements.push(text(tags::PATIENT_ID, VR::LO, ""));
    if let Some(sps) = sps {
        elements.push(seq(
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            vec![InMemDicomObject::from_element_iter(sps)],
        ));
    }
    InMemDicomObject::from_element_iter(elements)
}

fn ids(answers: &[InMemDicomObject]) -> Vec<String> {
    let mut ids: Vec<String> = answers.iter().map(|a| value(a, tags::PATIENT_ID)).collect();
    ids.sort();
    ids
}

fn find_ids(site: &Site, q: &InMemDicomObject) -> Vec<String> {
    let (status, answers) = site.find(q);
    assert_eq!(status, 0);
    ids(&answers)
}

/// Today plus `days`, as YYYY-MM-DD in local time.
fn day(_site: &Site, days: i64) -> String {
    date_from(jiff::ZonedDateTime::now(), days)
}

/// The date `days` from today in America/Edmonton, the time zone of a
/// Calpendo source's visibility rules when its config names none (the
/// machine's own zone may already be on another day).
fn calpendo_day(days: i64) -> String {
    let now = jiff::Timestamp::now()
        .in_tz("America/Edmonton")
        .expect("jiff's bundled time zone database");
    date_from(now, days)
}

fn date_from(now: jiff::ZonedDateTime, days: i64) -> String {
    now.date()
        .checked_add(jiff::Span::new().days(days))
        .expect("a date")
        .strftime("%Y-%m-%d")
        .to_string()
}

fn an_sps_sequence_with_two_query_items_is_refused(backend: Backend) {
    let site = Site::on(backend, serde_json::json!({}));
    site.insert(&[("patient_id", "P1")]);
    let item = InMemDicomObject::from_element_iter([text(tags::MODALITY, VR::CS, "MR")]);
    let q = InMemDicomObject::from_element_iter([
        text(tags::PATIENT_ID, VR::LO, ""),
        seq(
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            vec![item.clone(), item],
        ),
    ]);
    let (status, answers) = site.find(&q);
    assert_eq!((status, answers.len()), (0xA900, 0));
}

fn an_optional_key_we_cannot_match_on_gives_pending_warning(backend: Backend) {
    let site = Site::on(backend, serde_json::json!({}));
    site.insert(&[("patient_id", "P1")]);
    let q = query(vec![text(tags::ADMISSION_ID, VR::LO, "ADM1")], None);
    let mut client = site.client("SCU");
    let mut statuses = Vec::new();
    let last = client
        .find(&q, |s, _| {
            statuses.push(s);
            std::ops::ControlFlow::Continue(())
        })
        .expect("find");
    assert_eq!((statuses, last), (vec![0xFF01], 0));
}

fn study_instance_uids_match_as_a_list(backend: Backend) {
    let site = Site::on(backend, serde_json::json!({}));
    site.insert(&[("patient_id", "A"), ("study_instance_uid", "2.25.1")]);
    site.insert(&[("patient_id", "B"), ("study_instance_uid", "2.25.2")]);
    site.insert(&[("patient_id", "C"), ("study_instance_uid", "2.25.3")]);
    let uids = dicom_core::DataElement::new(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        dicom_core::PrimitiveValue::Strs(
            ["2.25.1".to_string(), "2.25.3".to_string()]
                .into_iter()
                .collect(),
        ),
    );
    assert_eq!(find_ids(&site, &query(vec![uids], None)), ["A", "C"]);
}

fn exact_patient_names_match_case_insensitively_and_ids_exactly(backend: Backend) {
    let site = Site::on(backend, serde_json::json!({}));
    site.insert(&[("patient_id", "A"), ("patient_name", "Doe^John")]);
    site.insert(&[("patient_id", "a"), ("patient_name", "Roe^Jane")]);
    assert_eq!(
        find_ids(
            &site,
            &query(vec![text(tags::PATIENT_NAME, VR::PN, "DOE^JOHN")], None)
        ),
        ["A"]
    );
    let by_id = InMemDicomObject::from_element_iter([text(tags::PATIENT_ID, VR::LO, "a")]);
    assert_eq!(find_ids(&site, &by_id), ["a"]);
}

fn completed_items_are_hidden_and_in_progress_is_sent_as_started(backend: Backend) {
    let site = Site::on(backend, serde_json::json!({}));
    site.insert(&[
        ("patient_id", "S"),
        ("performed_procedure_step_status", "SCHEDULED"),
    ]);
    site.insert(&[
        ("patient_id", "I"),
        ("performed_procedure_step_status", "IN_PROGRESS"),
    ]);
    site.insert(&[
        ("patient_id", "D"),
        ("performed_procedure_step_status", "DISCONTINUED"),
    ]);
    site.insert(&[
        ("patient_id", "C"),
        ("performed_procedure_step_status", "COMPLETED"),
    ]);
    let q = query(
        vec![],
        Some(vec![text(
            tags::SCHEDULED_PROCEDURE_STEP_STATUS,
            VR::CS,
            "",
        )]),
    );
    let (_, answers) = site.find(&q);
    assert_eq!(ids(&answers), ["D", "I", "S"]);
    let started: Vec<_> = answers
        .iter()
        .filter(|a| value(a, tags::PATIENT_ID) == "I")
        .map(|a| {
            value(
                &item(a, tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE),
                tags::SCHEDULED_PROCEDURE_STEP_STATUS,
            )
        })
        .collect();
    assert_eq!(started, ["STARTED"]);
    let by_status = query(
        vec![],
        Some(vec![text(
            tags::SCHEDULED_PROCEDURE_STEP_STATUS,
            VR::CS,
            "STARTED",
        )]),
    );
    assert_eq!(find_ids(&site, &by_status), ["I"]);
}

fn mwl_visible_statuses_chooses_what_scanners_see(backend: Backend) {
    let site = Site::on(
        backend,
        serde_json::json!({"mwl_visible_statuses": ["SCHEDULED"]}),
    );
    site.insert(&[
        ("patient_id", "S"),
        ("performed_procedure_step_status", "SCHEDULED"),
    ]);
    site.insert(&[
        ("patient_id", "I"),
        ("performed_procedure_step_status", "IN_PROGRESS"),
    ]);
    assert_eq!(find_ids(&site, &query(vec![], None)), ["S"]);
}

#[test]
fn filter_by_calling_aet_fills_an_empty_station_key_with_the_caller() {
    let config = serde_json::json!({"filter_by_calling_aet": true});
    let site = Site::new(config);
    site.insert(&[
        ("patient_id", "MINE"),
        ("scheduled_station_aetitle", "TESTSCU"),
    ]);
    site.insert(&[
        ("patient_id", "OTHER"),
        ("scheduled_station_aetitle", "SCANNER2"),
    ]);
    let q = query(
        vec![],
        Some(vec![text(tags::SCHEDULED_STATION_AE_TITLE, VR::AE, "*")]),
    );
    assert_eq!(find_ids(&site, &q), ["MINE"]);
    let without = Site::new(serde_json::json!({}));
    without.insert(&[
        ("patient_id", "MINE"),
        ("scheduled_station_aetitle", "TESTSCU"),
    ]);
    without.insert(&[
        ("patient_id", "OTHER"),
        ("scheduled_station_aetitle", "SCANNER2"),
    ]);
    assert_eq!(find_ids(&without, &q), ["MINE", "OTHER"]);
}

fn items_without_a_station_report_the_configured_default_station(backend: Backend) {
    let site = Site::on(backend, serde_json::json!({"default_station_aet": "MRI_1"}));
    site.insert(&[("patient_id", "P")]);
    let q = query(
        vec![],
        Some(vec![text(
            tags::SCHEDULED_STATION_AE_TITLE,
            VR::AE,
            "MRI_1",
        )]),
    );
    let (_, answers) = site.find(&q);
    assert_eq!(ids(&answers), ["P"]);
    assert_eq!(
        value(
            &item(&answers[0], tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE),
            tags::SCHEDULED_STATION_AE_TITLE
        ),
        "MRI_1"
    );
}

fn a_redcap_source_window_hides_only_that_sources_later_items(backend: Backend) {
    let site = Site::on(
        backend,
        serde_json::json!({"data_sources": [
            {"name": "main_redcap", "type": "redcap", "config": {"mwl_days_ahead": 1}},
            {"name": "cal", "type": "calpendo", "window_mode": "rolling"}
        ]}),
    );
    let (today, tomorrow, later) = (day(&site, 0), day(&site, 1), day(&site, 5));
    site.insert(&[
        ("patient_id", "TODAY"),
        ("data_source", "main_redcap"),
        ("scheduled_start_date", &today),
    ]);
    site.insert(&[
        ("patient_id", "TOMORROW"),
        ("data_source", "main_redcap"),
        ("scheduled_start_date", &tomorrow.replace('-', "")),
    ]);
    site.insert(&[
        ("patient_id", "LATER"),
        ("data_source", "main_redcap"),
        ("scheduled_start_date", &later),
    ]);
    site.insert(&[
        ("patient_id", "CAL_LATER"),
        ("data_source", "cal"),
        ("scheduled_start_date", &later),
    ]);
    site.insert(&[
        ("patient_id", "NO_SOURCE"),
        ("scheduled_start_date", &later),
    ]);
    assert_eq!(
        find_ids(&site, &query(vec![], None)),
        ["CAL_LATER", "NO_SOURCE", "TODAY", "TOMORROW"]
    );
}

fn the_legacy_configuration_windows_rows_without_a_source(backend: Backend) {
    let site = Site::on(
        backend,
        serde_json::json!({"redcap2wl": {"study_id": "study_id"}}),
    );
    let (today, later) = (day(&site, 0), day(&site, 3));
    site.insert(&[("patient_id", "TODAY"), ("scheduled_start_date", &today)]);
    site.insert(&[("patient_id", "LATER"), ("scheduled_start_date", &later)]);
    site.insert(&[
        ("patient_id", "LEGACY_LATER"),
        ("data_source", "redcap_legacy"),
        ("scheduled_start_date", &later),
    ]);
    assert_eq!(find_ids(&site, &query(vec![], None)), ["TODAY"]);
}

fn a_calpendo_today_window_shows_only_todays_bookings(backend: Backend) {
    let site = Site::on(
        backend,
        serde_json::json!({"data_sources": [
            {"name": "cal", "type": "calpendo", "window_mode": "today"}
        ]}),
    );
    let (yesterday, today, tomorrow) = (calpendo_day(-1), calpendo_day(0), calpendo_day(1));
    site.insert(&[
        ("patient_id", "Y"),
        ("data_source", "cal"),
        ("scheduled_start_date", &yesterday),
    ]);
    site.insert(&[
        ("patient_id", "T"),
        ("data_source", "cal"),
        ("scheduled_start_date", &today),
        ("scheduled_start_time", "23:59"),
    ]);
    site.insert(&[
        ("patient_id", "N"),
        ("data_source", "cal"),
        ("scheduled_start_date", &tomorrow),
    ]);
    assert_eq!(find_ids(&site, &query(vec![], None)), ["T"]);
}

fn an_empty_sps_sequence_returns_the_whole_item_with_pylantir_defaults(backend: Backend) {
    let site = Site::on(backend, serde_json::json!({}));
    site.insert(&[
        ("patient_id", "P"),
        ("protocol_name", "BRAIN"),
        ("hisris_coding_designator", "GEHC"),
        ("scheduled_start_date", "2025-01-30"),
        ("scheduled_start_time", "9:05"),
    ]);
    let q = InMemDicomObject::from_element_iter([
        text(tags::PATIENT_NAME, VR::PN, ""),
        seq(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE, vec![]),
    ]);
    let (_, answers) = site.find(&q);
    assert_eq!(answers.len(), 1);
    assert_eq!(value(&answers[0], tags::PATIENT_NAME), "UNKNOWN");
    let sps = item(&answers[0], tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE);
    assert_eq!(value(&sps, tags::MODALITY), "MR");
    assert_eq!(
        value(&sps, tags::SCHEDULED_PROCEDURE_STEP_DESCRIPTION),
        "BRAIN"
    );
    assert_eq!(
        value(&sps, tags::SCHEDULED_PROCEDURE_STEP_START_DATE),
        "20250130"
    );
    assert_eq!(
        value(&sps, tags::SCHEDULED_PROCEDURE_STEP_START_TIME),
        "",
        "9:05 is not a valid stored time"
    );
    let code = item(&sps, tags::SCHEDULED_PROTOCOL_CODE_SEQUENCE);
    assert_eq!(value(&code, tags::CODING_SCHEME_DESIGNATOR), "GEHC");
    assert_eq!(value(&code, tags::CODE_VALUE), "BRAIN");
}

/// Every Scheduled Procedure Step return key of PS3.4 Table K.6-1.
const K61_SPS_KEYS: [dicom_core::Tag; 13] = [
    tags::SCHEDULED_STATION_AE_TITLE,
    tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
    tags::SCHEDULED_PROCEDURE_STEP_START_TIME,
    tags::MODALITY,
    tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME,
    tags::SCHEDULED_PROCEDURE_STEP_DESCRIPTION,
    tags::SCHEDULED_PROTOCOL_CODE_SEQUENCE,
    tags::SCHEDULED_PROCEDURE_STEP_ID,
    tags::SCHEDULED_STATION_NAME,
    tags::SCHEDULED_PROCEDURE_STEP_LOCATION,
    tags::PRE_MEDICATION,
    tags::REQUESTED_CONTRAST_AGENT,
    tags::SCHEDULED_PROCEDURE_STEP_STATUS,
];

/// The tags of an object, sorted.
fn tag_set(obj: &InMemDicomObject) -> Vec<dicom_core::Tag> {
    let mut tags: Vec<_> = obj.iter().map(|e| e.header().tag).collect();
    tags.sort();
    tags
}

fn a_zero_length_or_empty_item_sps_sequence_returns_every_k61_sps_key(backend: Backend) {
    let site = Site::on(backend, serde_json::json!({}));
    site.insert(&[
        ("patient_id", "P"),
        ("protocol_name", "BRAIN"),
        ("hisris_coding_designator", "GEHC"),
        ("scheduled_start_date", "2025-01-30"),
        ("scheduled_start_time", "09:05"),
    ]);
    let mut expected = K61_SPS_KEYS.to_vec();
    expected.sort();
    for (form, items) in [
        ("zero-length", vec![]),
        ("one empty item", vec![InMemDicomObject::new_empty()]),
    ] {
        let q = InMemDicomObject::from_element_iter([
            text(tags::PATIENT_ID, VR::LO, ""),
            seq(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE, items),
        ]);
        let (status, answers) = site.find(&q);
        assert_eq!(status, 0, "{form}");
        assert_eq!(answers.len(), 1, "{form}");
        let sps = item(&answers[0], tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE);
        assert_eq!(tag_set(&sps), expected, "{form}");
        for unknown in [
            tags::SCHEDULED_PROCEDURE_STEP_LOCATION,
            tags::SCHEDULED_STATION_NAME,
            tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME,
            tags::PRE_MEDICATION,
            tags::REQUESTED_CONTRAST_AGENT,
        ] {
            assert_eq!(value(&sps, unknown), "", "{form}: {unknown} is unknown");
        }
        assert_eq!(
            value(&sps, tags::SCHEDULED_PROCEDURE_STEP_ID),
            "1",
            "{form}"
        );
        let code = item(&sps, tags::SCHEDULED_PROTOCOL_CODE_SEQUENCE);
        assert_eq!(
            tag_set(&code),
            [
                tags::CODE_VALUE,
                tags::CODING_SCHEME_DESIGNATOR,
                tags::CODE_MEANING
            ],
            "{form}"
        );
    }
}

fn every_k61_sequence_answers_alike_when_zero_length_or_one_empty_item(backend: Backend) {
    let site = Site::on(backend, serde_json::json!({}));
    site.insert(&[
        ("patient_id", "P"),
        ("protocol_name", "BRAIN"),
        ("hisris_coding_designator", "GEHC"),
    ]);
    let sequences = [
        tags::REFERENCED_STUDY_SEQUENCE,
        tags::REFERENCED_PATIENT_SEQUENCE,
        tags::REQUESTED_PROCEDURE_CODE_SEQUENCE,
    ];
    let answer = |items: fn() -> Vec<InMemDicomObject>| {
        let mut elements: Vec<_> = sequences.iter().map(|t| seq(*t, items())).collect();
        elements.push(text(tags::PATIENT_ID, VR::LO, ""));
        elements.push(seq(
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([seq(
                tags::SCHEDULED_PROTOCOL_CODE_SEQUENCE,
                items(),
            )])],
        ));
        let (status, answers) = site.find(&InMemDicomObject::from_element_iter(elements));
        assert_eq!(status, 0);
        assert_eq!(answers.len(), 1);
        answers.into_iter().next().expect("one answer")
    };
    let zero_length = answer(Vec::new);
    let empty_item = answer(|| vec![InMemDicomObject::new_empty()]);
    // Compared as printed: the objects' own equality also compares
    // encoding details that a decoded answer does not carry.
    assert_eq!(format!("{zero_length:?}"), format!("{empty_item:?}"));
    let sps = item(&zero_length, tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE);
    let code = item(&sps, tags::SCHEDULED_PROTOCOL_CODE_SEQUENCE);
    assert_eq!(value(&code, tags::CODE_VALUE), "BRAIN");
    assert_eq!(value(&code, tags::CODING_SCHEME_DESIGNATOR), "GEHC");
    assert_eq!(value(&code, tags::CODE_MEANING), "BRAIN");
    for tag in sequences {
        let element = zero_length.get(tag).expect("every requested sequence");
        assert_eq!(element.items().map(<[_]>::len), Some(0), "{tag}: unknown");
    }
}

pylantir_tests::both_stores!(
    an_sps_sequence_with_two_query_items_is_refused,
    an_optional_key_we_cannot_match_on_gives_pending_warning,
    study_instance_uids_match_as_a_list,
    exact_patient_names_match_case_insensitively_and_ids_exactly,
    completed_items_are_hidden_and_in_progress_is_sent_as_started,
    mwl_visible_statuses_chooses_what_scanners_see,
    items_without_a_station_report_the_configured_default_station,
    a_redcap_source_window_hides_only_that_sources_later_items,
    the_legacy_configuration_windows_rows_without_a_source,
    a_calpendo_today_window_shows_only_todays_bookings,
    an_empty_sps_sequence_returns_the_whole_item_with_pylantir_defaults,
    a_zero_length_or_empty_item_sps_sequence_returns_every_k61_sps_key,
    every_k61_sequence_answers_alike_when_zero_length_or_one_empty_item,
);
