//! `pylantir housekeeping`: one retention pass now, or with `--dry-run` only
//! what it would remove.

use crate::config::{self, lifecycle};
use crate::store;
use clap::Args;
use std::path::PathBuf;

/// Options of `housekeeping`.
#[derive(Debug, Clone, Args)]
pub struct HousekeepingArgs {
    /// The configuration file (JSON) with `db_path` and `retention`.
    #[arg(
        long = "pylantir_config",
        visible_alias = "config",
        value_name = "FILE"
    )]
    pub config: PathBuf,
    /// Count what would be removed; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs the pass; returns the exit code.
pub fn run(args: &HousekeepingArgs) -> i32 {
    let document = match config::read(&args.config) {
        Ok(document) => document,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    let problems = lifecycle::problems(&document.raw);
    if !problems.is_empty() {
        for problem in problems {
            eprintln!("{}: {problem}", args.config.display());
        }
        return 1;
    }
    let Some(retention) = lifecycle::retention(&document.raw).filter(|r| r.deletes_anything())
    else {
        println!("no retention configured: nothing is ever deleted");
        return 0;
    };
    #[cfg(target_os = "linux")]
    if !args.dry_run {
        crate::housekeeping::lower_priority();
    }
    let result = document.database().and_then(|location| {
        let store = store::Store::open_existing(location).map_err(|e| e.to_string())?;
        let conn = store.get().map_err(|e| e.to_string())?;
        store::housekeeping::run(&*conn, &retention, args.dry_run, jiff::Timestamp::now())
            .map_err(|e| format!("worklist database {}: {e}", store.location()))
    });
    match result {
        Ok(removed) if args.dry_run => {
            println!("would remove {removed} (dry run: nothing deleted)");
            0
        }
        Ok(removed) => {
            println!("removed {removed}");
            0
        }
        Err(error) => {
            eprintln!("{error}");
            1
        }
    }
}
