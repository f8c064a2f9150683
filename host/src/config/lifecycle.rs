//! The worklist lifecycle keys: `retention` (what housekeeping deletes, and
//! when) and `retraction_guard` (when a retraction is too large to believe).
//!
//! ```json
//! "retention": {
//!     "finished_days": 30, "retracted_days": 7, "past_scheduled_days": 14,
//!     "mpps_days": 90, "interval_minutes": 60, "batch_size": 500
//! },
//! "retraction_guard": {"max_percent": 50, "min_items": 10}
//! ```
//!
//! Without `retention` nothing is ever deleted (Python pylantir's behaviour);
//! a category left out, or `null`, is kept for ever.

use super::validate::Problem;
use crate::store::retract::Guard;
use serde_json::{Map, Value};
use std::time::Duration;

/// How long each kind of row is kept, and how housekeeping runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// COMPLETED and DISCONTINUED items, counted from their scheduled date.
    pub finished: Option<Duration>,
    /// Retracted items, counted from their retraction.
    pub retracted: Option<Duration>,
    /// SCHEDULED items, counted from their scheduled date.
    pub past_scheduled: Option<Duration>,
    /// MPPS instances no longer IN PROGRESS, counted from their last update.
    pub mpps: Option<Duration>,
    /// How often housekeeping runs (it also runs at start).
    pub interval: Duration,
    /// Rows deleted per transaction, so C-FIND never waits long.
    pub batch_size: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            finished: None,
            retracted: None,
            past_scheduled: None,
            mpps: None,
            interval: Duration::from_secs(3600),
            batch_size: 500,
        }
    }
}

impl Retention {
    /// Whether anything is ever deleted.
    pub fn deletes_anything(&self) -> bool {
        self.finished.is_some()
            || self.retracted.is_some()
            || self.past_scheduled.is_some()
            || self.mpps.is_some()
    }
}

const DAY: f64 = 86_400.0;

/// The `retention` of a configuration, `None` when the key is absent or
/// `null`. Invalid values are reported by [`problems`]; here they count as unset.
pub fn retention(raw: &Map<String, Value>) -> Option<Retention> {
    parse_retention(raw, &mut Vec::new())
}

/// The `retraction_guard` of a configuration (defaults when absent).
pub fn retraction_guard(raw: &Map<String, Value>) -> Guard {
    parse_guard(raw, &mut Vec::new())
}

/// Every problem of the two keys, with its JSON path.
pub fn problems(raw: &Map<String, Value>) -> Vec<Problem> {
    let mut problems = Vec::new();
    parse_retention(raw, &mut problems);
    parse_guard(raw, &mut problems);
    problems
}

fn problem(problems: &mut Vec<Problem>, path: String, value: Option<&Value>, message: &str) {
    problems.push(Problem::new(path, value, message));
}

/// An object key, or a problem if the value is not an object.
fn object<'a>(
    raw: &'a Map<String, Value>,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<&'a Map<String, Value>> {
    match raw.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(other) => {
            problem(problems, key.to_string(), Some(other), "must be an object");
            None
        }
    }
}

/// A non-negative number at `parent.key`; `None` when absent or null.
fn number(
    map: &Map<String, Value>,
    parent: &str,
    key: &str,
    min: f64,
    problems: &mut Vec<Problem>,
) -> Option<f64> {
    let value = map.get(key)?;
    match value.as_f64() {
        _ if value.is_null() => None,
        Some(n) if n.is_finite() && n >= min && n <= 36_500.0 * DAY => Some(n),
        _ => {
            problem(
                problems,
                format!("{parent}.{key}"),
                Some(value),
                &format!("must be a number of at least {min}"),
            );
            None
        }
    }
}

fn parse_retention(raw: &Map<String, Value>, problems: &mut Vec<Problem>) -> Option<Retention> {
    let map = object(raw, "retention", problems)?;
    const KEYS: &[&str] = &[
        "finished_days",
        "retracted_days",
        "past_scheduled_days",
        "mpps_days",
        "interval_minutes",
        "batch_size",
    ];
    for (key, value) in map {
        if !KEYS.contains(&key.as_str()) {
            problem(
                problems,
                format!("retention.{key}"),
                Some(value),
                &format!("is not a retention key (known: {})", KEYS.join(", ")),
            );
        }
    }
    let days = |key: &str, problems: &mut Vec<Problem>| {
        number(map, "retention", key, 0.0, problems).map(|d| Duration::from_secs_f64(d * DAY))
    };
    let mut retention = Retention {
        finished: days("finished_days", problems),
        retracted: days("retracted_days", problems),
        past_scheduled: days("past_scheduled_days", problems),
        mpps: days("mpps_days", problems),
        ..Retention::default()
    };
    if let Some(minutes) = number(map, "retention", "interval_minutes", 1.0, problems) {
        retention.interval = Duration::from_secs_f64(minutes * 60.0);
    }
    if let Some(size) = number(map, "retention", "batch_size", 1.0, problems) {
        if size.fract() != 0.0 || size > 100_000.0 {
            problem(
                problems,
                "retention.batch_size".into(),
                map.get("batch_size"),
                "must be a whole number from 1 to 100000",
            );
        } else {
            retention.batch_size = size as usize;
        }
    }
    Some(retention)
}

fn parse_guard(raw: &Map<String, Value>, problems: &mut Vec<Problem>) -> Guard {
    let mut guard = Guard::default();
    let Some(map) = object(raw, "retraction_guard", problems) else {
        return guard;
    };
    for (key, value) in map {
        if !["max_percent", "min_items"].contains(&key.as_str()) {
            problem(
                problems,
                format!("retraction_guard.{key}"),
                Some(value),
                "is not a retraction_guard key (known: max_percent, min_items)",
            );
        }
    }
    if let Some(percent) = number(map, "retraction_guard", "max_percent", 0.0, problems) {
        if percent > 100.0 {
            problem(
                problems,
                "retraction_guard.max_percent".into(),
                map.get("max_percent"),
                "must be a percentage from 0 to 100",
            );
        } else {
            guard.max_percent = percent;
        }
    }
    if let Some(min) = number(map, "retraction_guard", "min_items", 0.0, problems) {
        guard.min_items = min as u64;
    }
    guard
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn without_the_key_nothing_is_deleted() {
        assert_eq!(retention(&raw(json!({}))), None);
    }

    #[test]
    fn days_become_durations_and_left_out_categories_are_kept() {
        let r = retention(&raw(
            json!({"retention": {"finished_days": 2, "batch_size": 10}}),
        ))
        .unwrap();
        assert_eq!(r.finished, Some(Duration::from_secs(2 * 86_400)));
        assert_eq!((r.retracted, r.batch_size), (None, 10));
        assert!(r.deletes_anything());
    }

    #[test]
    fn nonsense_values_are_problems_with_their_json_path() {
        let found = problems(&raw(json!({
            "retention": {"finished_days": -1, "batch_size": 0.5, "keep": 3},
            "retraction_guard": {"max_percent": 150}
        })));
        let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "retention.keep",
                "retention.finished_days",
                "retention.batch_size",
                "retraction_guard.max_percent"
            ]
        );
    }
}
