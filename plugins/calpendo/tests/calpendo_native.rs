//! The Calpendo source used directly (as a Rust library) against a fake
//! Calpendo server on 127.0.0.1, with the bookings of the Python fixture.

use jiff::{SignedDuration, ZonedDateTime};
use pylantir_calpendo::Calpendo;
use pylantir_plugin_api::serde_json::{json, Value};
use pylantir_plugin_api::{Entry, FieldMapping, Source, SourceContext};
use pylantir_tests::calpendo::FakeCalpendo;
use pylantir_tests::http::{FakeServer, Reply};
use pylantir_tests::logs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const USER: &str = "mri-sync";
const PASSWORD: &str = "s3cret-Pa55word-9f8e7d";

fn edmonton_now() -> ZonedDateTime {
    ZonedDateTime::now().with_time_zone(pylantir_plugin_api::tz::get("America/Edmonton").unwrap())
}

fn day(z: &ZonedDateTime) -> String {
    z.strftime("%Y-%m-%d").to_string()
}

/// The Python example's config (calpendo_config_example.json), pointed at
/// `url`, with credentials in fresh variables, merged with `extra`.
fn config_for(url: &str, password: &str, extra: Value) -> Value {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let (user_env, pass_env) = (
        format!("TEST_CALPENDO_USER_{n}"),
        format!("TEST_CALPENDO_PASSWORD_{n}"),
    );
    std::env::set_var(&user_env, USER);
    std::env::set_var(&pass_env, password);
    let mut config = json!({
        "base_url": url,
        "api_path": "/api",
        "username_env": user_env,
        "password_env": pass_env,
        "resources": ["3T Diagnostic", "EEG Lab"],
        "status_filter": "Approved",
        "lookback_multiplier": 2,
        "timezone": "America/Edmonton",
        "window_mode": "today",
        "resource_modality_mapping": {"3T": "MR", "EEG": "EEG", "Mock": "OT"},
        "field_mapping": {
            "patient_id": {"source_field": "title", "_extract": {"pattern": "^([A-Z0-9]+)_.*", "group": 1}},
            "patient_name": {"source_field": "title", "_extract": {"pattern": "^[A-Z0-9]+_(.+)$", "group": 1}},
            "study_description": {"source_field": "properties.project.formattedName", "_extract": {"pattern": "^([^(]+)", "group": 1}},
            "accession_number": "id",
            "study_instance_uid": "id"
        }
    });
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

fn source(config: &Value) -> Calpendo {
    let mut source = Calpendo::new(&SourceContext {
        source_type: "calpendo".to_string(),
        source_name: "scanner_bookings".to_string(),
    });
    source.validate_config(config).expect("config accepted");
    source
}

fn fetch(server: &FakeServer, extra: Value, interval: f64) -> Vec<Entry> {
    source(&config_for(server.url(), PASSWORD, extra))
        .fetch_entries(&FieldMapping::new(), interval)
        .expect("fetch succeeds")
}

fn fetch_error(server: &FakeServer, password: &str, extra: Value) -> String {
    source(&config_for(server.url(), password, extra))
        .fetch_entries(&FieldMapping::new(), 60.0)
        .expect_err("fetch fails")
}

/// The fixture's bookings: two today (Approved), one tomorrow (Cancelled).
fn fixture_server() -> FakeServer {
    let now = edmonton_now();
    FakeCalpendo::new(USER, PASSWORD)
        .with_fixture_bookings(&day(&now), &day(&now.tomorrow().unwrap()))
        .serve()
}

fn ids(entries: &[Entry]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["source_record_id"].as_str().unwrap())
        .collect()
}

#[test]
fn fixture_bookings_become_entries_with_extracted_fields() {
    let server = fixture_server();
    let today = day(&edmonton_now());
    let entries = fetch(&server, json!({}), 60.0);
    let expected = |v: Value| v.as_object().cloned().unwrap();
    assert_eq!(
        entries,
        vec![
            expected(json!({
                "source_record_id": "12345",
                "patient_id": "SUB001",
                "patient_name": "^John_Doe",
                "study_description": "BRISKP ",
                "accession_number": "12345",
                "study_instance_uid": "12345",
                "scheduled_start_date": today,
                "scheduled_start_time": "14:00",
                "modality": "MR",
                "protocol_name": "DEFAULT_PROTOCOL",
            })),
            expected(json!({
                "source_record_id": "12346",
                "patient_id": "SUB002",
                "patient_name": "^Jane_Smith",
                "study_description": "Cognitive Study ",
                "accession_number": "12346",
                "study_instance_uid": "12346",
                "scheduled_start_date": today,
                "scheduled_start_time": "16:00",
                "modality": "EEG",
                "protocol_name": "DEFAULT_PROTOCOL",
            })),
        ]
    );
}

#[test]
fn the_query_asks_for_todays_window_resources_and_status_with_basic_auth_and_accept_json() {
    let server = fixture_server();
    fetch(&server, json!({}), 60.0);
    let now = edmonton_now();
    let compact = |z: &ZonedDateTime| z.strftime("%Y%m%d").to_string();
    let query = &server.requests()[0];
    assert_eq!(query.method, "GET");
    assert_eq!(
        query.url,
        format!(
            "/api/q/Calpendo.Booking/AND/dateRange.start/GE/{}-0000/dateRange.start/LT/{}-0000/OR/resource.name/EQ/3T%20Diagnostic/resource.name/EQ/EEG%20Lab/status/EQ/Approved",
            compact(&now),
            compact(&now.tomorrow().unwrap())
        )
    );
    assert!(query.header("authorization").unwrap().starts_with("Basic "));
    for request in server.requests() {
        assert_eq!(
            request.header("accept"),
            Some("application/json"),
            "{}",
            request.url
        );
    }
    let details: Vec<String> = server.requests()[1..]
        .iter()
        .map(|r| r.url.clone())
        .collect();
    assert!(
        details.contains(&"/api/b/Calpendo.Booking/12345".to_string()),
        "{details:?}"
    );
    assert!(
        details.contains(&"/api/q/MRIScan/id/eq/12345?paths=Operator.name".to_string()),
        "{details:?}"
    );
}

#[test]
fn the_resource_filter_keeps_only_the_listed_resources() {
    let server = fixture_server();
    let entries = fetch(&server, json!({"resources": ["EEG Lab"]}), 60.0);
    assert_eq!(ids(&entries), ["12346"]);
}

#[test]
fn the_status_filter_is_sent_with_a_query_for_cancellations_which_come_as_discontinued() {
    let now = edmonton_now();
    let server = FakeCalpendo::new(USER, PASSWORD)
        .with_fixture_bookings(&day(&now), &day(&now))
        .serve();
    let everything = json!({"resources": null, "status_filter": null});
    let all = fetch(&server, everything, 60.0);
    assert_eq!(ids(&all), ["12345", "12346", "12347"]);
    let status = |e: &Entry| e.get("performed_procedure_step_status").cloned();
    assert_eq!(
        status(&all[2]),
        Some(json!("DISCONTINUED")),
        "12347 is cancelled"
    );
    assert_eq!(status(&all[0]), None);
    let listed: Vec<usize> = server.requests()[0..1]
        .iter()
        .map(|r| r.url.matches("/status/EQ/").count())
        .collect();
    assert_eq!(listed, [0]);
    // With "Approved", the window's cancelled bookings are asked for too,
    // so that a booking cancelled since the last sync becomes DISCONTINUED.
    let before = server.requests().len();
    let approved = fetch(&server, json!({"resources": null}), 60.0);
    assert_eq!(ids(&approved), ["12345", "12346", "12347"]);
    assert_eq!(status(&approved[0]), None);
    assert_eq!(status(&approved[2]), Some(json!("DISCONTINUED")));
    let queries: Vec<String> = server.requests()[before..]
        .iter()
        .filter(|r| r.url.contains("/q/Calpendo.Booking/"))
        .map(|r| {
            r.url
                .rsplit("/status/")
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(queries, ["EQ/Approved", "EQ/Cancelled"]);
}

/// A booking starting at `start` (Edmonton local) on `resource`.
fn booking(id: u64, start: &ZonedDateTime, title: &str) -> (String, Value) {
    let end = start.checked_add(SignedDuration::from_mins(45)).unwrap();
    let local = |z: &ZonedDateTime| z.strftime("%Y-%m-%d %H:%M:00.0").to_string();
    let detail = json!({
        "id": id,
        "formattedName": format!("[{}, {}]", local(start), local(&end)),
        "title": title,
        "status": "Approved",
        "biskitType": "MRIScan",
        "properties": {"resource": {"formattedName": "3T Diagnostic Scanner"}, "project": {"formattedName": "P"}}
    });
    (start.strftime("%Y%m%d-%H%M").to_string(), detail)
}

fn server_with(bookings: Vec<(String, Value)>) -> FakeServer {
    let mut fake = FakeCalpendo::new(USER, PASSWORD);
    for (start, detail) in bookings {
        fake = fake.booking(&start, "3T Diagnostic", detail);
    }
    fake.serve()
}

#[test]
fn the_rolling_window_looks_back_interval_times_multiplier_and_a_day_ahead() {
    let now = edmonton_now();
    let at = |hours: i64, mins: i64| {
        now.checked_add(SignedDuration::from_mins(hours * 60 + mins))
            .unwrap()
    };
    let server = server_with(vec![
        booking(1, &at(-3, 0), "OUT1_too_early"),
        booking(2, &at(-1, 0), "IN1_recent"),
        booking(3, &at(23, 0), "IN2_tomorrow"),
        booking(4, &at(25, 0), "OUT2_too_late"),
    ]);
    let entries = fetch(&server, json!({"window_mode": "rolling"}), 3600.0);
    assert_eq!(ids(&entries), ["2", "3"]);
}

#[test]
fn the_today_window_keeps_the_local_day_only() {
    let now = edmonton_now();
    let midnight = now.start_of_day().unwrap();
    let at = |mins: i64| {
        midnight
            .checked_add(SignedDuration::from_mins(mins))
            .unwrap()
    };
    let tomorrow = now.tomorrow().unwrap().start_of_day().unwrap();
    let server = server_with(vec![
        booking(1, &at(-30), "OUT1_yesterday"),
        booking(2, &at(30), "IN1_early"),
        booking(
            3,
            &tomorrow.checked_sub(SignedDuration::from_mins(30)).unwrap(),
            "IN2_late",
        ),
        booking(
            4,
            &tomorrow.checked_add(SignedDuration::from_mins(30)).unwrap(),
            "OUT2_tomorrow",
        ),
    ]);
    let entries = fetch(&server, json!({"window_mode": "today"}), 3600.0);
    assert_eq!(ids(&entries), ["2", "3"]);
    let daily = fetch(
        &server,
        json!({"window_mode": "rolling", "daily_window": {"start_time": [7, 0], "end_time": [19, 0]}}),
        3600.0,
    );
    assert_eq!(
        ids(&daily),
        Vec::<&str>::new(),
        "a daily_window of 07:00-19:00 leaves out 00:30 and 23:30"
    );
}

#[test]
fn an_overnight_daily_window_fetches_from_today_18_00_to_tomorrow_06_00() {
    let today = edmonton_now().start_of_day().unwrap();
    let tomorrow = edmonton_now().tomorrow().unwrap().start_of_day().unwrap();
    let at = |day: &ZonedDateTime, hour: i8| day.with().hour(hour).build().unwrap();
    let server = server_with(vec![
        booking(1, &at(&today, 12), "OUT1_daytime"),
        booking(2, &at(&today, 19), "IN1_evening"),
        booking(3, &at(&tomorrow, 2), "IN2_night"),
        booking(4, &at(&tomorrow, 7), "OUT2_morning"),
    ]);
    let entries = fetch(
        &server,
        json!({"window_mode": "rolling", "daily_window": {"start_time": [18, 0], "end_time": [6, 0]}}),
        3600.0,
    );
    assert_eq!(ids(&entries), ["2", "3"]);
    let compact = |z: &ZonedDateTime| z.strftime("%Y%m%d").to_string();
    assert!(
        server.requests()[0].url.contains(&format!(
            "/GE/{}-1800/dateRange.start/LT/{}-0600/",
            compact(&today),
            compact(&tomorrow)
        )),
        "{}",
        server.requests()[0].url
    );
}

/// A booking as Calpendo 11 answers it: title, status and dateRange under
/// `properties`, no `formattedName`.
fn calpendo_11_booking(
    id: u64,
    start: &ZonedDateTime,
    title: &str,
    resource: &str,
) -> (String, Value) {
    let end = start.checked_add(SignedDuration::from_mins(60)).unwrap();
    let rfc = |z: &ZonedDateTime| z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    let detail = json!({
        "id": id,
        "biskitType": "MRIScan",
        "properties": {
            "title": title,
            "status": "Approved",
            "dateRange": {"start": rfc(start), "finish": rfc(&end)},
            "resource": {"formattedName": resource},
            "project": {"formattedName": "BRISKP (Brain network models)"}
        }
    });
    (start.strftime("%Y%m%d-%H%M").to_string(), detail)
}

#[test]
fn calpendo_11_bookings_with_the_title_under_properties_are_extracted() {
    let start = edmonton_now()
        .checked_add(SignedDuration::from_mins(60))
        .unwrap();
    let (at, detail) = calpendo_11_booking(101, &start, "SUB101_Anna_Lee", "3T Diagnostic Scanner");
    let server = FakeCalpendo::new(USER, PASSWORD)
        .booking(&at, "3T Diagnostic", detail)
        .serve();
    let entries = fetch(&server, json!({"window_mode": "rolling"}), 60.0);
    assert_eq!(entries.len(), 1, "the Approved booking is fetched");
    assert_eq!(entries[0]["patient_id"], "SUB101");
    assert_eq!(entries[0]["patient_name"], "^Anna_Lee");
    assert_eq!(entries[0]["study_description"], "BRISKP ");
    assert_eq!(
        entries[0]["scheduled_start_time"],
        start.strftime("%H:%M").to_string()
    );
}

#[test]
fn a_resource_without_a_modality_is_warned_about_naming_its_bookings() {
    logs::capture();
    let start = edmonton_now()
        .checked_add(SignedDuration::from_mins(60))
        .unwrap();
    let (at, detail) = calpendo_11_booking(202, &start, "SUB202_X", "PET Suite 2");
    let server = FakeCalpendo::new(USER, PASSWORD)
        .booking(&at, "PET Suite 2", detail)
        .serve();
    let entries = fetch(
        &server,
        json!({"window_mode": "rolling", "resources": null}),
        60.0,
    );
    assert_eq!(ids(&entries), ["202"], "the booking is kept");
    assert!(entries[0].get("modality").is_none());
    let warned = logs::captured().iter().any(|l| {
        l.starts_with("WARN")
            && l.contains("'PET Suite 2'")
            && l.contains("booking 202")
            && l.contains("resource_modality_mapping")
    });
    assert!(warned, "{:?}", logs::captured());
}

#[test]
fn overlapping_modality_prefixes_are_warned_about_when_the_config_is_checked() {
    logs::capture();
    source(&config_for(
        "http://127.0.0.1:9",
        PASSWORD,
        json!({"resource_modality_mapping": {"3T": "MR", "3T Research PET": "PT", "EEG": "EEG", "EEG Lab": "EEG"}}),
    ));
    let lines = logs::captured();
    let overlaps: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("WARN") && l.contains("is a prefix of"))
        .collect();
    assert_eq!(overlaps.len(), 1, "{lines:?}");
    assert!(
        overlaps[0].contains("'3T' (MR)") && overlaps[0].contains("'3T Research PET' (PT)"),
        "{}",
        overlaps[0]
    );
}

#[test]
fn protocol_name_comes_from_the_configured_protocol_else_default_protocol() {
    let server = fixture_server();
    let by_site = fetch(
        &server,
        json!({"site": "792", "protocol": {"792": "BRAIN_MRI_3T", "mapping": "GEHC"}}),
        60.0,
    );
    assert_eq!(by_site[0]["protocol_name"], "BRAIN_MRI_3T");
    let other_site = fetch(
        &server,
        json!({"site_id": 1, "protocol": {"792": "BRAIN_MRI_3T"}}),
        60.0,
    );
    assert_eq!(other_site[0]["protocol_name"], "DEFAULT_PROTOCOL");
    let mut config = config_for(server.url(), PASSWORD, json!({}));
    config["field_mapping"]["protocol_name"] = json!("properties.project.formattedName");
    let mapped = source(&config)
        .fetch_entries(&FieldMapping::new(), 60.0)
        .unwrap();
    assert_eq!(
        mapped[0]["protocol_name"], "BRISKP (Brain network models in schizophrenia)",
        "a mapped protocol_name wins"
    );
}

#[test]
fn utc_booking_times_are_converted_to_local_time_across_dst_changes_with_current_rules() {
    let range = |id: u64, start: &str, end: &str| {
        json!({"id": id, "title": format!("SUB{id}_X"), "status": "Approved", "biskitType": "MRIScan",
               "properties": {"dateRange": {"start": start, "end": end}}})
    };
    let server = FakeCalpendo::new(USER, PASSWORD)
        .booking(
            "20260308-0130",
            "3T Diagnostic",
            range(1, "2026-03-08T08:30:00Z", "2026-03-08T09:00:00Z"),
        )
        .booking(
            "20260308-0330",
            "3T Diagnostic",
            range(2, "2026-03-08T09:30:00Z", "2026-03-08T10:00:00Z"),
        )
        .booking(
            "20251102-0130",
            "3T Diagnostic",
            range(3, "2025-11-02T07:30:00Z", "2025-11-02T08:00:00Z"),
        )
        .booking(
            "20251102-0131",
            "3T Diagnostic",
            range(4, "2025-11-02T08:30:00Z", "2025-11-02T09:00:00Z"),
        )
        .booking(
            "20261115-1300",
            "3T Diagnostic",
            range(5, "2026-11-15T19:00:00Z", "2026-11-15T20:00:00Z"),
        )
        .serve();
    let years = 3.0 * 365.0 * 86_400.0;
    let entries = fetch(
        &server,
        json!({"window_mode": "rolling", "resources": null}),
        years,
    );
    let times: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap().to_string();
            (text("scheduled_start_date"), text("scheduled_start_time"))
        })
        .collect();
    let expect = |d: &str, t: &str| (d.to_string(), t.to_string());
    assert_eq!(
        times,
        [
            expect("2026-03-08", "01:30"),
            expect("2026-03-08", "03:30"),
            expect("2025-11-02", "01:30"),
            expect("2025-11-02", "01:30"),
            // tzdata 2026a: Edmonton stays at UTC-6 (2025b said UTC-7, 12:00).
            expect("2026-11-15", "13:00"),
        ]
    );
}

#[test]
fn a_value_the_pattern_does_not_match_is_kept_whole_with_a_warning() {
    logs::capture();
    let now = edmonton_now();
    let server = server_with(vec![booking(
        7,
        &now.checked_add(SignedDuration::from_mins(60)).unwrap(),
        "lowercase-title-77",
    )]);
    let entries = fetch(&server, json!({"window_mode": "rolling"}), 60.0);
    assert_eq!(entries[0]["patient_id"], "lowercase-title-77");
    let warned = logs::captured().iter().any(|l| {
        l.starts_with("WARN") && l.contains("lowercase-title-77") && l.contains("^([A-Z0-9]+)_.*")
    });
    assert!(warned);
}

#[test]
fn the_operator_of_an_mri_scan_can_be_mapped() {
    let server = fixture_server();
    let mut config = config_for(server.url(), PASSWORD, json!({}));
    config["field_mapping"]["performing_physician"] = json!("operator");
    config["field_mapping"]["referring_physician_name"] = json!("properties.booker.name");
    let entries = source(&config)
        .fetch_entries(&FieldMapping::new(), 60.0)
        .unwrap();
    assert_eq!(entries[0]["performing_physician"], "Tech John Smith");
    assert_eq!(entries[0]["referring_physician_name"], "Dr. Alice Williams");
    assert!(
        entries[1].get("performing_physician").is_none(),
        "EEG bookings have no operator"
    );
}

#[test]
fn the_sources_own_field_mapping_takes_precedence_over_the_config_one() {
    let server = fixture_server();
    let mapping =
        json!({"patient_id": "title", "study_description": "properties.resource.formattedName"});
    let entries = source(&config_for(server.url(), PASSWORD, json!({})))
        .fetch_entries(mapping.as_object().unwrap(), 60.0)
        .unwrap();
    assert_eq!(entries[0]["patient_id"], "SUB001_John_Doe");
    assert_eq!(
        entries[0]["patient_name"], "^SUB001_John_Doe",
        "the title stands in for the name"
    );
    assert_eq!(entries[0]["study_description"], "3T Diagnostic Scanner");
}

#[test]
fn booking_details_are_fetched_a_few_at_a_time() {
    let now = edmonton_now();
    let mut fake = FakeCalpendo::new(USER, PASSWORD);
    for id in 1..=12 {
        let (start, detail) = booking(
            id,
            &now.checked_add(SignedDuration::from_mins(60)).unwrap(),
            &format!("SUB{id}_X"),
        );
        fake = fake.booking(&start, "3T Diagnostic", detail);
    }
    let fake = Arc::new(fake);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let server = {
        let (in_flight, most) = (Arc::clone(&in_flight), Arc::clone(&most));
        FakeServer::start(move |request| {
            if !request.url.contains("/b/Calpendo.Booking/") {
                return fake.answer(request);
            }
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(200));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            fake.answer(request)
        })
    };
    let entries = fetch(
        &server,
        json!({"window_mode": "rolling", "max_parallel_requests": 3}),
        60.0,
    );
    assert_eq!(entries.len(), 12);
    let most = most.load(Ordering::SeqCst);
    assert!((2..=3).contains(&most), "{most} detail requests at once");
    let order: Vec<&str> = ids(&entries);
    let expected: Vec<String> = (1..=12).map(|i| i.to_string()).collect();
    assert_eq!(
        order,
        expected.iter().map(String::as_str).collect::<Vec<_>>(),
        "entries keep the query order"
    );
}

#[test]
fn a_deleted_booking_is_skipped_and_the_others_are_kept() {
    let fake = Arc::new(
        FakeCalpendo::new(USER, PASSWORD)
            .with_fixture_bookings(&day(&edmonton_now()), "2000-01-01"),
    );
    let server = FakeServer::start(move |request| {
        if request.url.ends_with("/b/Calpendo.Booking/12345") {
            Reply::json(404, &json!({"status_code": 404, "message": "Not Found"}))
        } else {
            fake.answer(request)
        }
    });
    assert_eq!(ids(&fetch(&server, json!({}), 60.0)), ["12346"]);
}

#[test]
fn refused_credentials_are_a_fetch_error_naming_the_variables_without_the_password() {
    let server = fixture_server();
    let wrong = "wrong-password-4242";
    let message = fetch_error(&server, wrong, json!({}));
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(message.contains("TEST_CALPENDO_PASSWORD_"), "{message}");
    assert!(!message.contains(wrong), "{message}");
}

/// The fixture server, except that booking 12346's details answer `reply`.
fn detail_answer(reply: Reply) -> FakeServer {
    let now = edmonton_now();
    let fake =
        Arc::new(FakeCalpendo::new(USER, PASSWORD).with_fixture_bookings(&day(&now), &day(&now)));
    FakeServer::start(move |request| {
        if request.url.ends_with("/b/Calpendo.Booking/12346") {
            reply.clone()
        } else {
            fake.answer(request)
        }
    })
}

#[test]
fn a_server_error_page_is_a_fetch_error() {
    let server = detail_answer(Reply::html(
        500,
        "<html><body><h1>Internal Server Error</h1></body></html>",
    ));
    let message = fetch_error(&server, PASSWORD, json!({}));
    assert!(message.contains("server error (HTTP 500)"), "{message}");
    assert!(message.contains("Internal Server Error"), "{message}");
}

#[test]
fn malformed_json_is_a_fetch_error() {
    let server = detail_answer(Reply::raw(
        200,
        "application/json",
        "{\"id\": 12346, \"title\": ",
    ));
    let message = fetch_error(&server, PASSWORD, json!({}));
    assert!(message.contains("not JSON"), "{message}");
}

#[test]
fn a_slow_answer_beyond_the_read_timeout_is_a_fetch_error() {
    let server = detail_answer(Reply::json(200, &json!({})).after(Duration::from_secs(3)));
    let message = fetch_error(&server, PASSWORD, json!({"read_timeout_seconds": 0.5}));
    assert!(message.contains("did not answer"), "{message}");
}

#[test]
fn the_password_never_appears_in_logs() {
    logs::capture();
    let server = fixture_server();
    fetch(&server, json!({}), 60.0);
    let _ = fetch_error(&server, "another-wrong-password-5151", json!({}));
    let lines = logs::captured();
    assert!(
        lines.iter().any(|l| l.contains("Calpendo source")),
        "logs were captured"
    );
    assert!(lines
        .iter()
        .all(|l| !l.contains(PASSWORD) && !l.contains("another-wrong-password-5151")));
}

#[test]
fn config_errors_name_the_offending_key() {
    let check = |extra: Value| {
        let mut calpendo = Calpendo::new(&SourceContext {
            source_type: "calpendo".into(),
            source_name: "c".into(),
        });
        calpendo
            .validate_config(&config_for("http://127.0.0.1:9", PASSWORD, extra))
            .unwrap_err()
    };
    let bad_pattern = json!({"field_mapping": {"patient_id": {"source_field": "title", "_extract": {"pattern": "([A-Z", "group": 1}}}});
    assert!(check(bad_pattern).contains("config.field_mapping.patient_id._extract.pattern"));
    assert!(check(json!({"timezone": "Mars/Olympus_Mons"})).contains("config.timezone"));
    assert!(check(json!({"lookback_multiplier": 0})).contains("config.lookback_multiplier"));
    assert!(check(json!({"base_url": null})).contains("config.base_url"));
    let bad_clock = check(json!({"daily_window": {"start_time": [25, 0], "end_time": [1, 0]}}));
    assert!(
        bad_clock.contains("config.daily_window") && bad_clock.contains("[hour, minute]"),
        "{bad_clock}"
    );
    assert!(check(json!({"password_env": "TEST_CALPENDO_NEVER_SET"}))
        .contains("TEST_CALPENDO_NEVER_SET"));
}

#[test]
fn a_source_level_field_mapping_can_be_checked_before_fetching() {
    let mut calpendo = source(&config_for("http://127.0.0.1:9", PASSWORD, json!({})));
    let good = json!({"patient_id": {"source_field": "title", "_extract": {"pattern": "^(\\w+)", "group": 1}}});
    assert_eq!(
        calpendo.call("validate_field_mapping", &good).unwrap(),
        Value::Null
    );
    let bad =
        json!({"patient_id": {"source_field": "title", "_extract": {"pattern": "(", "group": 1}}});
    let message = calpendo
        .call("validate_field_mapping", &bad)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("field_mapping.patient_id._extract.pattern"),
        "{message}"
    );
}

#[test]
fn the_plugin_describes_its_config() {
    let info = pylantir_calpendo::plugin().info(true);
    let schema = info.source_types[0].config_schema.as_ref().unwrap();
    assert_eq!(info.source_types[0].name, "calpendo");
    assert_eq!(schema["required"], json!(["base_url"]));
    let window_mode = &schema["properties"]["window_mode"];
    assert_eq!(
        window_mode["anyOf"][0]["$ref"],
        json!("#/$defs/WindowModeName")
    );
    assert_eq!(
        schema["$defs"]["WindowModeName"]["enum"],
        json!(["rolling", "today"])
    );
    assert_eq!(window_mode["default"], json!("rolling"));
}
