//! Reading request input the way FastAPI validates it: a JSON body checked
//! field by field (every problem reported, each with its `loc`), path ids
//! and query parameters; anything wrong is a 4xx, never a 500.

use super::error::{error_entry, ApiError};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde_json::{json, Map, Value};

/// A request body parsed as JSON (any content type, as FastAPI does).
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::Status(status, "Request body too large".into())
            } else {
                ApiError::Status(status, format!("Cannot read the request body: {rejection}"))
            }
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError::invalid(
                "json_invalid",
                json!(["body", e.column()]),
                "JSON decode error",
                json!({}),
            )
            .with_context(e.to_string())
        })
    }
}

impl ApiError {
    fn with_context(self, error: String) -> ApiError {
        match self {
            ApiError::Validation(mut entries) => {
                if let Some(Value::Object(entry)) = entries.first_mut() {
                    entry.insert("ctx".into(), json!({ "error": error }));
                }
                ApiError::Validation(entries)
            }
            other => other,
        }
    }
}

/// The fields of a JSON object body, checked one by one; problems are
/// collected and [`Fields::finish`] reports them all.
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<Value>,
}

impl<'a> Fields<'a> {
    /// The body must be a JSON object.
    pub fn of(body: &'a Value) -> Result<Fields<'a>, ApiError> {
        match body {
            Value::Object(object) => Ok(Fields {
                object,
                errors: Vec::new(),
            }),
            other => Err(ApiError::invalid(
                "model_attributes_type",
                json!(["body"]),
                "Input should be a valid dictionary or object to extract fields from",
                other.clone(),
            )),
        }
    }

    /// Whether the body has this key (even with `null`).
    pub fn has(&self, name: &str) -> bool {
        self.object.contains_key(name)
    }

    fn wrong(&mut self, kind: &str, name: &str, msg: &str, input: &Value) {
        self.errors
            .push(error_entry(kind, json!(["body", name]), msg, input.clone()));
    }

    /// A required string.
    pub fn string(&mut self, name: &str) -> String {
        match self.object.get(name) {
            Some(Value::String(s)) => s.clone(),
            None => {
                let body = Value::Object(self.object.clone());
                self.errors.push(error_entry(
                    "missing",
                    json!(["body", name]),
                    "Field required",
                    body,
                ));
                String::new()
            }
            Some(other) => {
                self.wrong("string_type", name, "Input should be a valid string", other);
                String::new()
            }
        }
    }

    /// An optional, nullable string: absent `None`, `null` `Some(None)`.
    pub fn nullable_string(&mut self, name: &str) -> Option<Option<String>> {
        match self.object.get(name)? {
            Value::Null => Some(None),
            Value::String(s) => Some(Some(s.clone())),
            other => {
                self.wrong("string_type", name, "Input should be a valid string", other);
                None
            }
        }
    }

    /// An optional boolean (`null` counts as absent).
    pub fn bool(&mut self, name: &str) -> Option<bool> {
        match self.object.get(name)? {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            other => {
                self.wrong("bool_type", name, "Input should be a valid boolean", other);
                None
            }
        }
    }

    /// An optional positive integer (`null` counts as absent).
    pub fn positive_int(&mut self, name: &str) -> Option<u64> {
        match self.object.get(name)? {
            Value::Null => None,
            Value::Number(n) if n.as_u64().is_some_and(|v| v > 0) => n.as_u64(),
            other @ Value::Number(n) if n.is_i64() || n.is_u64() => {
                let msg = format!("Value error, {name} must be a positive integer");
                self.wrong("value_error", name, &msg, other);
                None
            }
            other => {
                self.wrong("int_type", name, "Input should be a valid integer", other);
                None
            }
        }
    }

    /// A value that must be one of `allowed` (when present and not null).
    pub fn one_of(&mut self, name: &str, value: Option<&str>, allowed: &[&str]) {
        if let Some(value) = value.filter(|v| !allowed.contains(v)) {
            let msg = format!("Value error, {name} must be one of: {}", allowed.join(", "));
            self.wrong("value_error", name, &msg, &Value::String(value.into()));
        }
    }

    /// Refuses keys that are neither `known` nor `ignored`.
    pub fn no_other_keys(&mut self, known: &[&str], ignored: &[&str]) {
        let extra: Vec<(String, Value)> = self
            .object
            .iter()
            .filter(|(key, _)| !known.contains(&key.as_str()) && !ignored.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        for (key, value) in extra {
            self.wrong(
                "extra_forbidden",
                &key,
                "Extra inputs are not permitted",
                &value,
            );
        }
    }

    /// Every problem found, as one 422.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// A path id: a 64-bit integer, else 422 as FastAPI answers.
pub fn path_id(name: &str, text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::invalid(
            "int_parsing",
            json!(["path", name]),
            "Input should be a valid integer, unable to parse string as an integer",
            Value::String(text.into()),
        )
    })
}

/// The raw query string as (name, value) pairs, in order (names may repeat).
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(QueryPairs(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl QueryPairs {
    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// The last value of `name` (as FastAPI takes a single parameter).
    pub fn last(&self, name: &str) -> Option<String> {
        self.all(name).pop()
    }

    /// An integer parameter within `min..=max`, else `default`.
    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        let Some(text) = self.last(name) else {
            return Ok(default);
        };
        let input = Value::String(text.clone());
        let loc = json!(["query", name]);
        let value: i64 = text.trim().parse().map_err(|_| {
            ApiError::invalid(
                "int_parsing",
                loc.clone(),
                "Input should be a valid integer, unable to parse string as an integer",
                input.clone(),
            )
        })?;
        if value < min {
            return Err(ApiError::invalid(
                "greater_than_equal",
                loc,
                format!("Input should be greater than or equal to {min}"),
                input,
            ));
        }
        if value > max {
            return Err(ApiError::invalid(
                "less_than_equal",
                loc,
                format!("Input should be less than or equal to {max}"),
                input,
            ));
        }
        Ok(value)
    }
}
