//! The reads the web console needs beyond Python's routes: who is logged in
//! (`GET /console/api/me`, for the role's controls), a page of a date
//! range's worklist with the console's filters and the total count
//! (`GET /console/api/worklist`), and one item with its source status and
//! retraction (`GET /console/api/worklist/{id}`). Any role may read them.

use super::auth::CurrentUser;
use super::error::ApiError;
use super::input::{path_id, QueryPairs};
use super::state::AppState;
use super::worklist::{MAX_LIMIT, STATUSES};
use crate::store::console_items::{self, ConsoleItem, PageFilter, RETRACTED};
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// `GET /console/api/me`: `{username, role}`.
#[utoipa::path(get, path = "/console/api/me", operation_id = "get_console_me", tag = "console", security(("bearer" = [])),
    responses((status = 200, description = "The logged-in user's name and role", body = Object), (status = 401, description = "No, bad or expired token")))]
pub async fn me(user: CurrentUser) -> Json<Value> {
    Json(json!({"username": user.0.username, "role": user.0.role.as_api()}))
}

/// A `YYYY-MM-DD` or `YYYYMMDD` query date as `YYYYMMDD`.
fn query_date(query: &QueryPairs, name: &str) -> Result<Option<String>, ApiError> {
    let Some(text) = query.last(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let compact = text.replace('-', "");
    match jiff::civil::Date::strptime("%Y%m%d", &compact) {
        Ok(_) if compact.len() == 8 => Ok(Some(compact)),
        _ => Err(ApiError::invalid(
            "date_parsing",
            json!(["query", name]),
            "Input should be a date as YYYY-MM-DD or YYYYMMDD",
            Value::String(text),
        )),
    }
}

/// `GET /console/api/worklist`.
#[utoipa::path(get, path = "/console/api/worklist", operation_id = "get_console_worklist", tag = "console", security(("bearer" = [])),
    params(("from" = Option<String>, Query, description = "First scheduled date, YYYY-MM-DD or YYYYMMDD"),
           ("to" = Option<String>, Query, description = "Last scheduled date, YYYY-MM-DD or YYYYMMDD"),
           ("modality" = Option<String>, Query, description = "Exact"),
           ("station" = Option<String>, Query, description = "Exact scheduled station AE title"),
           ("status" = Option<Vec<String>>, Query, description = "Repeatable: SCHEDULED, IN_PROGRESS, COMPLETED, DISCONTINUED, RETRACTED; default all"),
           ("search" = Option<String>, Query, description = "Case-insensitive literal substring of patient name, patient id or accession number"),
           ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000, description = "Default 100"),
           ("offset" = Option<i64>, Query, minimum = 0)),
    responses((status = 200, description = "{total, items, stations, modalities}; items by station, date, time", body = Object),
              (status = 401, description = "No, bad or expired token"), (status = 422, description = "Invalid parameter")))]
pub async fn worklist(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    user.require("read", "worklist")?;
    let statuses = query.all("status");
    if let Some(bad) = statuses
        .iter()
        .find(|s| !STATUSES.contains(&s.as_str()) && s.as_str() != RETRACTED)
    {
        return Err(ApiError::invalid(
            "enum",
            json!(["query", "status"]),
            format!(
                "Input should be one of {}, {RETRACTED}",
                STATUSES.join(", ")
            ),
            Value::String(bad.clone()),
        ));
    }
    let text = |name: &str| query.last(name).filter(|v| !v.is_empty());
    let filter = PageFilter {
        from: query_date(&query, "from")?,
        to: query_date(&query, "to")?,
        modality: text("modality"),
        station: text("station"),
        statuses,
        search: text("search"),
        limit: query.int("limit", 100, 0, MAX_LIMIT)?,
        offset: query.int("offset", 0, 0, i64::MAX)?,
    };
    let page = state
        .store
        .run(move |conn| Ok(console_items::page(conn, &filter)?))
        .await?;
    Ok(Json(json!({
        "total": page.total,
        "items": page.items,
        "stations": page.stations,
        "modalities": page.modalities,
    })))
}

/// `GET /console/api/worklist/{id}`.
#[utoipa::path(get, path = "/console/api/worklist/{item_id}", operation_id = "get_console_worklist_item", tag = "console", security(("bearer" = [])),
    params(("item_id" = i64, Path)),
    responses((status = 200, description = "The item with status_set_by, retracted_at, retracted_reason", body = Object),
              (status = 401, description = "No, bad or expired token"), (status = 404, description = "No such item"), (status = 422, description = "Invalid id")))]
pub async fn item(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ConsoleItem>, ApiError> {
    user.require("read", "worklist")?;
    let id = path_id("item_id", &id)?;
    let item = state
        .store
        .run(move |conn| Ok(console_items::get(conn, id)?))
        .await?;
    item.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("Worklist item {id} not found")))
}
