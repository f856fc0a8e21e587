//! The `details` of each check type, validated and completed with their defaults.

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

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Http {
    url: Option<String>,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
    /// Status codes that count as success; empty means any 2xx or 3xx.
    #[serde(default)]
    expected_codes: Vec<u16>,
    /// A regex the response body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_regex: Option<String>,
    #[serde(default = "yes")]
    follow_redirects: bool,
}

fn default_method() -> String {
    "GET".into()
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Tcp {
    port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    send_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    banner_regex: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Dns {
    query: Option<String>,
    #[serde(default = "default_record_type")]
    record_type: String,
    #[serde(default = "default_dns_port")]
    port: u16,
    #[serde(default)]
    expected_values: Vec<String>,
}

fn default_record_type() -> String {
    "A".into()
}

fn default_dns_port() -> u16 {
    53
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Ping {
    #[serde(default = "default_ping_count")]
    count: u32,
}

fn default_ping_count() -> u32 {
    PING_COUNT_DEFAULT
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Tls {
    #[serde(default = "default_tls_port")]
    port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_name: Option<String>,
    #[serde(default = "yes")]
    verify_chain: bool,
}

fn default_tls_port() -> u16 {
    443
}

/// Validates `details` for `check_type` and returns them with defaults filled in.
pub fn validate(check_type: &str, details: Value) -> Result<Value, Error> {
    let out = match check_type {
        "remote.http" => to_value(http(typed("details", details)?)?),
        "remote.tcp" => to_value(tcp(typed("details", details)?)?),
        "remote.dns" => to_value(dns(typed("details", details)?)?),
        "remote.ping" => to_value(ping(typed("details", details)?)?),
        "remote.tls" => to_value(tls(typed("details", details)?)?),
        other => {
            return Err(bad(format!(
                "type: {other:?} is not one of {}",
                CHECK_TYPES.join(", ")
            )));
        }
    };
    Ok(out)
}

fn to_value<T: Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn http(mut d: Http) -> Result<Http, Error> {
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
    if d.headers.len() > HTTP_HEADERS_MAX {
        return Err(bad(format!(
            "details.headers: at most {HTTP_HEADERS_MAX} headers"
        )));
    }
    for (name, value) in &d.headers {
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
    Ok(d)
}

fn tcp(d: Tcp) -> Result<Tcp, Error> {
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

fn dns(mut d: Dns) -> Result<Dns, Error> {
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
    Ok(d)
}

fn ping(d: Ping) -> Result<Ping, Error> {
    if !(1..=PING_COUNT_MAX).contains(&d.count) {
        return Err(bad(format!("details.count: must be 1..={PING_COUNT_MAX}")));
    }
    Ok(d)
}

fn tls(d: Tls) -> Result<Tls, Error> {
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
            ("remote.smtp", json!({}), "type"),
        ];
        for (t, d, field) in cases {
            let e = validate(t, d).expect_err(field);
            assert!(e.to_string().starts_with(field), "{t}: {e}");
        }
    }
}
