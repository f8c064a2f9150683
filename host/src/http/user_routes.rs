//! `/users` routes (admin only), as Python pylantir answers them, without
//! its defects: a duplicate e-mail is a 400, and an admin cannot demote,
//! deactivate or delete their own account.

use super::audited::{fields_of, user_write};
use super::auth::CurrentUser;
use super::error::ApiError;
use super::input::{path_id, Fields, JsonBody};
use super::state::AppState;
use super::users::{self, NewUser, Role, User, UserChanges, UsersError};
use crate::audit::record::Action;
use axum::extract::{ConnectInfo, Path, State};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use utoipa::ToSchema;

/// The roles, as the API spells them.
pub const ROLES: &[&str] = &["admin", "write", "read"];

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub full_name: Option<String>,
    /// `admin`, `write` or `read`.
    pub role: String,
    pub is_active: bool,
    /// Naive UTC, ISO 8601 (`2025-11-18T10:00:00.123456`).
    pub created_at: Option<String>,
    pub last_login: Option<String>,
}

/// Python's stored datetime text as FastAPI prints it.
fn iso(text: Option<String>) -> Option<String> {
    text.map(|t| t.replacen(' ', "T", 1))
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        UserResponse {
            id: user.id,
            username: user.username,
            email: user.email,
            full_name: user.full_name,
            role: user.role.as_api().into(),
            is_active: user.is_active,
            created_at: iso(user.created_at),
            last_login: iso(user.last_login),
        }
    }
}

/// The body of `POST /users`.
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    #[schema(min_length = 1)]
    pub username: String,
    #[schema(min_length = 1)]
    pub password: String,
    pub email: Option<String>,
    pub full_name: Option<String>,
    /// `admin`, `write` or `read` (default `read`).
    #[schema(value_type = String, required = false, pattern = "^(admin|write|read)$")]
    pub role: Option<String>,
}

/// The body of `PUT /users/{id}`; absent keys are unchanged, `null` clears
/// `email` or `full_name`.
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[schema(value_type = Option<String>)]
    pub full_name: Option<Option<String>>,
    #[schema(value_type = String, required = false)]
    pub password: Option<String>,
    /// `admin`, `write` or `read`.
    #[schema(value_type = String, required = false, pattern = "^(admin|write|read)$")]
    pub role: Option<String>,
    pub is_active: Option<bool>,
}

fn users_error(error: UsersError) -> ApiError {
    match error {
        UsersError::UsernameTaken | UsersError::EmailTaken => {
            ApiError::bad_request(error.to_string())
        }
        other => ApiError::Internal(other.to_string()),
    }
}

/// `role`, when the body has it (checked against [`ROLES`]).
fn role(fields: &mut Fields<'_>) -> Option<String> {
    let text = fields.has("role").then(|| fields.string("role"))?;
    fields.one_of("role", Some(&text), ROLES);
    Some(text)
}

/// `GET /users`.
#[utoipa::path(get, path = "/users", operation_id = "get_users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserResponse>), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low")))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
) -> Result<Json<Vec<UserResponse>>, ApiError> {
    user.require("read", "users")?;
    let all = state.users.run(|conn| Ok(users::list(conn)?)).await?;
    Ok(Json(all.into_iter().map(UserResponse::from).collect()))
}

/// `POST /users`.
#[utoipa::path(post, path = "/users", operation_id = "post_users", tag = "users", security(("bearer" = [])), request_body = UserCreate,
    responses((status = 200, body = UserResponse), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low"), (status = 400, description = "Username or e-mail taken"),
              (status = 422, description = "Invalid body")))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    user: CurrentUser,
    JsonBody(body): JsonBody,
) -> Result<Json<UserResponse>, ApiError> {
    let admin = user.require("create", "users")?.clone();
    let mut fields = Fields::of(&body)?;
    let request = UserCreate {
        username: fields.string("username"),
        password: fields.string("password"),
        email: fields.nullable_string("email").flatten(),
        full_name: fields.nullable_string("full_name").flatten(),
        role: role(&mut fields),
    };
    fields.no_other_keys(&["username", "password", "email", "full_name", "role"], &[]);
    fields.finish()?;
    if request.username.is_empty() || request.password.is_empty() {
        return Err(ApiError::invalid(
            "string_too_short",
            json!([
                "body",
                if request.username.is_empty() {
                    "username"
                } else {
                    "password"
                }
            ]),
            "String should have at least 1 character",
            json!(""),
        ));
    }
    let new = NewUser {
        role: Role::from_api(request.role.as_deref().unwrap_or("read")).unwrap_or(Role::Read),
        username: request.username,
        password: request.password,
        email: request.email,
        full_name: request.full_name,
        created_by: Some(admin.id),
    };
    let created = state
        .users
        .run(move |conn| Ok(users::create(conn, &new)))
        .await?
        .map_err(users_error)?;
    log::info!(
        "HTTP API: {} created user {}",
        admin.username,
        created.username
    );
    let who = (admin.username.as_str(), peer);
    user_write(
        &state.extras.audit,
        who,
        Action::Create,
        fields_of(&body),
        None,
        Some(&created),
    );
    Ok(Json(created.into()))
}

/// `PUT /users/{id}`.
#[utoipa::path(put, path = "/users/{user_id}", operation_id = "put_users_by_user_id", tag = "users", security(("bearer" = [])),
    params(("user_id" = i64, Path)), request_body = UserUpdate,
    responses((status = 200, body = UserResponse), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low"), (status = 400, description = "Own account demoted or deactivated"),
              (status = 404, description = "No such user"), (status = 422, description = "Invalid user id or body")))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    user: CurrentUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<UserResponse>, ApiError> {
    let admin = user.require("update", "users")?.clone();
    let id = path_id("user_id", &id)?;
    let mut fields = Fields::of(&body)?;
    let request = UserUpdate {
        password: fields.has("password").then(|| fields.string("password")),
        email: fields.nullable_string("email"),
        full_name: fields.nullable_string("full_name"),
        role: role(&mut fields),
        is_active: fields.bool("is_active"),
    };
    fields.no_other_keys(
        &["email", "full_name", "password", "role", "is_active"],
        &[],
    );
    fields.finish()?;
    let changes = UserChanges {
        email: request.email,
        full_name: request.full_name,
        password: request.password,
        role: request.role.as_deref().and_then(Role::from_api),
        is_active: request.is_active,
    };
    if id == admin.id
        && (changes.is_active == Some(false) || changes.role.is_some_and(|r| r < admin.role))
    {
        return Err(ApiError::bad_request(
            "Cannot deactivate or demote your own account",
        ));
    }
    let (before, updated) = state
        .users
        .run(move |conn| Ok((users::by_id(conn, id)?, users::update(conn, id, &changes))))
        .await?;
    let updated = updated
        .map_err(users_error)?
        .ok_or_else(|| ApiError::not_found(format!("User {id} not found")))?;
    log::info!(
        "HTTP API: {} updated user {}",
        admin.username,
        updated.username
    );
    let (who, fields) = ((admin.username.as_str(), peer), fields_of(&body));
    user_write(
        &state.extras.audit,
        who,
        Action::Update,
        fields,
        before.as_ref(),
        Some(&updated),
    );
    Ok(Json(updated.into()))
}

/// `DELETE /users/{id}`.
#[utoipa::path(delete, path = "/users/{user_id}", operation_id = "delete_users_by_user_id", tag = "users", security(("bearer" = [])),
    params(("user_id" = i64, Path)),
    responses((status = 200, body = super::openapi::Message), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low"), (status = 400, description = "Own account"),
              (status = 404, description = "No such user"), (status = 422, description = "Invalid user id")))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<super::openapi::Message>, ApiError> {
    let admin = user.require("delete", "users")?.clone();
    let id = path_id("user_id", &id)?;
    if id == admin.id {
        return Err(ApiError::bad_request("Cannot delete your own account"));
    }
    let deleted = state
        .users
        .run(move |conn| Ok(users::delete(conn, id)?))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("User {id} not found")))?;
    log::info!(
        "HTTP API: {} deleted user {}",
        admin.username,
        deleted.username
    );
    let who = (admin.username.as_str(), peer);
    user_write(
        &state.extras.audit,
        who,
        Action::Delete,
        Vec::new(),
        Some(&deleted),
        None,
    );
    Ok(Json(super::openapi::Message {
        message: format!("User {} deleted successfully", deleted.username),
    }))
}
