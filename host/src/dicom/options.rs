//! Server options: read from the site's JSON configuration (the same keys as
//! pylantir 0.4 plus ours), with defaults, and the per-source visibility
//! windows resolved against the clock at query time.

use super::transport::TlsListener;
use crate::store::find::SourceWindow;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use pylantir_plugin_api::tz;
use serde_json::Value;
use std::time::Duration;

/// Everything the DICOM server needs to know, validated.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Our AE title; the called AE title must equal it.
    pub ae_title: String,
    /// Address to listen on.
    pub ip: String,
    /// Port to listen on (0 = any free port).
    pub port: u16,
    /// Calling AE titles allowed to associate; empty = anyone (`allowed_aet`).
    pub allowed_aet: Vec<String>,
    /// Stored statuses C-FIND shows (`mwl_visible_statuses`).
    pub visible_statuses: Vec<String>,
    /// Use the calling AE title when a query's Scheduled Station AE Title is
    /// absent, empty or `*` (`filter_by_calling_aet`).
    pub filter_by_calling_aet: bool,
    /// Answer every MPPS request with Success, as pylantir 0.4 did (`mpps_lenient`).
    pub mpps_lenient: bool,
    /// Associations served at once (`max_associations`).
    pub max_associations: usize,
    /// Connections open at once from one remote address, negotiating or
    /// established (`max_connections_per_address`); more are closed at once.
    pub max_connections_per_address: usize,
    /// Idle time allowed between DIMSE messages (`dimse_timeout`, seconds).
    pub dimse_timeout: Duration,
    /// Time from connecting to an established association
    /// (`acse_timeout`, seconds); a connection still negotiating then is closed.
    pub acse_timeout: Duration,
    /// Scheduled Station AE Title of items that have none (`default_station_aet`);
    /// when unset, the querying station's own AE title.
    pub default_station_aet: Option<String>,
    /// Largest PDU we accept (`max_pdu_length`).
    pub max_pdu_length: u32,
    /// Largest DIMSE message (command + data set) we buffer, in bytes.
    pub max_message_bytes: usize,
    /// Per-source visibility windows.
    pub windows: Vec<WindowRule>,
    /// The TLS listener (`tls`), beside or instead of the plain one.
    pub tls: Option<TlsListener>,
    /// Whether the plain listener on `port` runs (`tls.plain`, default true).
    pub plain: bool,
    /// The sources whose MPPS outcomes are written back (`mpps_write_back`).
    pub write_back_sources: Vec<String>,
}

/// One data source's visibility rule.
#[derive(Debug, Clone)]
pub struct WindowRule {
    /// The source `name`.
    pub source: String,
    /// Also applies to rows without `data_source` (legacy configuration).
    pub includes_unnamed: bool,
    /// The kind of window.
    pub kind: WindowKind,
    /// The time zone "today" is taken in.
    pub tz: TimeZone,
}

/// The windows pylantir 0.4 knew.
#[derive(Debug, Clone, PartialEq)]
pub enum WindowKind {
    /// REDCap `mwl_days_ahead`: today through today + N days.
    DaysAhead(i64),
    /// Calpendo `window_mode: "today"`.
    Today,
    /// Calpendo `daily_window`: between two clock times today (an end at or
    /// before the start ends tomorrow).
    Daily(Time, Time),
}

impl ServerOptions {
    /// Defaults for everything but the listening address.
    pub fn new(ae_title: &str, ip: &str, port: u16) -> ServerOptions {
        ServerOptions {
            ae_title: ae_title.trim().to_string(),
            ip: ip.to_string(),
            port,
            allowed_aet: Vec::new(),
            visible_statuses: ["SCHEDULED", "IN_PROGRESS", "DISCONTINUED"]
                .map(String::from)
                .to_vec(),
            filter_by_calling_aet: false,
            mpps_lenient: false,
            max_associations: 32,
            max_connections_per_address: 16,
            dimse_timeout: Duration::from_secs(60),
            acse_timeout: Duration::from_secs(5),
            default_station_aet: None,
            max_pdu_length: 65_536,
            max_message_bytes: 16 * 1024 * 1024,
            windows: Vec::new(),
            tls: None,
            plain: true,
            write_back_sources: Vec::new(),
        }
    }

    /// Reads the options from the raw JSON configuration; reports every
    /// problem as `json.path: message` (config::server turns them into
    /// problems of the configuration).
    pub fn from_config(
        config: &Value,
        ae_title: &str,
        ip: &str,
        port: u16,
    ) -> Result<ServerOptions, Vec<String>> {
        let mut options = ServerOptions::new(ae_title, ip, port);
        let mut errors = Vec::new();
        if options.ae_title.is_empty() || options.ae_title.len() > 16 {
            errors.push(format!(
                "ae_title: AE title '{ae_title}' must be 1 to 16 characters"
            ));
        }
        if let Some(list) = config.get("allowed_aet") {
            match string_list(list) {
                Some(list) => {
                    options.allowed_aet = list.into_iter().map(|s| s.trim().to_string()).collect()
                }
                None => errors.push("allowed_aet: expected a list of AE titles".into()),
            }
        }
        if let Some(list) = config.get("mwl_visible_statuses") {
            match string_list(list) {
                Some(list) if !list.is_empty() => {
                    options.visible_statuses =
                        list.into_iter().map(|s| s.trim().to_uppercase()).collect()
                }
                _ => errors.push(
                    "mwl_visible_statuses: expected a non-empty list such as [\"SCHEDULED\", \"IN_PROGRESS\"]"
                        .into(),
                ),
            }
        }
        for (key, slot) in [
            ("filter_by_calling_aet", &mut options.filter_by_calling_aet),
            ("mpps_lenient", &mut options.mpps_lenient),
        ] {
            if let Some(value) = config.get(key) {
                match value.as_bool() {
                    Some(b) => *slot = b,
                    None => errors.push(format!("{key}: expected true or false")),
                }
            }
        }
        if let Some(value) = config.get("max_associations") {
            match value.as_u64() {
                Some(n) if (1..=1000).contains(&n) => options.max_associations = n as usize,
                _ => errors.push("max_associations: expected a whole number from 1 to 1000".into()),
            }
        }
        if let Some(value) = config.get("max_connections_per_address") {
            match value.as_u64() {
                Some(n) if (1..=1000).contains(&n) => {
                    options.max_connections_per_address = n as usize
                }
                _ => errors.push(
                    "max_connections_per_address: expected a whole number from 1 to 1000".into(),
                ),
            }
        }
        for (key, slot) in [
            ("dimse_timeout", &mut options.dimse_timeout),
            ("acse_timeout", &mut options.acse_timeout),
        ] {
            if let Some(value) = config.get(key) {
                match value.as_f64() {
                    Some(s) if s > 0.0 && s <= 86_400.0 => *slot = Duration::from_secs_f64(s),
                    _ => errors.push(format!("{key}: expected a number of seconds above 0")),
                }
            }
        }
        if let Some(value) = config.get("max_pdu_length") {
            match value.as_u64() {
                Some(n) if (4096..=1_048_576).contains(&n) => options.max_pdu_length = n as u32,
                _ => errors.push("max_pdu_length: expected a number from 4096 to 1048576".into()),
            }
        }
        if let Some(value) = config.get("default_station_aet") {
            match value.as_str().map(str::trim) {
                Some(s) if !s.is_empty() && s.len() <= 16 => {
                    options.default_station_aet = Some(s.to_string())
                }
                _ => errors
                    .push("default_station_aet: expected an AE title (1 to 16 characters)".into()),
            }
        }
        options.windows = windows(config, &mut errors);
        if errors.is_empty() {
            Ok(options)
        } else {
            Err(errors)
        }
    }

    /// The windows resolved against the current time.
    pub fn resolve_windows(&self) -> Vec<SourceWindow> {
        let now = jiff::Timestamp::now();
        self.windows
            .iter()
            .map(|rule| rule.resolve(&now.to_zoned_datetime(rule.tz.clone())))
            .collect()
    }
}

impl WindowRule {
    /// The absolute bounds of this window at `now`.
    pub fn resolve(&self, now: &jiff::ZonedDateTime) -> SourceWindow {
        let today = now.date();
        let day = |d: Date| d.strftime("%Y%m%d").to_string();
        let clock = |t: Time| t.strftime("%H%M%S").to_string();
        let (from, to) = match &self.kind {
            WindowKind::DaysAhead(n) => {
                let last = jiff::Span::new()
                    .try_days(*n)
                    .ok()
                    .and_then(|span| today.checked_add(span).ok())
                    .unwrap_or(today);
                ((day(today), "000000".into()), (day(last), "235959".into()))
            }
            WindowKind::Today => ((day(today), "000000".into()), (day(today), "235959".into())),
            WindowKind::Daily(start, end) => {
                let end_day = if end <= start {
                    today.tomorrow().unwrap_or(today)
                } else {
                    today
                };
                ((day(today), clock(*start)), (day(end_day), clock(*end)))
            }
        };
        SourceWindow {
            source: self.source.clone(),
            includes_unnamed: self.includes_unnamed,
            from,
            to,
        }
    }
}

fn string_list(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(String::from))
        .collect()
}

/// Reads `[h, m]` or `"HH:MM"`.
fn clock_time(value: &Value) -> Option<Time> {
    if let Some(text) = value.as_str() {
        let (h, m) = text.split_once(':')?;
        return Time::new(h.trim().parse().ok()?, m.trim().parse().ok()?, 0, 0).ok();
    }
    let parts = value.as_array()?;
    let h = parts.first()?.as_i64()?;
    let m = parts.get(1).and_then(Value::as_i64).unwrap_or(0);
    Time::new(i8::try_from(h).ok()?, i8::try_from(m).ok()?, 0, 0).ok()
}

/// The time zone of a source's window: its own `timezone`; for Calpendo
/// also Python's `config.timezone` (default `America/Edmonton`, as its
/// plugin); else the system's.
fn time_zone(source: &Value, calpendo: bool, path: &str, errors: &mut Vec<String>) -> TimeZone {
    let (key, name) = match source.get("timezone") {
        Some(value) => (format!("{path}.timezone"), value),
        None => match source.get("config").and_then(|c| c.get("timezone")) {
            Some(value) if calpendo => (format!("{path}.config.timezone"), value),
            _ if calpendo => return tz::get(CALPENDO_TIMEZONE).unwrap_or(TimeZone::UTC),
            _ => return tz::system(),
        },
    };
    match name.as_str().map(tz::get) {
        Some(Ok(tz)) => tz,
        _ => {
            errors.push(format!("{key}: unknown time zone {name}"));
            tz::system()
        }
    }
}

/// Python pylantir's Calpendo time zone when none is configured.
const CALPENDO_TIMEZONE: &str = "America/Edmonton";

/// The longest `mwl_days_ahead` accepted: ten years.
const MAX_DAYS_AHEAD: i64 = 3650;

/// The visibility rules of every configured source (pylantir 0.4's windows).
fn windows(config: &Value, errors: &mut Vec<String>) -> Vec<WindowRule> {
    let mut rules = Vec::new();
    let Some(sources) = config.get("data_sources").and_then(Value::as_array) else {
        if config.get("redcap2wl").is_some() {
            // Legacy format: one REDCap source, also owning rows without a source.
            let days = config
                .get("mwl_days_ahead")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .clamp(0, MAX_DAYS_AHEAD);
            rules.push(WindowRule {
                source: "redcap_legacy".into(),
                includes_unnamed: true,
                kind: WindowKind::DaysAhead(days),
                tz: tz::system(),
            });
        }
        return rules;
    };
    for (i, source) in sources.iter().enumerate() {
        let path = format!("data_sources[{i}]");
        if source.get("enabled").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let kind = source.get("type").and_then(Value::as_str).unwrap_or("");
        let name = source
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(kind)
            .to_string();
        let redcap = kind == "redcap" || kind == "redcap_concussion";
        let calpendo = kind == "calpendo";
        let tz = time_zone(source, calpendo, &path, errors);
        // The host's own source-level key; under `config` where Python reads
        // it (REDCap's `mwl_days_ahead`, Calpendo's window).
        let setting = |key: &str, python: bool| match source.get(key) {
            Some(value) => Some((format!("{path}.{key}"), value)),
            None => source
                .get("config")
                .and_then(|c| c.get(key))
                .filter(|_| python)
                .map(|value| (format!("{path}.config.{key}"), value)),
        };
        let rule = if let Some((key, window)) = setting("daily_window", calpendo) {
            let start = window.get("start_time").and_then(clock_time);
            let end = window.get("end_time").and_then(clock_time);
            match (start, end) {
                (Some(s), Some(e)) => Some(WindowKind::Daily(s, e)),
                _ => {
                    errors.push(format!(
                        "{key}: expected start_time and end_time as [hour, minute]"
                    ));
                    None
                }
            }
        } else if let Some((key, mode)) =
            setting("window_mode", calpendo).filter(|(_, mode)| mode.as_str() != Some("rolling"))
        {
            if mode.as_str() == Some("today") {
                Some(WindowKind::Today)
            } else {
                errors.push(format!("{key}: expected \"rolling\" or \"today\""));
                None
            }
        } else {
            match setting("mwl_days_ahead", redcap) {
                Some((key, value)) => {
                    match value.as_i64().filter(|d| (0..=MAX_DAYS_AHEAD).contains(d)) {
                        Some(days) => Some(WindowKind::DaysAhead(days)),
                        None => {
                            errors.push(format!(
                                "{key}: expected a whole number of days, 0 to {MAX_DAYS_AHEAD}"
                            ));
                            None
                        }
                    }
                }
                // Python pylantir shows a REDCap source's items of today only.
                None if redcap => Some(WindowKind::DaysAhead(0)),
                None => None,
            }
        };
        if let Some(kind) = rule {
            rules.push(WindowRule {
                includes_unnamed: name == "redcap_legacy",
                source: name,
                kind,
                tz,
            });
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_apply_when_keys_are_absent() {
        let o = ServerOptions::from_config(&json!({}), "MWL", "127.0.0.1", 0).unwrap();
        assert_eq!(o.max_associations, 32);
        assert_eq!(o.max_connections_per_address, 16);
        assert_eq!(o.acse_timeout, Duration::from_secs(5));
        assert_eq!(
            o.visible_statuses,
            ["SCHEDULED", "IN_PROGRESS", "DISCONTINUED"]
        );
        assert!(!o.mpps_lenient);
    }

    #[test]
    fn every_bad_key_is_reported_with_its_path() {
        let config = json!({"allowed_aet": "X", "max_associations": 0,
            "data_sources": [{"name": "c", "type": "calpendo", "window_mode": "weekly"}]});
        let errors = ServerOptions::from_config(&config, "MWL", "127.0.0.1", 0).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[2].starts_with("data_sources[0].window_mode"));
    }

    #[test]
    fn mwl_days_ahead_beyond_ten_years_is_refused() {
        let config = json!({"data_sources": [{"name": "r", "type": "redcap",
            "config": {"mwl_days_ahead": 10_000_000}}]});
        let errors = ServerOptions::from_config(&config, "MWL", "127.0.0.1", 0).unwrap_err();
        assert_eq!(
            errors,
            ["data_sources[0].config.mwl_days_ahead: expected a whole number of days, 0 to 3650"]
        );
    }

    #[test]
    fn a_legacy_mwl_days_ahead_beyond_ten_years_still_resolves() {
        let config = json!({"redcap2wl": {}, "mwl_days_ahead": 10_000_000});
        let options = ServerOptions::from_config(&config, "MWL", "127.0.0.1", 0).expect("valid");
        let windows = options.resolve_windows();
        assert_eq!(windows.len(), 1);
    }

    #[test]
    fn a_daily_window_ending_before_it_starts_ends_tomorrow() {
        let rule = WindowRule {
            source: "c".into(),
            includes_unnamed: false,
            kind: WindowKind::Daily(Time::constant(22, 0, 0, 0), Time::constant(6, 0, 0, 0)),
            tz: TimeZone::UTC,
        };
        let now: jiff::ZonedDateTime = "2025-03-10T12:00:00+00:00[UTC]".parse().unwrap();
        let w = rule.resolve(&now);
        assert_eq!(w.from, ("20250310".to_string(), "220000".to_string()));
        assert_eq!(w.to, ("20250311".to_string(), "060000".to_string()));
    }
}
