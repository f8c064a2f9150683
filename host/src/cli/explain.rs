//! `pylantir explain`: which worklist items a C-FIND would return, and why
//! chosen items would not: the same answer as `POST /explain`, as JSON.

use super::api_config::ApiConfigArgs;
use crate::dicom::ServerOptions;
use crate::http::explain::{self, Question};
use clap::Args;

/// Options of `explain`.
#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// The C-FIND identifier: DICOM JSON or `{"Keyword": "value", ...}`;
    /// `@FILE` reads it from a file.
    #[arg(long, value_name = "JSON")]
    pub identifier: String,
    /// The calling AE title of the scanner.
    #[arg(long = "calling-aet", visible_alias = "callingAEtitle", default_value = explain::DEFAULT_CALLING_AET)]
    pub calling_aet: String,
    /// An item to explain (repeatable).
    #[arg(long = "item", value_name = "ID")]
    pub items: Vec<i64>,
    /// Explain every item of this patient.
    #[arg(long = "patient-id", value_name = "ID")]
    pub patient_id: Option<String>,
    #[command(flatten)]
    pub config: ApiConfigArgs,
}

/// Prints the explanation; returns the exit code.
pub fn run(args: &ExplainArgs) -> i32 {
    match answer(args) {
        Ok(text) => {
            println!("{text}");
            0
        }
        Err(message) => {
            eprintln!("{message}");
            1
        }
    }
}

fn answer(args: &ExplainArgs) -> Result<String, String> {
    let text = match args.identifier.strip_prefix('@') {
        Some(file) => {
            std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?
        }
        None => args.identifier.clone(),
    };
    let identifier =
        serde_json::from_str(&text).map_err(|e| format!("--identifier is not valid JSON: {e}"))?;
    let database = args.config.database()?;
    let options = args
        .config
        .dicom_options()
        .unwrap_or_else(|| ServerOptions::new("MWL_SERVER", "0.0.0.0", 4242));
    let store = crate::store::Store::open_existing(database).map_err(|e| e.to_string())?;
    let conn = store.get().map_err(|e| e.to_string())?;
    let question = Question {
        identifier,
        calling_aet: args.calling_aet.clone(),
        item_ids: args.items.clone(),
        patient_id: args.patient_id.clone(),
    };
    let answer = explain::explain(&*conn, &options, &question)?;
    serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())
}
