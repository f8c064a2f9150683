//! The REDCap source: metadata, then records, merged into visits, turned
//! into entries. One fetch either returns every entry or fails as a whole.

use crate::api::Api;
use crate::config::Config;
use crate::entries::{to_entry, write_json, Pairs, Plan};
use crate::merge::{Merger, Visit};
use pylantir_plugin_api::serde_json::Value;
use pylantir_plugin_api::{
    log, CallError, CompleteWindow, Entry, EntrySink, Fetch, FetchEnd, FieldMapping, Skipped,
    Source, SourceContext,
};
use std::collections::HashMap;
use std::time::Instant;

/// A REDCap source instance.
pub struct Redcap {
    name: String,
    state: Option<(Config, Api)>,
    /// When the last full export started (`config.full_export_every_hours`).
    last_full_export: Option<Instant>,
    /// The missing fields last warned about, so the warning is not repeated each cycle.
    warned_missing: Vec<String>,
}

impl Redcap {
    /// A source not yet configured.
    pub fn new(ctx: &SourceContext) -> Redcap {
        Redcap {
            name: ctx.source_name.clone(),
            state: None,
            last_full_export: None,
            warned_missing: Vec::new(),
        }
    }
}

/// `now - interval` and `now` in local time as REDCap expects them, or
/// `None` (export everything) when the interval is not a positive span.
pub fn date_range(interval_seconds: f64) -> Option<(String, String)> {
    if !(interval_seconds.is_finite() && interval_seconds > 0.0) {
        return None;
    }
    let now = jiff::ZonedDateTime::now();
    let span = jiff::SignedDuration::try_from_secs_f64(interval_seconds).ok()?;
    let begin = now.checked_sub(span).ok()?;
    let format = "%Y-%m-%d %H:%M:%S";
    Some((
        begin.strftime(format).to_string(),
        now.strftime(format).to_string(),
    ))
}

impl Redcap {
    /// Whether this fetch exports every record: the first of this source
    /// and then every `full_export_every_hours`, when that is set.
    fn full_export_due(&self) -> bool {
        let every = self.state.as_ref().and_then(|(c, _)| c.full_export_every);
        match (every, self.last_full_export) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(every), Some(last)) => last.elapsed() >= every,
        }
    }

    /// One fetch: metadata, then the export merged and turned into entries
    /// row by row while it arrives; hands each entry's pairs to `each` and
    /// returns the visits that gave no entry.
    fn fetch_each(
        &mut self,
        mapping: &FieldMapping,
        interval_seconds: f64,
        mut each: impl FnMut(Pairs<'_>) -> Result<(), String>,
    ) -> Result<Vec<Skipped>, String> {
        let (config, api) = self
            .state
            .as_ref()
            .ok_or("the REDCap source has no configuration yet (validate_config was not called)")?;
        let plan = Plan::new(mapping, config)?;
        let metadata = api.metadata()?;
        let export = plan.export(&metadata)?;
        if !export.missing.is_empty() && export.missing != self.warned_missing {
            log::warn!(
                "REDCap source '{}': the project has no field(s) {}; they are not exported",
                self.name,
                export.missing.join(", ")
            );
        }
        self.warned_missing = export.missing;
        let range = date_range(interval_seconds);
        match &range {
            Some((begin, end)) => log::debug!(
                "REDCap source '{}': exporting {} fields of records modified {begin} .. {end}",
                self.name,
                export.request.len()
            ),
            None => log::debug!(
                "REDCap source '{}': exporting {} fields of all records",
                self.name,
                export.request.len()
            ),
        }
        let mut merger = Merger::new(export.columns, &export.record_field, &config.instrument);
        let columns = merger.columns().to_vec();
        let fields = merger.fields().to_vec();
        let index: HashMap<&str, usize> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.as_str(), i))
            .collect();
        let (mut visits, mut count) = (0, 0);
        let mut skipped = Vec::new();
        let mut on_visit = |visit: Visit| -> Result<(), String> {
            visits += 1;
            match plan.entry(&visit, &index, config) {
                Ok(pairs) => {
                    count += 1;
                    each(pairs)
                }
                Err(why) => {
                    log::warn!(
                        "REDCap source '{}': record {} instance {} skipped: {why}",
                        self.name,
                        visit.record_id,
                        visit.repeat_instance
                    );
                    skipped.push(Skipped {
                        record_id: Some(format!("{}:{}", visit.record_id, visit.repeat_instance)),
                        reason: why,
                    });
                    Ok(())
                }
            }
        };
        let rows = api.records(&export.request, range, &columns, &mut |row| {
            merger.push(row, &mut on_visit)
        })?;
        merger.finish(&mut on_visit)?;
        log::info!(
            "REDCap source '{}': {rows} rows, {visits} visits, {count} entries",
            self.name,
        );
        Ok(skipped)
    }
}

impl Redcap {
    /// One fetch, full or incremental: a full export (see
    /// `full_export_every_hours`) is complete for the whole project, so
    /// visits gone from it are retracted by the host; an incremental one
    /// says nothing, as absence proves nothing there.
    fn export(
        &mut self,
        mapping: &FieldMapping,
        interval_seconds: f64,
        each: impl FnMut(Pairs<'_>) -> Result<(), String>,
    ) -> Result<FetchEnd, String> {
        let full = self.full_export_due();
        let started = Instant::now();
        // An interval of zero exports every record.
        let interval = if full { 0.0 } else { interval_seconds };
        let skipped = self.fetch_each(mapping, interval, each)?;
        if full {
            self.last_full_export = Some(started);
            log::info!("REDCap source '{}': full export of every record", self.name);
        }
        Ok(FetchEnd {
            complete_window: full.then(CompleteWindow::everything),
            skipped,
        })
    }
}

impl Source for Redcap {
    fn validate_config(&mut self, config: &Value) -> Result<(), String> {
        let config = Config::from_json(config)?;
        let api = Api::new(&config)?;
        log::info!(
            "REDCap source '{}': project at {}, token from {}, site '{}'",
            self.name,
            config.api_url,
            config.token_env,
            config.site
        );
        self.state = Some((config, api));
        self.last_full_export = None;
        Ok(())
    }

    fn fetch_entries(
        &mut self,
        mapping: &FieldMapping,
        interval_seconds: f64,
    ) -> Result<Vec<Entry>, String> {
        let mut entries = Vec::new();
        self.fetch_each(mapping, interval_seconds, |pairs| {
            entries.push(to_entry(pairs));
            Ok(())
        })?;
        Ok(entries)
    }

    /// Writes the entries straight into the JSON that crosses the boundary.
    fn fetch(&mut self, mapping: &FieldMapping, interval_seconds: f64) -> Result<Fetch, String> {
        let mut json = vec![b'['];
        let end = self.export(mapping, interval_seconds, |pairs| {
            if json.len() > 1 {
                json.push(b',');
            }
            write_json(&pairs, &mut json)
        })?;
        json.push(b']');
        Ok(Fetch {
            entries_json: String::from_utf8(json)
                .map_err(|e| format!("entries are not UTF-8: {e}"))?,
            complete_window: end.complete_window,
            skipped: end.skipped,
        })
    }

    /// [`Source::fetch`], each entry handed to the host as it is merged.
    fn fetch_streamed(
        &mut self,
        mapping: &FieldMapping,
        interval_seconds: f64,
        sink: &mut EntrySink,
    ) -> Result<FetchEnd, String> {
        let mut json = Vec::with_capacity(512);
        self.export(mapping, interval_seconds, |pairs| {
            json.clear();
            write_json(&pairs, &mut json)?;
            let text =
                std::str::from_utf8(&json).map_err(|e| format!("an entry is not UTF-8: {e}"))?;
            sink.push_json(text)
        })
    }

    fn supports_incremental_sync(&self) -> bool {
        true
    }

    /// `mpps_outcome`: the outcome imported into the visit's record
    /// ([`crate::write_back`]).
    fn call(&mut self, op: &str, payload: &Value) -> Result<Value, CallError> {
        if op != "mpps_outcome" {
            return Err(CallError::Unsupported(op.to_string()));
        }
        let (config, api) = self
            .state
            .as_ref()
            .ok_or("the REDCap source has no configuration yet (validate_config was not called)")?;
        let answer =
            crate::write_back::write(config.write_back.as_ref(), api, &config.instrument, payload)?;
        let written = if answer["written"] == true {
            "written back"
        } else {
            "not written back: no field is configured for it"
        };
        log::info!(
            "REDCap source '{}': MPPS outcome {} of record {} {written}",
            self.name,
            payload["status"].as_str().unwrap_or("?"),
            payload["source_record_id"].as_str().unwrap_or("?")
        );
        Ok(answer)
    }

    fn cleanup(&mut self) {
        self.state = None;
    }
}
