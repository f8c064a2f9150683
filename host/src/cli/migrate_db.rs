//! `pylantir migrate-db`: copies a SQLite worklist (Python pylantir's or
//! ours) into the PostgreSQL database the configuration's `db_url` names,
//! then checks that every table has as many rows on both sides.

use crate::config;
use crate::store::{copy, Location, Store};
use clap::Args;
use std::path::PathBuf;

/// Options of `migrate-db`.
#[derive(Debug, Clone, Args)]
pub struct MigrateDbArgs {
    /// The SQLite worklist to copy (brought to the current schema first,
    /// additively, as `start` does).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The configuration file whose `db_url` (and password key) names the
    /// PostgreSQL database to fill; it must hold no worklist items yet.
    #[arg(
        long = "pylantir_config",
        visible_alias = "config",
        value_name = "FILE"
    )]
    pub config: PathBuf,
}

/// Runs the copy; returns the exit code.
pub fn run(args: &MigrateDbArgs) -> i32 {
    match copy_all(args) {
        Ok(message) => {
            println!("{message}");
            0
        }
        Err(message) => {
            eprintln!("{message}");
            1
        }
    }
}

fn copy_all(args: &MigrateDbArgs) -> Result<String, String> {
    let target = match config::read(&args.config)
        .map_err(|e| e.to_string())?
        .database()?
    {
        Location::Postgres(target) => target,
        Location::Sqlite(_) => {
            return Err(format!(
                "{}: no db_url: migrate-db copies into the PostgreSQL database db_url names",
                args.config.display()
            ))
        }
    };
    let sqlite =
        Store::open_existing(Location::Sqlite(args.from.clone())).map_err(|e| e.to_string())?;
    let postgres = Store::open(Location::Postgres(target)).map_err(|e| e.to_string())?;
    let from = sqlite.get().map_err(|e| e.to_string())?;
    let to = postgres.get().map_err(|e| e.to_string())?;
    let copied = copy::sqlite_to_postgres(&from, &to)
        .map_err(|e| format!("migrate-db into {}: {e}", postgres.location()))?;
    Ok(format!(
        "copied {} into {}; row counts verified",
        copied,
        postgres.location()
    ))
}
