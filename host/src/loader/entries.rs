//! Reads what a plugin's fetch answered (a JSON array of entry objects, or
//! the object form of [`pylantir_plugin_api::fetch`]) and
//! checks each entry against the entry schema of plugin-api: only worklist
//! fields and `source_record_id`, every value a string or null. An entry that
//! breaks the rules is dropped and reported; an answer that is not an array
//! of objects fails the fetch.

use crate::source::{Fetched, Skipped, SourceError, SourceErrorKind};
use crate::store::retract::Window;
use pylantir_plugin_api::entry::{is_worklist_field, SOURCE_RECORD_ID, STATUS};
use pylantir_plugin_api::Entry;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;

/// How many skipped or dropped records of one fetch are kept with their
/// reasons; beyond that they are only counted.
pub const SKIPPED_KEPT: usize = 1000;

/// Parses and checks the entries `source_name` returned as `json`, in one
/// pass over the text.
pub fn parse_entries(source_name: &str, json: &str) -> Result<Vec<Entry>, SourceError> {
    parse_fetch(source_name, json).map(|fetched| fetched.entries)
}

/// Parses a fetch answer: the entry array (plugin-api 1.0.0), or the object
/// `{"entries": [...], "complete_window": {"from", "to"}, "skipped": [...]}`.
/// Invalid entries are dropped and reported, a malformed skip record is kept
/// with what is wrong with it; an invalid window or a `skipped` that is not a
/// list fails the fetch, so nothing is retracted on a word the host cannot
/// read.
pub fn parse_fetch(source_name: &str, json: &str) -> Result<Fetched, SourceError> {
    let mut entries = Vec::new();
    let mut collect = |batch: Vec<Entry>| {
        entries.extend(batch);
        Ok(())
    };
    let mut fetched =
        parse_fetch_batches(source_name, json, &mut collect).map_err(|e| match e {
            BatchError::Source(e) => e,
            BatchError::Batch(message) => SourceError::new(SourceErrorKind::Other, message),
        })?;
    fetched.entries = entries;
    Ok(fetched)
}

/// How many entries [`parse_fetch_batches`] hands over at a time.
pub const BATCH: usize = 500;

/// Why [`parse_fetch_batches`] stopped.
#[derive(Debug)]
pub enum BatchError {
    /// The answer is unusable (not JSON, not entries, a bad window).
    Source(SourceError),
    /// The batch callback failed, with its message.
    Batch(String),
}

/// [`parse_fetch`] in bounded memory: the valid entries go to `batch`, at
/// most [`BATCH`] at a time, while the text is read; the returned fetch has
/// no entries, only what came with them. An error after some batches leaves
/// it to the caller to undo them (one transaction).
pub fn parse_fetch_batches(
    source_name: &str,
    json: &str,
    batch: &mut dyn FnMut(Vec<Entry>) -> Result<(), String>,
) -> Result<Fetched, BatchError> {
    let invalid = |message: String| {
        BatchError::Source(SourceError::new(
            SourceErrorKind::Crashed,
            format!("source '{source_name}' answered {message}"),
        ))
    };
    let mut failed = None;
    let mut de = serde_json::Deserializer::from_str(json);
    let answer = de
        .deserialize_any(AnswerVisitor {
            sink: Sink {
                batch,
                failed: &mut failed,
            },
        })
        .and_then(|answer| de.end().map(|()| answer));
    if let Some(message) = failed {
        return Err(BatchError::Batch(message));
    }
    let answer =
        answer.map_err(|e| invalid(format!("something that is not a list of entries: {e}")))?;
    let checked = answer.checked;
    if let Some(problem) = checked.dropped.first() {
        log::warn!(
            "source '{source_name}': {} of {} entries dropped as invalid; first: {}",
            checked.dropped_count,
            checked.dropped_count + checked.valid,
            problem.reason
        );
    }
    let complete_window = answer
        .window
        .map(|w| window(&w))
        .transpose()
        .map_err(|e| invalid(format!("an unusable complete_window: {e}")))?;
    let SkippedList { kept, count } = answer.skipped;
    if let Some(malformed) = kept.iter().find(|s| s.reason.starts_with(MALFORMED)) {
        log::warn!("source '{source_name}': {}", malformed.reason);
    }
    Ok(Fetched {
        entries: Vec::new(),
        complete_window,
        skipped: kept,
        skipped_count: count,
        dropped: checked.dropped,
        dropped_count: checked.dropped_count as u64,
    })
}

/// Where the entry array's valid entries go, and the callback's error.
struct Sink<'a> {
    batch: &'a mut dyn FnMut(Vec<Entry>) -> Result<(), String>,
    failed: &'a mut Option<String>,
}

impl Sink<'_> {
    /// Hands `entries` over; a callback error stops the parse.
    fn pass<E: serde::de::Error>(&mut self, entries: Vec<Entry>) -> Result<(), E> {
        (self.batch)(entries).map_err(|message| {
            *self.failed = Some(message);
            E::custom("stopped by the batch callback")
        })
    }
}

/// The window as the plugin wrote it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireWindow {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// A skipped record as the plugin wrote it.
#[derive(Debug, Deserialize)]
struct WireSkipped {
    #[serde(default)]
    record_id: Option<Value>,
    #[serde(default)]
    reason: Option<String>,
}

fn window(wire: &WireWindow) -> Result<Window, String> {
    let (from, from_time) = window_side("from", wire.from.as_deref())?;
    let (to, to_time) = window_side("to", wire.to.as_deref())?;
    let window = Window {
        from,
        to,
        from_time,
        to_time,
    };
    let start = (
        &window.from,
        window.from_time.as_deref().unwrap_or("000000"),
    );
    let end = (&window.to, window.to_time.as_deref().unwrap_or("235959"));
    if let ((Some(from), from_time), (Some(to), to_time)) = (start, end) {
        if (from, from_time) > (to, to_time) {
            return Err(format!(
                "from {} is after to {}",
                side(from, &window.from_time),
                side(to, &window.to_time)
            ));
        }
    }
    Ok(window)
}

/// A window side as the messages show it: `YYYYMMDD` or `YYYYMMDD HHMMSS`.
fn side(date: &str, time: &Option<String>) -> String {
    match time {
        Some(time) => format!("{date} {time}"),
        None => date.to_string(),
    }
}

/// One side of a window: a date (`YYYY-MM-DD`, `YYYYMMDD`) as `YYYYMMDD`,
/// and with a time after `T` or a space (`HH:MM[:SS]`) also that as `HHMMSS`.
type WindowSide = (Option<String>, Option<String>);

fn window_side(key: &str, text: Option<&str>) -> Result<WindowSide, String> {
    let Some(text) = text else {
        return Ok((None, None));
    };
    let wrong = || {
        format!("{key} {text:?} is not a date (YYYY-MM-DD) or a date-time (YYYY-MM-DDTHH:MM[:SS])")
    };
    let (day, time) = match text.split_once(['T', ' ']) {
        Some((day, time)) => (day, Some(time)),
        None => (text, None),
    };
    let date = crate::sync::normalise::date(day)
        .map(|d| d.replace('-', ""))
        .ok_or_else(wrong)?;
    let time = time
        .map(|t| {
            crate::sync::normalise::time(t)
                .map(|t| format!("{}000000", t.replace(':', ""))[..6].to_string())
                .ok_or_else(wrong)
        })
        .transpose()?;
    Ok((Some(date), time))
}

/// How the reason of a skip record the host could not read starts.
const MALFORMED: &str = "the plugin's skip record";

/// The skip record `value`, number `index` of the list; one the host cannot
/// read is kept with what is wrong with it instead of the plugin's reason.
fn skipped_record(index: u64, value: Value) -> Skipped {
    let malformed = |what: String| Skipped {
        record_id: None,
        reason: format!("{MALFORMED} skipped[{index}] {what}"),
    };
    let wire = match WireSkipped::deserialize(&value) {
        Ok(wire) => wire,
        Err(e) => return malformed(format!("is not a {{record_id, reason}} object: {e}")),
    };
    let record_id = match wire.record_id {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return malformed(format!("has record_id {other}, not a string")),
    };
    match wire.reason.filter(|r| !r.trim().is_empty()) {
        Some(reason) => Skipped {
            record_id,
            reason: reason.chars().take(REASON_CHARS).collect(),
        },
        None => Skipped {
            reason: format!("{MALFORMED} skipped[{index}] gives no reason"),
            record_id,
        },
    }
}

/// How many characters of a skip reason are kept.
const REASON_CHARS: usize = 500;

/// The `skipped` list of an answer: every record counted, the first
/// [`SKIPPED_KEPT`] kept.
#[derive(Default)]
struct SkippedList {
    kept: Vec<Skipped>,
    count: u64,
}

/// Reads the `skipped` list as it arrives: records past the first
/// [`SKIPPED_KEPT`] are counted and passed over without being held.
struct SkippedVisitor;

impl<'de> Visitor<'de> for SkippedVisitor {
    type Value = SkippedList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of skip records, or null")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<SkippedList, E> {
        Ok(SkippedList::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SkippedList, A::Error> {
        let mut list = SkippedList::default();
        loop {
            if list.kept.len() < SKIPPED_KEPT {
                let Some(value) = seq.next_element::<Value>()? else {
                    break;
                };
                list.kept.push(skipped_record(list.count, value));
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            list.count += 1;
        }
        Ok(list)
    }
}

impl<'de> DeserializeSeed<'de> for SkippedVisitor {
    type Value = SkippedList;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<SkippedList, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// What the top level of an answer held.
struct Answer {
    checked: Checked,
    window: Option<WireWindow>,
    skipped: SkippedList,
}

/// Reads either answer form.
struct AnswerVisitor<'a> {
    sink: Sink<'a>,
}

impl<'de> Visitor<'de> for AnswerVisitor<'_> {
    type Value = Answer;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of entry objects, or an object with `entries`")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Answer, A::Error> {
        Ok(Answer {
            checked: EntriesVisitor { sink: self.sink }.visit_seq(seq)?,
            window: None,
            skipped: SkippedList::default(),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Answer, A::Error> {
        let mut sink = Some(self.sink);
        let mut checked = None;
        let mut window = None;
        let mut skipped = SkippedList::default();
        while let Some(key) = map.next_key::<String>()? {
            match (key.as_str(), sink.take()) {
                ("entries", Some(sink)) => {
                    checked = Some(map.next_value_seed(EntriesVisitor { sink })?)
                }
                ("entries", None) => {
                    return Err(serde::de::Error::duplicate_field("entries"));
                }
                (other, unused) => {
                    sink = unused;
                    match other {
                        "complete_window" => window = map.next_value()?,
                        "skipped" => skipped = map.next_value_seed(SkippedVisitor)?,
                        // Keys of later API versions.
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
            }
        }
        let checked = checked.ok_or_else(|| serde::de::Error::missing_field("entries"))?;
        Ok(Answer {
            checked,
            window,
            skipped,
        })
    }
}

impl<'de> DeserializeSeed<'de> for EntriesVisitor<'_> {
    type Value = Checked;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Checked, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

/// What the entry array held besides the entries handed over.
struct Checked {
    /// How many valid entries were handed over.
    valid: usize,
    dropped_count: usize,
    /// The first [`SKIPPED_KEPT`] dropped entries, with why.
    dropped: Vec<Skipped>,
}

/// Reads the entry array, handing valid entries over in batches.
struct EntriesVisitor<'a> {
    sink: Sink<'a>,
}

impl<'de> Visitor<'de> for EntriesVisitor<'_> {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of entry objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Checked, A::Error> {
        let mut checked = Checked {
            valid: 0,
            dropped_count: 0,
            dropped: Vec::new(),
        };
        let mut batch = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(BATCH));
        while let Some(entry) = seq.next_element_seed(EntrySeed)? {
            match entry {
                Ok(entry) => {
                    checked.valid += 1;
                    batch.push(entry);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        self.sink.pass(full)?;
                    }
                }
                Err((record_id, problem)) => {
                    checked.dropped_count += 1;
                    let index = checked.valid + checked.dropped_count;
                    if checked.dropped.len() < SKIPPED_KEPT {
                        checked.dropped.push(Skipped {
                            record_id,
                            reason: format!("entry {index}: {problem}"),
                        });
                    }
                }
            }
        }
        if !batch.is_empty() {
            self.sink.pass(batch)?;
        }
        Ok(checked)
    }
}

/// One entry object: built and checked together.
struct EntrySeed;

/// An entry, or its record id (if any) and why it is dropped.
type CheckedEntry = Result<Entry, (Option<String>, String)>;

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = CheckedEntry;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = CheckedEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entry object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Sized up front: most entries carry a dozen or more fields.
        let mut entry = Map::with_capacity(map.size_hint().unwrap_or(24));
        let mut problem = None;
        while let Some(key) = map.next_key::<String>()? {
            let value: Value = map.next_value()?;
            if problem.is_none() {
                problem = check_field(&key, &value).err();
            }
            entry.insert(key, value);
        }
        Ok(match problem {
            None => Ok(entry),
            Some(problem) => {
                let record_id = entry
                    .get(SOURCE_RECORD_ID)
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Err((record_id, problem))
            }
        })
    }
}

/// Checks one field: a known key with a string or null value. The status
/// value itself is checked by the sync's normalisation (a rejection with its reason).
fn check_field(key: &str, value: &Value) -> Result<(), String> {
    if key != SOURCE_RECORD_ID && key != STATUS && !is_worklist_field(key) {
        return Err(format!("unknown field '{key}'"));
    }
    if !matches!(value, Value::String(_) | Value::Null) {
        return Err(format!("field '{key}' is {value}, not a string"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_entries_pass_unchanged() {
        let json = r#"[{"patient_id":"P1","patient_name":"Müller^Jürgen","source_record_id":"r1","modality":null}]"#;
        let entries = parse_entries("s", json).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["patient_name"], "Müller^Jürgen");
    }

    #[test]
    fn an_entry_with_an_unknown_field_is_dropped() {
        let json = r#"[{"patient_id":"P1"},{"patient_id":"P2","shoe_size":"44"}]"#;
        let entries = parse_entries("s", json).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["patient_id"], "P1");
    }

    #[test]
    fn an_entry_with_a_number_value_is_dropped_as_not_a_string() {
        let json = r#"[{"patient_weight_lb": 150},{"patient_id":"P2"}]"#;
        let entries = parse_entries("s", json).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["patient_id"], "P2");
        assert_eq!(
            check_field("patient_weight_lb", &serde_json::json!(150)),
            Err("field 'patient_weight_lb' is 150, not a string".to_string())
        );
    }

    #[test]
    fn the_object_answer_carries_the_window_and_the_skipped_records() {
        let json = r#"{"entries":[{"patient_id":"P1"}],"complete_window":{"from":"2026-12-01","to":"20261208"},
            "skipped":[{"record_id":7,"reason":"no date"}],"later_key":[1]}"#;
        let fetched = parse_fetch("s", json).unwrap();
        assert_eq!(fetched.entries.len(), 1);
        let window = fetched.complete_window.unwrap();
        assert_eq!(
            (window.from.as_deref(), window.to.as_deref()),
            (Some("20261201"), Some("20261208"))
        );
        assert_eq!(fetched.skipped[0].record_id.as_deref(), Some("7"));
        assert_eq!(fetched.skipped_count, 1);
    }

    #[test]
    fn a_malformed_skip_record_is_kept_with_what_is_wrong_and_the_fetch_goes_on() {
        let json = r#"{"entries":[{"patient_id":"P1"}],"skipped":[
            {"record_id":"A1"},{"record_id":[1],"reason":"x"},"text",{"record_id":"A4","reason":"no date"}]}"#;
        let fetched = parse_fetch("s", json).unwrap();
        assert_eq!(fetched.entries.len(), 1);
        let reasons: Vec<(Option<&str>, &str)> = fetched
            .skipped
            .iter()
            .map(|s| (s.record_id.as_deref(), s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons[..2],
            [
                (
                    Some("A1"),
                    "the plugin's skip record skipped[0] gives no reason"
                ),
                (
                    None,
                    "the plugin's skip record skipped[1] has record_id [1], not a string"
                ),
            ]
        );
        assert!(reasons[2]
            .1
            .starts_with("the plugin's skip record skipped[2] is not a"));
        assert_eq!(reasons[3], (Some("A4"), "no date"));
        assert_eq!(fetched.skipped_count, 4);
    }

    #[test]
    fn a_huge_skip_list_is_counted_whole_and_kept_to_its_first_records() {
        let record = r#"{"record_id":"R","reason":"no date"}"#;
        let many = vec![record; SKIPPED_KEPT * 3 + 7].join(",");
        let json = format!(r#"{{"entries":[],"skipped":[{many}]}}"#);
        let fetched = parse_fetch("s", &json).unwrap();
        assert_eq!(fetched.skipped.len(), SKIPPED_KEPT);
        assert_eq!(fetched.skipped_count, (SKIPPED_KEPT * 3 + 7) as u64);
    }

    #[test]
    fn a_long_skip_reason_is_cut_and_a_skip_list_that_is_not_a_list_fails_the_fetch() {
        let json = format!(
            r#"{{"entries":[],"skipped":[{{"record_id":"R","reason":"{}"}}]}}"#,
            "é".repeat(2000)
        );
        let fetched = parse_fetch("s", &json).unwrap();
        assert_eq!(fetched.skipped[0].reason.chars().count(), REASON_CHARS);
        let error = parse_fetch("s", r#"{"entries":[],"skipped":{"record_id":"R"}}"#).unwrap_err();
        assert!(error.message.contains("skip records"), "{}", error.message);
    }

    #[test]
    fn a_window_side_may_be_a_date_time_down_to_the_second() {
        let json = r#"{"entries":[],"complete_window":{"from":"2026-12-01T14:05","to":"2026-12-02 09:30:59"}}"#;
        let window = parse_fetch("s", json).unwrap().complete_window.unwrap();
        assert_eq!(window.to_string(), "20261201 140500 to 20261202 093059");
        let json = r#"{"entries":[],"complete_window":{"from":"2026-12-01T14:05","to":"2026-12-01T14:04"}}"#;
        let error = parse_fetch("s", json).unwrap_err();
        assert!(
            error
                .message
                .contains("from 20261201 140500 is after to 20261201 140400"),
            "{}",
            error.message
        );
        let json = r#"{"entries":[],"complete_window":{"from":"2026-12-01T25:00"}}"#;
        assert!(parse_fetch("s", json).is_err());
    }

    #[test]
    fn a_window_that_ends_before_it_starts_fails_the_fetch() {
        let json = r#"{"entries":[],"complete_window":{"from":"2026-12-08","to":"2026-12-01"}}"#;
        let error = parse_fetch("s", json).unwrap_err();
        assert!(
            error
                .message
                .contains("complete_window: from 20261208 is after to 20261201"),
            "{}",
            error.message
        );
    }

    #[test]
    fn an_answer_that_is_not_a_list_fails_the_fetch() {
        let error = parse_entries("s", r#"{"patient_id":"P1"}"#).unwrap_err();
        assert_eq!(error.kind, SourceErrorKind::Crashed);
        assert!(error.message.starts_with("source 's' answered something"));
    }
}
