//! Beyond Python: what a site asks most about a running server.
//! `GET /sources` (every configured source, its state and last runs, from
//! `sync_runs`, and its MPPS write-back queue), `POST /sources/{name}/sync` (a sync now, write role),
//! `GET /plugins` (as `plugins list --json`) and `GET /mpps` (recent MPPS
//! instances with the item each performs). Any role may read.

use super::auth::CurrentUser;
use super::error::ApiError;
use super::input::QueryPairs;
use super::state::AppState;
use crate::config::{Isolation, SourceConfig};
use crate::isolation::journal::DISABLED_MARK;
use crate::store::api_views::{self, MppsView, RunView};
use crate::store::outcomes;
use crate::sync::schedule::Request;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

fn only_with_start(what: &str) -> ApiError {
    ApiError::Status(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "{what} is answered by `pylantir start` with `api.enabled`, not by `pylantir start-api`"
        ),
    )
}

fn seconds_between(start: &str, end: &str) -> Option<f64> {
    let start: jiff::Timestamp = start.parse().ok()?;
    let end: jiff::Timestamp = end.parse().ok()?;
    Some(end.duration_since(start).as_millis() as f64 / 1000.0)
}

fn run_json(run: &RunView) -> Value {
    json!({
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": run.finished_at.as_deref()
            .and_then(|end| seconds_between(&run.started_at, end)),
        "fetched": run.fetched,
        "new": run.inserted,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "conflicts": run.conflicts,
        "rejected": run.rejected,
        "error": run.error,
    })
}

/// `disabled`, `disabled_after_crashes`, `syncing`, `failing` or `idle`.
fn state(source: &SourceConfig, latest: Option<&RunView>) -> &'static str {
    match latest {
        _ if !source.enabled => "disabled",
        Some(run)
            if run
                .error
                .as_deref()
                .is_some_and(|e| e.contains(DISABLED_MARK)) =>
        {
            "disabled_after_crashes"
        }
        Some(run) if run.finished_at.is_none() => "syncing",
        Some(run) if run.error.is_some() => "failing",
        _ => "idle",
    }
}

/// When the next run is due: the last start plus the interval (the daily
/// `operation_interval` may push it later).
fn next_run(source: &SourceConfig, state: &str, latest: Option<&RunView>) -> Option<String> {
    if matches!(state, "disabled" | "disabled_after_crashes") {
        return None;
    }
    let started: jiff::Timestamp = latest?.started_at.parse().ok()?;
    let next = started.checked_add(source.sync_interval).ok()?;
    Some(next.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// The MPPS write-back queue of a source with `mpps_write_back`.
fn write_back_json(summary: Option<outcomes::Summary>) -> Value {
    let mut value = json!(summary.unwrap_or_default());
    if let Some(fields) = value.as_object_mut() {
        // The source is the entry this belongs to.
        fields.shift_remove("source");
    }
    value
}

/// `GET /sources`.
#[utoipa::path(get, path = "/sources", operation_id = "get_sources", tag = "server", security(("bearer" = [])),
    responses((status = 200, description = "Every configured source, its state and last runs", body = Vec<Object>), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low"),
              (status = 503, description = "Served by start-api, which has no sources")))]
pub async fn sources(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
) -> Result<Json<Vec<Value>>, ApiError> {
    user.require("read", "sources")?;
    let Some(sources) = state.extras.sources.clone() else {
        return Err(only_with_start("GET /sources"));
    };
    let answer = state
        .store
        .run(move |conn| {
            let mut answer = Vec::new();
            for source in &sources {
                let (latest, failed) = api_views::latest_runs(conn, &source.name)?;
                let current = self::state(source, latest.as_ref());
                let write_back = if source.mpps_write_back {
                    let summary = outcomes::summaries(conn, Some(&source.name))?.pop();
                    Some(write_back_json(summary))
                } else {
                    None
                };
                answer.push(json!({
                    "name": source.name,
                    "type": source.source_type,
                    "plugin": source.plugin,
                    "isolation": match source.isolation {
                        Isolation::Process => "process",
                        Isolation::InProcess => "in_process",
                    },
                    "enabled": source.enabled,
                    "sync_interval_seconds": source.sync_interval.as_secs_f64(),
                    "operation_interval": source.window.to_string(),
                    "state": current,
                    "last_run": latest.as_ref().map(run_json),
                    "last_error": failed.as_ref().map(|run| json!({
                        "at": run.started_at,
                        "error": run.error,
                    })),
                    "next_run": next_run(source, current, latest.as_ref()),
                    "write_back": write_back,
                }));
            }
            Ok(answer)
        })
        .await?;
    Ok(Json(answer))
}

/// `POST /sources/{name}/sync`: the source's worker syncs now (even outside
/// its window) instead of at the end of its interval.
#[utoipa::path(post, path = "/sources/{name}/sync", operation_id = "post_source_sync", tag = "server", security(("bearer" = [])),
    params(("name" = String, Path, description = "The source's `name`")),
    responses((status = 202, description = "The sync is queued: it starts at once", body = Object), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low"),
              (status = 404, description = "No source of that name"), (status = 409, description = "A sync of it is running, or it is disabled"),
              (status = 503, description = "Served by start-api, which runs no sync")))]
pub async fn sync_now(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    user.require("sync", "sources")?;
    let (Some(sources), Some(run_now)) = (&state.extras.sources, &state.extras.run_now) else {
        return Err(only_with_start("POST /sources/{name}/sync"));
    };
    let Some(source) = sources.iter().find(|s| s.name == name) else {
        return Err(ApiError::not_found(format!("Source {name} not found")));
    };
    if !source.enabled {
        return Err(ApiError::conflict(format!(
            "Source {name} is disabled in the configuration"
        )));
    }
    match run_now.request(&name) {
        Request::Queued => Ok((
            StatusCode::ACCEPTED,
            Json(json!({
                "source": name,
                "status": "queued",
                "message": format!("Sync of source {name} queued; it starts now"),
            })),
        )),
        Request::Running => Err(ApiError::conflict(format!(
            "A sync of source {name} is already running"
        ))),
        Request::NoWorker => Err(ApiError::conflict(format!(
            "Source {name} is not syncing any more (disabled after crashes, or stopping); \
             see GET /sources"
        ))),
    }
}

/// `GET /plugins`.
#[utoipa::path(get, path = "/plugins", operation_id = "get_plugins", tag = "server", security(("bearer" = [])),
    responses((status = 200, description = "As `plugins list --json`", body = Object), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low"),
              (status = 503, description = "Served by start-api, which loads no plugins")))]
pub async fn plugins(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    user.require("read", "plugins")?;
    state
        .extras
        .plugins
        .clone()
        .map(Json)
        .ok_or_else(|| only_with_start("GET /plugins"))
}

fn mpps_json(view: MppsView) -> Value {
    let mut history = vec![json!({"status": "IN PROGRESS", "at": view.created_at})];
    if view.status != "IN PROGRESS" {
        history.push(json!({"status": view.status, "at": view.updated_at}));
    }
    json!({
        "sop_instance_uid": view.sop_instance_uid,
        "status": view.status,
        "calling_ae_title": view.calling_aet,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "status_history": history,
        "worklist_item": view.item_id.map(|id| json!({
            "id": id,
            "patient_id": view.patient_id,
            "patient_name": view.patient_name,
            "performed_procedure_step_status": view.item_status,
        })),
    })
}

/// `GET /mpps?limit=N` (default 100, at most 1000), newest first.
#[utoipa::path(get, path = "/mpps", operation_id = "get_mpps", tag = "server", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query, minimum = 0, maximum = 1000, description = "Default 100")),
    responses((status = 200, description = "Recent MPPS instances, newest first", body = Vec<Object>), (status = 401, description = "No, bad or expired token"), (status = 403, description = "Role too low"),
              (status = 422, description = "Invalid limit")))]
pub async fn mpps(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    query: QueryPairs,
) -> Result<Json<Vec<Value>>, ApiError> {
    user.require("read", "mpps")?;
    let limit = query.int("limit", 100, 0, super::worklist::MAX_LIMIT)?;
    let views = state
        .store
        .run(move |conn| Ok(api_views::recent_mpps(conn, limit)?))
        .await?;
    Ok(Json(views.into_iter().map(mpps_json).collect()))
}
