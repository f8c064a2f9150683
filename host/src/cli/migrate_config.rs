//! `pylantir migrate-config IN [-o OUT]`: rewrites a legacy (`redcap2wl`)
//! configuration in the `data_sources` format, every other key kept.

use crate::config::{self, legacy};
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;

/// Options of `migrate-config`.
#[derive(Debug, Clone, Args)]
pub struct MigrateConfigArgs {
    /// The legacy configuration file.
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Where to write the converted file (default: standard output).
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Overwrite OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs the conversion; returns the exit code.
pub fn run(args: &MigrateConfigArgs) -> i32 {
    let raw = match config::read_json(&args.input) {
        Ok(raw) => raw,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    if raw.contains_key("data_sources") {
        eprintln!(
            "{} already uses the `data_sources` format; nothing to convert",
            args.input.display()
        );
        return 0;
    }
    if !raw.contains_key("redcap2wl") {
        eprintln!(
            "{} is not a legacy configuration (no `redcap2wl` mapping); nothing to convert",
            args.input.display()
        );
        return 1;
    }
    let converted = Value::Object(legacy::convert(&raw));
    let text = match serde_json::to_string_pretty(&converted) {
        Ok(text) => text + "\n",
        Err(error) => {
            eprintln!("cannot write the converted configuration: {error}");
            return 1;
        }
    };
    let Some(output) = &args.output else {
        print!("{text}");
        return 0;
    };
    if output.exists() && !args.force {
        eprintln!(
            "{} exists; not overwritten (add --force to replace it)",
            output.display()
        );
        return 1;
    }
    if let Err(error) = std::fs::write(output, text) {
        eprintln!("cannot write {}: {error}", output.display());
        return 1;
    }
    eprintln!(
        "wrote {} in the data_sources format (one source `{}`)",
        output.display(),
        legacy::LEGACY_SOURCE_NAME
    );
    0
}
