//! What pylantir's plugins share about their `config` object: one serde type
//! reads it ([`parse`]) and the JSON Schema the plugin publishes is derived
//! from that same type ([`schema`], with schemars), so the two cannot drift.
//!
//! The value types here check a rule when read and state the same rule in
//! their schema, side by side: [`NonEmpty`], [`NotBlank`], [`Text`],
//! [`NonEmptyText`], [`NonEmptyList`], [`Positive`], [`Ordered`]; and the
//! [`Protocol`] setting the REDCap and Calpendo sources share.
//!
//! With the `testing` feature, [`testing`] checks a plugin's parser and
//! schema against the repository's example configurations and bad ones.

#[cfg(feature = "testing")]
pub mod testing;

pub use schemars;

/// Implements `JsonSchema` for a value type whose schema is the fixed JSON
/// given (written inline where the type is used): the schema stands next to
/// the type's `Deserialize`, which checks the same rule.
#[macro_export]
macro_rules! fixed_schema {
    ($type:ident, $schema:tt) => {
        impl $crate::schemars::JsonSchema for $type {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($type).into()
            }
            fn json_schema(_: &mut $crate::schemars::SchemaGenerator) -> $crate::schemars::Schema {
                $crate::schemars::json_schema!($schema)
            }
        }
    };
}

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{DeserializeOwned, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// Reads `config` as a `T`; the error names the key at fault
/// (`config.read_timeout_seconds: must be ...`), and a missing key with
/// its description from the schema.
pub fn parse<T: DeserializeOwned + JsonSchema>(config: &Value) -> Result<T, String> {
    parse_at(config, "config").map_err(|error| {
        match error.strip_prefix("config: missing field `") {
            Some(rest) => {
                let key = rest.trim_end_matches('`');
                let described = schema::<T>()["properties"][key]["description"]
                    .as_str()
                    .map(|text| format!(": {}", text.trim_end_matches('.')))
                    .unwrap_or_default();
                format!("config.{key} is required{described}")
            }
            None => error,
        }
    })
}

/// Reads a value found at `at` (`field_mapping`) as a `T`; the error names
/// the key at fault below `at`.
pub fn parse_at<T: DeserializeOwned>(value: &Value, at: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." {
            format!("{at}: {inner}")
        } else {
            format!("{at}.{path}: {inner}")
        }
    })
}

/// The JSON Schema (draft 2020-12) of `T`, as a plugin publishes it.
pub fn schema<T: JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

/// The keys the schema of `T` lists (its `properties`).
pub fn known_keys<T: JsonSchema>() -> Vec<String> {
    schema::<T>()["properties"]
        .as_object()
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

/// A string that is not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonEmpty(pub String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) if !text.is_empty() => Ok(NonEmpty(text)),
            other => Err(D::Error::custom(format!(
                "must be a non-empty string, got {other}"
            ))),
        }
    }
}

fixed_schema!(NonEmpty, {"type": "string", "minLength": 1});

/// A string with at least one character that is not white space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotBlank(pub String);

impl<'de> Deserialize<'de> for NotBlank {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) if !text.trim().is_empty() => Ok(NotBlank(text)),
            other => Err(D::Error::custom(format!(
                "must be a non-empty string, got {other}"
            ))),
        }
    }
}

fixed_schema!(NotBlank, {"type": "string", "pattern": "\\S"});

/// A string or a number, read as text (`792` and `"792"` are one site).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

/// A non-empty string or a number, read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonEmptyText(pub String);

/// The text of a string or a number, or why not (`what` it must be).
fn text<E: serde::de::Error>(value: Value, what: &str) -> Result<String, E> {
    match value {
        Value::String(text) => Ok(text),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(E::custom(format!("must be {what}, got {other}"))),
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        text(Value::deserialize(deserializer)?, "a string or a number").map(Text)
    }
}

fixed_schema!(Text, {"type": ["string", "number"]});

impl<'de> Deserialize<'de> for NonEmptyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let what = "a non-empty string or a number";
        match text(Value::deserialize(deserializer)?, what)? {
            text if text.is_empty() => Err(D::Error::custom(format!("must be {what}, got \"\""))),
            text => Ok(NonEmptyText(text)),
        }
    }
}

fixed_schema!(NonEmptyText, {"type": ["string", "number"], "minLength": 1});

/// `config.protocol` of the REDCap and Calpendo sources: one protocol name,
/// or a map site -> name (in REDCap also `mapping`, the coding scheme
/// designator).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged, expecting = "a protocol name or a map site -> protocol name")]
pub enum Protocol {
    /// The protocol name for every site.
    Name(String),
    /// Site -> protocol name.
    BySite(BTreeMap<String, Text>),
}

impl Protocol {
    /// The protocol name for `site` (a map without a site gives none),
    /// unless empty.
    pub fn for_site(&self, site: Option<&str>) -> Option<String> {
        match self {
            Protocol::Name(name) => Some(name.clone()),
            Protocol::BySite(map) => map.get(site?).map(|name| name.0.clone()),
        }
        .filter(|name| !name.is_empty())
    }
}

/// A list with at least one item.
#[derive(Debug, Clone, PartialEq)]
pub struct NonEmptyList<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NonEmptyList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = Vec::<T>::deserialize(deserializer)?;
        if items.is_empty() {
            return Err(D::Error::custom("must list at least one item"));
        }
        Ok(NonEmptyList(items))
    }
}

impl<T: JsonSchema> JsonSchema for NonEmptyList<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("NonEmptyList_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "array", "items": generator.subschema_for::<T>(), "minItems": 1})
    }
}

/// A finite number above 0 and at most `MAX` (no limit when `MAX` is
/// `u32::MAX`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Positive<const MAX: u32 = { u32::MAX }>(pub f64);

impl<const MAX: u32> Positive<MAX> {
    fn rule() -> String {
        if MAX == u32::MAX {
            "a number > 0".to_string()
        } else {
            format!("a number > 0 and at most {MAX}")
        }
    }
}

impl<'de, const MAX: u32> Deserialize<'de> for Positive<MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        value
            .as_f64()
            .filter(|n| n.is_finite() && *n > 0.0 && *n <= f64::from(MAX))
            .map(Positive)
            .ok_or_else(|| D::Error::custom(format!("must be {}, got {value}", Self::rule())))
    }
}

impl<const MAX: u32> JsonSchema for Positive<MAX> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Positive{MAX}").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut schema = json_schema!({"type": "number", "exclusiveMinimum": 0});
        if MAX != u32::MAX {
            schema.insert("maximum".to_string(), MAX.into());
        }
        schema
    }
}

/// An object of `V`s, its keys in the order the config object gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
            type Value = Vec<(String, V)>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(entries)
            }
        }
        deserializer
            .deserialize_map(Entries(PhantomData))
            .map(Ordered)
    }
}

impl<V: JsonSchema> JsonSchema for Ordered<V> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Ordered_{}", V::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object", "additionalProperties": generator.subschema_for::<V>()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A config shaped like a plugin's, to hold [`parse`] and [`schema`] to
    /// the same verdicts.
    #[derive(Deserialize, JsonSchema)]
    struct Sample {
        /// A file.
        name: NotBlank,
        key: Option<NonEmpty>,
        site: Option<Text>,
        seconds: Option<Positive<60>>,
        map: Option<Ordered<String>>,
    }

    #[test]
    fn the_parser_and_the_schema_take_and_refuse_the_same_configs() {
        let validator = jsonschema::validator_for(&schema::<Sample>()).expect("schema compiles");
        let good = [
            json!({"name": "a"}),
            json!({"name": "a", "key": null, "site": 7, "seconds": 60, "map": {"b": "c"}}),
            json!({"name": "a", "site": "x", "seconds": 0.5, "other": true}),
        ];
        for config in good {
            assert!(parse::<Sample>(&config).is_ok(), "{config}");
            assert!(validator.is_valid(&config), "{config}");
        }
        let bad = [
            json!({}),
            json!({"name": " "}),
            json!({"name": "a", "key": ""}),
            json!({"name": "a", "site": true}),
            json!({"name": "a", "seconds": 0}),
            json!({"name": "a", "seconds": 61}),
            json!({"name": "a", "map": {"b": 1}}),
            json!([]),
        ];
        for config in bad {
            assert!(parse::<Sample>(&config).is_err(), "{config}");
            assert!(!validator.is_valid(&config), "{config}");
        }
    }

    #[test]
    fn an_error_names_the_key_at_fault() {
        let error = parse::<Sample>(&json!({"name": "a", "seconds": -1})).err();
        assert_eq!(
            error.as_deref(),
            Some("config.seconds: must be a number > 0 and at most 60, got -1")
        );
        let error = parse::<Sample>(&json!({"name": "a", "map": {"b": 1}})).err();
        assert_eq!(
            error.as_deref(),
            Some("config.map.b: invalid type: integer `1`, expected a string")
        );
    }

    #[test]
    fn each_value_is_read_as_its_type_says() {
        let config =
            json!({"name": "a", "key": "k", "site": 792, "seconds": 1.5, "map": {"b": "c"}});
        let sample: Sample = parse(&config).expect("a valid sample");
        assert_eq!(sample.name, NotBlank("a".to_string()));
        assert_eq!(sample.key, Some(NonEmpty("k".to_string())));
        assert_eq!(sample.site, Some(Text("792".to_string())));
        assert_eq!(sample.seconds, Some(Positive(1.5)));
        assert_eq!(
            sample.map,
            Some(Ordered(vec![("b".to_string(), "c".to_string())]))
        );
    }

    #[test]
    fn a_missing_key_is_named_with_its_description() {
        let error = parse::<Sample>(&json!({"key": "k"})).err();
        assert_eq!(error.as_deref(), Some("config.name is required: A file"));
    }

    #[test]
    fn an_ordered_object_keeps_the_order_it_is_read_in() {
        let value = json!({"b": "1", "a": "2"});
        let read: Ordered<String> = parse(&value).expect("an object of strings");
        let keys: Vec<&String> = value.as_object().expect("object").keys().collect();
        assert_eq!(read.0.iter().map(|(k, _)| k).collect::<Vec<_>>(), keys);
    }
}
