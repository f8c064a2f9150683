//! The web console's static assets (`console/`: `index.html`, `app.js`,
//! `style.css`), embedded in the binary and served at `/` and
//! `/console/{asset}` without a login; the page itself logs in over the API.
//! The content security policy allows nothing but this origin, so the page
//! never loads anything from elsewhere.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Scripts, styles, images and requests from this origin only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
                                       frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The embedded assets: name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("console/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("console/style.css"),
    ),
];

fn answer(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the console page.
pub async fn index() -> Response {
    answer(
        "text/html; charset=utf-8",
        include_str!("console/index.html"),
    )
}

/// `GET /console/{asset}`.
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|(asset, _, _)| *asset == name)
        .map(|(_, content_type, body)| answer(content_type, body))
        .ok_or_else(|| ApiError::not_found("Not Found"))
}
