//! `pylantir plugins new NAME`: writes a ready-to-build plugin crate.
//!
//! The crate is `examples/minimal-plugin` itself (its files are compiled into
//! the binary) with the names changed, so the example and what `plugins new`
//! writes cannot drift apart; only the standalone settings (its own
//! `[workspace]`, `panic = "unwind"`) and the plugin-api dependency differ.

use clap::Args;
use std::path::{Path, PathBuf};

const EXAMPLE_CARGO_TOML: &str = include_str!("../../../examples/minimal-plugin/Cargo.toml");
const EXAMPLE_LIB_RS: &str = include_str!("../../../examples/minimal-plugin/src/lib.rs");
const EXAMPLE_SOURCE_JSON: &str = include_str!("../../../examples/minimal-plugin/source.json");
const STANDALONE_TOML: &str = include_str!("plugin_template/standalone.toml");

/// The example's plugin-api dependency line, replaced in the generated crate.
const EXAMPLE_DEPENDENCY: &str = r#"pylantir-plugin-api = { path = "../../plugin-api" }"#;

/// Where this binary's own plugin-api sources were when it was built.
const BUILT_PLUGIN_API: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugin-api");

/// Options of `plugins new`.
#[derive(Debug, Clone, Args)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits, `-` and `_`, starting with a letter.
    /// It becomes the source `type` (with `_`) and the plugin name (with `-`).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The directory to create the crate in (as DIR/NAME).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// The plugin-api crate to build against, by path: the directory of an
    /// unpacked `pylantir-plugin-api-1.x.y.crate` (see docs/plugin-development.md)
    /// [default: the plugin-api this pylantir was built from, when it is still there].
    #[arg(long = "plugin-api", value_name = "DIR")]
    pub plugin_api: Option<PathBuf>,
}

/// The files of a new plugin crate, relative to its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    pub files: Vec<(PathBuf, String)>,
    /// The source `type` it provides.
    pub source_type: String,
    /// The library file name cargo builds (`libpylantir_<name>.so`).
    pub library: String,
}

/// Checks `name` and returns it as source type (`_`) and plugin name (`-`).
pub fn names(name: &str) -> Result<(String, String), String> {
    let valid = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return Err(format!(
            "plugin name '{name}' must be 1 to 40 lowercase letters, digits, '-' or '_', starting with a letter"
        ));
    }
    Ok((name.replace('-', "_"), name.replace('_', "-")))
}

/// The plugin-api dependency line for a crate outside this repository.
fn dependency(plugin_api: Option<&Path>) -> Result<String, String> {
    let path = match plugin_api {
        Some(path) => std::path::absolute(path)
            .map_err(|e| format!("--plugin-api {}: {e}", path.display()))?,
        None => std::fs::canonicalize(BUILT_PLUGIN_API).map_err(|_| {
            format!(
                "the plugin-api sources this pylantir was built from are not at {BUILT_PLUGIN_API} any more: \
                 pass --plugin-api DIR, the directory of an unpacked pylantir-plugin-api-{}.crate \
                 (made with `cargo package -p pylantir-plugin-api`; see docs/plugin-development.md)",
                pylantir_plugin_api::API_VERSION
            )
        })?,
    };
    Ok(format!(
        "pylantir-plugin-api = {{ path = {} }}",
        toml_string(&path.display().to_string())
    ))
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The crate for plugin `name`, built against `plugin_api` (see [`NewArgs`]).
pub fn generate(name: &str, plugin_api: Option<&Path>) -> Result<Crate, String> {
    let (snake, kebab) = names(name)?;
    let cargo_toml = EXAMPLE_CARGO_TOML
        .replace(
            "name = \"pylantir-minimal-plugin\"",
            &format!("name = \"pylantir-{kebab}-plugin\""),
        )
        .replace(
            "name = \"pylantir_minimal\"",
            &format!("name = \"pylantir_{snake}\""),
        )
        .replace(EXAMPLE_DEPENDENCY, &dependency(plugin_api)?)
        + STANDALONE_TOML;
    let lib_rs = EXAMPLE_LIB_RS
        .replace("\"minimal-example\"", &format!("\"{kebab}\""))
        .replace("greeter", &snake);
    let source_json = EXAMPLE_SOURCE_JSON.replace("greeter", &snake);
    Ok(Crate {
        files: vec![
            (PathBuf::from("Cargo.toml"), cargo_toml),
            (PathBuf::from("src/lib.rs"), lib_rs),
            (PathBuf::from("source.json"), source_json),
        ],
        library: format!(
            "{}pylantir_{snake}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ),
        source_type: snake,
    })
}

/// Writes the crate into `dir`, which must not exist yet.
fn write(dir: &Path, generated: &Crate) -> Result<(), String> {
    if dir.exists() {
        return Err(format!(
            "{} already exists; choose another name or --dir",
            dir.display()
        ));
    }
    for (relative, text) in &generated.files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Runs `plugins new`; returns the exit code.
pub fn run(args: &NewArgs) -> i32 {
    let generated = match generate(&args.name, args.plugin_api.as_deref()) {
        Ok(generated) => generated,
        Err(message) => {
            eprintln!("error: {message}");
            return 1;
        }
    };
    let dir = args.dir.join(&args.name);
    if let Err(message) = write(&dir, &generated) {
        eprintln!("error: {message}");
        return 1;
    }
    let library = Path::new("target/release").join(&generated.library);
    println!(
        "created plugin crate {} (source type `{}`)\n\nnext:\n  cd {}\n  cargo build --release\n  pylantir plugins test {} --source-config source.json\n  pylantir plugins install {}",
        dir.display(),
        generated.source_type,
        dir.display(),
        library.display(),
        library.display(),
    );
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file<'a>(generated: &'a Crate, name: &str) -> &'a str {
        generated
            .files
            .iter()
            .find(|(path, _)| path == Path::new(name))
            .map(|(_, text)| text.as_str())
            .unwrap()
    }

    #[test]
    fn names_become_a_source_type_with_underscores_and_a_plugin_name_with_dashes() {
        assert_eq!(
            names("clinic-feed").unwrap(),
            ("clinic_feed".to_string(), "clinic-feed".to_string())
        );
        for bad in ["", "Clinic", "9lives", "a b", "x/y", &"a".repeat(41)] {
            assert!(names(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_generated_crate_is_the_example_with_its_names_changed() {
        let generated = generate("clinic-feed", Some(Path::new("/opt/plugin-api"))).unwrap();
        let lib_rs = file(&generated, "src/lib.rs");
        assert!(lib_rs.contains("Plugin::new(\"clinic-feed\""));
        assert!(lib_rs.contains("\"clinic_feed\",\n"));
        let back = lib_rs
            .replace("\"clinic-feed\"", "\"minimal-example\"")
            .replace("clinic_feed", "greeter");
        assert_eq!(back, EXAMPLE_LIB_RS);
        let cargo_toml = file(&generated, "Cargo.toml");
        assert!(cargo_toml.contains("name = \"pylantir-clinic-feed-plugin\""));
        assert!(cargo_toml.contains("name = \"pylantir_clinic_feed\""));
        assert!(cargo_toml.contains("crate-type = [\"cdylib\"]"));
        assert!(cargo_toml.contains("pylantir-plugin-api = { path = \"/opt/plugin-api\" }"));
        assert!(cargo_toml.contains("[workspace]"));
        assert!(cargo_toml.contains("panic = \"unwind\""));
        assert!(file(&generated, "source.json").contains("\"type\": \"clinic_feed\""));
        assert_eq!(generated.library, "libpylantir_clinic_feed.so");
    }

    #[test]
    fn an_existing_directory_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let generated = generate("clinic", Some(Path::new("/opt/plugin-api"))).unwrap();
        let error = write(dir.path(), &generated).unwrap_err();
        assert!(error.contains("already exists"), "{error}");
    }
}
