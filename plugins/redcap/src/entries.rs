//! From visits to worklist entries: what the `field_mapping` asks for, which
//! fields to export, and the entry of one visit (identity from the
//! templates, mapped fields, schedule, protocol).

use crate::api::Field;
use crate::config::Config;
use crate::identity;
use crate::merge::Visit;
use pylantir_plugin_api::entry::{is_worklist_field, SOURCE_RECORD_ID, STATUS};
use pylantir_plugin_api::serde_json::Value;
use pylantir_plugin_api::{log, Entry, FieldMapping};
use std::collections::HashMap;

/// Mapping targets that feed the identity or legacy conventions rather than a column.
pub const EXTRA_TARGETS: &[&str] = &[
    "study_id",
    "family_id",
    "session_id",
    "youth_dob_y",
    "demo_sex",
    "t1_date",
    "performed_procedure_step_status",
];

/// Fields Python pylantir always asks for (besides the visit instrument's).
const DEFAULT_FIELDS: &[&str] = &[
    "study_id",
    "family_id",
    "youth_dob_y",
    "demo_sex",
    "neuro_pcp",
];

/// Placeholders computed for a visit rather than read from a field.
const COMPUTED: &[&str] = &[
    "study_id",
    "family_id",
    "session_id",
    "site",
    "record_id",
    "repeat_instance",
];

/// The fields of one export.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// The project's record id field (its first field).
    pub record_field: String,
    /// The field names sent as `fields[n]`.
    pub request: Vec<String>,
    /// The export columns a visit keeps (checkbox choices by their own name).
    pub columns: Vec<String>,
    /// Wanted fields the project does not have.
    pub missing: Vec<String>,
}

/// What a `field_mapping` (REDCap field -> target) asks for.
#[derive(Debug, Clone)]
pub struct Plan {
    /// REDCap field -> worklist column, copied when non-empty.
    copies: Vec<(String, String)>,
    study_field: String,
    family_field: String,
    session_field: String,
    birth_year_field: Option<String>,
    sex_field: Option<String>,
    date_field: String,
    time_field: String,
    /// Every field to export, without the record id.
    wanted: Vec<String>,
}

impl Plan {
    /// Reads `mapping` for a source configured as `config`.
    pub fn new(mapping: &FieldMapping, config: &Config) -> Result<Plan, String> {
        let instrument = &config.instrument;
        let mut plan = Plan {
            copies: Vec::new(),
            study_field: "study_id".to_string(),
            family_field: "family_id".to_string(),
            session_field: format!("{instrument}_instance"),
            birth_year_field: None,
            sex_field: None,
            date_field: format!("{instrument}_date"),
            time_field: format!("{instrument}_time"),
            wanted: Vec::new(),
        };
        for (source, target) in mapping {
            let target = target.as_str().ok_or_else(|| {
                format!("field_mapping.{source} must be the name of a worklist field, got {target}")
            })?;
            match target {
                "study_id" => plan.study_field = source.clone(),
                "family_id" => plan.family_field = source.clone(),
                "session_id" => plan.session_field = source.clone(),
                "youth_dob_y" => plan.birth_year_field = Some(source.clone()),
                "demo_sex" => plan.sex_field = Some(source.clone()),
                "t1_date" | "performed_procedure_step_status" => {
                    log::debug!("field_mapping.{source} -> {target} is accepted for old configurations and not used")
                }
                _ if is_worklist_field(target) => {
                    plan.copies.push((source.clone(), target.to_string()))
                }
                // As in Python pylantir: no effect (the host warns at start).
                _ => {
                    log::debug!("field_mapping.{source} -> {target}: not a worklist field; ignored")
                }
            }
        }
        let mut wanted: Vec<String> = mapping.keys().cloned().collect();
        wanted.extend(DEFAULT_FIELDS.iter().map(|f| f.to_string()));
        wanted.extend([
            plan.study_field.clone(),
            plan.family_field.clone(),
            plan.session_field.clone(),
            plan.date_field.clone(),
            plan.time_field.clone(),
        ]);
        if let Some(rule) = &config.discontinued {
            wanted.push(rule.field.0.clone());
        }
        for template in [&config.patient_name, &config.patient_id] {
            wanted.extend(
                template
                    .fields()
                    .filter(|f| !COMPUTED.contains(f))
                    .map(str::to_string),
            );
        }
        let mut seen = std::collections::HashSet::new();
        wanted.retain(|f| seen.insert(f.clone()));
        plan.wanted = wanted;
        Ok(plan)
    }

    /// What to export from a project with `metadata`: the wanted fields the
    /// project has (a checkbox choice `name___code` is asked for as `name`),
    /// and the wanted fields it does not have.
    pub fn export(&self, metadata: &[Field]) -> Result<Export, String> {
        let record_field = metadata
            .first()
            .map(|f| f.name.clone())
            .ok_or("the REDCap project has no fields (empty metadata)")?;
        // The project field that exports `name`, if any.
        let source_of = |name: &str| {
            metadata
                .iter()
                .filter(|f| f.field_type != "descriptive")
                .find(|f| {
                    f.name == name
                        || (f.field_type == "checkbox"
                            && name
                                .strip_prefix(f.name.as_str())
                                .is_some_and(|rest| rest.starts_with("___")))
                })
                .map(|f| f.name.clone())
        };
        let mut export = Export {
            request: vec![record_field.clone()],
            columns: vec![record_field.clone()],
            missing: Vec::new(),
            record_field,
        };
        for field in &self.wanted {
            if *field == export.record_field || field.starts_with("redcap_repeat_") {
                continue;
            }
            match source_of(field) {
                Some(project_field) => {
                    if !export.request.contains(&project_field) {
                        export.request.push(project_field);
                    }
                    export.columns.push(field.clone());
                }
                None => export.missing.push(field.clone()),
            }
        }
        Ok(export)
    }

    /// The entry of `visit` (whose values follow `fields`) as (field, value)
    /// pairs, or why it has none.
    pub fn entry<'a>(
        &'a self,
        visit: &Visit,
        fields: &HashMap<&str, usize>,
        config: &Config,
    ) -> Result<Pairs<'a>, String> {
        let get = |name: &str| -> &str {
            fields
                .get(name)
                .and_then(|&i| visit.values.get(i))
                .map(String::as_str)
                .unwrap_or_default()
        };
        let parts = identity::parts(
            get(&self.study_field),
            get(&self.family_field),
            get("neuro_pcp"),
        );
        let uses_study = config.patient_id.uses("study_id") || config.patient_name.uses("study_id");
        if uses_study && parts.study_id.is_empty() {
            return Err(format!("no study id in field '{}'", self.study_field));
        }
        let placeholder = |name: &str| -> &str {
            match name {
                "study_id" => &parts.study_id,
                "family_id" => &parts.family_id,
                "session_id" => get(&self.session_field),
                "site" => &config.site,
                "record_id" => &visit.record_id,
                "repeat_instance" => &visit.repeat_instance,
                other => get(other),
            }
        };
        let patient_id = config.patient_id.render(placeholder);
        if patient_id.is_empty() {
            return Err("the patient id template gave an empty id".to_string());
        }
        let mut pairs = Pairs::with_capacity(14);
        set(
            &mut pairs,
            "patient_name",
            config.patient_name.render(placeholder),
        );
        set(&mut pairs, "patient_id", patient_id);
        set(&mut pairs, "modality", "MR".to_string());
        set(
            &mut pairs,
            SOURCE_RECORD_ID,
            format!("{}:{}", visit.record_id, visit.repeat_instance),
        );
        for (source, target) in &self.copies {
            let value = get(source);
            if !value.is_empty() && value != "NaN" {
                set(&mut pairs, target, value.to_string());
            }
        }
        let birth_year = self.birth_year_field.as_deref().map(|f| get(f).to_string());
        fill(&mut pairs, "patient_birth_date", birth_year);
        let sex = self.sex_field.as_deref().map(|f| get(f).to_string());
        fill(&mut pairs, "patient_sex", sex);
        fill(
            &mut pairs,
            "scheduled_start_date",
            Some(get(&self.date_field).to_string()),
        );
        fill(
            &mut pairs,
            "scheduled_start_time",
            Some(get(&self.time_field).to_string()),
        );
        fill(&mut pairs, "protocol_name", config.protocol_name());
        fill(
            &mut pairs,
            "hisris_coding_designator",
            config.coding_designator(),
        );
        if let Some(rule) = &config.discontinued {
            let value = get(&rule.field.0).trim();
            if rule.values.0.iter().any(|v| v.0 == value) {
                set(&mut pairs, STATUS, "DISCONTINUED".to_string());
            }
        }
        for (key, value) in pairs.iter_mut() {
            let normalise: fn(&str) -> String = match *key {
                "patient_birth_date" => birth_date,
                "scheduled_start_date" => normalise_date,
                "scheduled_start_time" => normalise_time,
                _ => continue,
            };
            *value = normalise(value);
        }
        Ok(pairs)
    }
}

/// An entry as (field, value) pairs, each field once, in the order set.
pub type Pairs<'a> = Vec<(&'a str, String)>;

/// Sets `key` (a later value replaces an earlier one).
fn set<'a>(pairs: &mut Pairs<'a>, key: &'a str, value: String) {
    match pairs.iter_mut().find(|(k, _)| *k == key) {
        Some(pair) => pair.1 = value,
        None => pairs.push((key, value)),
    }
}

/// Sets `key` to a non-empty `value` unless it is set already.
fn fill<'a>(pairs: &mut Pairs<'a>, key: &'a str, value: Option<String>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        if !pairs.iter().any(|(k, _)| *k == key) {
            pairs.push((key, value));
        }
    }
}

/// The pairs as an entry map.
pub fn to_entry(pairs: Pairs<'_>) -> Entry {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect()
}

/// Appends the pairs to `out` as one JSON object.
pub fn write_json(pairs: &Pairs<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    out.push(b'{');
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        pylantir_plugin_api::serde_json::to_writer(&mut *out, key).map_err(|e| e.to_string())?;
        out.push(b':');
        pylantir_plugin_api::serde_json::to_writer(&mut *out, value).map_err(|e| e.to_string())?;
    }
    out.push(b'}');
    Ok(())
}

/// A birth year alone becomes January 1st of that year (`YYYY0101`), as
/// Python pylantir wrote it; anything else is kept.
fn birth_date(value: &str) -> String {
    let value = value.trim();
    if value.len() == 4 && value.chars().all(|c| c.is_ascii_digit()) {
        format!("{value}0101")
    } else {
        value.to_string()
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// Dates as `YYYY-MM-DD` (from `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD`,
/// `YYYYMMDD`); anything else is kept.
pub fn normalise_date(value: &str) -> String {
    let v = value.trim();
    let parts: Vec<&str> = v.split(['-', '/', '.']).collect();
    match parts.as_slice() {
        [y, m, d]
            if y.len() == 4
                && m.len() == 2
                && d.len() == 2
                && [y, m, d].iter().all(|p| digits(p)) =>
        {
            format!("{y}-{m}-{d}")
        }
        [whole] if whole.len() == 8 && digits(whole) => {
            format!("{}-{}-{}", &whole[..4], &whole[4..6], &whole[6..])
        }
        _ => v.to_string(),
    }
}

/// Times as `HH:MM` (from `HH:MM`, `HH:MM:SS`, `HHMMSS`, `HHMM`, `HH`);
/// anything else is kept.
pub fn normalise_time(value: &str) -> String {
    let v = value.trim();
    let parts: Vec<&str> = v.split(':').collect();
    match parts.as_slice() {
        [h, m] | [h, m, _] if h.len() == 2 && m.len() == 2 && digits(h) && digits(m) => {
            format!("{h}:{m}")
        }
        [whole] if digits(whole) && (whole.len() == 6 || whole.len() == 4) => {
            format!("{}:{}", &whole[..2], &whole[2..4])
        }
        [whole] if digits(whole) && whole.len() == 2 => format!("{whole}:00"),
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_take_the_python_formats() {
        assert_eq!(normalise_date("2026/02/03"), "2026-02-03");
        assert_eq!(normalise_date("20260203"), "2026-02-03");
        assert_eq!(normalise_date("next week"), "next week");
        assert_eq!(normalise_time("09:30:15"), "09:30");
        assert_eq!(normalise_time("0930"), "09:30");
        assert_eq!(normalise_time("093015"), "09:30");
        assert_eq!(normalise_time("09"), "09:00");
    }

    #[test]
    fn a_birth_year_becomes_january_first() {
        assert_eq!(birth_date("2012"), "20120101");
        assert_eq!(birth_date("2012-05-06"), "2012-05-06");
    }
}
