//! Error answers, as FastAPI gives them: `{"detail": "..."}`, and 422
//! validation errors `{"detail": [{"type", "loc", "msg", "input"}, ...]}`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// An error answer.
#[derive(Debug)]
pub enum ApiError {
    /// Any status with a text `detail`.
    Status(StatusCode, String),
    /// 401 with `WWW-Authenticate: Bearer`.
    Unauthorized(String),
    /// 422 with the list of what is wrong.
    Validation(Vec<Value>),
    /// A failure of ours: logged, answered 500 without internals.
    Internal(String),
}

impl ApiError {
    /// A 400 Bad Request.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::Status(StatusCode::BAD_REQUEST, detail.into())
    }

    /// A 404 Not Found.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::Status(StatusCode::NOT_FOUND, detail.into())
    }

    /// A 409 Conflict.
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::Status(StatusCode::CONFLICT, detail.into())
    }

    /// A 422 with one error.
    pub fn invalid(kind: &str, loc: Value, msg: impl Into<String>, input: Value) -> ApiError {
        ApiError::Validation(vec![error_entry(kind, loc, msg, input)])
    }
}

/// One entry of a 422 `detail` list, as pydantic writes it.
pub fn error_entry(kind: &str, loc: Value, msg: impl Into<String>, input: Value) -> Value {
    json!({"type": kind, "loc": loc, "msg": msg.into(), "input": input})
}

impl From<crate::store::DbError> for ApiError {
    fn from(e: crate::store::DbError) -> Self {
        ApiError::Internal(format!("worklist database: {e}"))
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::Internal(format!("database: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Status(status, detail) => {
                (status, Json(json!({ "detail": detail }))).into_response()
            }
            ApiError::Unauthorized(detail) => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({ "detail": detail })),
            )
                .into_response(),
            ApiError::Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "detail": errors })),
            )
                .into_response(),
            ApiError::Internal(message) => {
                log::error!("HTTP API: {message}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "detail": "Internal server error" })),
                )
                    .into_response()
            }
        }
    }
}
