//! The functions behind [`crate::export_plugin!`]. Authors use the macro; the
//! host never calls these.

use crate::adapter::{guard, panic_message, GuardedSource};
use crate::ffi::{
    DataSourceBox, DataSourceFfi_TO, ErrorKind, HostContext, PluginError, PluginMod, PluginModRef,
};
use crate::source::{Plugin, SourceContext};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr, RString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The plugin info as JSON. A panic while describing the plugin yields a JSON
/// object with an `error` key, which the host refuses with that message.
pub fn info_json(plugin: fn() -> &'static Plugin, panic_unwind: bool) -> RString {
    let text = catch_unwind(|| serde_json::to_string(&plugin().info(panic_unwind)))
        .map_err(|payload| panic_message(payload.as_ref()))
        .and_then(|r| r.map_err(|e| e.to_string()));
    match text {
        Ok(json) => RString::from(json),
        Err(message) => RString::from(serde_json::json!({ "error": message }).to_string()),
    }
}

/// Installs the log bridge and notes what the host takes.
pub fn init(plugin: fn() -> &'static Plugin, ctx: HostContext) -> RResult<(), PluginError> {
    guard(ErrorKind::OTHER, || {
        crate::fetch::note_host_info(ctx.host_info_json.as_str());
        crate::logging::install(&ctx, plugin().name());
        Ok(())
    })
}

/// Builds a guarded source of `source_type`.
pub fn new_source(
    plugin: fn() -> &'static Plugin,
    source_type: RStr<'_>,
    source_name: RStr<'_>,
) -> RResult<DataSourceBox, PluginError> {
    let ctx = SourceContext {
        source_type: source_type.to_string(),
        source_name: source_name.to_string(),
    };
    let built = catch_unwind(AssertUnwindSafe(|| plugin().build(&ctx)));
    match built {
        Ok(Some(source)) => RResult::ROk(DataSourceFfi_TO::from_value(
            GuardedSource::new(ctx.source_name, source),
            TD_Opaque,
        )),
        Ok(None) => RResult::RErr(PluginError::new(
            ErrorKind::UNKNOWN_SOURCE_TYPE,
            format!(
                "plugin '{}' has no source type '{}'",
                plugin().name(),
                ctx.source_type
            ),
        )),
        Err(payload) => RResult::RErr(PluginError::new(
            ErrorKind::PANICKED,
            format!(
                "plugin panicked while building a source: {}",
                panic_message(payload.as_ref())
            ),
        )),
    }
}

/// The root module value, leaked for the life of the process.
pub fn root_module(
    info_json: extern "C" fn() -> RString,
    init: extern "C" fn(HostContext) -> RResult<(), PluginError>,
    new_source: extern "C" fn(RStr<'_>, RStr<'_>) -> RResult<DataSourceBox, PluginError>,
) -> PluginModRef {
    PluginMod {
        info_json,
        init,
        new_source,
    }
    .leak_into_prefix()
}

/// Exports a plugin: `export_plugin!(definition)` where `definition` is a
/// `fn() -> Plugin`. Generates the `abi_stable` root module, so the plugin
/// crate needs no `abi_stable` dependency of its own.
#[macro_export]
macro_rules! export_plugin {
    ($definition:path) => {
        /// The root module loader abi_stable looks up in a plugin library. The
        /// symbol name is abi_stable's `ROOT_MODULE_LOADER_NAME`, written out
        /// because `export_name` takes a literal (a test pins the two together).
        #[doc(hidden)]
        #[unsafe(export_name = "_1as_0lib_1header_0root_bmodule_bloader")]
        pub static __PYLANTIR_PLUGIN_ROOT_MODULE: $crate::abi_stable::library::LibHeader = {
            fn definition() -> &'static $crate::Plugin {
                static PLUGIN: ::std::sync::OnceLock<$crate::Plugin> = ::std::sync::OnceLock::new();
                PLUGIN.get_or_init($definition)
            }
            extern "C" fn info_json() -> $crate::abi_stable::std_types::RString {
                $crate::export::info_json(definition, cfg!(panic = "unwind"))
            }
            extern "C" fn init(
                ctx: $crate::HostContext,
            ) -> $crate::abi_stable::std_types::RResult<(), $crate::PluginError> {
                $crate::export::init(definition, ctx)
            }
            extern "C" fn new_source(
                source_type: $crate::abi_stable::std_types::RStr<'_>,
                source_name: $crate::abi_stable::std_types::RStr<'_>,
            ) -> $crate::abi_stable::std_types::RResult<$crate::DataSourceBox, $crate::PluginError>
            {
                $crate::export::new_source(definition, source_type, source_name)
            }
            fn root_module() -> $crate::PluginModRef {
                $crate::export::root_module(info_json, init, new_source)
            }
            extern "C" fn erased() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(root_module)
            }
            // SAFETY: `from_constructor` requires that the constructor
            // returns the root module type the header is declared for and
            // that the header is the library's one root-module static;
            // `erased` builds exactly a `PluginModRef`, and this static is
            // the only one exported under abi_stable's loader symbol.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::PluginModRef>(
                    erased,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_macro_exports_the_root_module_under_abi_stables_loader_symbol() {
        let source = include_str!("export.rs");
        let attribute = format!(
            "export_name = \"{}\"",
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
        assert!(
            source.contains(&attribute),
            "export_plugin! must export `{attribute}`"
        );
    }
}
