//! MWL C-FIND and C-ECHO with DCMTK as the reference client: `echoscu`, and
//! `findscu -W` with query files made by `dump2dcm` (DCMTK's own example
//! queries and ours). Needs DCMTK: skipped loudly without it, failed under CI.

use dicom_dictionary_std::tags;
use pylantir_tests::dicom::*;
use std::path::Path;
use std::process::Command;

/// A dump with top-level lines and an optional SPS item.
fn dump(top: &[&str], sps: Option<&[&str]>) -> String {
    let mut text = String::new();
    for line in top {
        text.push_str(line);
        text.push('\n');
    }
    if let Some(sps) = sps {
        text.push_str("(0040,0100) SQ\n(fffe,e000) na\n");
        for line in sps {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str("(fffe,e00d) na\n(fffe,e0dd) na\n");
    }
    text
}

fn ids(answers: &[dicom_object::InMemDicomObject]) -> Vec<String> {
    let mut ids: Vec<String> = answers.iter().map(|a| value(a, tags::PATIENT_ID)).collect();
    ids.sort();
    ids
}

fn patient(site: &Site, id: &str, name: &str, extra: &[(&str, &str)]) -> i64 {
    let mut columns = vec![("patient_id", id), ("patient_name", name)];
    columns.extend_from_slice(extra);
    site.insert(&columns)
}

#[test]
fn echoscu_gets_success() {
    if dcmtk("echoscu").is_none() {
        return;
    }
    let site = Site::new(serde_json::json!({}));
    let output = Command::new("echoscu")
        .args([
            "-aet",
            "ECHOSCU",
            "-aec",
            AE,
            "-to",
            "10",
            "127.0.0.1",
            &site.port(),
        ])
        .output()
        .expect("echoscu runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn dcmtk_example_queries_complete_and_return_only_requested_keys() {
    if dcmtk("findscu").is_none() || dcmtk("dump2dcm").is_none() {
        return;
    }
    let examples = Path::new("/usr/share/doc/dcmtk/examples/wlistqry");
    if !examples.is_dir() {
        eprintln!(
            "!!!!! SKIPPED: DCMTK example queries not found at {} !!!!!",
            examples.display()
        );
        return;
    }
    let site = Site::new(serde_json::json!({}));
    patient(
        &site,
        "P1",
        "Doe^John",
        &[
            ("modality", "MR"),
            ("scheduled_start_date", "2025-01-30"),
            ("scheduled_start_time", "09:00"),
            ("scheduled_station_aetitle", "AA2"),
            ("protocol_name", "BRAIN"),
        ],
    );
    patient(
        &site,
        "P2",
        "Roe^Jane",
        &[
            ("modality", "CT"),
            ("scheduled_start_date", "20250131"),
            ("scheduled_start_time", "130000"),
        ],
    );
    for n in 0..=12 {
        let name = format!("wlistqry{n}");
        let query = query_file(
            site.dir.path(),
            &name,
            &std::fs::read_to_string(examples.join(format!("{name}.dump"))).expect("example dump"),
        );
        let query_obj = dicom_object::open_file(&query)
            .expect("query file")
            .into_inner();
        let result = findscu(&site, "FINDSCU", &query, &[]);
        assert!(result.ok, "{name}: {}", result.log);
        assert!(
            result.log.contains("Final Find Response (Success)"),
            "{name}: {}",
            result.log
        );
        for answer in &result.answers {
            for element in answer.iter() {
                let tag = dicom_core::header::Header::tag(element);
                assert!(
                    tag == tags::SPECIFIC_CHARACTER_SET || query_obj.get(tag).is_some(),
                    "{name}: answer holds {tag} that the query did not ask for"
                );
            }
        }
    }
}

#[test]
fn wildcard_patient_names_match_case_insensitively() {
    if dcmtk("findscu").is_none() {
        return;
    }
    let site = Site::new(serde_json::json!({}));
    patient(&site, "P1", "Doe^John", &[]);
    patient(&site, "P2", "DOE^Jane", &[]);
    patient(&site, "P3", "Smith^Doe", &[]);
    let query = query_file(
        site.dir.path(),
        "q",
        &dump(&["(0010,0010) PN [doe*]", "(0010,0020) LO []"], None),
    );
    let result = findscu(&site, "FINDSCU", &query, &[]);
    assert_eq!(ids(&result.answers), ["P1", "P2"], "{}", result.log);
}

#[test]
fn a_date_range_matches_items_stored_in_either_date_format() {
    if dcmtk("findscu").is_none() {
        return;
    }
    let site = Site::new(serde_json::json!({}));
    patient(
        &site,
        "DASH",
        "A^A",
        &[("scheduled_start_date", "2025-01-30")],
    );
    patient(
        &site,
        "PLAIN",
        "B^B",
        &[("scheduled_start_date", "20250131")],
    );
    patient(
        &site,
        "LATER",
        "C^C",
        &[("scheduled_start_date", "2025-02-05")],
    );
    let query = query_file(
        site.dir.path(),
        "q",
        &dump(
            &["(0010,0020) LO []"],
            Some(&["(0040,0002) DA [20250130-20250131]"]),
        ),
    );
    let result = findscu(&site, "FINDSCU", &query, &[]);
    assert_eq!(ids(&result.answers), ["DASH", "PLAIN"], "{}", result.log);
}

#[test]
fn start_date_and_time_form_one_combined_range() {
    if dcmtk("findscu").is_none() {
        return;
    }
    let site = Site::new(serde_json::json!({}));
    patient(
        &site,
        "BEFORE",
        "A^A",
        &[
            ("scheduled_start_date", "2025-01-30"),
            ("scheduled_start_time", "09:00"),
        ],
    );
    patient(
        &site,
        "EVENING",
        "B^B",
        &[
            ("scheduled_start_date", "2025-01-30"),
            ("scheduled_start_time", "18:00"),
        ],
    );
    patient(
        &site,
        "MORNING",
        "C^C",
        &[
            ("scheduled_start_date", "20250131"),
            ("scheduled_start_time", "080000"),
        ],
    );
    patient(
        &site,
        "AFTER",
        "D^D",
        &[
            ("scheduled_start_date", "20250131"),
            ("scheduled_start_time", "120000"),
        ],
    );
    let query = query_file(
        site.dir.path(),
        "q",
        &dump(
            &["(0010,0020) LO []"],
            Some(&[
                "(0040,0002) DA [20250130-20250131]",
                "(0040,0003) TM [1000-1100]",
            ]),
        ),
    );
    let result = findscu(&site, "FINDSCU", &query, &[]);
    assert_eq!(
        ids(&result.answers),
        ["EVENING", "MORNING"],
        "{}",
        result.log
    );
}

#[test]
fn modality_and_station_ae_title_both_constrain() {
    if dcmtk("findscu").is_none() {
        return;
    }
    let site = Site::new(serde_json::json!({}));
    patient(
        &site,
        "MR1",
        "A^A",
        &[
            ("modality", "MR"),
            ("scheduled_station_aetitle", "SCANNER1"),
        ],
    );
    patient(
        &site,
        "CT1",
        "B^B",
        &[
            ("modality", "CT"),
            ("scheduled_station_aetitle", "SCANNER1"),
        ],
    );
    patient(
        &site,
        "MR2",
        "C^C",
        &[
            ("modality", "MR"),
            ("scheduled_station_aetitle", "SCANNER2"),
        ],
    );
    let query = query_file(
        site.dir.path(),
        "q",
        &dump(
            &["(0010,0020) LO []"],
            Some(&["(0008,0060) CS [MR]", "(0040,0001) AE [SCANNER1]"]),
        ),
    );
    let result = findscu(&site, "FINDSCU", &query, &[]);
    assert_eq!(ids(&result.answers), ["MR1"], "{}", result.log);
}

#[test]
fn answers_hold_exactly_the_requested_keys_with_valid_da_tm_and_type_1_values() {
    if dcmtk("findscu").is_none() {
        return;
    }
    let site = Site::new(serde_json::json!({}));
    let id = patient(
        &site,
        "P1",
        "Doe^John",
        &[
            ("scheduled_start_date", "2025-01-30"),
            ("scheduled_start_time", "14:30"),
        ],
    );
    let query = query_file(
        site.dir.path(),
        "q",
        &dump(
            &[
                "(0010,0010) PN []",
                "(0040,1001) SH []",
                "(0008,0050) SH []",
            ],
            Some(&[
                "(0040,0002) DA []",
                "(0040,0003) TM []",
                "(0040,0009) SH []",
                "(0040,0001) AE []",
            ]),
        ),
    );
    let result = findscu(&site, "SCANNER9", &query, &[]);
    assert_eq!(result.answers.len(), 1, "{}", result.log);
    let answer = &result.answers[0];
    let top: Vec<_> = answer.iter().map(dicom_core::header::Header::tag).collect();
    assert_eq!(
        top,
        [
            tags::ACCESSION_NUMBER,
            tags::PATIENT_NAME,
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            tags::REQUESTED_PROCEDURE_ID
        ]
    );
    assert_eq!(value(answer, tags::ACCESSION_NUMBER), "");
    assert_eq!(value(answer, tags::REQUESTED_PROCEDURE_ID), id.to_string());
    let sps = item(answer, tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE);
    assert_eq!(sps.iter().count(), 4);
    assert_eq!(
        value(&sps, tags::SCHEDULED_PROCEDURE_STEP_START_DATE),
        "20250130"
    );
    assert_eq!(
        value(&sps, tags::SCHEDULED_PROCEDURE_STEP_START_TIME),
        "143000"
    );
    assert_eq!(
        value(&sps, tags::SCHEDULED_PROCEDURE_STEP_ID),
        id.to_string()
    );
    assert_eq!(
        value(&sps, tags::SCHEDULED_STATION_AE_TITLE),
        "SCANNER9",
        "no station: the querying station"
    );
}

#[test]
fn non_ascii_names_match_and_come_back_in_utf8() {
    if dcmtk("findscu").is_none() {
        return;
    }
    let site = Site::new(serde_json::json!({}));
    patient(&site, "RU", "Иванов^Иван", &[]);
    patient(&site, "DE", "Müller^Jürgen", &[]);
    let query = query_file(
        site.dir.path(),
        "utf8",
        &dump(
            &[
                "(0008,0005) CS [ISO_IR 192]",
                "(0010,0010) PN [Иванов*]",
                "(0010,0020) LO []",
            ],
            None,
        ),
    );
    let result = findscu(&site, "FINDSCU", &query, &[]);
    assert_eq!(ids(&result.answers), ["RU"], "{}", result.log);
    assert_eq!(
        value(&result.answers[0], tags::SPECIFIC_CHARACTER_SET),
        "ISO_IR 192"
    );
    assert_eq!(value(&result.answers[0], tags::PATIENT_NAME), "Иванов^Иван");

    // The same kind of query in ISO_IR 100 (Latin-1 bytes on the wire).
    let mut latin1 = b"(0008,0005) CS [ISO_IR 100]\n(0010,0010) PN [M".to_vec();
    latin1.push(0xFC);
    latin1.extend_from_slice(b"ller*]\n(0010,0020) LO []\n");
    let dump_path = site.dir.path().join("latin1.dump");
    std::fs::write(&dump_path, latin1).expect("write dump");
    let query = site.dir.path().join("latin1.wl");
    assert!(Command::new("dump2dcm")
        .arg(&dump_path)
        .arg(&query)
        .status()
        .expect("dump2dcm")
        .success());
    let result = findscu(&site, "FINDSCU", &query, &[]);
    assert_eq!(ids(&result.answers), ["DE"], "{}", result.log);
    assert_eq!(
        value(&result.answers[0], tags::PATIENT_NAME),
        "Müller^Jürgen"
    );
}

#[test]
fn a_malformed_date_range_is_a_failure_not_a_match_of_everything() {
    if dcmtk("findscu").is_none() {
        return;
    }
    let site = Site::new(serde_json::json!({}));
    patient(
        &site,
        "P1",
        "A^A",
        &[("scheduled_start_date", "2025-01-30")],
    );
    let query = query_file(
        site.dir.path(),
        "q",
        &dump(
            &["(0010,0020) LO []"],
            Some(&["(0040,0002) DA [20250130,]"]),
        ),
    );
    let result = findscu(&site, "FINDSCU", &query, &[]);
    assert!(result.answers.is_empty(), "{}", result.log);
    assert!(
        result.log.contains("Error: DataSetDoesNotMatchSOPClass"),
        "{}",
        result.log
    );
}

#[test]
fn a_large_answer_is_fragmented_to_the_peers_max_pdu() {
    if dcmtk("findscu").is_none() {
        return;
    }
    let site = Site::new(serde_json::json!({}));
    let long = "A".repeat(6000);
    patient(&site, "P1", "Doe^John", &[("procedure_description", &long)]);
    let query = query_file(
        site.dir.path(),
        "q",
        &dump(&["(0010,0020) LO []", "(0032,1060) LO []"], None),
    );
    let result = findscu(&site, "FINDSCU", &query, &["-pdu", "4096"]);
    assert_eq!(result.answers.len(), 1, "{}", result.log);
    assert_eq!(
        value(&result.answers[0], tags::REQUESTED_PROCEDURE_DESCRIPTION),
        long
    );
}

#[test]
fn implicit_explicit_and_big_endian_transfer_syntaxes_all_work() {
    if dcmtk("findscu").is_none() {
        return;
    }
    let site = Site::new(serde_json::json!({}));
    patient(
        &site,
        "P1",
        "Müller^Jürgen",
        &[("scheduled_start_date", "2025-01-30")],
    );
    let query = query_file(
        site.dir.path(),
        "q",
        &dump(
            &["(0010,0010) PN []", "(0010,0020) LO []"],
            Some(&["(0040,0002) DA [20250130]"]),
        ),
    );
    for syntax in ["-xi", "-xe", "-xb"] {
        let result = findscu(&site, "FINDSCU", &query, &[syntax]);
        assert_eq!(ids(&result.answers), ["P1"], "{syntax}: {}", result.log);
        assert_eq!(
            value(&result.answers[0], tags::PATIENT_NAME),
            "Müller^Jürgen",
            "{syntax}"
        );
    }
}

#[test]
fn findscu_with_a_zero_length_sps_sequence_gets_every_k61_sps_key() {
    if dcmtk("findscu").is_none() || dcmtk("dump2dcm").is_none() {
        return;
    }
    let site = Site::new(serde_json::json!({}));
    patient(&site, "P1", "A^A", &[("protocol_name", "BRAIN")]);
    let zero_length = "(0010,0020) LO []\n(0040,0100) SQ\n(fffe,e0dd) na\n";
    let empty_item = dump(&["(0010,0020) LO []"], Some(&[]));
    for (name, text) in [("zero", zero_length.to_string()), ("empty", empty_item)] {
        let query = query_file(site.dir.path(), name, &text);
        let result = findscu(&site, "FINDSCU", &query, &[]);
        assert_eq!(result.answers.len(), 1, "{name}: {}", result.log);
        let sps = item(&result.answers[0], tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE);
        for tag in [
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
        ] {
            assert!(sps.get(tag).is_some(), "{name}: {tag} missing: {sps:?}");
        }
    }
}

#[test]
fn inverted_or_malformed_time_ranges_are_refused_with_a900() {
    if dcmtk("findscu").is_none() || dcmtk("dump2dcm").is_none() {
        return;
    }
    let site = Site::new(serde_json::json!({}));
    patient(
        &site,
        "P1",
        "A^A",
        &[
            ("scheduled_start_date", "2025-01-30"),
            ("scheduled_start_time", "10:30"),
        ],
    );
    for (name, time) in [("inverted", "1000-0900"), ("malformed", "10.abc")] {
        let query = query_file(
            site.dir.path(),
            name,
            &dump(
                &["(0010,0020) LO []"],
                Some(&[&format!("(0040,0003) TM [{time}]")]),
            ),
        );
        let result = findscu(&site, "FINDSCU", &query, &[]);
        assert!(result.answers.is_empty(), "{time}: {}", result.log);
        assert!(
            result.log.contains("Error: DataSetDoesNotMatchSOPClass"),
            "{time}: {}",
            result.log
        );
    }
}
