//! Times: the booking window a fetch asks for (rolling, today, or a daily
//! window of clock times that may span midnight), and a booking's start and end
//! in the source's time zone. Calendar arithmetic goes through the time-zone
//! database, so days of 23 or 25 hours (DST changes) come out right.

use crate::config::WindowMode;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ZonedDateTime};
use pylantir_plugin_api::serde_json::Value;

/// The window `[start, end)` of bookings to ask for at `now`.
pub fn window(
    now: &ZonedDateTime,
    mode: WindowMode,
    interval_seconds: f64,
    lookback_multiplier: f64,
) -> Result<(ZonedDateTime, ZonedDateTime), String> {
    let err = |e: jiff::Error| format!("the booking window could not be computed: {e}");
    match mode {
        WindowMode::Today => {
            let start = now.start_of_day().map_err(err)?;
            let end = now.tomorrow().and_then(|t| t.start_of_day()).map_err(err)?;
            Ok((start, end))
        }
        WindowMode::Daily(from, to) => {
            let start = now.with().time(from).build().map_err(err)?;
            let end_day = if to <= from {
                now.tomorrow().map_err(err)?
            } else {
                now.clone()
            };
            let end = end_day.with().time(to).build().map_err(err)?;
            Ok((start, end))
        }
        WindowMode::Rolling => {
            let lookback = (interval_seconds * lookback_multiplier).max(0.0);
            let lookback = SignedDuration::try_from_secs_f64(lookback)
                .map_err(|e| format!("the lookback of {lookback} s is out of range: {e}"))?;
            let start = now.checked_sub(lookback).map_err(err)?;
            let end = now
                .checked_add(SignedDuration::from_hours(24))
                .map_err(err)?;
            Ok((start, end))
        }
    }
}

/// A window bound as the Calpendo query wants it: local `YYYYMMDD-HHMM`.
pub fn query_time(at: &ZonedDateTime) -> String {
    at.strftime("%Y%m%d-%H%M").to_string()
}

/// A booking's start and end in `tz`: from `formattedName`
/// (`[2026-01-27 14:00:00.0, 2026-01-27 15:30:00.0]`, local times), else from
/// `properties.dateRange.start` / `end` (or `finish`): RFC 3339 with an
/// offset is converted to `tz`, a time without one is taken as local.
pub fn booking_times(
    booking: &Value,
    tz: &TimeZone,
) -> Result<(ZonedDateTime, ZonedDateTime), String> {
    if let Some(name) = booking.get("formattedName").and_then(Value::as_str) {
        let inner = name.trim().trim_start_matches('[').trim_end_matches(']');
        let (start, end) = inner
            .split_once(',')
            .ok_or_else(|| format!("formattedName '{name}' is not '[start, end]'"))?;
        return Ok((local(start, tz)?, local(end, tz)?));
    }
    let range = booking
        .get("properties")
        .and_then(|p| p.get("dateRange"))
        .ok_or("the booking has neither formattedName nor properties.dateRange")?;
    let text = |key: &str| range.get(key).and_then(Value::as_str);
    let start = text("start").ok_or("properties.dateRange has no start")?;
    let end = text("end")
        .or_else(|| text("finish"))
        .ok_or("properties.dateRange has no end")?;
    Ok((instant_or_local(start, tz)?, instant_or_local(end, tz)?))
}

/// A local date-time (`2026-01-27 14:00:00.0` or with `T`) in `tz`. A time
/// skipped by a DST change moves forward; a repeated one takes the earlier.
fn local(text: &str, tz: &TimeZone) -> Result<ZonedDateTime, String> {
    let text = text.trim().replacen(' ', "T", 1);
    let civil: DateTime = text
        .parse()
        .map_err(|e| format!("'{text}' is not a date and time: {e}"))?;
    civil
        .to_zoned_datetime(tz.clone())
        .map_err(|e| format!("'{text}' cannot be placed in the time zone: {e}"))
}

fn instant_or_local(text: &str, tz: &TimeZone) -> Result<ZonedDateTime, String> {
    match text.trim().parse::<Timestamp>() {
        Ok(instant) => Ok(instant.to_zoned_datetime(tz.clone())),
        Err(_) => local(text, tz),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pylantir_plugin_api::serde_json::json;

    fn edmonton() -> TimeZone {
        pylantir_plugin_api::tz::get("America/Edmonton").unwrap()
    }

    fn at(text: &str) -> ZonedDateTime {
        let civil: DateTime = text.parse().unwrap();
        civil.to_zoned_datetime(edmonton()).unwrap()
    }

    #[test]
    fn today_spans_the_local_day_even_when_it_has_23_or_25_hours() {
        for (now, start, end, hours) in [
            ("2026-03-08T10:00", "20260308-0000", "20260309-0000", 23),
            ("2025-11-02T10:00", "20251102-0000", "20251103-0000", 25),
            ("2026-06-15T23:59", "20260615-0000", "20260616-0000", 24),
        ] {
            let (s, e) = window(&at(now), WindowMode::Today, 60.0, 2.0).unwrap();
            assert_eq!(
                (query_time(&s), query_time(&e)),
                (start.to_string(), end.to_string())
            );
            assert_eq!(e.duration_since(&s), SignedDuration::from_hours(hours));
        }
    }

    #[test]
    fn an_overnight_daily_window_runs_from_today_to_tomorrow() {
        let clock = |h: i8| jiff::civil::Time::new(h, 0, 0, 0).unwrap();
        let (s, e) = window(
            &at("2026-06-15T10:00"),
            WindowMode::Daily(clock(18), clock(6)),
            60.0,
            2.0,
        )
        .unwrap();
        assert_eq!(
            (query_time(&s), query_time(&e)),
            ("20260615-1800".to_string(), "20260616-0600".to_string())
        );
        let (s, e) = window(
            &at("2026-06-15T10:00"),
            WindowMode::Daily(clock(7), clock(19)),
            60.0,
            2.0,
        )
        .unwrap();
        assert_eq!(
            (query_time(&s), query_time(&e)),
            ("20260615-0700".to_string(), "20260615-1900".to_string())
        );
    }

    #[test]
    fn rolling_looks_back_interval_times_multiplier_and_a_day_ahead() {
        let (s, e) = window(&at("2026-03-08T01:30"), WindowMode::Rolling, 1800.0, 2.0).unwrap();
        assert_eq!(query_time(&s), "20260308-0030");
        // 24 hours after 01:30 MST is 02:30 MDT the next day (the clocks went forward).
        assert_eq!(query_time(&e), "20260309-0230");
    }

    #[test]
    fn booking_times_with_offsets_are_converted_across_dst() {
        let tz = edmonton();
        let booking = |start: &str, end: &str| json!({"properties": {"dateRange": {"start": start, "end": end}}});
        let (s, _) = booking_times(
            &booking("2026-03-08T08:30:00Z", "2026-03-08T09:00:00Z"),
            &tz,
        )
        .unwrap();
        assert_eq!(s.strftime("%Y-%m-%d %H:%M").to_string(), "2026-03-08 01:30");
        let (s, e) = booking_times(
            &booking("2026-03-08T08:30:00Z", "2026-03-08T09:30:00Z"),
            &tz,
        )
        .unwrap();
        assert_eq!(e.strftime("%H:%M").to_string(), "03:30");
        assert_eq!(e.duration_since(&s), SignedDuration::from_hours(1));
        let (s, _) = booking_times(
            &booking("2025-11-02T08:30:00Z", "2025-11-02T09:30:00Z"),
            &tz,
        )
        .unwrap();
        assert_eq!(s.strftime("%Y-%m-%d %H:%M").to_string(), "2025-11-02 01:30");
    }

    #[test]
    fn edmonton_keeps_utc_minus_6_through_november_2026_whatever_the_system_tzdata() {
        // tzdata 2026a: Alberta stays on UTC-6 from 2026-03-08 (Debian 12's 2025b
        // still falls back to UTC-7 on 2026-11-01).
        let booking = json!({"properties": {"dateRange": {
            "start": "2026-11-15T19:00:00Z", "end": "2026-11-15T20:00:00Z"}}});
        let (s, _) = booking_times(&booking, &edmonton()).unwrap();
        assert_eq!(s.strftime("%H:%M %z").to_string(), "13:00 -0600");
    }

    #[test]
    fn formatted_names_are_local_times() {
        let booking = json!({"formattedName": "[2026-01-27 14:00:00.0, 2026-01-27 15:30:00.0]"});
        let (s, e) = booking_times(&booking, &edmonton()).unwrap();
        assert_eq!(
            s.strftime("%Y-%m-%d %H:%M %z").to_string(),
            "2026-01-27 14:00 -0700"
        );
        assert_eq!(e.duration_since(&s), SignedDuration::from_mins(90));
        // 02:30 does not exist on 2026-03-08 in Edmonton: it moves forward.
        let gap = json!({"formattedName": "[2026-03-08 02:30:00.0, 2026-03-08 04:00:00.0]"});
        let (s, _) = booking_times(&gap, &edmonton()).unwrap();
        assert_eq!(s.strftime("%H:%M %z").to_string(), "03:30 -0600");
    }
}
