//! A REDCap export of 50,000 records (a baseline row and two `mri` repeat
//! rows each: 150,000 rows, 100,000 visits) fetched from a fake REDCap server
//! on 127.0.0.1, merged, turned into entries and handed over the plugin
//! boundary as the host receives them (JSON text, parsed back).
//!
//! Run: `cargo bench -p pylantir-redcap-plugin --bench export_50k`.
//! Target: under 3 s per fetch.

use pylantir_plugin_api::abi_stable::std_types::{RResult, RStr};
use pylantir_plugin_api::adapter::GuardedSource;
use pylantir_plugin_api::ffi::DataSourceFfi;
use pylantir_plugin_api::serde_json::{self, json, Map, Value};
use pylantir_plugin_api::{Entry, SourceContext};
use pylantir_redcap::Redcap;
use pylantir_tests::redcap::FakeRedcap;
use std::time::{Duration, Instant};

const RECORDS: usize = 50_000;
const RUNS: usize = 5;
const TOKEN: &str = "BENCH0123456789ABCDEF0123456789AB";

fn row(values: &[(&str, String)]) -> Map<String, Value> {
    values
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect()
}

fn project() -> FakeRedcap {
    let mut rows = Vec::with_capacity(RECORDS * 3);
    for i in 0..RECORDS {
        let id = i.to_string();
        rows.push(row(&[
            ("record_id", id.clone()),
            ("study_id", format!("CPIP-{i:05}")),
            ("family_id", format!("FAM-{:05}", i / 2)),
            ("youth_dob_y", format!("{}", 2008 + i % 10)),
            ("demo_sex", if i % 2 == 0 { "F" } else { "M" }.to_string()),
        ]));
        for visit in 1..=2 {
            rows.push(row(&[
                ("record_id", id.clone()),
                ("redcap_repeat_instrument", "mri".to_string()),
                ("redcap_repeat_instance", visit.to_string()),
                ("mri_instance", visit.to_string()),
                (
                    "mri_date",
                    format!("2026-{:02}-{:02}", 1 + visit, 1 + i % 28),
                ),
                ("mri_time", format!("{:02}:{:02}", 8 + i % 10, (i % 4) * 15)),
            ]));
        }
    }
    FakeRedcap::new(TOKEN)
        .fields(
            "enrolment",
            &[
                "record_id",
                "study_id",
                "family_id",
                "youth_dob_y",
                "demo_sex",
            ],
        )
        .fields("mri", &["mri_instance", "mri_date", "mri_time"])
        .rows(rows)
}

/// One fetch again, phase by phase, to show where the time goes.
fn breakdown(server: &pylantir_tests::http::FakeServer, mapping: &str) {
    use pylantir_redcap::{
        api::Api,
        config::Config,
        entries::Plan,
        merge::{Merger, Visit},
    };
    let config = Config::from_json(&json!({
        "site": "792",
        "api_url_env": "BENCH_REDCAP_URL",
        "api_token_env": "BENCH_REDCAP_TOKEN",
    }))
    .expect("config");
    let mapping: Map<String, Value> = serde_json::from_str(mapping).expect("mapping");
    let plan = Plan::new(&mapping, &config).expect("plan");
    let api = Api::new(&config).expect("client");

    let started = Instant::now();
    let metadata = api.metadata().expect("metadata");
    let export = plan.export(&metadata).expect("fields");
    let mut form = vec![
        ("token".to_string(), TOKEN.to_string()),
        ("content".to_string(), "record".to_string()),
        ("format".to_string(), "json".to_string()),
        ("type".to_string(), "flat".to_string()),
    ];
    form.extend(
        export
            .request
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("fields[{i}]"), f.clone())),
    );
    let body = reqwest::blocking::Client::new()
        .post(format!("{}/api/", server.url()))
        .form(&form)
        .send()
        .and_then(|r| r.text())
        .expect("raw export");
    let server_time = started.elapsed();

    let started = Instant::now();
    let mut merger = Merger::new(export.columns, &export.record_field, &config.instrument);
    let columns = merger.columns().to_vec();
    let mut visits = Vec::new();
    let mut keep = |visit: Visit| -> Result<(), String> {
        visits.push(visit);
        Ok(())
    };
    api.records(&export.request, None, &columns, &mut |row| {
        merger.push(row, &mut keep)
    })
    .expect("records");
    let fields = merger.fields().to_vec();
    merger.finish(&mut keep).expect("merged");
    let merge_time = started.elapsed();
    let started = Instant::now();
    let index: std::collections::HashMap<&str, usize> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_str(), i))
        .collect();
    let mut json = vec![b'['];
    for visit in &visits {
        if let Ok(pairs) = plan.entry(visit, &index, &config) {
            if json.len() > 1 {
                json.push(b',');
            }
            pylantir_redcap::entries::write_json(&pairs, &mut json).expect("entry JSON");
        }
    }
    json.push(b']');
    let entries_time = started.elapsed();
    let started = Instant::now();
    let back: Vec<Entry> = serde_json::from_slice(&json).expect("parse");
    let boundary_time = started.elapsed();
    assert_eq!(back.len(), RECORDS * 2);
    println!(
        "breakdown: fake server answers {:.1} MB in {:.3} s; plugin export read and merged while it arrives \
         (server included) {:.3} s, entries written as JSON {:.3} s, host reading the JSON {:.3} s",
        body.len() as f64 / 1e6,
        server_time.as_secs_f64(),
        merge_time.as_secs_f64(),
        entries_time.as_secs_f64(),
        boundary_time.as_secs_f64()
    );
}

/// CPU time (user + system) of this process so far, in seconds (Linux
/// `/proc/self/stat`, 100 ticks a second); 0 where unavailable. Shown beside
/// wall time because the machine's other load inflates the latter.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let server = project().serve();
    std::env::set_var("BENCH_REDCAP_URL", format!("{}/api/", server.url()));
    std::env::set_var("BENCH_REDCAP_TOKEN", TOKEN);
    let ctx = SourceContext {
        source_type: "redcap".to_string(),
        source_name: "bench".to_string(),
    };
    let mut source = GuardedSource::new("bench".to_string(), Box::new(Redcap::new(&ctx)));
    let config = json!({
        "site": "792",
        "protocol": {"792": "BRAIN_MRI_3T"},
        "api_url_env": "BENCH_REDCAP_URL",
        "api_token_env": "BENCH_REDCAP_TOKEN",
    });
    if let RResult::RErr(e) = source.validate_config(RStr::from_str(&config.to_string())) {
        panic!("config refused: {}", e.message);
    }
    let mapping = json!({
        "study_id": "study_id", "mri_instance": "session_id", "family_id": "family_id",
        "youth_dob_y": "patient_birth_date", "demo_sex": "patient_sex",
        "mri_date": "scheduled_start_date", "mri_time": "scheduled_start_time"
    })
    .to_string();

    let mut times = Vec::with_capacity(RUNS);
    for run in 1..=RUNS {
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let answer = match source.fetch_entries(RStr::from_str(&mapping), 0.0) {
            RResult::ROk(json) => json,
            RResult::RErr(e) => panic!("fetch failed: {}", e.message),
        };
        let entries: Vec<Entry> = serde_json::from_str(answer.as_str()).expect("entries JSON");
        let elapsed = started.elapsed();
        assert_eq!(entries.len(), RECORDS * 2);
        let cpu = cpu_seconds() - cpu_before;
        println!(
            "run {run}: {} entries in {:.3} s ({cpu:.2} s of CPU, fake server included)",
            entries.len(),
            elapsed.as_secs_f64()
        );
        times.push(elapsed);
    }
    breakdown(&server, &mapping);
    times.sort();
    let median: Duration = times[RUNS / 2];
    println!(
        "REDCap export of {RECORDS} records ({} rows): median {:.3} s, best {:.3} s (target < 3 s)",
        RECORDS * 3,
        median.as_secs_f64(),
        times[0].as_secs_f64()
    );
}
