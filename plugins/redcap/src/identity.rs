//! Patient identity: the `{field}` templates that build PatientName and
//! PatientID, and the study conventions Python pylantir applies to the parts.

/// Python pylantir's PatientName pattern.
pub const DEFAULT_PATIENT_NAME: &str = "cpip-id-{study_id}^fa-{family_id}";
/// Python pylantir's PatientID pattern.
pub const DEFAULT_PATIENT_ID: &str = "sub_{study_id}_ses_{session_id}_fam_{family_id}_site_{site}";

/// A parsed template: literal text and `{name}` placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(String),
}

impl Template {
    /// Parses `text`; placeholders are `{name}` with letters, digits and `_`.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(format!("'}}' without '{{' in template \"{text}\""));
            }
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in template \"{text}\""))?;
            let name = &after[..close];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "placeholder {{{name}}} in template \"{text}\" is not a field name"
                ));
            }
            parts.push(Part::Field(name.to_string()));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The placeholder names, in order.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Field(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Whether the template uses placeholder `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.fields().any(|field| field == name)
    }

    /// Fills the placeholders; `value` answers each name ("" when unknown).
    pub fn render<'a>(&self, value: impl Fn(&str) -> &'a str) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(name) => out.push_str(value(name)),
            }
        }
        out
    }
}

/// The identity parts of one visit, after Python pylantir's conventions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parts {
    pub study_id: String,
    pub family_id: String,
}

/// `study_id` and `family_id` keep only what follows their last `-`; when
/// `neuro_pcp` is `1` or `true` the study gets the prefix `ng_` (once).
pub fn parts(study_raw: &str, family_raw: &str, neuro_pcp: &str) -> Parts {
    let last = |s: &str| s.rsplit('-').next().unwrap_or_default().trim().to_string();
    let mut study_id = last(study_raw);
    let pcp = neuro_pcp.trim();
    if !study_id.is_empty()
        && (pcp == "1" || pcp.eq_ignore_ascii_case("true"))
        && !study_id.starts_with("ng_")
    {
        study_id = format!("ng_{study_id}");
    }
    Parts {
        study_id,
        family_id: last(family_raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_placeholders_in_order() {
        let t = Template::parse("sub_{study_id}_ses_{session_id}").unwrap();
        let out = t.render(|name| match name {
            "study_id" => "1001",
            "session_id" => "2",
            _ => "",
        });
        assert_eq!(out, "sub_1001_ses_2");
        assert_eq!(t.fields().collect::<Vec<_>>(), ["study_id", "session_id"]);
    }

    #[test]
    fn malformed_templates_are_refused() {
        assert!(Template::parse("sub_{study_id").is_err());
        assert!(Template::parse("sub_study_id}").is_err());
        assert!(Template::parse("sub_{}").is_err());
        assert!(Template::parse("sub_{study id}").is_err());
    }

    #[test]
    fn identity_parts_follow_python_conventions() {
        assert_eq!(parts("CPIP-1001", "FAM-77", "").study_id, "1001");
        assert_eq!(parts("CPIP-1001", "FAM-77", "").family_id, "77");
        assert_eq!(parts("1001", "", "1").study_id, "ng_1001");
        assert_eq!(parts("x-ng_1001", "", "true").study_id, "ng_1001");
        assert_eq!(parts("", "", "1").study_id, "");
    }
}
