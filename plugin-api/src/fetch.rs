//! What one fetch found, beyond its entries: the window it is complete for
//! and the upstream records it skipped. Added after plugin-api 1.0.0 without
//! touching the checked ABI: the host lists the feature [`FETCH_RESULT`] in
//! its `host_info_json`, and only then does a fetch answer the object
//! `{"entries": [...], "complete_window": {...}, "skipped": [...]}` instead of
//! the bare entry array. A host that does not list it gets the array, as from
//! a 1.0.0 plugin; a 1.0.0 plugin always answers the array, so its items are
//! never retracted.

use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};

/// The host feature that allows the object answer.
pub const FETCH_RESULT: &str = "fetch_result";

/// Set once from the host's `host_info_json` when the plugin is initialised.
static HOST_TAKES_FETCH_RESULT: AtomicBool = AtomicBool::new(false);

/// Reads the host's features from its `host_info_json`.
pub fn note_host_info(host_info_json: &str) {
    let takes = serde_json::from_str::<serde_json::Value>(host_info_json)
        .ok()
        .and_then(|info| {
            info.get("features")?
                .as_array()
                .map(|features| features.iter().any(|f| f == FETCH_RESULT))
        })
        .unwrap_or(false);
    HOST_TAKES_FETCH_RESULT.store(takes, Ordering::Relaxed);
}

/// The scheduled dates (or date-times) a fetch returned every booking of,
/// inclusive. Items of the source in it that the fetch did not return are
/// retracted by the host. Each side is a date `YYYY-MM-DD` (the whole day)
/// or a local date-time `YYYY-MM-DDTHH:MM[:SS]` (to the second); a side left
/// `None` is unbounded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompleteWindow {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl CompleteWindow {
    /// Every item of the source: the fetch read the whole upstream (a file).
    pub fn everything() -> Self {
        CompleteWindow::default()
    }

    /// The days from `from` to `to` (`YYYY-MM-DD`), both included.
    pub fn dates(from: &str, to: &str) -> Self {
        CompleteWindow::between(from, to)
    }

    /// From `from` to `to`, both included, each a date (`YYYY-MM-DD`) or a
    /// local date-time (`YYYY-MM-DDTHH:MM[:SS]`): for a source that asks its
    /// upstream for a time range rather than whole days.
    pub fn between(from: &str, to: &str) -> Self {
        CompleteWindow {
            from: Some(from.to_string()),
            to: Some(to.to_string()),
        }
    }
}

/// An upstream record the source did not turn into an entry, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Its upstream id (the `source_record_id` it would have had), if known.
    pub record_id: Option<String>,
    pub reason: String,
}

/// One fetch: the entry array as JSON text, and what else the source knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetch {
    /// A JSON array of entry objects.
    pub entries_json: String,
    /// Set when the fetch returned every booking of this window.
    pub complete_window: Option<CompleteWindow>,
    /// Records skipped upstream (malformed, out of scope).
    pub skipped: Vec<Skipped>,
}

impl Fetch {
    /// A fetch of `entries_json` (a JSON array) that says nothing more.
    pub fn new(entries_json: String) -> Self {
        Fetch {
            entries_json,
            ..Fetch::default()
        }
    }

    /// The answer that crosses the boundary: the object form when the host
    /// takes it and there is something to say, else the bare array.
    pub fn into_answer(self) -> String {
        let plain = self.complete_window.is_none() && self.skipped.is_empty();
        if plain || !HOST_TAKES_FETCH_RESULT.load(Ordering::Relaxed) {
            return self.entries_json;
        }
        let extras = serde_json::json!({
            "complete_window": self.complete_window,
            "skipped": self.skipped,
        })
        .to_string();
        // `{"entries":<array>,` + the rest of the extras object, built in
        // the (possibly large) entry array's own buffer: neither
        // re-serialised nor copied into a second one.
        let mut answer = self.entries_json;
        answer.reserve_exact(extras.len() + 12);
        answer.insert_str(0, "{\"entries\":");
        answer.push(',');
        answer.push_str(&extras[1..]);
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_answer_wraps_the_entries_only_for_a_host_that_takes_it() {
        let fetch = Fetch {
            entries_json: r#"[{"patient_id":"P1"}]"#.into(),
            complete_window: Some(CompleteWindow::everything()),
            skipped: vec![Skipped {
                record_id: Some("r9".into()),
                reason: "no date".into(),
            }],
        };
        note_host_info(r#"{"api_version":"1.0.0"}"#);
        assert_eq!(fetch.clone().into_answer(), r#"[{"patient_id":"P1"}]"#);
        note_host_info(r#"{"features":["fetch_result"]}"#);
        let answer: serde_json::Value = serde_json::from_str(&fetch.into_answer()).unwrap();
        assert_eq!(answer["entries"][0]["patient_id"], "P1");
        assert_eq!(
            answer["complete_window"],
            serde_json::json!({"from": null, "to": null})
        );
        assert_eq!(answer["skipped"][0]["record_id"], "r9");
    }
}
