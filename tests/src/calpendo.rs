//! A fake Calpendo server behind a [`FakeServer`], answering as the bookings
//! API does under `/api`: HTTP basic auth (401 otherwise), the booking window
//! query `/q/Calpendo.Booking/AND/dateRange.start/GE/<from>/dateRange.start/LT/<to>`
//! with optional `/OR/resource.name/EQ/<name>...` and `/status/EQ/<status>`,
//! booking details at `/b/Calpendo.Booking/<id>` (404 when unknown), and the
//! MRI operator query `/q/MRIScan/id/eq/<id>?paths=Operator.name`.

use crate::http::{FakeServer, Reply, Request};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// One booking the fake knows.
#[derive(Debug, Clone)]
pub struct FakeBooking {
    /// Local start time as the query compares it, `YYYYMMDD-HHMM`.
    pub start: String,
    /// The resource name the query's `resource.name` matches.
    pub resource: String,
    /// The booking details, as `/b/Calpendo.Booking/<id>` answers.
    pub detail: Value,
}

/// A Calpendo server's bookings and credentials.
#[derive(Debug, Clone, Default)]
pub struct FakeCalpendo {
    username: String,
    password: String,
    bookings: Vec<FakeBooking>,
    operators: HashMap<String, Value>,
}

/// The Calpendo fixture shipped with the Calpendo plugin's tests.
pub fn fixture_path() -> PathBuf {
    crate::workspace_root().join("plugins/calpendo/tests/data/calpendo_responses.json")
}

/// The fixture as JSON.
pub fn fixture() -> Value {
    let path = fixture_path();
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// `[2026-01-27 14:00:00.0, ...]` -> `20260127-1400`.
fn start_of(formatted_name: &str) -> String {
    let digits: String = formatted_name
        .trim_start_matches('[')
        .chars()
        .take(16)
        .filter(char::is_ascii_digit)
        .collect();
    format!("{}-{}", &digits[..8], &digits[8..12])
}

impl FakeCalpendo {
    /// A server accepting `username` / `password`, with no bookings.
    pub fn new(username: &str, password: &str) -> FakeCalpendo {
        FakeCalpendo {
            username: username.to_string(),
            password: password.to_string(),
            ..FakeCalpendo::default()
        }
    }

    /// Adds a booking; `start` is `YYYYMMDD-HHMM`, local.
    pub fn booking(mut self, start: &str, resource: &str, detail: Value) -> FakeCalpendo {
        self.bookings.push(FakeBooking {
            start: start.to_string(),
            resource: resource.to_string(),
            detail,
        });
        self
    }

    /// Adds a booking whose start comes from its `formattedName`.
    pub fn booking_from_detail(self, resource: &str, detail: Value) -> FakeCalpendo {
        let start = start_of(detail["formattedName"].as_str().unwrap_or_default());
        self.booking(&start, resource, detail)
    }

    /// The fixture's three bookings (resources `3T Diagnostic`, `EEG Lab`,
    /// `3T Research`) and the operator of booking 12345, with the fixture's
    /// dates `2026-01-27` / `2026-01-28` replaced by `day` / `next_day`.
    pub fn with_fixture_bookings(mut self, day: &str, next_day: &str) -> FakeCalpendo {
        let fixture = fixture();
        for (id, resource) in [
            ("12345", "3T Diagnostic"),
            ("12346", "EEG Lab"),
            ("12347", "3T Research"),
        ] {
            let text = fixture[format!("booking_detail_{id}")]
                .to_string()
                .replace("2026-01-27", day)
                .replace("2026-01-28", next_day);
            let detail: Value = serde_json::from_str(&text).expect("fixture booking");
            self = self.booking_from_detail(resource, detail);
        }
        self.operators
            .insert("12345".to_string(), fixture["mri_operator_12345"].clone());
        self
    }

    /// Serves the bookings on 127.0.0.1; the API lives under `/api`.
    pub fn serve(self) -> FakeServer {
        let server = Arc::new(self);
        FakeServer::start(move |request| server.answer(request))
    }

    fn authorised(&self, request: &Request) -> bool {
        let expected = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password));
        request.header("authorization") == Some(format!("Basic {expected}").as_str())
    }

    /// The answer Calpendo gives to `request`.
    pub fn answer(&self, request: &Request) -> Reply {
        if !self.authorised(request) {
            return Reply::json(401, &json!({"status_code": 401, "message": "Unauthorized"}));
        }
        let segments = request.path_segments();
        let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
        match parts.as_slice() {
            ["api", "q", "Calpendo.Booking", query @ ..] => self.query(query),
            ["api", "b", "Calpendo.Booking", id] => match self.find(id) {
                Some(booking) => Reply::json(200, &booking.detail),
                None => not_found(),
            },
            ["api", "q", "MRIScan", "id", "eq", id] => Reply::json(
                200,
                self.operators.get(*id).unwrap_or(&json!({"biskits": []})),
            ),
            _ => not_found(),
        }
    }

    fn find(&self, id: &str) -> Option<&FakeBooking> {
        self.bookings.iter().find(|b| id_of(&b.detail) == id)
    }

    /// `AND/dateRange.start/GE/a/dateRange.start/LT/b[/OR/resource.name/EQ/r...][/status/EQ/s]`
    fn query(&self, query: &[&str]) -> Reply {
        let (mut from, mut to, mut resources, mut status) = (None, None, Vec::new(), None);
        let terms: Vec<&str> = query
            .iter()
            .copied()
            .filter(|t| *t != "AND" && *t != "OR")
            .collect();
        for term in terms.chunks(3) {
            match term {
                ["dateRange.start", "GE", value] => from = Some(*value),
                ["dateRange.start", "LT", value] => to = Some(*value),
                ["resource.name", "EQ", value] => resources.push(*value),
                ["status", "EQ", value] => status = Some(*value),
                _ => return Reply::json(400, &json!({"status_code": 400, "message": "Bad query"})),
            }
        }
        let (Some(from), Some(to)) = (from, to) else {
            return Reply::json(400, &json!({"status_code": 400, "message": "Bad query"}));
        };
        let biskits: Vec<Value> = self
            .bookings
            .iter()
            .filter(|b| b.start.as_str() >= from && b.start.as_str() < to)
            .filter(|b| resources.is_empty() || resources.contains(&b.resource.as_str()))
            .filter(|b| status.is_none_or(|s| status_of(&b.detail) == s))
            .map(|b| {
                json!({
                    "id": b.detail["id"],
                    "formattedName": b.detail["formattedName"],
                    "title": b.detail["title"],
                    "status": status_of(&b.detail),
                    "biskitType": b.detail["biskitType"],
                })
            })
            .collect();
        Reply::json(200, &json!({ "biskits": biskits }))
    }
}

/// A booking's status: at the top, or under `properties` (Calpendo 11).
fn status_of(detail: &Value) -> &Value {
    match &detail["status"] {
        Value::Null => &detail["properties"]["status"],
        status => status,
    }
}

/// A booking's id as text (Calpendo ids are numbers).
fn id_of(detail: &Value) -> String {
    match &detail["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn not_found() -> Reply {
    Reply::json(404, &json!({"status_code": 404, "message": "Not Found"}))
}
