//! The Calpendo source: the window query, the booking details, and one
//! worklist entry per booking (the booking id is its `source_record_id`).

use crate::api::Api;
use crate::config::{Config, WindowMode};
use crate::mapping::{self, Mapping};
use crate::time::{booking_times, window};
use pylantir_plugin_api::entry::{SOURCE_RECORD_ID, STATUS};
use pylantir_plugin_api::serde_json::{self, Value};
use pylantir_plugin_api::{
    log, CallError, CompleteWindow, Entry, Fetch, FieldMapping, Skipped, Source, SourceContext,
};

/// A Calpendo source instance.
pub struct Calpendo {
    name: String,
    state: Option<(Config, Api)>,
}

impl Calpendo {
    /// A source not yet configured.
    pub fn new(ctx: &SourceContext) -> Calpendo {
        Calpendo {
            name: ctx.source_name.clone(),
            state: None,
        }
    }
}

/// The bookings of one window query.
struct Found {
    entries: Vec<Entry>,
    /// The bookings that gave no entry, with why.
    skipped: Vec<Skipped>,
    /// The booking starts the query covered.
    window: CompleteWindow,
}

impl Calpendo {
    /// Queries the booking window for `interval_seconds` and turns each
    /// booking into an entry.
    fn bookings(
        &self,
        field_mapping: &FieldMapping,
        interval_seconds: f64,
    ) -> Result<Found, String> {
        let (config, api) = self.state.as_ref().ok_or(
            "the Calpendo source has no configuration yet (validate_config was not called)",
        )?;
        let own;
        let mapping = if field_mapping.is_empty() {
            &config.field_mapping
        } else {
            own = Mapping::parse(field_mapping, "field_mapping")?;
            &own
        };
        let now = jiff::ZonedDateTime::now().with_time_zone(config.timezone.clone());
        let (start, end) = window(
            &now,
            config.window,
            interval_seconds,
            config.lookback_multiplier,
        )?;
        let filter = config.status_filter.as_deref();
        log::debug!(
            "Calpendo source '{}': bookings from {start} to {end}",
            self.name
        );
        let mut ids = api.booking_ids(&Api::query_path(config, &start, &end, filter))?;
        // A status filter ("Approved") hides the bookings cancelled since the
        // last sync: they are asked for too, to become DISCONTINUED.
        if filter.is_some_and(|f| !CANCELLED.contains(&f)) {
            let cancelled = Api::query_path(config, &start, &end, Some(CANCELLED[0]));
            let known: std::collections::HashSet<String> = ids.iter().cloned().collect();
            let more = api.booking_ids(&cancelled)?;
            ids.extend(more.into_iter().filter(|id| !known.contains(id)));
        }
        let bookings = api.details(&ids, config.max_parallel_requests)?;
        warn_unmapped_resources(&self.name, &bookings, config);
        let mut found = Found {
            entries: Vec::with_capacity(bookings.len()),
            skipped: Vec::new(),
            window: complete_window(&start, &end)?,
        };
        for booking in &bookings {
            match entry(booking, mapping, config) {
                Ok(entry) => found.entries.push(entry),
                Err(why) => {
                    log::info!("Calpendo source '{}': {why}; skipped", self.name);
                    found.skipped.push(Skipped {
                        record_id: mapping::lookup(booking, "id"),
                        reason: why,
                    });
                }
            }
        }
        log::info!(
            "Calpendo source '{}': {} bookings, {} entries",
            self.name,
            ids.len(),
            found.entries.len()
        );
        Ok(found)
    }
}

/// The booking starts the query `[start, end)` covers, as the window a
/// fetch is complete for: the query compares whole minutes, so from
/// `start`'s minute to the last second before `end`'s minute.
pub fn complete_window(
    start: &jiff::ZonedDateTime,
    end: &jiff::ZonedDateTime,
) -> Result<CompleteWindow, String> {
    let last = end
        .checked_sub(jiff::SignedDuration::from_secs(i64::from(end.second()) + 1))
        .map_err(|e| format!("the booking window could not be computed: {e}"))?;
    Ok(CompleteWindow::between(
        &start.strftime("%Y-%m-%dT%H:%M:00").to_string(),
        &last.strftime("%Y-%m-%dT%H:%M:%S").to_string(),
    ))
}

/// Booking statuses that mean the visit is off: the entry says DISCONTINUED
/// (the host withdraws an item it already has, and stores none otherwise).
/// The first is Calpendo's own spelling, the one asked for by status.
const CANCELLED: &[&str] = &["Cancelled", "Canceled"];

/// The entry of one booking, or why it has none.
pub fn entry(booking: &Value, mapping: &Mapping, config: &Config) -> Result<Entry, String> {
    let id = match booking.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err("the booking has no id".to_string()),
    };
    let text = |path: &str| mapping::lookup(booking, path).filter(|v| !v.trim().is_empty());
    let status = booking
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| text("properties.status"));
    let cancelled = status.is_some_and(|s| CANCELLED.contains(&s.as_str()));
    let mut entry = Entry::new();
    if cancelled {
        entry.insert(STATUS.into(), Value::String("DISCONTINUED".into()));
    }
    for (target, value) in mapping::apply(mapping, booking, &id) {
        entry.insert(target, Value::String(value));
    }
    let title = text("properties.title").or_else(|| text("title"));
    for key in ["patient_id", "patient_name"] {
        let blank = entry
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if blank {
            if let Some(title) = &title {
                entry.insert(key.to_string(), Value::String(title.clone()));
            }
        }
    }
    if let Some(allowed) = &config.allowed_studies {
        let study = entry
            .get("study_description")
            .and_then(Value::as_str)
            .map(str::trim);
        if !study.is_some_and(|s| allowed.iter().any(|a| a == s)) {
            return Err(format!(
                "booking {id}: study {study:?} is not in config.allowed_studies"
            ));
        }
    }
    let (start, _end) =
        booking_times(booking, &config.timezone).map_err(|e| format!("booking {id}: {e}"))?;
    entry.insert(
        "scheduled_start_date".into(),
        Value::String(start.strftime("%Y-%m-%d").to_string()),
    );
    entry.insert(
        "scheduled_start_time".into(),
        Value::String(start.strftime("%H:%M").to_string()),
    );
    if let Some(modality) = resource(booking).and_then(|r| config.modality_of(&r)) {
        entry.insert("modality".into(), Value::String(modality.to_string()));
    }
    let no_protocol = entry
        .get("protocol_name")
        .and_then(Value::as_str)
        .is_none_or(|p| p.trim().is_empty());
    if no_protocol {
        entry.insert(
            "protocol_name".into(),
            Value::String(config.protocol_name.clone()),
        );
    }
    if entry
        .get("patient_id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(format!(
            "booking {id} has no patient id (mapping and title are empty)"
        ));
    }
    if let Some(Value::String(name)) = entry.get_mut("patient_name") {
        if !name.is_empty() && !name.contains('^') {
            name.insert(0, '^');
        }
    }
    entry.insert(SOURCE_RECORD_ID.into(), Value::String(id));
    Ok(entry)
}

/// The booking's resource name, if it has one.
fn resource(booking: &Value) -> Option<String> {
    mapping::lookup(booking, "properties.resource.formattedName").filter(|r| !r.trim().is_empty())
}

/// Warns once per fetch about each resource `config.resource_modality_mapping`
/// has no modality for, naming its bookings (their items get the worklist
/// default modality, MR).
fn warn_unmapped_resources(source: &str, bookings: &[Value], config: &Config) {
    let mut unmapped: Vec<(String, Vec<String>)> = Vec::new();
    for booking in bookings {
        let Some(name) = resource(booking).filter(|r| config.modality_of(r).is_none()) else {
            continue;
        };
        let id = mapping::lookup(booking, "id").unwrap_or_default();
        match unmapped.iter_mut().find(|(r, _)| *r == name) {
            Some((_, ids)) => ids.push(id),
            None => unmapped.push((name, vec![id])),
        }
    }
    for (name, ids) in unmapped {
        log::warn!(
            "Calpendo source '{source}': resource '{name}' (booking {}) has no modality in config.resource_modality_mapping; its items get the default modality MR",
            ids.join(", ")
        );
    }
}

impl Source for Calpendo {
    fn validate_config(&mut self, config: &Value) -> Result<(), String> {
        let config = Config::from_json(config)?;
        let api = Api::new(&config)?;
        log::info!(
            "Calpendo source '{}': bookings at {} ({} window, time zone {} from {})",
            self.name,
            config.api_base,
            match config.window {
                WindowMode::Rolling => "rolling".to_string(),
                WindowMode::Today => "today's".to_string(),
                WindowMode::Daily(from, to) =>
                    format!("daily {}-{}", from.strftime("%H:%M"), to.strftime("%H:%M")),
            },
            config.timezone_name,
            pylantir_plugin_api::tz::database().describe()
        );
        for overlap in config.prefix_overlaps() {
            log::warn!("Calpendo source '{}': {overlap}", self.name);
        }
        self.state = Some((config, api));
        Ok(())
    }

    fn fetch_entries(
        &mut self,
        field_mapping: &FieldMapping,
        interval_seconds: f64,
    ) -> Result<Vec<Entry>, String> {
        self.bookings(field_mapping, interval_seconds)
            .map(|found| found.entries)
    }

    /// The window's entries, complete for the window the query asked for
    /// (a booking gone from it is retracted by the host), with the bookings
    /// that gave no entry as skipped records.
    fn fetch(
        &mut self,
        field_mapping: &FieldMapping,
        interval_seconds: f64,
    ) -> Result<Fetch, String> {
        let found = self.bookings(field_mapping, interval_seconds)?;
        let entries_json = serde_json::to_string(&found.entries)
            .map_err(|e| format!("entries could not be serialised: {e}"))?;
        Ok(Fetch {
            entries_json,
            complete_window: Some(found.window),
            skipped: found.skipped,
        })
    }

    fn supports_incremental_sync(&self) -> bool {
        true
    }

    fn call(&mut self, op: &str, payload: &Value) -> Result<Value, CallError> {
        match op {
            "validate_field_mapping" => {
                let mapping = payload
                    .as_object()
                    .ok_or("field_mapping must be an object")?;
                Ok(Mapping::parse(mapping, "field_mapping").map(|_| Value::Null)?)
            }
            other => Err(CallError::Unsupported(other.to_string())),
        }
    }

    fn cleanup(&mut self) {
        self.state = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::ZonedDateTime {
        let civil: jiff::civil::DateTime = text.parse().unwrap();
        civil
            .to_zoned_datetime(pylantir_plugin_api::tz::get("America/Edmonton").unwrap())
            .unwrap()
    }

    #[test]
    fn the_complete_window_is_the_queried_minutes_up_to_the_last_second_before_the_end() {
        let window =
            complete_window(&at("2026-12-05T10:03:27.5"), &at("2026-12-06T10:03:27.5")).unwrap();
        assert_eq!(
            window,
            CompleteWindow::between("2026-12-05T10:03:00", "2026-12-06T10:02:59")
        );
        let today = complete_window(&at("2026-12-05T00:00"), &at("2026-12-06T00:00")).unwrap();
        assert_eq!(
            today,
            CompleteWindow::between("2026-12-05T00:00:00", "2026-12-05T23:59:59")
        );
    }
}
