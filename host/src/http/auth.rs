//! Authentication: `POST /auth/login`, and the bearer token check every
//! other route makes ([`CurrentUser`]), with the user's role and `is_active`
//! re-read from the users database on each request.
//!
//! A login for an unknown or inactive user costs one bcrypt check like a
//! wrong password, so answers do not tell which usernames exist; failed
//! logins are rate-limited ([`super::limiter`]).

use super::error::ApiError;
use super::input::{Fields, JsonBody};
use super::state::AppState;
use super::users::{self, Role, User};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use utoipa::ToSchema;

/// The login request.
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// Requested lifetime in minutes (> 0), capped by `api.token_max_minutes`.
    #[schema(minimum = 1)]
    pub access_token_expire_minutes: Option<u64>,
}

impl LoginRequest {
    fn parse(body: &serde_json::Value) -> Result<LoginRequest, ApiError> {
        let mut fields = Fields::of(body)?;
        let request = LoginRequest {
            username: fields.string("username"),
            password: fields.string("password"),
            access_token_expire_minutes: fields.positive_int("access_token_expire_minutes"),
        };
        fields.no_other_keys(
            &["username", "password", "access_token_expire_minutes"],
            &[],
        );
        fields.finish()?;
        Ok(request)
    }
}

/// A token answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Token {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
}

/// A bcrypt hash checked when the user does not exist, so that answer takes
/// as long as a wrong password (computed once, when the server starts).
pub fn decoy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        users::hash_password("pylantir decoy password").unwrap_or_else(|_| {
            "$2b$12$C6UzMDM.H6dfI/f/IKcEeO5UTyG0XaDEiIN0J2xWajQiMqO8iukxa".into()
        })
    })
}

/// `POST /auth/login`.
#[utoipa::path(post, path = "/auth/login", operation_id = "post_auth_login", request_body = LoginRequest, tag = "auth",
    responses((status = 200, body = Token), (status = 401, description = "Invalid username or password"),
              (status = 422, description = "Validation error"), (status = 429, description = "Too many failed logins")))]
pub async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let LoginRequest {
        username,
        password,
        access_token_expire_minutes: minutes,
    } = LoginRequest::parse(&body)?;

    let address = peer.ip();
    if let Err(wait) = state.limiter.check(address, &username) {
        log::warn!("login for {username:?} from {address}: too many failed attempts");
        (state.extras.audit).login(&username, address, Err("too many failed attempts"));
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.to_string())],
            Json(serde_json::json!({"detail": "Too many failed login attempts; try again later"})),
        )
            .into_response());
    }

    let name = username.clone();
    let user = state
        .users
        .run(move |conn| {
            let found = users::by_name(conn, &name)?;
            let hash = found
                .as_ref()
                .map_or_else(|| decoy_hash().to_string(), |(_, hash)| hash.clone());
            let matches = users::verify_password(&password, &hash);
            let user = found
                .map(|(user, _)| user)
                .filter(|u| matches && u.is_active);
            if let Some(user) = &user {
                users::touch_login(conn, user.id)?;
            }
            Ok(user)
        })
        .await?;
    let Some(user) = user else {
        state.limiter.failed(address, &username);
        log::warn!("failed login for {username:?} from {address}");
        (state.extras.audit).login(&username, address, Err("invalid username or password"));
        return Err(ApiError::Unauthorized(
            "Invalid username or password".into(),
        ));
    };
    state.limiter.succeeded(address, &username);
    let requested = minutes.map_or(
        Duration::from_secs(super::settings::DEFAULT_TOKEN_MINUTES * 60),
        |m| Duration::from_secs(m.saturating_mul(60)),
    );
    let lifetime = requested.min(state.settings.token_max);
    let access_token = state
        .keys
        .issue(&user.username, lifetime)
        .map_err(ApiError::Internal)?;
    log::info!("user {} logged in from {address}", user.username);
    (state.extras.audit).login(&user.username, address, Ok(()));
    Ok(Json(Token {
        access_token,
        token_type: "bearer".into(),
    })
    .into_response())
}

/// The user a request's bearer token belongs to (active, as stored now).
pub struct CurrentUser(pub User);

impl FromRequestParts<Arc<AppState>> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = header.and_then(|h| {
            let (scheme, token) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(ApiError::Unauthorized("Not authenticated".into()));
        };
        let Some(username) = state.keys.check(token) else {
            return Err(ApiError::Unauthorized(
                "Invalid authentication token".into(),
            ));
        };
        let user = state
            .users
            .run(move |conn| Ok(users::by_name(conn, &username)?))
            .await?;
        match user {
            Some((user, _)) if user.is_active => Ok(CurrentUser(user)),
            _ => Err(ApiError::Unauthorized("User not found or inactive".into())),
        }
    }
}

impl CurrentUser {
    /// Python's permission rule: admin may do anything; `users` is admin's
    /// alone; on the worklist, read needs any role and writes need `write`.
    pub fn require(&self, action: &str, resource: &str) -> Result<&User, ApiError> {
        let role = self.0.role;
        let allowed = match (resource, action) {
            _ if role == Role::Admin => true,
            ("users", _) => false,
            (_, "read") => true,
            _ => role >= Role::Write,
        };
        if allowed {
            Ok(&self.0)
        } else {
            Err(ApiError::Status(
                StatusCode::FORBIDDEN,
                format!("Insufficient permissions for {action} on {resource}"),
            ))
        }
    }
}
