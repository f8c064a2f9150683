//! `pylantir query-db`: prints the worklist (a table, or JSON), safe to run
//! while the server writes to the database.

use super::table;
use crate::config;
use crate::isolation::journal::DISABLED_MARK;
use crate::store::{query, runs, DbResult, Store, StoreError};
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
    /// Instead of the items: the last sync run of each source (or of
    /// --source) with the records it rejected or its plugin skipped.
    #[arg(long, conflicts_with = "write_back")]
    pub last_run: bool,
    /// Instead of the items: the MPPS write-back queue of each source (or
    /// of --source): outcomes pending, delivered, failed and unsupported,
    /// and each pending or failed one with its attempts, next attempt and
    /// last error.
    #[arg(long)]
    pub write_back: bool,
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
    let store = match config::read(&args.config)
        .map_err(|e| e.to_string())
        .and_then(|document| document.database())
        .and_then(|location| Store::open_existing(location).map_err(|e| e.to_string()))
    {
        Ok(store) => store,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    if args.last_run {
        return last_run(&store, args.source.as_deref());
    }
    if args.write_back {
        return super::query_db_write_back::run(&store, args.source.as_deref(), args.json);
    }
    let items = store.get().and_then(|conn| {
        let disabled = runs::last_errors_containing(&*conn, DISABLED_MARK).unwrap_or_default();
        query::list_items(&*conn, &filter)
            .map(|items| (items, disabled))
            .map_err(|e| StoreError::database(store.location(), e))
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

/// Prints the last run of each source with its rejected and skipped records.
fn last_run(store: &Store, source: Option<&str>) -> i32 {
    let found = store.get().and_then(|conn| {
        runs::last(&*conn, source)
            .and_then(|list| {
                list.into_iter()
                    .map(|run| runs::records(&*conn, run.id).map(|records| (run, records)))
                    .collect::<DbResult<Vec<_>>>()
            })
            .map_err(|e| StoreError::database(store.location(), e))
    });
    let found = match found {
        Ok(found) => found,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    if found.is_empty() {
        println!("no finished sync run recorded");
    }
    for (run, records) in found {
        let c = &run.counts;
        println!(
            "source `{}`, run {} at {}: fetched {}, {} new, {} updated, {} unchanged, \
             {} conflicts, {} rejected, {} skipped, {} retracted, {} restored",
            run.source,
            run.id,
            run.started_at,
            c.fetched,
            c.inserted,
            c.updated,
            c.unchanged,
            c.conflicts,
            c.rejected,
            c.skipped,
            c.retracted,
            c.restored
        );
        for line in [run.error.map(|e| format!("error: {e}")), c.note.clone()]
            .into_iter()
            .flatten()
        {
            println!("  {line}");
        }
        for record in records {
            println!(
                "  {} {}: {}",
                record.kind.name(),
                record.record_id.as_deref().unwrap_or("-"),
                record.reason
            );
        }
    }
    0
}

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
