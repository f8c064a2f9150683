//! `pylantir query-db`: prints the worklist (a table, or JSON), safe to run
//! while the server writes to the database.

use super::table;
use crate::config;
use crate::isolation::journal;
use crate::store::{self, query};
use crate::sync::normalise;
use clap::Args;
use serde_json::{Map, Value};
use std::path::PathBuf;

/// Options of `query-db`.
#[derive(Debug, Clone, Args)]
pub struct QueryDbArgs {
    /// The configuration file (JSON) naming the database (`db_path`).
    #[arg(
        long = "pylantir_config",
        visible_alias = "config",
        value_name = "FILE"
    )]
    pub config: PathBuf,
    /// Only items with this status (SCHEDULED, IN_PROGRESS, COMPLETED, DISCONTINUED).
    #[arg(long, value_name = "S")]
    pub status: Option<String>,
    /// Only items of this data source (its configured name).
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// Only items scheduled on this day (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Prints the matching items; returns the exit code.
pub fn run(args: &QueryDbArgs) -> i32 {
    let date = match args.date.as_deref().map(normalise::date) {
        None => None,
        Some(Some(date)) => Some(date.replace('-', "")),
        Some(None) => {
            eprintln!("--date must be a date as YYYY-MM-DD");
            return 2;
        }
    };
    let filter = query::ItemFilter {
        status: args.status.as_ref().map(|s| s.to_ascii_uppercase()),
        source: args.source.clone(),
        date,
    };
    let db_path = match config::read(&args.config) {
        Ok(document) => document.db_path(),
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    let items = store::open_existing(&db_path).and_then(|conn| {
        let disabled = journal::disabled_sources(&conn).unwrap_or_default();
        query::list_items(&conn, &filter)
            .map(|items| (items, disabled))
            .map_err(|e| store::StoreError::sqlite(&db_path, e))
    });
    let (items, disabled) = match items {
        Ok(found) => found,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    for (source, error) in &disabled {
        eprintln!("warning: data source `{source}`: {error}");
    }
    if args.json {
        let list = Value::Array(items.into_iter().map(Value::Object).collect());
        match serde_json::to_string_pretty(&list) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("cannot print the items as JSON: {error}");
                return 1;
            }
        }
        return 0;
    }
    print!(
        "{}",
        table::render(HEADERS, &items.iter().map(row).collect::<Vec<_>>())
    );
    eprintln!("{} item(s)", items.len());
    0
}

const HEADERS: &[&str] = &[
    "ID",
    "PATIENT ID",
    "PATIENT NAME",
    "DATE",
    "TIME",
    "MODALITY",
    "STATION AE",
    "STATUS",
    "SOURCE",
    "RECORD ID",
];

const ROW_COLUMNS: &[&str] = &[
    "id",
    "patient_id",
    "patient_name",
    "scheduled_start_date",
    "scheduled_start_time",
    "modality",
    "scheduled_station_aetitle",
    "performed_procedure_step_status",
    "data_source",
    "source_record_id",
];

fn row(item: &Map<String, Value>) -> Vec<String> {
    ROW_COLUMNS
        .iter()
        .map(|column| match item.get(*column) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        })
        .collect()
}
