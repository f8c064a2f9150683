//! Calpendo's field mapping: worklist field -> a dotted path into the booking
//! JSON (`properties.project.formattedName`), or `{source_field, _extract:
//! {pattern, group}}` to keep one regex capture of that value.

use plugin_config::Ordered;
use pylantir_plugin_api::entry::is_worklist_field;
use pylantir_plugin_api::log;
use pylantir_plugin_api::serde_json::{Map, Value};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

/// Where one worklist field comes from.
#[derive(Debug, Clone)]
pub struct Rule {
    pub target: String,
    pub path: Option<String>,
    pub extract: Option<Extract>,
}

/// A regex capture to keep (Python `re.match`: anchored at the start).
#[derive(Debug, Clone)]
pub struct Extract {
    pub pattern: String,
    regex: Regex,
    group: usize,
}

/// A checked field mapping, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    pub rules: Vec<Rule>,
}

/// One `field_mapping` value as written: a dotted path into the booking
/// JSON, or a source field with a regex capture of its value to keep.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged, expecting = "a dotted path or {source_field, _extract}")]
pub enum RuleSpec {
    /// Dotted path into the booking JSON (`properties.project.formattedName`).
    Path(String),
    /// The value at `source_field`, cut to a regex capture.
    Extracted {
        /// Dotted path into the booking JSON.
        source_field: Option<String>,
        /// The capture of the value to keep.
        #[serde(rename = "_extract")]
        extract: Option<ExtractSpec>,
    },
}

/// `_extract` as written.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExtractSpec {
    /// A regular expression, matched at the start of the value.
    pattern: String,
    /// The capture group kept (0: the whole match).
    #[schemars(extend("default" = 0))]
    group: Option<usize>,
}

impl Mapping {
    /// Reads a mapping object; `key` names it in messages (`config.field_mapping`).
    pub fn parse(mapping: &Map<String, Value>, key: &str) -> Result<Mapping, String> {
        let specs = plugin_config::parse_at(&Value::Object(mapping.clone()), key)?;
        Mapping::from_specs(specs, key)
    }

    /// Checks the rules as read: worklist targets, patterns and groups.
    pub fn from_specs(specs: Ordered<RuleSpec>, key: &str) -> Result<Mapping, String> {
        let mut rules = Vec::new();
        for (target, spec) in specs.0 {
            let at = format!("{key}.{target}");
            if !is_worklist_field(&target) {
                return Err(format!("{at}: '{target}' is not a worklist field"));
            }
            let (path, extract) = match spec {
                RuleSpec::Path(path) => (Some(path), None),
                RuleSpec::Extracted {
                    source_field,
                    extract,
                } => {
                    let extract = extract
                        .map(|spec| Extract::new(spec, &format!("{at}._extract")))
                        .transpose()?;
                    (source_field, extract)
                }
            };
            rules.push(Rule {
                target,
                path,
                extract,
            });
        }
        Ok(Mapping { rules })
    }
}

impl Extract {
    fn new(spec: ExtractSpec, at: &str) -> Result<Extract, String> {
        let pattern = spec.pattern;
        let regex = Regex::new(&format!(r"\A(?:{pattern})"))
            .map_err(|e| format!("{at}.pattern is not a valid regular expression: {e}"))?;
        let group = spec.group.unwrap_or(0);
        if group >= regex.captures_len() {
            return Err(format!(
                "{at}.group is {group} but the pattern has {} group(s)",
                regex.captures_len() - 1
            ));
        }
        Ok(Extract {
            pattern,
            regex,
            group,
        })
    }

    /// The captured group, or `None` when the pattern does not match.
    pub fn apply<'a>(&self, value: &'a str) -> Option<&'a str> {
        let captures = self.regex.captures(value)?;
        Some(captures.get(self.group).map_or("", |m| m.as_str()))
    }
}

/// The text at a dotted `path` in `booking` (numbers and other values as JSON
/// text). A simple key missing at the top (`title`, `status`) is looked up
/// under `properties`, where Calpendo 11 moved them (as Python pylantir does).
pub fn lookup(booking: &Value, path: &str) -> Option<String> {
    fn at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
        path.split('.')
            .try_fold(root, |value, key| value.get(key))
            .filter(|value| !value.is_null())
    }
    let found = at(booking, path).or_else(|| {
        booking
            .get("properties")
            .filter(|_| !path.contains('.'))
            .and_then(|properties| at(properties, path))
    })?;
    match found {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Applies `mapping` to `booking`: target -> value, for the values found.
pub fn apply(mapping: &Mapping, booking: &Value, booking_id: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for rule in &mapping.rules {
        let Some(value) = rule.path.as_deref().and_then(|path| lookup(booking, path)) else {
            continue;
        };
        let value = match &rule.extract {
            Some(extract) if !value.is_empty() => match extract.apply(&value) {
                Some(captured) => captured.to_string(),
                None => {
                    log::warn!(
                        "booking {booking_id}: '{value}' does not match the pattern '{}' of {}; the whole value is used",
                        extract.pattern,
                        rule.target
                    );
                    value
                }
            },
            _ => value,
        };
        out.push((rule.target.clone(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pylantir_plugin_api::serde_json::json;

    fn mapping(v: Value) -> Result<Mapping, String> {
        Mapping::parse(v.as_object().unwrap(), "config.field_mapping")
    }

    #[test]
    fn dotted_paths_reach_nested_values_and_numbers_become_text() {
        let booking = json!({"id": 12345, "title": "T", "properties": {"project": {"formattedName": "BRISKP"}}});
        assert_eq!(
            lookup(&booking, "properties.project.formattedName").as_deref(),
            Some("BRISKP")
        );
        assert_eq!(lookup(&booking, "id").as_deref(), Some("12345"));
        assert_eq!(lookup(&booking, "title").as_deref(), Some("T"));
        assert_eq!(lookup(&booking, "properties.nothing"), None);
    }

    #[test]
    fn extraction_keeps_the_group_and_anchors_at_the_start() {
        let m = mapping(json!({"patient_id": {"source_field": "title", "_extract": {"pattern": "([A-Z0-9]+)_", "group": 1}}})).unwrap();
        let values = apply(&m, &json!({"title": "SUB001_John_Doe"}), "1");
        assert_eq!(values, [("patient_id".to_string(), "SUB001".to_string())]);
        let unmatched = apply(&m, &json!({"title": "x SUB001_John"}), "1");
        assert_eq!(
            unmatched,
            [("patient_id".to_string(), "x SUB001_John".to_string())]
        );
    }

    #[test]
    fn bad_patterns_groups_and_targets_are_config_errors() {
        let bad = mapping(
            json!({"patient_id": {"source_field": "title", "_extract": {"pattern": "([A-Z"}}}),
        )
        .unwrap_err();
        assert!(
            bad.contains("config.field_mapping.patient_id._extract.pattern"),
            "{bad}"
        );
        let group = mapping(json!({"patient_id": {"source_field": "title", "_extract": {"pattern": "(a)", "group": 2}}})).unwrap_err();
        assert!(group.contains("group"), "{group}");
        let target = mapping(json!({"favourite_colour": "title"})).unwrap_err();
        assert!(target.contains("not a worklist field"), "{target}");
    }
}
