//! A complete pylantir data source: one MR entry per name in `config.patients`.
//! Depends on `pylantir-plugin-api` alone.

use pylantir_plugin_api::serde_json::{json, Value};
use pylantir_plugin_api::{
    export_plugin, log, Entry, FieldMapping, Plugin, Source, SOURCE_RECORD_ID,
};

#[derive(Default)]
struct Greeter {
    patients: Vec<String>,
}

impl Source for Greeter {
    fn validate_config(&mut self, config: &Value) -> Result<(), String> {
        let list = config["patients"]
            .as_array()
            .ok_or("config.patients must be a list of names")?;
        self.patients = list
            .iter()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        log::info!("{} patients configured", self.patients.len());
        Ok(())
    }

    fn fetch_entries(
        &mut self,
        mapping: &FieldMapping,
        _interval: f64,
    ) -> Result<Vec<Entry>, String> {
        let mut entries = Vec::new();
        for (i, name) in self.patients.iter().enumerate() {
            let mut entry = Entry::new();
            entry.insert(SOURCE_RECORD_ID.into(), json!(format!("greeter-{i}")));
            entry.insert("patient_id".into(), json!(format!("GREET{i:04}")));
            entry.insert("patient_name".into(), json!(name));
            entry.insert("modality".into(), json!("MR"));
            // field_mapping says which worklist field an upstream field fills;
            // this source's one upstream field is `greeting`.
            if let Some(target) = mapping.get("greeting").and_then(Value::as_str) {
                entry.insert(target.to_string(), json!(format!("Hello {name}")));
            }
            entries.push(entry);
        }
        Ok(entries)
    }
}

fn plugin() -> Plugin {
    Plugin::new("minimal-example", env!("CARGO_PKG_VERSION")).source(
        "greeter",
        "One MR entry per name in config.patients",
        |_| Box::<Greeter>::default(),
    )
}

export_plugin!(plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_patient_with_the_greeting_where_the_mapping_says() {
        let mut source = Greeter::default();
        source
            .validate_config(&json!({"patients": ["DOE^JANE"]}))
            .unwrap();
        let mapping = json!({"greeting": "study_description"});
        let entries = source
            .fetch_entries(mapping.as_object().unwrap(), 0.0)
            .unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["patient_name"], "DOE^JANE");
        assert_eq!(entries[0]["study_description"], "Hello DOE^JANE");
    }
}
