//! `POST /explain` and `pylantir explain`: given a C-FIND identifier (DICOM
//! JSON, PS3.18 F.2, or a keyword -> value object) and a calling AE title,
//! which items the server would return and, for chosen items, which
//! constraint keeps each one out. The identifier is parsed by the SCP's own
//! [`crate::dicom::find::parse`] and matched by the store's own query
//! ([`crate::store::explain`]): there is no second implementation.

use super::auth::CurrentUser;
use super::error::ApiError;
use super::input::JsonBody;
use super::state::AppState;
use crate::dicom::{find, ServerOptions};
use crate::store::explain;
use crate::store::{Db, DbError};
use axum::extract::State;
use axum::Json;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::InMemDicomObject;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The calling AE title assumed when the request names none.
pub const DEFAULT_CALLING_AET: &str = "EXPLAIN";

/// What to explain.
#[derive(Debug, Clone, Default)]
pub struct Question {
    /// The C-FIND identifier, as JSON.
    pub identifier: Value,
    pub calling_aet: String,
    /// Items to explain.
    pub item_ids: Vec<i64>,
    /// Explain every item of this patient too.
    pub patient_id: Option<String>,
}

fn parse_tag(key: &str) -> Option<Tag> {
    if key.len() != 8 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let group = u16::from_str_radix(&key[..4], 16).ok()?;
    let element = u16::from_str_radix(&key[4..], 16).ok()?;
    Some(Tag(group, element))
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(pn) => pn
            .get("Alphabetic")
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

fn element(
    tag: Tag,
    vr: VR,
    values: &[Value],
    path: &str,
) -> Result<DataElement<InMemDicomObject>, String> {
    if vr == VR::SQ {
        let items = values
            .iter()
            .map(|item| match item {
                Value::Object(map) => identifier_object(map, path),
                other => Err(format!(
                    "{path}: a sequence item must be an object, found {other}"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(DataElement::new(
            tag,
            VR::SQ,
            DataSetSequence::new(items, Length::UNDEFINED),
        ));
    }
    let texts = values
        .iter()
        .map(|v| scalar(v).ok_or_else(|| format!("{path}: expected a text value, found {v}")))
        .collect::<Result<Vec<_>, _>>()?;
    let value = match texts.as_slice() {
        [] => PrimitiveValue::Empty,
        [one] => PrimitiveValue::from(one.as_str()),
        many => PrimitiveValue::Strs(many.iter().cloned().collect()),
    };
    Ok(DataElement::new(tag, vr, value))
}

fn identifier_object(map: &Map<String, Value>, path: &str) -> Result<InMemDicomObject, String> {
    let mut object = InMemDicomObject::new_empty();
    for (key, value) in map {
        let path = format!("{path}.{key}");
        let (tag, vr, values) = if let Some(tag) = parse_tag(key) {
            // DICOM JSON: {"vr": "PN", "Value": [...]}.
            let vr = value
                .get("vr")
                .and_then(Value::as_str)
                .and_then(|vr| vr.parse::<VR>().ok())
                .ok_or_else(|| {
                    format!("{path}.vr: expected a value representation such as \"PN\"")
                })?;
            let values = value
                .get("Value")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            (tag, vr, values)
        } else {
            let entry = StandardDataDictionary
                .by_name(key)
                .ok_or_else(|| format!("{path}: not a DICOM keyword or tag"))?;
            let values = match value {
                Value::Null => Vec::new(),
                Value::Array(list) => list.clone(),
                Value::Object(_) => vec![value.clone()],
                other => vec![other.clone()],
            };
            (entry.tag(), entry.vr().relaxed(), values)
        };
        object.put(element(tag, vr, &values, &path)?);
    }
    Ok(object)
}

/// The identifier as a DICOM data set.
pub fn identifier(value: &Value) -> Result<InMemDicomObject, String> {
    match value {
        Value::Object(map) => identifier_object(map, "identifier"),
        other => Err(format!("identifier: expected an object, found {other}")),
    }
}

/// The explanation, as JSON; `Err` when the identifier cannot be read.
pub fn explain(
    conn: &dyn Db,
    options: &ServerOptions,
    question: &Question,
) -> Result<Value, String> {
    let dataset = identifier(&question.identifier)?;
    let aet = question.calling_aet.trim();
    let refused = !options.allowed_aet.is_empty() && !options.allowed_aet.iter().any(|a| a == aet);
    let association = if refused {
        json!(format!(
            "calling AE title {aet:?} is not in allowed_aet: the association is refused"
        ))
    } else {
        Value::Null
    };
    let request = match find::parse(dataset, options, aet) {
        Ok(request) => request,
        Err(error) => {
            return Ok(json!({
                "calling_ae_title": aet,
                "association_refused": association,
                "query_error": {"status": format!("{:04X}H", error.status), "comment": error.comment},
                "matches": [],
                "items": [],
            }))
        }
    };
    let sql = |e: DbError| format!("worklist database: {e}");
    let matched = explain::matching_ids(conn, &request.filter).map_err(sql)?;
    let mut matches: Vec<i64> = matched.iter().copied().collect();
    matches.sort_unstable();
    let mut ids = question.item_ids.clone();
    if let Some(patient_id) = &question.patient_id {
        ids.extend(explain::ids_of_patient(conn, patient_id).map_err(sql)?);
    }
    ids.sort_unstable();
    ids.dedup();
    let checks = explain::checks(conn, &request.filter).map_err(sql)?;
    let mut passing = Vec::new();
    for check in &checks {
        passing.push(check.passing(conn).map_err(sql)?);
    }
    let exists = |id: i64| explain::exists(conn, id).map_err(sql);
    let mut items = Vec::new();
    for id in ids {
        if !exists(id)? {
            items.push(json!({"id": id, "returned": false, "failed": [{"check": "item", "reason": "no such item"}]}));
            continue;
        }
        let failed: Vec<Value> = checks
            .iter()
            .zip(&passing)
            .filter(|(_, pass)| !pass.contains(&id))
            .map(|(check, _)| json!({"check": check.name, "wants": check.wants}))
            .collect();
        items.push(
            json!({"id": id, "returned": matched.contains(&id) && !refused, "failed": failed}),
        );
    }
    Ok(json!({
        "calling_ae_title": aet,
        "association_refused": association,
        "query_error": null,
        "unsupported_keys": request.unsupported_keys,
        "matches": if refused { Vec::new() } else { matches },
        "items": items,
    }))
}

/// The options `/explain` matches with: the configuration's, else the defaults.
fn options(state: &AppState) -> ServerOptions {
    state
        .extras
        .dicom
        .clone()
        .unwrap_or_else(|| ServerOptions::new("MWL_SERVER", "0.0.0.0", 4242))
}

/// The body of `POST /explain` (its schema; the route reads it field by field).
#[derive(Debug, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// The C-FIND identifier: DICOM JSON (PS3.18 F.2) or keyword -> value.
    #[schema(value_type = Object, required = false)]
    pub identifier: Option<Value>,
    /// The calling AE title (default `EXPLAIN`).
    pub calling_ae_title: Option<String>,
    /// Items to explain.
    pub item_ids: Option<Vec<i64>>,
    /// Explain every item of this patient.
    pub patient_id: Option<String>,
}

/// `POST /explain`.
#[utoipa::path(post, path = "/explain", operation_id = "post_explain", tag = "server",
    security(("bearer" = [])),
    request_body = ExplainRequest,
    responses((status = 200, description = "Matches, and why chosen items are not returned", body = Object),
              (status = 401, description = "No, bad or expired token"), (status = 422, description = "Invalid body")))]
pub async fn route(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    user.require("read", "worklist")?;
    let mut fields = super::input::Fields::of(&body)?;
    let calling_aet = fields.nullable_string("calling_ae_title").flatten();
    let patient_id = fields.nullable_string("patient_id").flatten();
    fields.no_other_keys(
        &["identifier", "calling_ae_title", "item_ids", "patient_id"],
        &[],
    );
    fields.finish()?;
    let item_ids = match body.get("item_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) if list.iter().all(Value::is_i64) => {
            list.iter().filter_map(Value::as_i64).collect()
        }
        Some(other) => {
            return Err(ApiError::invalid(
                "list_type",
                json!(["body", "item_ids"]),
                "Input should be a list of integers",
                other.clone(),
            ))
        }
    };
    let question = Question {
        identifier: body.get("identifier").cloned().unwrap_or_else(|| json!({})),
        calling_aet: calling_aet.unwrap_or_else(|| DEFAULT_CALLING_AET.into()),
        item_ids,
        patient_id,
    };
    let options = options(&state);
    let answer = state
        .store
        .run(move |conn| Ok(explain(conn, &options, &question)))
        .await?
        .map_err(|message| {
            ApiError::invalid(
                "value_error",
                json!(["body", "identifier"]),
                message,
                Value::Null,
            )
        })?;
    Ok(Json(answer))
}
