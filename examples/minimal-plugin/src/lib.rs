//! A complete pylantir data source: one fixed worklist entry per configured
//! patient. Depends on `pylantir-plugin-api` alone.

use pylantir_plugin_api::serde_json::{json, Value};
use pylantir_plugin_api::{export_plugin, log, Entry, FieldMapping, Plugin, Source};

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

    fn fetch_entries(&mut self, _: &FieldMapping, _interval: f64) -> Result<Vec<Entry>, String> {
        let entries = self.patients.iter().enumerate().map(|(i, name)| {
            let entry = json!({
                "source_record_id": format!("greeter-{i}"),
                "patient_id": format!("GREET{i:04}"),
                "patient_name": name,
                "modality": "MR",
            });
            entry.as_object().cloned().unwrap_or_default()
        });
        Ok(entries.collect())
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
