//! Generated worklist entries for the store benches: one source's bookings,
//! the same shape as the host's sync bench.

use pylantir_plugin_api::Entry;
use serde_json::json;

/// Entry `i` of a source: its own record id, patient and date.
pub fn entry(i: usize) -> Entry {
    let value = json!({
        "source_record_id": format!("rec-{i}"),
        "patient_id": format!("P{i:07}"),
        "patient_name": format!("DOE^PATIENT{i}"),
        "patient_birth_date": "1990-01-01",
        "patient_sex": "F",
        "accession_number": format!("A{i}"),
        "modality": "MR",
        "study_description": "Brain MRI",
        "scheduled_station_aetitle": "MR1",
        "scheduled_start_date": format!("2025-03-{:02}", 1 + i % 28),
        "scheduled_start_time": format!("{:02}:{:02}", 7 + i % 12, i % 60),
        "station_name": "MR1",
    });
    value.as_object().cloned().unwrap_or_default()
}

/// Entries `0..n`.
pub fn entries(n: usize) -> Vec<Entry> {
    (0..n).map(entry).collect()
}
