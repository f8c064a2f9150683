//! The documentation holds: every configuration example in docs/ and the
//! README passes `check-config` (and the DICOM settings check of `start`),
//! every `pylantir` command line shown parses, the backup commands and the
//! `sync_runs` queries of docs/operations.md work on a database a running
//! server is writing, and the README still opens with its two commands.

use pylantir::dicom::ServerOptions;
use pylantir_tests::server::ServerProcess;
use pylantir_tests::{artifacts, install_plugins, temp_dir, workspace_root};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The markdown files whose examples are checked.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![workspace_root().join("README.md")];
    let docs = workspace_root().join("docs");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&docs)
        .expect("docs/ listed")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

/// The fenced code blocks of `language` in a markdown text, with their text.
fn blocks(markdown: &str, language: &str) -> Vec<String> {
    let mut found = Vec::new();
    // None: outside a block; Some(None): in a block of another language.
    let mut current: Option<Option<String>> = None;
    for line in markdown.lines() {
        let fence = line.trim_start().starts_with("```");
        match (&mut current, fence) {
            (None, true) => {
                let info = line.trim_start().trim_start_matches('`').trim();
                current = Some((info == language).then(String::new));
            }
            (Some(block), true) => {
                found.extend(block.take());
                current = None;
            }
            (Some(Some(text)), false) => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    found
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pylantir(args: &[&str], cwd: &Path) -> Output {
    Command::new(&artifacts().bin)
        .args(args)
        .current_dir(cwd)
        .env("REDCAP_API_URL", "https://redcap.example.org/api/")
        .env("REDCAP_API_TOKEN", "0123456789ABCDEF")
        .env("CALPENDO_USERNAME", "reader")
        .env("CALPENDO_PASSWORD", "secret")
        .output()
        .expect("pylantir ran")
}

fn all_output(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every JSON block of the docs that is a whole configuration.
fn configurations() -> Vec<(PathBuf, Value)> {
    let mut found = Vec::new();
    for doc in documents() {
        for block in blocks(&read(&doc), "json") {
            let value: Value = serde_json::from_str(&block).unwrap_or_else(|e| {
                panic!("{}: a JSON block is not JSON: {e}\n{block}", doc.display())
            });
            if value.get("data_sources").is_some() || value.get("redcap2wl").is_some() {
                found.push((doc.clone(), value));
            }
        }
    }
    found
}

#[test]
fn every_configuration_example_in_the_docs_passes_check_config_and_the_dicom_settings_check() {
    let configs = configurations();
    assert!(
        configs.len() >= 8,
        "only {} configuration examples found",
        configs.len()
    );
    let mut failures = Vec::new();
    for (doc, config) in &configs {
        let dir = temp_dir();
        let path = dir.path().join("pylantir.json");
        std::fs::write(&path, config.to_string()).expect("config written");
        let output = pylantir(
            &[
                "check-config",
                "--pylantir_config",
                &path.display().to_string(),
            ],
            dir.path(),
        );
        if !output.status.success() {
            failures.push(format!(
                "{}:\n{config:#}\n{}",
                doc.display(),
                all_output(&output)
            ));
        }
        if let Err(problems) = ServerOptions::from_config(config, "MWL_SERVER", "127.0.0.1", 0) {
            failures.push(format!(
                "{}: DICOM settings: {problems:?}\n{config:#}",
                doc.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_legacy_example_migrates_to_a_configuration_that_passes_check_config() {
    let legacy: Vec<Value> = configurations()
        .into_iter()
        .map(|(_, config)| config)
        .filter(|config| config.get("redcap2wl").is_some())
        .collect();
    assert!(!legacy.is_empty(), "no legacy example in the docs");
    for config in legacy {
        let dir = temp_dir();
        std::fs::write(dir.path().join("legacy.json"), config.to_string()).expect("written");
        let migrated = pylantir(
            &["migrate-config", "legacy.json", "-o", "pylantir.json"],
            dir.path(),
        );
        assert!(migrated.status.success(), "{}", all_output(&migrated));
        let checked = pylantir(
            &["check-config", "--pylantir_config", "pylantir.json"],
            dir.path(),
        );
        assert!(checked.status.success(), "{}", all_output(&checked));
        assert!(
            all_output(&checked).contains("redcap_legacy"),
            "{}",
            all_output(&checked)
        );
    }
}

#[test]
fn the_source_config_in_the_plugin_guide_is_the_one_plugins_new_writes() {
    let guide = read(&workspace_root().join("docs/plugin-development.md"));
    let example: Value = serde_json::from_str(&read(
        &workspace_root().join("examples/minimal-plugin/source.json"),
    ))
    .expect("example source.json");
    let shown: Vec<Value> = blocks(&guide, "json")
        .iter()
        .map(|b| serde_json::from_str(b).expect("JSON"))
        .filter(|v: &Value| v.get("type").is_some())
        .collect();
    assert_eq!(shown, vec![example]);
}

/// `pylantir` command lines (`$ pylantir ...`, `$ sudo /opt/pylantir/pylantir ...`)
/// in the console blocks, as argument lists without the program.
fn documented_commands() -> Vec<(PathBuf, Vec<String>)> {
    let mut found = Vec::new();
    for doc in documents() {
        for block in blocks(&read(&doc), "console") {
            for line in block.lines().filter_map(|l| l.strip_prefix("$ ")) {
                let line = line.split(" #").next().unwrap_or(line);
                let mut words = line.split_whitespace().skip_while(|w| *w == "sudo");
                let Some(program) = words.next() else {
                    continue;
                };
                if program == "pylantir" || program.ends_with("/pylantir") {
                    found.push((doc.clone(), words.map(str::to_string).collect()));
                }
            }
        }
    }
    let unit = read(&workspace_root().join("packaging/pylantir.service"));
    for line in unit.lines().filter_map(|l| l.strip_prefix("ExecStart=")) {
        let args = line
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect();
        found.push((workspace_root().join("packaging/pylantir.service"), args));
    }
    found
}

#[test]
fn every_pylantir_command_line_in_the_docs_and_the_service_unit_names_real_commands_and_options() {
    let commands = documented_commands();
    assert!(
        commands.len() >= 25,
        "only {} command lines found",
        commands.len()
    );
    let dir = temp_dir();
    let mut failures = Vec::new();
    for (doc, args) in &commands {
        let mut with_help: Vec<&str> = args.iter().map(String::as_str).collect();
        with_help.push("--help");
        let output = pylantir(&with_help, dir.path());
        if !output.status.success() {
            failures.push(format!(
                "{}: pylantir {}\n{}",
                doc.display(),
                args.join(" "),
                all_output(&output)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_backup_commands_and_sync_runs_queries_of_the_operations_guide_work_while_the_server_runs() {
    let site = temp_dir();
    std::fs::write(
        site.path().join("visits.csv"),
        "id,pid,name,date\n1,P001,DOE^JANE,2026-11-25\n2,P002,ROE^RICHARD,2026-11-26\n",
    )
    .expect("csv written");
    let config = site.path().join("pylantir.json");
    let source = serde_json::json!({
        "db_path": "worklist.db",
        "data_sources": [{
            "name": "visits", "type": "csv", "sync_interval": 1,
            "config": {"file_path": "visits.csv", "record_id_column": "id"},
            "field_mapping": {"pid": "patient_id", "name": "patient_name", "date": "scheduled_start_date"}
        }]
    });
    std::fs::write(&config, source.to_string()).expect("config written");
    std::fs::create_dir(site.path().join("plugins")).expect("plugin dir");
    install_plugins(&site.path().join("plugins"), &["pylantir_csv"]);
    let server = ServerProcess::start(&config, &site.path().join("plugins"), &[]);
    assert!(
        server.wait_for_log(Duration::from_secs(20), |log| log
            .contains("[csv:visits] fetched 2")),
        "{}",
        server.log()
    );

    let operations = read(&workspace_root().join("docs/operations.md"));
    let backups = site.path().join("backups");
    std::fs::create_dir(&backups).expect("backup dir");
    let db = site.path().join("worklist.db");
    let commands: Vec<String> = blocks(&operations, "console")
        .iter()
        .flat_map(|b| b.lines().map(str::to_string).collect::<Vec<_>>())
        .filter_map(|l| l.strip_prefix("$ sqlite3 ").map(str::to_string))
        .collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    let mut copies = Vec::new();
    for command in &commands {
        let (db_arg, statement) = command.split_once(' ').expect("a database and a statement");
        assert_eq!(db_arg, "/var/lib/pylantir/worklist.db");
        let statement = statement
            .trim_matches('"')
            .replace("/var/backups/pylantir/", &format!("{}/", backups.display()));
        let copy = statement
            .split('\'')
            .nth(1)
            .expect("a quoted file name")
            .to_string();
        let ran = Command::new("sqlite3").arg(&db).arg(&statement).output();
        match ran {
            Ok(output) => assert!(
                output.status.success(),
                "sqlite3 {statement}: {}",
                all_output(&output)
            ),
            // Without the sqlite3 shell, the SQL statement runs through the library.
            Err(_) if statement.starts_with("VACUUM") => {
                let conn = rusqlite::Connection::open(&db).expect("database opened");
                conn.execute_batch(&statement).expect("VACUUM INTO ran");
            }
            Err(e) => {
                eprintln!("sqlite3 is not installed ({e}); `{statement}` not run");
                continue;
            }
        }
        copies.push(PathBuf::from(copy));
    }
    assert!(!copies.is_empty());

    let queries = blocks(&operations, "sql");
    assert_eq!(queries.len(), 3);
    for copy in &copies {
        let conn = rusqlite::Connection::open(copy).expect("backup opens");
        let items: i64 = conn
            .query_row("SELECT count(*) FROM worklist_items", [], |r| r.get(0))
            .expect("items counted");
        assert_eq!(items, 2, "{}", copy.display());
        let last_runs: Vec<String> = {
            let mut stmt = conn.prepare(&queries[0]).expect("query 1 prepares");
            stmt.query_map([], |r| r.get(0))
                .expect("query 1 runs")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        assert_eq!(last_runs, ["visits"]);
        for query in &queries[1..] {
            let mut stmt = conn.prepare(query).expect("query prepares");
            let rows = stmt.query_map([], |_| Ok(())).expect("query runs").count();
            assert_eq!(rows, 0, "a healthy source is not reported by:\n{query}");
        }
    }
}

#[test]
fn the_readme_opens_with_its_build_and_test_commands_and_the_default_config_is_valid() {
    let readme = read(&workspace_root().join("README.md"));
    assert_eq!(
        blocks(&readme, "sh").first().map(String::as_str),
        Some(
            "cargo build --release --workspace && ./target/release/pylantir start   # serve the shipped default config\n\
             cargo test --workspace                                                  # run every test\n"
        )
    );
    let output = pylantir(
        &["check-config", "--pylantir_config", "config/pylantir.json"],
        &workspace_root(),
    );
    assert!(output.status.success(), "{}", all_output(&output));
}
