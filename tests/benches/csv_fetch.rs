//! Fetch of 100,000 CSV entries (14 mapped fields) from the csv plugin,
//! loaded by the real loader, into host-side entries.
//!
//! `cargo bench -p pylantir-tests --bench csv_fetch` prints entries/s end to
//! end and how the time splits:
//! - native: the csv plugin's own reading, called as a Rust library (no boundary);
//! - plugin boundary: the same fetch through the `.so`, up to the JSON text
//!   the host receives (adds the plugin's serialisation and the FFI call);
//! - host parse: reading and checking that JSON into `Entry` maps.
//!
//! The boundary share is (end to end - native) / end to end.

use pylantir::source::SourceFactory;
use pylantir_plugin_api::abi_stable::std_types::{RResult, RStr};
use pylantir_tests::plugin_files::load_in_process;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const ROWS: usize = 100_000;
const RUNS: usize = 5;

fn write_csv(path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "booking_id,mrn,patient_name,birth_date,sex,weight_lb,accession,modality,scan_date,scan_time,study_description,protocol,station_aet,station_name,referring_physician").unwrap();
    for i in 0..ROWS {
        writeln!(
            out,
            "BK-{i:07},MRN{i:07},Müller^Jürgen {i},1968-04-12,{sex},{w},ACC{i:08},{m},2026-11-{d:02},{h:02}:{min:02},\"MRI brain, with contrast\",BRAIN_MRI_3T,MRI_SCANNER,MR3T-1,Schmidt^Anna",
            sex = if i % 2 == 0 { "M" } else { "F" },
            w = 100 + i % 120,
            m = if i % 3 == 0 { "CT" } else { "MR" },
            d = 1 + i % 28,
            h = 7 + i % 10,
            min = i % 60,
        )
        .unwrap();
    }
}

fn mapping() -> Value {
    json!({
        "mrn": "patient_id", "patient_name": "patient_name", "birth_date": "patient_birth_date",
        "sex": "patient_sex", "weight_lb": "patient_weight_lb", "accession": "accession_number",
        "modality": "modality", "scan_date": "scheduled_start_date", "scan_time": "scheduled_start_time",
        "study_description": "study_description", "protocol": "protocol_name",
        "station_aet": "scheduled_station_aetitle", "station_name": "station_name",
        "referring_physician": "referring_physician_name"
    })
}

/// The best of `RUNS` timings of `f`, which must return the number of entries.
fn best(mut f: impl FnMut() -> usize) -> Duration {
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            assert_eq!(f(), ROWS);
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let dir = pylantir_tests::temp_dir();
    let file = dir.path().join("bench.csv");
    write_csv(&file);
    let config = json!({"file_path": file, "record_id_column": "booking_id"});
    let mapping = mapping();
    let mapping_object = mapping.as_object().cloned().unwrap_or_default();

    let native = best(|| {
        pylantir_csv::read::read_entries(&file, b',', &mapping_object, Some("booking_id"))
            .unwrap()
            .len()
    });

    let registry = load_in_process(&["pylantir_csv"]);
    let plugin = registry.resolve("csv").unwrap();
    let mut raw = plugin.new_source("csv", "bench").unwrap();
    let config_text = config.to_string();
    let mapping_text = mapping.to_string();
    assert!(raw.validate_config(RStr::from_str(&config_text)).is_ok());
    let mut json_len = 0;
    let boundary = best(
        || match raw.fetch_entries(RStr::from_str(&mapping_text), 60.0) {
            RResult::ROk(text) => {
                json_len = text.len();
                pylantir::loader::entries::parse_entries("bench", text.as_str())
                    .unwrap()
                    .len();
                ROWS
            }
            RResult::RErr(e) => panic!("{}", e.message),
        },
    );
    let plugin_side = best(
        || match raw.fetch_entries(RStr::from_str(&mapping_text), 60.0) {
            RResult::ROk(text) => {
                json_len = text.len();
                ROWS
            }
            RResult::RErr(e) => panic!("{}", e.message),
        },
    );

    let mut source = registry.create("csv", "bench").unwrap();
    source.validate_config(&config).unwrap();
    let end_to_end = best(|| source.fetch_entries(&mapping, 60.0).unwrap().len());

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let rate = ROWS as f64 / end_to_end.as_secs_f64();
    println!("csv fetch, {ROWS} entries x 14 fields, best of {RUNS} (JSON {json_len} bytes)");
    println!(
        "  end to end (DataSource::fetch_entries): {:8.1} ms  {rate:>10.0} entries/s",
        ms(end_to_end)
    );
    println!(
        "  native read (no boundary):              {:8.1} ms",
        ms(native)
    );
    println!(
        "  through the .so, up to the JSON text:   {:8.1} ms",
        ms(plugin_side)
    );
    println!(
        "  through the .so, JSON text parsed:      {:8.1} ms",
        ms(boundary)
    );
    println!(
        "  boundary share (serialise + FFI + parse): {:.0}%",
        100.0 * (end_to_end.as_secs_f64() - native.as_secs_f64()) / end_to_end.as_secs_f64()
    );
}
