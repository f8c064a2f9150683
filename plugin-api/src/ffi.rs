#![allow(non_local_definitions)] // abi_stable's #[sabi_trait] expansion trips this lint on current rustc

//! The checked ABI surface. Everything here is frozen for plugin-api 1.x:
//! abi_stable refuses a plugin whose layout differs, and a host cannot load
//! older plugins once a prefix type grows (abi_stable issue #118), so new
//! operations go through [`DataSourceFfi::call`] and new data through JSON keys.

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, RResult, RStr, RString},
    StableAbi,
};

/// What went wrong in a plugin call. A `u8` newtype, not an enum, so that new
/// kinds never change the layout.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Debug)]
pub struct ErrorKind(pub u8);

impl ErrorKind {
    /// The source's `config` is invalid.
    pub const CONFIG: ErrorKind = ErrorKind(1);
    /// Fetching entries failed.
    pub const FETCH: ErrorKind = ErrorKind(2);
    /// The plugin panicked; the host must rebuild the source before using it again.
    pub const PANICKED: ErrorKind = ErrorKind(3);
    /// `new_source` was asked for a type this plugin does not provide.
    pub const UNKNOWN_SOURCE_TYPE: ErrorKind = ErrorKind(4);
    /// `call` was asked for an operation the source does not know.
    pub const UNSUPPORTED_OPERATION: ErrorKind = ErrorKind(5);
    /// Anything else.
    pub const OTHER: ErrorKind = ErrorKind(6);

    /// A short lowercase name for messages ("config", "fetch", "panicked", ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::CONFIG => "config",
            Self::FETCH => "fetch",
            Self::PANICKED => "panicked",
            Self::UNKNOWN_SOURCE_TYPE => "unknown source type",
            Self::UNSUPPORTED_OPERATION => "unsupported operation",
            _ => "other",
        }
    }
}

/// An error returned across the boundary.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct PluginError {
    pub kind: ErrorKind,
    pub message: RString,
}

impl PluginError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: RString::from(message.into()),
        }
    }
}

/// The host's log sink: level (1 = error .. 5 = trace), target, message.
pub type HostLogFn = extern "C" fn(level: u8, target: RStr<'_>, message: RStr<'_>);

/// What the host hands a plugin once, right after loading it.
#[repr(C)]
#[derive(StableAbi, Clone)]
pub struct HostContext {
    /// Where the plugin's `log` records go.
    pub log: extern "C" fn(level: u8, target: RStr<'_>, message: RStr<'_>),
    /// The most verbose level the host wants (same numbering as `log`; 0 = off).
    pub max_level: u8,
    /// JSON object describing the host: `{"host_version": ..., "api_version": ...}`.
    pub host_info_json: RString,
}

/// The source object as it crosses the boundary. Payloads are JSON text.
#[sabi_trait]
pub trait DataSourceFfi: Send + Sync {
    /// The configured name of this source instance.
    fn source_name(&self) -> RString;

    /// Checks and keeps the source's `config` object (JSON).
    fn validate_config(&mut self, config_json: RStr<'_>) -> RResult<(), PluginError>;

    /// Returns a JSON array of entry objects. `field_mapping_json` is the
    /// source's `field_mapping` object; `interval_seconds` is how far back an
    /// incremental source should look.
    fn fetch_entries(
        &mut self,
        field_mapping_json: RStr<'_>,
        interval_seconds: f64,
    ) -> RResult<RString, PluginError>;

    /// Whether `interval_seconds` is honoured (otherwise every fetch is a full one).
    fn supports_incremental_sync(&self) -> bool;

    /// Extension point: operations added after 1.0 are called by name with a
    /// JSON payload, and answer JSON.
    fn call(&mut self, op: RStr<'_>, payload_json: RStr<'_>) -> RResult<RString, PluginError>;

    /// Releases what the source holds (connections, caches). Called once at shutdown.
    #[sabi(last_prefix_field)]
    fn cleanup(&mut self);
}

/// An owned, type-erased source object.
pub type DataSourceBox = DataSourceFfi_TO<'static, RBox<()>>;

/// The root module every plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// The plugin's [`crate::PluginInfo`] as JSON.
    pub info_json: extern "C" fn() -> RString,

    /// Called once after loading: installs the log bridge.
    pub init: extern "C" fn(ctx: HostContext) -> RResult<(), PluginError>,

    /// Builds a source of `source_type`, named `source_name` in the configuration.
    #[sabi(last_prefix_field)]
    pub new_source: extern "C" fn(
        source_type: RStr<'_>,
        source_name: RStr<'_>,
    ) -> RResult<DataSourceBox, PluginError>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "pylantir_plugin";
    const NAME: &'static str = "pylantir_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
