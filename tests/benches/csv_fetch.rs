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
//! The boundary share is (end to end - native) / end to end. Freeing the
//! entries is not timed.

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

/// CPU time of this thread so far (the plugin runs on the calling thread).
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall and CPU time of one run.
#[derive(Clone, Copy)]
struct Timing {
    wall: Duration,
    cpu: Duration,
}

/// The best of `RUNS` timings of `f`, which returns the entries (counted)
/// and whatever holds them; that is dropped after the clocks stop.
fn best<T>(mut f: impl FnMut() -> (usize, T)) -> Timing {
    let mut best = Timing {
        wall: Duration::MAX,
        cpu: Duration::MAX,
    };
    for _ in 0..RUNS {
        let (wall, cpu) = (Instant::now(), thread_cpu_time());
        let (count, kept) = f();
        let (wall, cpu) = (wall.elapsed(), thread_cpu_time() - cpu);
        assert_eq!(count, ROWS);
        drop(kept);
        best.wall = best.wall.min(wall);
        best.cpu = best.cpu.min(cpu);
    }
    best
}

fn main() {
    let dir = pylantir_tests::temp_dir();
    let file = dir.path().join("bench.csv");
    write_csv(&file);
    let config = json!({"file_path": file, "record_id_column": "booking_id"});
    let mapping = mapping();
    let mapping_object = mapping.as_object().cloned().unwrap_or_default();

    let native = best(|| {
        let entries =
            pylantir_csv::read::read_entries(&file, b',', &mapping_object, Some("booking_id"))
                .unwrap();
        (entries.len(), entries)
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
                let entries =
                    pylantir::loader::entries::parse_entries("bench", text.as_str()).unwrap();
                (entries.len(), (entries, text))
            }
            RResult::RErr(e) => panic!("{}", e.message),
        },
    );
    let plugin_side = best(
        || match raw.fetch_entries(RStr::from_str(&mapping_text), 60.0) {
            RResult::ROk(text) => {
                json_len = text.len();
                (ROWS, text)
            }
            RResult::RErr(e) => panic!("{}", e.message),
        },
    );

    let mut source = registry.create("csv", "bench").unwrap();
    source.validate_config(&config).unwrap();
    let end_to_end = best(|| {
        let entries = source.fetch_entries(&mapping, 60.0).unwrap();
        (entries.len(), entries)
    });

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let line = |what: &str, t: Timing| {
        println!(
            "  {what:<42} {:7.1} ms wall {:7.1} ms cpu  {:>8.0} entries/cpu-s",
            ms(t.wall),
            ms(t.cpu),
            ROWS as f64 / t.cpu.as_secs_f64()
        )
    };
    println!("csv fetch, {ROWS} entries x 14 fields, best of {RUNS} (JSON {json_len} bytes)");
    line("end to end (DataSource::fetch_entries)", end_to_end);
    line("native read into entries (no boundary)", native);
    line("through the .so, up to the JSON text", plugin_side);
    line("through the .so, JSON text parsed", boundary);
    println!(
        "  end to end: {:.0} entries/s wall, {:.0} entries/s of CPU time",
        ROWS as f64 / end_to_end.wall.as_secs_f64(),
        ROWS as f64 / end_to_end.cpu.as_secs_f64()
    );
    println!(
        "  boundary share (end to end - native) / end to end: {:.0}% (CPU time)",
        100.0 * (end_to_end.cpu.as_secs_f64() - native.cpu.as_secs_f64())
            / end_to_end.cpu.as_secs_f64()
    );
}
