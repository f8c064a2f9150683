//! `pylantir query-db --write-back`: the MPPS write-back queue of each
//! source (`mpps_outcomes`): how many outcomes are pending, delivered,
//! failed (given up) and unsupported, then each pending and failed one with
//! its attempts, next attempt and last error. As text, or JSON with `--json`.

use crate::store::outcomes::{self, Listed, Summary};
use crate::store::{DbResult, Store, StoreError};
use serde_json::{json, Value};

/// Outcomes listed at most, over all sources.
const LISTED_AT_MOST: u64 = 500;

/// Prints the queue of every source, or of `source`; returns the exit code.
pub fn run(store: &Store, source: Option<&str>, as_json: bool) -> i32 {
    let found = store.get().and_then(|conn| {
        let read = || -> DbResult<_> {
            Ok((
                outcomes::summaries(&*conn, source)?,
                outcomes::undelivered(&*conn, source, LISTED_AT_MOST)?,
            ))
        };
        read().map_err(|e| StoreError::database(store.location(), e))
    });
    let (summaries, listed) = match found {
        Ok(found) => found,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    if as_json {
        let sources: Vec<Value> = summaries
            .iter()
            .map(|summary| summary_json(summary, &listed))
            .collect();
        return match serde_json::to_string_pretty(&sources) {
            Ok(text) => {
                println!("{text}");
                0
            }
            Err(error) => {
                eprintln!("cannot print the write-back queue as JSON: {error}");
                1
            }
        };
    }
    if summaries.is_empty() {
        println!("no MPPS outcome queued for write-back");
    }
    for summary in &summaries {
        print_summary(summary, &listed);
    }
    0
}

fn of<'a>(summary: &'a Summary, listed: &'a [Listed]) -> impl Iterator<Item = &'a Listed> {
    listed.iter().filter(move |o| o.source == summary.source)
}

fn summary_json(summary: &Summary, listed: &[Listed]) -> Value {
    let mut value = json!(summary);
    value["outcomes"] = of(summary, listed)
        .map(|o| {
            json!({
                "id": o.id,
                "state": o.state,
                "status": o.status,
                "source_record_id": o.source_record_id,
                "mpps_sop_instance_uid": o.sop_instance_uid,
                "attempts": o.attempts,
                "queued_at": o.queued_at,
                "next_attempt_at": o.next_attempt_at,
                "finished_at": o.finished_at,
                "last_error": o.last_error,
            })
        })
        .collect();
    value
}

fn print_summary(summary: &Summary, listed: &[Listed]) {
    let last = summary
        .last_delivered_at
        .as_deref()
        .map(|at| format!(" (last at {at})"))
        .unwrap_or_default();
    println!(
        "source `{}`: {} pending, {} delivered{last}, {} failed, {} unsupported",
        summary.source, summary.pending, summary.delivered, summary.failed, summary.unsupported
    );
    let mut shown = 0u64;
    for outcome in of(summary, listed) {
        shown += 1;
        let when = match (&outcome.next_attempt_at, &outcome.finished_at) {
            (Some(next), _) => format!("next attempt {next}"),
            (None, Some(finished)) => format!("given up {finished}"),
            (None, None) => String::new(),
        };
        println!(
            "  {} {} of record {} (MPPS {}), queued {}: {} attempt(s), {when}",
            outcome.state,
            outcome.status,
            outcome.source_record_id,
            outcome.sop_instance_uid,
            outcome.queued_at,
            outcome.attempts
        );
        if let Some(error) = &outcome.last_error {
            println!("    last error: {error}");
        }
    }
    let more = (summary.pending + summary.failed).saturating_sub(shown);
    if more > 0 {
        println!("  ... and {more} more pending or failed");
    }
}
