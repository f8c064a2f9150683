//! The Calpendo bookings API: the window query, booking details (fetched a
//! few at a time in parallel) and the operator of MRI scans. Requests use
//! HTTP basic auth; failures become messages without the password.

use crate::config::{Config, Secret};
use crate::time::query_time;
use jiff::ZonedDateTime;
use pylantir_plugin_api::log;
use pylantir_plugin_api::messages::{body_excerpt, error_chain};
use pylantir_plugin_api::serde_json::{self, Value};
use reqwest::blocking::Client;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A connection to one Calpendo server.
pub struct Api {
    client: Client,
    base: String,
    username: String,
    password: Secret,
    credentials_env: (String, String),
    read_timeout: Duration,
}

impl Api {
    /// A client for the server `config` names.
    pub fn new(config: &Config) -> Result<Api, String> {
        let client = Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.read_timeout)
            .build()
            .map_err(|e| format!("could not set up the HTTP client: {e}"))?;
        Ok(Api {
            client,
            base: config.api_base.clone(),
            username: config.username.clone(),
            password: config.password.clone(),
            credentials_env: config.credentials_env.clone(),
            read_timeout: config.read_timeout,
        })
    }

    /// The query path of bookings starting in `[start, end)` with the
    /// booking status `status` (any when `None`), as Python pylantir builds
    /// it with its `status_filter`.
    pub fn query_path(
        config: &Config,
        start: &ZonedDateTime,
        end: &ZonedDateTime,
        status: Option<&str>,
    ) -> String {
        let mut path = format!(
            "/q/Calpendo.Booking/AND/dateRange.start/GE/{}/dateRange.start/LT/{}",
            query_time(start),
            query_time(end)
        );
        if !config.resources.is_empty() {
            path.push_str("/OR");
            for resource in &config.resources {
                path.push_str("/resource.name/EQ/");
                path.push_str(&encode(resource));
            }
        }
        if let Some(status) = status {
            path.push_str("/status/EQ/");
            path.push_str(&encode(status));
        }
        path
    }

    /// The ids of the bookings the query `path` finds.
    pub fn booking_ids(&self, path: &str) -> Result<Vec<String>, String> {
        let answer = self.get(path, "booking query")?.unwrap_or(Value::Null);
        let list = answer
            .get("biskits")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                format!(
                    "the booking query at {}{path} answered JSON without a 'biskits' list",
                    self.base
                )
            })?;
        Ok(list
            .iter()
            .filter_map(|b| match b.get("id") {
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            })
            .collect())
    }

    /// The details of every booking in `ids`, `parallel` requests at a time,
    /// in the order of `ids`. Deleted bookings (404) are left out with a
    /// warning; any other failure fails the whole fetch.
    pub fn details(&self, ids: &[String], parallel: usize) -> Result<Vec<Value>, String> {
        let next = AtomicUsize::new(0);
        let mut results: Vec<(usize, Result<Option<Value>, String>)> =
            Vec::with_capacity(ids.len());
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..parallel.clamp(1, ids.len().max(1)))
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            let Some(id) = ids.get(i) else { break };
                            let result = self.detail(id);
                            let failed = result.is_err();
                            done.push((i, result));
                            if failed {
                                next.store(ids.len(), Ordering::SeqCst);
                                break;
                            }
                        }
                        done
                    })
                })
                .collect();
            for worker in workers {
                match worker.join() {
                    Ok(done) => results.extend(done),
                    Err(_) => {
                        results.push((0, Err("a booking detail request panicked".to_string())))
                    }
                }
            }
        });
        results.sort_by_key(|(i, _)| *i);
        let mut bookings = Vec::with_capacity(results.len());
        for (_, result) in results {
            if let Some(booking) = result? {
                bookings.push(booking);
            }
        }
        Ok(bookings)
    }

    /// One booking's details (with `operator` for MRI scans), `None` if deleted.
    fn detail(&self, id: &str) -> Result<Option<Value>, String> {
        let Some(mut booking) = self.get(
            &format!("/b/Calpendo.Booking/{}", encode(id)),
            "booking details",
        )?
        else {
            log::warn!("Calpendo booking {id} was not found (deleted?); skipped");
            return Ok(None);
        };
        if booking.get("biskitType").and_then(Value::as_str) == Some("MRIScan") {
            if let (Some(operator), Some(obj)) = (self.operator(id), booking.as_object_mut()) {
                obj.insert("operator".to_string(), Value::String(operator));
            }
        }
        Ok(Some(booking))
    }

    /// The operator of an MRI scan booking; a failure only loses the operator.
    fn operator(&self, id: &str) -> Option<String> {
        let path = format!("/q/MRIScan/id/eq/{}?paths=Operator.name", encode(id));
        match self.get(&path, "MRI operator query") {
            Ok(Some(answer)) => answer
                .get("biskits")?
                .get(0)?
                .get("properties")?
                .get("Operator")?
                .get("name")?
                .as_str()
                .map(str::to_string),
            Ok(None) => None,
            Err(e) => {
                log::warn!("the operator of Calpendo booking {id} is unknown: {e}");
                None
            }
        }
    }

    /// GETs `path` under the API base: `Some(json)`, `None` on 404.
    fn get(&self, path: &str, what: &str) -> Result<Option<Value>, String> {
        let url = format!("{}{path}", self.base);
        let result = self
            .client
            .get(&url)
            .basic_auth(&self.username, Some(self.password.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .and_then(|response| {
                let status = response.status();
                response.text().map(|body| (status, body))
            });
        let (status, body) =
            result.map_err(|e| self.redact(&self.transport_error(what, &url, &e)))?;
        match status.as_u16() {
            200..=299 => serde_json::from_str(&body).map(Some).map_err(|e| {
                self.redact(&format!(
                    "Calpendo answered the {what} at {url} with something that is not JSON ({e}); it begins: {}",
                    body_excerpt(&body)
                ))
            }),
            404 => Ok(None),
            401 | 403 => Err(format!(
                "Calpendo at {} refused the credentials from {} / {} (HTTP {status}) on the {what}",
                self.base,
                self.credentials_env.0,
                self.credentials_env.1,
                status = status.as_u16()
            )),
            500..=599 => Err(self.redact(&format!(
                "Calpendo failed with a server error (HTTP {}) on the {what} at {url}: {}",
                status.as_u16(),
                body_excerpt(&body)
            ))),
            code => Err(self.redact(&format!(
                "Calpendo answered the {what} at {url} with HTTP {code}: {}",
                body_excerpt(&body)
            ))),
        }
    }

    fn transport_error(&self, what: &str, url: &str, error: &reqwest::Error) -> String {
        if error.is_timeout() {
            format!(
                "Calpendo did not answer the {what} at {url} within {} s (config.read_timeout_seconds)",
                self.read_timeout.as_secs_f64()
            )
        } else if error.is_connect() {
            format!(
                "could not connect to Calpendo at {}: {}",
                self.base,
                error_chain(error)
            )
        } else {
            format!("the {what} at {url} failed: {}", error_chain(error))
        }
    }

    fn redact(&self, text: &str) -> String {
        self.password.redact(text)
    }
}

/// Percent-encodes a path segment (everything but unreserved characters).
pub fn encode(segment: &str) -> String {
    let mut out = String::new();
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode("3T Diagnostic"), "3T%20Diagnostic");
        assert_eq!(encode("A/B"), "A%2FB");
        assert_eq!(encode("Approved"), "Approved");
    }
}
