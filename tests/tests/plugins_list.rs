//! `pylantir plugins list` and `plugins info`, run as the real binary on
//! plugin directories holding real built plugins and broken files.

use pylantir_plugin_api::API_VERSION;
use pylantir_tests::plugin_files::{
    abort_fixture, api_changed_fixture, binary_in, install_as, plugin_file_name,
};
use pylantir_tests::{library, temp_dir, workspace_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary placed in `dir` (so `dir` is its default plugin directory).
fn pylantir(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary_in(dir))
        .args(args)
        .env_remove("PYLANTIR_PLUGIN_PATH")
        .env_remove("DEBUG")
        .env_remove("RUST_LOG")
        .output()
        .expect("pylantir runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The one table line whose FILE column is `file`.
fn line_of(output: &Output, file: &Path) -> String {
    let text = stdout(output);
    let file_name = file.to_string_lossy();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.split_whitespace().nth(4) == Some(&*file_name))
        .collect();
    assert_eq!(lines.len(), 1, "one line for {}:\n{text}", file.display());
    lines[0].to_string()
}

/// The `version = "..."` of a crate's Cargo.toml.
fn crate_version(manifest: &str) -> String {
    let text = std::fs::read_to_string(workspace_root().join(manifest)).unwrap();
    let line = text.lines().find(|l| l.starts_with("version = ")).unwrap();
    line.trim_start_matches("version = ")
        .trim_matches('"')
        .to_string()
}

fn shipped(dir: &Path) -> Vec<PathBuf> {
    vec![
        install_as(dir, &library("pylantir_csv"), "csv"),
        install_as(dir, &library("pylantir_json"), "json"),
        install_as(dir, &library("pylantir_minimal"), "minimal"),
    ]
}

#[test]
fn shipped_plugins_and_the_example_load_with_their_versions_and_types() {
    let dir = temp_dir();
    let files = shipped(dir.path());
    let output = pylantir(dir.path(), &["plugins", "list"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let api = crate_version("plugin-api/Cargo.toml");
    let expected = [
        ("csv", "csv", crate_version("plugins/csv/Cargo.toml")),
        ("json", "json", crate_version("plugins/json/Cargo.toml")),
        (
            "greeter",
            "minimal-example",
            crate_version("examples/minimal-plugin/Cargo.toml"),
        ),
    ];
    for (file, (source_type, plugin, version)) in files.iter().zip(expected) {
        let line = line_of(&output, file);
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            words,
            [
                source_type,
                plugin,
                &version,
                &api,
                &*file.to_string_lossy(),
                "loaded"
            ]
        );
    }
}

#[test]
fn json_output_parses_and_describes_every_plugin() {
    let dir = temp_dir();
    let files = shipped(dir.path());
    let output = pylantir(dir.path(), &["plugins", "list", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let plugins = doc["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 3);
    let csv = &plugins[0];
    assert_eq!(csv["file"], files[0].to_string_lossy().as_ref());
    assert_eq!(csv["status"], "loaded");
    assert_eq!(csv["plugin_name"], "csv");
    assert_eq!(csv["api_version"], crate_version("plugin-api/Cargo.toml"));
    assert_eq!(csv["panic_unwind"], true);
    assert_eq!(csv["source_types"][0]["name"], "csv");
    assert_eq!(
        doc["host_api_version"],
        crate_version("plugin-api/Cargo.toml")
    );
}

#[test]
fn plugins_info_prints_the_description_and_config_schema() {
    let dir = temp_dir();
    shipped(dir.path());
    let output = pylantir(dir.path(), &["plugins", "info", "csv"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(
        text.contains("description: Worklist entries from a CSV file"),
        "{text}"
    );
    assert!(text.contains("\"file_path\""), "{text}");
    assert!(text.contains("\"record_id_column\""), "{text}");
}

#[test]
fn plugins_info_of_an_unknown_type_fails_naming_the_known_ones() {
    let dir = temp_dir();
    shipped(dir.path());
    let output = pylantir(dir.path(), &["plugins", "info", "xml"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "error: no plugin provides source type 'xml' (available: csv, greeter, json)"
    );
}

#[test]
fn a_text_file_named_like_a_plugin_is_refused() {
    let dir = temp_dir();
    shipped(dir.path());
    let bogus = dir.path().join(plugin_file_name("notes"));
    std::fs::write(&bogus, "not a library\n").unwrap();
    let output = pylantir(dir.path(), &["plugins", "list"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        line_of(&output, &bogus).ends_with("refused: not a shared library (unknown file format)")
    );
}

#[test]
fn a_truncated_plugin_is_refused_before_it_is_opened() {
    let dir = temp_dir();
    let whole = std::fs::read(library("pylantir_csv")).unwrap();
    let truncated = dir.path().join(plugin_file_name("truncated"));
    std::fs::write(&truncated, &whole[..whole.len() / 3]).unwrap();
    let output = pylantir(dir.path(), &["plugins", "list"]);
    assert_eq!(output.status.code(), Some(1));
    let line = line_of(&output, &truncated);
    assert!(
        line.contains(&format!(
            "refused: truncated or damaged shared library ({} bytes: ",
            whole.len() / 3
        )),
        "{line}"
    );
}

#[test]
fn a_plugin_built_against_an_incompatible_plugin_api_is_refused() {
    let dir = temp_dir();
    let changed = install_as(dir.path(), api_changed_fixture(), "changed");
    let output = pylantir(dir.path(), &["plugins", "list"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(line_of(&output, &changed).ends_with(&format!(
        "refused: built against plugin-api 1.0.1, whose layout differs from this host's \
         plugin-api {API_VERSION}: mismatched type: expected f64, found u64"
    )));
}

#[test]
fn a_plugin_built_with_panic_abort_runs_only_in_a_worker() {
    let dir = temp_dir();
    let aborting = install_as(dir.path(), abort_fixture(), "aborting");
    let output = pylantir(dir.path(), &["plugins", "list"]);
    assert_eq!(output.status.code(), Some(0));
    let line = line_of(&output, &aborting);
    assert!(line.starts_with("aborty "), "{line}");
    assert!(line.ends_with(
        "loaded (built with panic = \"abort\": runs only with \"isolation\": \"process\")"
    ));
}

#[cfg(unix)]
#[test]
fn a_world_writable_plugin_directory_is_refused_unless_allowed() {
    use std::os::unix::fs::PermissionsExt;
    let home = temp_dir();
    let open_dir = home.path().join("open");
    std::fs::create_dir(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let csv = install_as(&open_dir, &library("pylantir_csv"), "csv");
    let dir_arg = open_dir.to_string_lossy().into_owned();

    let output = pylantir(home.path(), &["plugins", "list", "--plugin-dir", &dir_arg]);
    assert_eq!(output.status.code(), Some(1));
    assert!(line_of(&output, &csv).ends_with(&format!(
        "refused: directory {} is writable by other users (mode 0777); run `chmod go-w` on it \
         or pass --allow-insecure-plugins",
        open_dir.display()
    )));

    let allowed = pylantir(
        home.path(),
        &[
            "plugins",
            "list",
            "--plugin-dir",
            &dir_arg,
            "--allow-insecure-plugins",
        ],
    );
    assert_eq!(allowed.status.code(), Some(0));
    assert!(line_of(&allowed, &csv).ends_with(" loaded"));
}

#[cfg(unix)]
#[test]
fn a_group_writable_plugin_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir();
    let csv = install_as(dir.path(), &library("pylantir_csv"), "csv");
    std::fs::set_permissions(&csv, std::fs::Permissions::from_mode(0o664)).unwrap();
    let output = pylantir(dir.path(), &["plugins", "list"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(line_of(&output, &csv).contains(
        "refused: the file is writable by other users (mode 0664); run `chmod go-w` on it"
    ));
}

#[test]
fn two_plugins_with_the_same_type_are_both_shown_as_conflicts() {
    let dir = temp_dir();
    let first = install_as(dir.path(), &library("pylantir_csv"), "csv");
    let second = install_as(dir.path(), &library("pylantir_csv"), "csv_copy");
    let output = pylantir(dir.path(), &["plugins", "list"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(line_of(&output, &first).ends_with(&format!(
        "conflict: type also provided by {}",
        second.display()
    )));
    assert!(line_of(&output, &second).ends_with(&format!(
        "conflict: type also provided by {}",
        first.display()
    )));
    let info = pylantir(dir.path(), &["plugins", "info", "csv"]);
    assert_eq!(info.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&info.stderr).trim(),
        format!(
            "error: source type 'csv' is provided by several plugins: {} and {}; remove all but one",
            first.display(),
            second.display()
        )
    );
}

#[test]
fn plugin_dirs_come_from_the_flag_the_environment_and_the_binary_directory() {
    let home = temp_dir();
    let flag_dir = temp_dir();
    let env_dir = temp_dir();
    let csv = install_as(flag_dir.path(), &library("pylantir_csv"), "csv");
    let json = install_as(env_dir.path(), &library("pylantir_json"), "json");
    let minimal = install_as(home.path(), &library("pylantir_minimal"), "minimal");
    let output = Command::new(binary_in(home.path()))
        .args(["plugins", "list", "--plugin-dir"])
        .arg(flag_dir.path())
        .env("PYLANTIR_PLUGIN_PATH", env_dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    let position = |f: &Path| text.find(&*f.to_string_lossy()).unwrap();
    assert!(position(&csv) < position(&json));
    assert!(position(&json) < position(&minimal));
}

#[cfg(unix)]
#[test]
fn other_files_are_skipped_and_a_symlinked_plugin_is_listed_once_under_its_real_name() {
    let dir = temp_dir();
    let csv = install_as(dir.path(), &library("pylantir_csv"), "csv");
    // Sorts before the real name, and still must not be the one listed.
    let link = dir.path().join(plugin_file_name("a_link"));
    std::os::unix::fs::symlink(&csv, &link).unwrap();
    std::fs::write(dir.path().join("README.txt"), "plugins live here").unwrap();
    std::fs::copy(library("pylantir_json"), dir.path().join("libhelper.so")).unwrap();
    let output = pylantir(dir.path(), &["plugins", "list"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 2, "header and one plugin:\n{text}");
    assert!(line_of(&output, &csv).ends_with(" loaded"));
}

#[cfg(unix)]
#[test]
fn a_dangling_symlink_named_like_a_plugin_is_refused() {
    let dir = temp_dir();
    let link = dir.path().join(plugin_file_name("gone"));
    std::os::unix::fs::symlink(dir.path().join("removed.so"), &link).unwrap();
    let output = pylantir(dir.path(), &["plugins", "list"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(line_of(&output, &link)
        .ends_with("refused: cannot read it: No such file or directory (os error 2)"));
}
