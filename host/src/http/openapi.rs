//! The OpenAPI 3 document (`GET /openapi.json`), generated from the
//! handlers' annotations and types; the worklist item schemas are built from
//! the same field list the handlers validate against. `GET /docs` serves a
//! self-contained page (no CDN) that lists the operations and can call them.

use super::worklist::{IGNORED_ON_UPDATE, REQUIRED, STATUSES};
use crate::store::api_items::{FIELDS, STATUS};
use axum::response::Html;
use axum::Json;
use serde::Serialize;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi, ToSchema};

/// A `{"message": ...}` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

/// The `GET /health` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `healthy`, or `unhealthy` while the worklist database does not answer.
    pub status: String,
    /// Naive UTC, ISO 8601.
    pub timestamp: String,
    /// `ok`, or `unavailable: <why>`.
    pub database: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pylantir HTTP API",
        description = "Python pylantir 0.4.6's REST API, and more. See docs/http-api.md."
    ),
    paths(
        super::auth::login,
        super::worklist::list,
        super::worklist::create,
        super::worklist::update,
        super::worklist::delete,
        super::worklist::history,
        super::user_routes::list,
        super::user_routes::create,
        super::user_routes::update,
        super::user_routes::delete,
        super::status_routes::sources,
        super::status_routes::sync_now,
        super::status_routes::plugins,
        super::status_routes::mpps,
        super::explain::route,
        super::health,
        super::console_api::me,
        super::console_api::worklist,
        super::console_api::item,
    ),
    components(schemas(
        super::auth::LoginRequest,
        super::auth::Token,
        super::user_routes::UserResponse,
        super::user_routes::UserCreate,
        super::user_routes::UserUpdate,
        super::worklist::StatusChange,
        super::explain::ExplainRequest,
        Message,
        Health
    )),
    modifiers(&ItemSchemas)
)]
struct ApiDoc;

/// Adds the worklist item schemas and the bearer security scheme, and
/// marks every request body required (an empty body is a 422).
struct ItemSchemas;

fn nullable_string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

/// A worklist item object: `id` (when `with_id`), then `fields` (the
/// `required` ones non-null strings); a request body (`ignored` given)
/// accepts those keys with any value and refuses every other key.
fn item_object(
    with_id: bool,
    fields: &[&str],
    required: &[&str],
    ignored: Option<&[&str]>,
) -> Schema {
    let mut object = ObjectBuilder::new();
    if with_id {
        object = object
            .property("id", ObjectBuilder::new().schema_type(Type::Integer))
            .required("id");
    }
    for name in fields {
        let property = if *name == STATUS {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(STATUSES.iter().copied()))
        } else if required.contains(name) {
            ObjectBuilder::new().schema_type(Type::String)
        } else {
            nullable_string()
        };
        object = object.property(*name, property);
    }
    for name in required {
        object = object.required(*name);
    }
    if let Some(ignored) = ignored {
        for name in ignored {
            let any = ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some("Ignored"));
            object = object.property(*name, any);
        }
        object = object.additional_properties(Some(AdditionalProperties::FreeForm(false)));
    }
    Schema::Object(object.build())
}

impl Modify for ItemSchemas {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let writable: Vec<&str> = FIELDS
            .iter()
            .copied()
            .filter(|f| !IGNORED_ON_UPDATE.contains(f))
            .collect();
        let schemas = [
            ("WorklistItem", item_object(true, FIELDS, &[], None)),
            (
                "WorklistItemCreate",
                item_object(false, FIELDS, REQUIRED, Some(&["id"])),
            ),
            (
                "WorklistItemUpdate",
                item_object(false, &writable, &[], Some(IGNORED_ON_UPDATE)),
            ),
            (
                "WorklistItemList",
                Schema::Array(
                    ArrayBuilder::new()
                        .items(RefOr::Ref(Ref::from_schema_name("WorklistItem")))
                        .build(),
                ),
            ),
        ];
        for (name, schema) in schemas {
            components
                .schemas
                .insert(name.to_string(), RefOr::T(schema));
        }
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                if let Some(body) = operation.request_body.as_mut() {
                    body.required = Some(Required::True);
                }
            }
        }
    }
}

/// The document.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// `GET /openapi.json`.
pub async fn openapi_json() -> Json<Document> {
    Json(document())
}

/// `GET /docs`: the interactive page, served from the binary.
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

#[cfg(test)]
mod tests {
    use super::document;
    use serde_json::Value;

    fn operations() -> Vec<(String, Value)> {
        let doc = serde_json::to_value(document()).expect("document as JSON");
        let mut found = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                found.push((
                    format!("{} {path}", method.to_uppercase()),
                    operation.clone(),
                ));
            }
        }
        found
    }

    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                for (key, value) in object {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => found.push(target.clone()),
                        _ => references(value, found),
                    }
                }
            }
            Value::Array(values) => values.iter().for_each(|v| references(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_schema_reference_names_a_component() {
        let doc = serde_json::to_value(document()).expect("document as JSON");
        let mut targets = Vec::new();
        references(&doc, &mut targets);
        assert!(!targets.is_empty());
        for target in targets {
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{target} is not a component reference"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{target} names no schema"
            );
        }
    }

    #[test]
    fn operations_with_integer_parameters_document_422() {
        for (operation, body) in operations() {
            let parameters = body["parameters"].as_array().cloned().unwrap_or_default();
            let validated = parameters.iter().any(|p| p["schema"]["type"] == "integer");
            if validated {
                assert!(
                    body["responses"].get("422").is_some(),
                    "{operation} can answer 422 but does not document it"
                );
            }
        }
    }

    #[test]
    fn request_bodies_that_refuse_unknown_keys_say_so() {
        let doc = serde_json::to_value(document()).expect("document as JSON");
        for (operation, body) in operations() {
            let Some(schema) = body.pointer("/requestBody/content/application~1json/schema") else {
                continue;
            };
            let schema = match schema["$ref"].as_str() {
                Some(target) => doc
                    .pointer(&target.replacen('#', "", 1))
                    .unwrap_or_else(|| panic!("{target}"))
                    .clone(),
                None => schema.clone(),
            };
            if operation != "POST /explain" {
                assert_eq!(
                    schema["additionalProperties"], false,
                    "{operation}: {schema}"
                );
            }
        }
    }

    #[test]
    fn updating_an_item_documents_the_duplicate_source_record_400() {
        let (_, put) = operations()
            .into_iter()
            .find(|(operation, _)| operation == "PUT /worklist/{item_id}")
            .expect("PUT /worklist/{item_id}");
        assert!(put["responses"].get("400").is_some(), "{put}");
    }

    #[test]
    fn every_request_body_is_required() {
        for (operation, body) in operations() {
            if let Some(request) = body.get("requestBody") {
                assert_eq!(request["required"], true, "{operation}");
            }
        }
    }
}
