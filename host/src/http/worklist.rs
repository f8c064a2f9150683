//! `/worklist` routes, as Python pylantir answers them: list with filters,
//! create (200 with the item), partial update, delete; and (beyond Python)
//! an item's status history. Writes go through [`crate::store::api_items`],
//! which keeps the store's rules.

use super::audited::{fields_of, worklist_write};
use super::auth::CurrentUser;
use super::error::ApiError;
use super::input::{path_id, Fields, JsonBody, QueryPairs};
use super::state::AppState;
use crate::audit::record::Action;
use crate::store::api_items::{self, ApiItem, ListFilter, Refused, Updated, FIELDS, STATUS};
use crate::store::history;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use utoipa::ToSchema;

/// The statuses an item may be given.
pub const STATUSES: &[&str] = &["SCHEDULED", "IN_PROGRESS", "COMPLETED", "DISCONTINUED"];

/// The most items one `GET /worklist` returns.
pub const MAX_LIMIT: i64 = 1000;

/// Fields `POST /worklist` requires.
pub const REQUIRED: &[&str] = &["patient_name", "patient_id"];

/// Item keys a `PUT` accepts and ignores, as Python does (a client may send
/// back an item it read).
pub const IGNORED_ON_UPDATE: &[&str] = &["id", "study_instance_uid", "accession_number"];

fn refused(refusal: Refused) -> ApiError {
    match refusal {
        Refused::Duplicate {
            data_source,
            source_record_id,
        } => ApiError::bad_request(format!(
            "A worklist item with data_source {data_source:?} and source_record_id \
             {source_record_id:?} already exists"
        )),
    }
}

/// `GET /worklist`.
#[utoipa::path(get, path = "/worklist", operation_id = "get_worklist", tag = "worklist", security(("bearer" = [])),
    params(("status" = Option<Vec<String>>, Query, description = "Repeatable; default SCHEDULED and IN_PROGRESS"),
           ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000, description = "Default 100"),
           ("offset" = Option<i64>, Query, minimum = 0),
           ("patient_id" = Option<String>, Query, description = "Case-insensitive literal substring"),
           ("modality" = Option<String>, Query, description = "Exact")),
    responses((status = 200, body = ref("#/components/schemas/WorklistItemList")), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low"), (status = 422, description = "Invalid parameter")))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    query: QueryPairs,
) -> Result<impl IntoResponse, ApiError> {
    user.require("read", "worklist")?;
    let mut statuses = query.all("status");
    if statuses.is_empty() {
        statuses = vec!["SCHEDULED".into(), "IN_PROGRESS".into()];
    }
    let filter = ListFilter {
        statuses,
        patient_id: query.last("patient_id").filter(|v| !v.is_empty()),
        modality: query.last("modality").filter(|v| !v.is_empty()),
        limit: query.int("limit", 100, 0, MAX_LIMIT)?,
        offset: query.int("offset", 0, 0, i64::MAX)?,
    };
    let items = state
        .store
        .run(move |conn| Ok(api_items::list_json(conn, &filter)?))
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], items))
}

/// `POST /worklist`.
#[utoipa::path(post, path = "/worklist", operation_id = "post_worklist", tag = "worklist", security(("bearer" = [])),
    request_body = ref("#/components/schemas/WorklistItemCreate"),
    responses((status = 200, body = ref("#/components/schemas/WorklistItem")), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low"), (status = 400, description = "Duplicate source record"),
              (status = 413, description = "Body too large"), (status = 422, description = "Invalid body")))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    user: CurrentUser,
    JsonBody(body): JsonBody,
) -> Result<Json<ApiItem>, ApiError> {
    let user = user.require("create", "worklist")?.username.clone();
    let mut fields = Fields::of(&body)?;
    let mut values: Vec<(&str, Option<String>)> = Vec::new();
    for name in FIELDS {
        let value = if REQUIRED.contains(name) {
            Some(fields.string(name))
        } else if *name == STATUS {
            let status = fields.has(name).then(|| fields.string(name));
            fields.one_of(name, status.as_deref(), STATUSES);
            Some(status.unwrap_or_else(|| "SCHEDULED".into()))
        } else {
            match (fields.nullable_string(name), *name) {
                (Some(value), _) => value,
                (None, "patient_weight_lb") => Some("100".into()),
                (None, _) => None,
            }
        };
        values.push((name, value));
    }
    fields.no_other_keys(FIELDS, &["id"]);
    fields.finish()?;
    for (name, value) in values.iter_mut() {
        if *name == "study_instance_uid" && value.as_deref().is_none_or(str::is_empty) {
            *value = Some(crate::store::items::new_study_uid());
        }
    }
    let item = state
        .store
        .run({
            let user = user.clone();
            move |conn| Ok(api_items::create(conn, &values, &user)?)
        })
        .await?
        .map_err(refused)?;
    log::info!("HTTP API: {user} created worklist item {}", item.id);
    let who = (user.as_str(), peer);
    worklist_write(
        &state.extras.audit,
        who,
        Action::Create,
        fields_of(&body),
        None,
        Some(&item),
    );
    Ok(Json(item))
}

/// `PUT /worklist/{id}`.
#[utoipa::path(put, path = "/worklist/{item_id}", operation_id = "put_worklist_by_item_id", tag = "worklist", security(("bearer" = [])),
    params(("item_id" = i64, Path)), request_body = ref("#/components/schemas/WorklistItemUpdate"),
    responses((status = 200, body = ref("#/components/schemas/WorklistItem")), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low"), (status = 404, description = "No such item"),
              (status = 400, description = "Duplicate source record"), (status = 409, description = "Status set by MPPS"), (status = 422, description = "Invalid item id or body")))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    user: CurrentUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<ApiItem>, ApiError> {
    let user = user.require("update", "worklist")?.username.clone();
    let id = path_id("item_id", &id)?;
    let mut fields = Fields::of(&body)?;
    let mut changes: Vec<(&str, Option<String>)> = Vec::new();
    for name in FIELDS.iter().filter(|f| !IGNORED_ON_UPDATE.contains(f)) {
        if *name == STATUS && fields.has(name) {
            let status = fields.string(name);
            fields.one_of(name, Some(&status), STATUSES);
            changes.push((name, Some(status)));
        } else if let Some(value) = fields.nullable_string(name) {
            changes.push((name, value));
        }
    }
    fields.no_other_keys(FIELDS, IGNORED_ON_UPDATE);
    fields.finish()?;
    let (before, outcome) = state
        .store
        .run({
            let user = user.clone();
            move |conn| {
                Ok((
                    api_items::get(conn, id)?,
                    api_items::update(conn, id, &changes, &user)?,
                ))
            }
        })
        .await?;
    match outcome {
        Updated::Item(item) => {
            log::info!("HTTP API: {user} updated worklist item {id}");
            let who = (user.as_str(), peer);
            let (before, fields) = (before.as_ref(), fields_of(&body));
            worklist_write(
                &state.extras.audit,
                who,
                Action::Update,
                fields,
                before,
                Some(&item),
            );
            Ok(Json(item))
        }
        Updated::NotFound => Err(ApiError::not_found(format!("Worklist item {id} not found"))),
        Updated::StatusSetByMpps {
            sop_instance_uid,
            status,
        } => Err(ApiError::conflict(format!(
            "The status of worklist item {id} is set by MPPS instance {sop_instance_uid} \
             ({status}); it cannot be changed over the API"
        ))),
        Updated::Refused(refusal) => Err(refused(refusal)),
    }
}

/// `DELETE /worklist/{id}`.
#[utoipa::path(delete, path = "/worklist/{item_id}", operation_id = "delete_worklist_by_item_id", tag = "worklist", security(("bearer" = [])),
    params(("item_id" = i64, Path)),
    responses((status = 200, body = super::openapi::Message), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low"), (status = 404, description = "No such item"),
              (status = 422, description = "Invalid item id")))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<super::openapi::Message>, ApiError> {
    let user = user.require("delete", "worklist")?.username.clone();
    let id = path_id("item_id", &id)?;
    let (before, deleted) = state
        .store
        .run(move |conn| Ok((api_items::get(conn, id)?, api_items::delete(conn, id)?)))
        .await?;
    if !deleted {
        return Err(ApiError::not_found(format!("Worklist item {id} not found")));
    }
    log::info!("HTTP API: {user} deleted worklist item {id}");
    let who = (user.as_str(), peer);
    worklist_write(
        &state.extras.audit,
        who,
        Action::Delete,
        Vec::new(),
        before.as_ref(),
        None,
    );
    Ok(Json(super::openapi::Message {
        message: format!("Worklist item {id} deleted successfully"),
    }))
}

/// One entry of an item's status history.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChange {
    /// When, RFC 3339 UTC.
    pub at: String,
    /// `null` for the status the item was created with.
    pub from_status: Option<String>,
    pub to_status: String,
    /// `mpps`, `source` or `api`.
    pub by: String,
    /// `N-CREATE <SOP Instance UID>`, `N-SET <SOP Instance UID>`,
    /// `sync of source <name>` or `user <name>`.
    pub detail: String,
}

/// `GET /worklist/{id}/history`: every status the item had, oldest first.
#[utoipa::path(get, path = "/worklist/{item_id}/history", operation_id = "get_worklist_history_by_item_id", tag = "worklist", security(("bearer" = [])),
    params(("item_id" = i64, Path)),
    responses((status = 200, body = Vec<StatusChange>), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low"), (status = 404, description = "No such item"), (status = 422, description = "Invalid item id")))]
pub async fn history(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<StatusChange>>, ApiError> {
    user.require("read", "worklist")?;
    let id = path_id("item_id", &id)?;
    let changes = state
        .store
        .run(move |conn| {
            if api_items::get(conn, id)?.is_none() {
                return Ok(None);
            }
            Ok(Some(history::of_item(conn, id)?))
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Worklist item {id} not found")))?;
    Ok(Json(
        changes
            .into_iter()
            .map(|c| StatusChange {
                at: c.at,
                from_status: c.from_status,
                to_status: c.to_status,
                by: c.by,
                detail: c.detail,
            })
            .collect(),
    ))
}
