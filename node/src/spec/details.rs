//! The `details` of each check type: typed, validated and completed with their defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{bad, hostname, http_url, pattern, typed};
use crate::error::Error;

/// The check types and what they do.
pub const CHECK_TYPES: [&str; 5] = [
    "remote.http",
    "remote.tcp",
    "remote.dns",
    "remote.ping",
    "remote.tls",
];
/// HTTP methods a `remote.http` check may use.
pub const HTTP_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
/// Record types a `remote.dns` check may query.
pub const DNS_RECORD_TYPES: [&str; 10] = [
    "A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "PTR", "SRV", "CAA",
];
/// Most request headers of a `remote.http` check.
pub const HTTP_HEADERS_MAX: usize = 32;
/// Largest request payload of a `remote.http` check or send body of a `remote.tcp` check, bytes.
pub const PAYLOAD_MAX: usize = 16 * 1024;
/// Most expected status codes or expected DNS values.
pub const EXPECTED_MAX: usize = 32;
/// Most pings per `remote.ping` poll.
pub const PING_COUNT_MAX: u32 = 15;
/// Pings per poll when not given.
pub const PING_COUNT_DEFAULT: u32 = 5;
/// Most named body matches of a `remote.http` check.
pub const BODY_MATCHES_MAX: usize = 4;
/// Longest name of a body match (it becomes part of a metric name), bytes.
pub const BODY_MATCH_KEY_MAX: usize = 32;

/// `remote.http`: one request, its answer measured.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpDetails {
    pub url: Option<String>,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// Status codes that count as success; empty means any 2xx or 3xx.
    #[serde(default)]
    pub expected_codes: Vec<u16>,
    /// A regex the response body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_regex: Option<String>,
    /// Named regexes whose first match becomes the metric `body_match_<key>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub body_matches: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<String>,
}

impl HttpDetails {
    /// The URL (validation made it required).
    pub fn url(&self) -> &str {
        self.url.as_deref().unwrap_or_default()
    }
}

fn default_method() -> String {
    "GET".into()
}

fn yes() -> bool {
    true
}

/// `remote.tcp`: connect, optionally send, read a banner.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpDetails {
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner_regex: Option<String>,
    /// Speak TLS after connecting.
    #[serde(default)]
    pub ssl: bool,
}

impl TcpDetails {
    /// The port (validation made it required).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_default()
    }
}

/// `remote.dns`: one query, its answer measured.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsDetails {
    pub query: Option<String>,
    #[serde(default = "default_record_type")]
    pub record_type: String,
    #[serde(default = "default_dns_port")]
    pub port: u16,
    #[serde(default)]
    pub expected_values: Vec<String>,
    /// The server to ask; the node's resolver when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

impl DnsDetails {
    /// The name to query (validation made it required).
    pub fn query(&self) -> &str {
        self.query.as_deref().unwrap_or_default()
    }
}

fn default_record_type() -> String {
    "A".into()
}

fn default_dns_port() -> u16 {
    53
}

/// `remote.ping`: `count` ICMP echoes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PingDetails {
    #[serde(default = "default_ping_count")]
    pub count: u32,
}

fn default_ping_count() -> u32 {
    PING_COUNT_DEFAULT
}

/// `remote.tls`: a handshake and the certificate chain it shows.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsDetails {
    #[serde(default = "default_tls_port")]
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default = "yes")]
    pub verify_chain: bool,
}

fn default_tls_port() -> u16 {
    443
}

/// The details of a check, one variant per type.
#[derive(Debug, Clone, PartialEq)]
pub enum Details {
    Http(HttpDetails),
    Tcp(TcpDetails),
    Dns(DnsDetails),
    Ping(PingDetails),
    Tls(TlsDetails),
}

impl Details {
    /// Validates `details` for `check_type` and fills in the defaults; errors name the field.
    pub fn parse(check_type: &str, details: Value) -> Result<Details, Error> {
        Ok(match check_type {
            "remote.http" => Details::Http(http(typed("details", details)?)?),
            "remote.tcp" => Details::Tcp(tcp(typed("details", details)?)?),
            "remote.dns" => Details::Dns(dns(typed("details", details)?)?),
            "remote.ping" => Details::Ping(ping(typed("details", details)?)?),
            "remote.tls" => Details::Tls(tls(typed("details", details)?)?),
            other => {
                return Err(bad(format!(
                    "type: {other:?} is not one of {}",
                    CHECK_TYPES.join(", ")
                )));
            }
        })
    }

    /// The check type these details belong to.
    pub fn check_type(&self) -> &'static str {
        match self {
            Details::Http(_) => "remote.http",
            Details::Tcp(_) => "remote.tcp",
            Details::Dns(_) => "remote.dns",
            Details::Ping(_) => "remote.ping",
            Details::Tls(_) => "remote.tls",
        }
    }

    /// The stored JSON form.
    pub fn to_json(&self) -> Value {
        let v = match self {
            Details::Http(d) => serde_json::to_value(d),
            Details::Tcp(d) => serde_json::to_value(d),
            Details::Dns(d) => serde_json::to_value(d),
            Details::Ping(d) => serde_json::to_value(d),
            Details::Tls(d) => serde_json::to_value(d),
        };
        // Plain structs of strings, numbers and maps with string keys always serialize.
        v.unwrap_or(Value::Null)
    }
}

fn http(mut d: HttpDetails) -> Result<HttpDetails, Error> {
    let Some(url) = &d.url else {
        return Err(bad("details.url: is required".into()));
    };
    http_url("details.url", url, false)?;
    d.method = d.method.to_ascii_uppercase();
    if !HTTP_METHODS.contains(&d.method.as_str()) {
        return Err(bad(format!(
            "details.method: {:?} is not one of {}",
            d.method,
            HTTP_METHODS.join(", ")
        )));
    }
    http_headers(&d.headers)?;
    if d.payload.as_ref().is_some_and(|p| p.len() > PAYLOAD_MAX) {
        return Err(bad(format!(
            "details.payload: larger than {PAYLOAD_MAX} bytes"
        )));
    }
    if d.expected_codes.len() > EXPECTED_MAX {
        return Err(bad(format!(
            "details.expected_codes: at most {EXPECTED_MAX} codes"
        )));
    }
    if let Some(c) = d.expected_codes.iter().find(|c| !(100..=599).contains(*c)) {
        return Err(bad(format!(
            "details.expected_codes: {c} is not an HTTP status (100..=599)"
        )));
    }
    if let Some(r) = &d.body_regex {
        pattern("details.body_regex", r)?;
    }
    body_matches(&d.body_matches)?;
    if d.auth_password.is_some() && d.auth_user.is_none() {
        return Err(bad(
            "details.auth_user: is required with auth_password".into()
        ));
    }
    Ok(d)
}

fn http_headers(headers: &BTreeMap<String, String>) -> Result<(), Error> {
    if headers.len() > HTTP_HEADERS_MAX {
        return Err(bad(format!(
            "details.headers: at most {HTTP_HEADERS_MAX} headers"
        )));
    }
    for (name, value) in headers {
        if axum::http::HeaderName::try_from(name.as_str()).is_err() {
            return Err(bad(format!(
                "details.headers: {name:?} is not a header name"
            )));
        }
        if axum::http::HeaderValue::try_from(value.as_str()).is_err() {
            return Err(bad(format!(
                "details.headers.{name}: not a valid header value"
            )));
        }
    }
    Ok(())
}

fn body_matches(matches: &BTreeMap<String, String>) -> Result<(), Error> {
    if matches.len() > BODY_MATCHES_MAX {
        return Err(bad(format!(
            "details.body_matches: at most {BODY_MATCHES_MAX} entries"
        )));
    }
    for (key, re) in matches {
        let key_ok = (1..=BODY_MATCH_KEY_MAX).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok {
            return Err(bad(format!(
                "details.body_matches: {key:?} must be 1 to {BODY_MATCH_KEY_MAX} of a-z, 0-9, _"
            )));
        }
        pattern(&format!("details.body_matches.{key}"), re)?;
    }
    Ok(())
}

fn tcp(d: TcpDetails) -> Result<TcpDetails, Error> {
    match d.port {
        None => return Err(bad("details.port: is required".into())),
        Some(0) => return Err(bad("details.port: must be 1..=65535".into())),
        Some(_) => {}
    }
    if d.send_body.as_ref().is_some_and(|p| p.len() > PAYLOAD_MAX) {
        return Err(bad(format!(
            "details.send_body: larger than {PAYLOAD_MAX} bytes"
        )));
    }
    if let Some(r) = &d.banner_regex {
        pattern("details.banner_regex", r)?;
    }
    Ok(d)
}

fn dns(mut d: DnsDetails) -> Result<DnsDetails, Error> {
    let Some(q) = &d.query else {
        return Err(bad("details.query: is required".into()));
    };
    hostname("details.query", q)?;
    d.record_type = d.record_type.to_ascii_uppercase();
    if !DNS_RECORD_TYPES.contains(&d.record_type.as_str()) {
        let all = DNS_RECORD_TYPES.join(", ");
        return Err(bad(format!(
            "details.record_type: {:?} is not one of {all}",
            d.record_type
        )));
    }
    if d.port == 0 {
        return Err(bad("details.port: must be 1..=65535".into()));
    }
    if d.expected_values.len() > EXPECTED_MAX {
        return Err(bad(format!(
            "details.expected_values: at most {EXPECTED_MAX} values"
        )));
    }
    if let Some(s) = &d.server {
        hostname("details.server", s)?;
    }
    Ok(d)
}

fn ping(d: PingDetails) -> Result<PingDetails, Error> {
    if !(1..=PING_COUNT_MAX).contains(&d.count) {
        return Err(bad(format!("details.count: must be 1..={PING_COUNT_MAX}")));
    }
    Ok(d)
}

fn tls(d: TlsDetails) -> Result<TlsDetails, Error> {
    if d.port == 0 {
        return Err(bad("details.port: must be 1..=65535".into()));
    }
    if let Some(n) = &d.server_name {
        hostname("details.server_name", n)?;
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validate(t: &str, d: Value) -> Result<Value, Error> {
        Details::parse(t, d).map(|d| d.to_json())
    }

    #[test]
    fn defaults_are_filled_in() {
        let d = validate("remote.http", json!({"url": "https://example.com"})).expect("valid");
        assert_eq!(d["method"], "GET");
        assert_eq!(d["follow_redirects"], true);
        assert_eq!(
            validate("remote.ping", json!({})).expect("valid")["count"],
            PING_COUNT_DEFAULT
        );
        assert_eq!(
            validate("remote.tls", json!({})).expect("valid")["port"],
            443
        );
        assert_eq!(
            validate("remote.dns", json!({"query": "example.com"})).expect("valid")["record_type"],
            "A"
        );
    }

    #[test]
    fn each_type_refuses_what_it_cannot_run() {
        let cases = [
            ("remote.http", json!({}), "details.url"),
            (
                "remote.http",
                json!({"url": "https://x.io", "method": "BREW"}),
                "details.method",
            ),
            (
                "remote.http",
                json!({"url": "https://x.io", "expected_codes": [700]}),
                "details.expected_codes",
            ),
            (
                "remote.http",
                json!({"url": "https://x.io", "body_regex": "("}),
                "details.body_regex",
            ),
            ("remote.tcp", json!({}), "details.port"),
            ("remote.tcp", json!({"port": 70000}), "details.port"),
            (
                "remote.dns",
                json!({"query": "x.io", "record_type": "ZZ"}),
                "details.record_type",
            ),
            ("remote.ping", json!({"count": 0}), "details.count"),
            (
                "remote.tls",
                json!({"server_name": "a b"}),
                "details.server_name",
            ),
            (
                "remote.http",
                json!({"url": "https://x.io", "body_matches": {"A-b": "x"}}),
                "details.body_matches",
            ),
            (
                "remote.http",
                json!({"url": "https://x.io", "body_matches": {"v": "("}}),
                "details.body_matches.v",
            ),
            (
                "remote.http",
                json!({"url": "https://x.io", "auth_password": "p"}),
                "details.auth_user",
            ),
            (
                "remote.dns",
                json!({"query": "x.io", "server": "a b"}),
                "details.server",
            ),
            ("remote.smtp", json!({}), "type"),
        ];
        for (t, d, field) in cases {
            let e = validate(t, d).expect_err(field);
            assert!(e.to_string().starts_with(field), "{t}: {e}");
        }
    }
}
