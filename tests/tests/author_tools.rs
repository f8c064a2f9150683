//! `pylantir plugins new`, `plugins test` and `plugins install` through the
//! real binary, with the plugins the workspace builds.

use pylantir_tests::plugin_files::{install_as, plugin_file_name};
use pylantir_tests::{artifacts, library, temp_dir};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

fn pylantir(args: &[&str], cwd: &Path) -> Output {
    Command::new(&artifacts().bin)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("pylantir ran")
}

fn out(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn install(file: &Path, dir: &Path) -> Output {
    pylantir(
        &[
            "plugins",
            "install",
            &file.display().to_string(),
            "--plugin-dir",
            &dir.display().to_string(),
        ],
        dir,
    )
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("directory listed")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn install_copies_the_plugin_and_prints_what_plugins_list_will_show() {
    let dir = temp_dir();
    let output = install(&library("pylantir_csv"), dir.path());
    assert!(output.status.success(), "{}", out(&output));
    let installed = dir.path().join(plugin_file_name("csv"));
    let text = out(&output);
    assert!(
        text.contains(&format!("installed {}", installed.display())),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| !l.starts_with("installed") && l.contains(&installed.display().to_string()))
        .unwrap_or_else(|| panic!("no list row for the installed file:\n{text}"));
    assert!(row.starts_with("csv ") && row.ends_with("loaded"), "{row}");
    assert_eq!(file_names(dir.path()), [plugin_file_name("csv")]);
    let mode = std::fs::metadata(&installed).expect("installed").mode() & 0o777;
    assert_eq!(mode, 0o755);
}

#[test]
fn install_over_an_existing_plugin_renames_a_new_file_over_it_and_leaves_the_old_contents_alone() {
    let dir = temp_dir();
    let target = install_as(dir.path(), &library("pylantir_minimal"), "minimal");
    // A second name for the old file, as a running server's mapping would be.
    let old = dir.path().join("old-copy");
    std::fs::hard_link(&target, &old).expect("hard link");
    let old_bytes = std::fs::read(&old).expect("old file");
    let old_inode = std::fs::metadata(&target).expect("target").ino();

    let output = install(&library("pylantir_minimal"), dir.path());
    assert!(output.status.success(), "{}", out(&output));
    assert!(
        out(&output).contains("replacing the previous file"),
        "{}",
        out(&output)
    );
    assert_ne!(std::fs::metadata(&target).expect("target").ino(), old_inode);
    assert_eq!(std::fs::read(&old).expect("old file"), old_bytes);
}

#[test]
fn install_refuses_a_file_that_is_not_a_shared_library_and_leaves_the_directory_as_it_was() {
    let dir = temp_dir();
    let bogus_dir = temp_dir();
    let bogus = bogus_dir.path().join(plugin_file_name("notes"));
    std::fs::write(&bogus, "meeting notes, not a library\n").expect("file written");
    let output = install(&bogus, dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        out(&output).contains("refused: not a shared library (unknown file format)"),
        "{}",
        out(&output)
    );
    assert!(
        file_names(dir.path()).is_empty(),
        "{:?}",
        file_names(dir.path())
    );
}

#[test]
fn install_refuses_a_plugin_whose_source_type_another_plugin_provides() {
    let dir = temp_dir();
    let existing = install_as(dir.path(), &library("pylantir_minimal"), "minimal");
    let elsewhere = temp_dir();
    let same_type = install_as(elsewhere.path(), &library("pylantir_minimal"), "greeter2");
    let output = install(&same_type, dir.path());
    assert_eq!(output.status.code(), Some(1));
    let text = out(&output);
    assert!(
        text.contains(&format!(
            "source type `greeter` is already provided by {}",
            existing.display()
        )),
        "{text}"
    );
    assert_eq!(file_names(dir.path()), [plugin_file_name("minimal")]);
}

#[test]
fn install_refuses_a_file_name_the_server_would_skip() {
    let dir = temp_dir();
    let elsewhere = temp_dir();
    let renamed = elsewhere.path().join("csv.so");
    std::fs::copy(library("pylantir_csv"), &renamed).expect("copied");
    let output = install(&renamed, dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        out(&output).contains("pylantir only loads files named libpylantir_<name>.so"),
        "{}",
        out(&output)
    );
}

/// A CSV source config beside its CSV file, in a directory of its own.
fn csv_source(dir: &Path, rows: &str) {
    std::fs::write(
        dir.join("visits.csv"),
        format!("id,pid,name,date,modality\n{rows}"),
    )
    .expect("csv written");
    let source = serde_json::json!({
        "name": "visits",
        "type": "csv",
        "config": {"file_path": "visits.csv", "record_id_column": "id"},
        "field_mapping": {"pid": "patient_id", "name": "patient_name",
                          "date": "scheduled_start_date", "modality": "modality"}
    });
    std::fs::write(dir.join("source.json"), source.to_string()).expect("source written");
}

#[test]
fn plugins_test_by_type_lists_every_entry_the_store_would_reject_with_the_reason() {
    let site = temp_dir();
    csv_source(
        site.path(),
        "1,P1,DOE^JANE,2026-03-07,MR\n2,,ROE^RICHARD,2026-03-07,MR\n3,P3,POE^EDGAR,2026-02-30,MR\n4,P4,LOE^LISA,20260308,MAGNETICRESONANCE\n",
    );
    let plugins = temp_dir();
    install_as(plugins.path(), &library("pylantir_csv"), "csv");
    let elsewhere = temp_dir();
    let config = site.path().join("source.json").display().to_string();
    let output = pylantir(
        &[
            "plugins",
            "test",
            "csv",
            "--source-config",
            &config,
            "--interval",
            "90",
            "--plugin-dir",
            &plugins.path().display().to_string(),
        ],
        elsewhere.path(),
    );
    let text = out(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("fetched 4 entries (interval 90 s)"), "{text}");
    assert!(
        text.contains("DOE^JANE") && text.contains("2026-03-07"),
        "{text}"
    );
    assert!(text.contains("2 accepted, 2 rejected"), "{text}");
    for line in [
        "rejected: entry 2 (source_record_id \"2\"): no patient_id",
        "rejected: entry 3 (source_record_id \"3\"): scheduled_start_date \"2026-02-30\" is not a date",
        "warning: entry 4 (source_record_id \"4\"): modality \"MAGNETICRESONANCE\" is 17 characters long, more than the 16 its DICOM VR allows; truncated to \"MAGNETICRESONANC\"",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn plugins_test_reports_the_plugins_refusal_of_the_config_and_exits_1() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("source.json"), r#"{"config": {}}"#).expect("written");
    let output = pylantir(
        &[
            "plugins",
            "test",
            &library("pylantir_minimal").display().to_string(),
            "--source-config",
            "source.json",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        out(&output).contains(
            "data_sources[0].config: refused by the `greeter` plugin: config.patients must be a list of names"
        ),
        "{}",
        out(&output)
    );
}

#[test]
fn plugins_new_refuses_a_name_that_cannot_be_a_source_type_and_an_existing_directory() {
    let dir = temp_dir();
    let bad = pylantir(&["plugins", "new", "My Source"], dir.path());
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        out(&bad).contains("plugin name 'My Source' must be"),
        "{}",
        out(&bad)
    );

    std::fs::create_dir(dir.path().join("clinic")).expect("directory");
    let taken = pylantir(&["plugins", "new", "clinic"], dir.path());
    assert_eq!(taken.status.code(), Some(1));
    assert!(out(&taken).contains("already exists"), "{}", out(&taken));
}

#[test]
fn plugins_test_on_a_whole_configuration_uses_its_first_source_of_the_plugins_type() {
    let site = temp_dir();
    csv_source(site.path(), "1,P1,DOE^JANE,2026-03-07,MR\n");
    let csv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(site.path().join("source.json")).unwrap())
            .unwrap();
    let config = serde_json::json!({
        "db_path": "worklist.db",
        "data_sources": [
            {"name": "feed", "type": "json", "config": {"file_path": "feed.json"}},
            csv,
        ]
    });
    std::fs::write(site.path().join("pylantir.json"), config.to_string()).expect("written");
    let output = pylantir(
        &[
            "plugins",
            "test",
            &library("pylantir_csv").display().to_string(),
            "--source-config",
            "pylantir.json",
        ],
        site.path(),
    );
    let text = out(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("source `visits` (type `csv`"), "{text}");
    assert!(text.contains("1 accepted, 0 rejected"), "{text}");
}

#[test]
fn plugins_test_survives_a_plugin_that_crashes_during_fetch_and_names_the_signal() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("source.json"),
        r#"{"name": "bad", "config": {"mode": "segfault"}}"#,
    )
    .expect("written");
    let output = pylantir(
        &[
            "plugins",
            "test",
            &library("fixture_failing").display().to_string(),
            "--source-config",
            "source.json",
        ],
        dir.path(),
    );
    let text = out(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("configuration accepted"), "{text}");
    assert!(text.contains("error: fetch failed"), "{text}");
    assert!(text.contains("SIGSEGV"), "{text}");
}

#[test]
fn install_refuses_a_library_that_kills_the_process_loading_it() {
    let dir = temp_dir();
    let elsewhere = temp_dir();
    let dying = install_as(elsewhere.path(), &library("fixture_failing"), "failing");
    let output = Command::new(&artifacts().bin)
        .args(["plugins", "install"])
        .arg(&dying)
        .arg("--plugin-dir")
        .arg(dir.path())
        .env("FIXTURE_FAILING_ON_LOAD", "SIGBUS")
        .output()
        .expect("pylantir ran");
    let text = out(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("libpylantir_failing.so refused: worker died: SIGBUS while loading"),
        "{text}"
    );
    assert!(
        file_names(dir.path()).is_empty(),
        "{:?}",
        file_names(dir.path())
    );
}
