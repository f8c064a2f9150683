//! Plugin metadata, as the plugin reports it through `info_json`.

use serde::{Deserialize, Serialize};

/// What a plugin says about itself. Crosses the boundary as JSON, so new
/// optional fields can be added in 1.x without an ABI change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// The plugin's own name (its identity; not the file name).
    pub plugin_name: String,
    /// The plugin's own version.
    pub plugin_version: String,
    /// The pylantir-plugin-api version it was built against.
    pub api_version: String,
    /// `rustc --version` of the compiler that built it (informational).
    pub rustc_version: String,
    /// Whether it was built with `panic = "unwind"` (the host refuses `abort`).
    pub panic_unwind: bool,
    /// The source types it provides.
    pub source_types: Vec<SourceTypeInfo>,
}

/// One source `type` a plugin provides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceTypeInfo {
    /// The `type` value used in the configuration, e.g. `"csv"`.
    pub name: String,
    /// One line for `pylantir plugins list`.
    pub description: String,
    /// An optional JSON Schema of the source's `config` object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<serde_json::Value>,
    /// Names this type accepts as `field_mapping` targets besides the worklist
    /// fields (e.g. REDCap's `study_id`, `session_id`, `family_id`, which feed
    /// the patient identity rather than a column).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_mapping_targets: Vec<String>,
}
