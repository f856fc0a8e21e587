//! Failed authentications are limited per source address: each 401 takes one token from the
//! address's bucket; an address whose bucket is empty gets 429 with `Retry-After` before its
//! token is even looked at, so guessing tokens from one address is slow. Another address is
//! not affected. The address is the TCP peer's (no proxy header is trusted).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::error_response;
use super::rate_limit::RateLimiter;

/// Failed authentications an address may make at once.
pub const AUTH_FAILURES_BURST: f64 = 20.0;
/// Failed authentications per second an address may make, sustained (one per 5 s).
pub const AUTH_FAILURES_PER_SEC: f64 = 0.2;
/// Most addresses tracked at once (see `RateLimiter` for which are forgotten first).
pub const AUTH_SOURCES_MAX: usize = 10_000;

/// Buckets of failed authentications, keyed by source address.
pub struct AuthFailureLimiter {
    buckets: RateLimiter,
}

impl Default for AuthFailureLimiter {
    fn default() -> Self {
        Self::new(RateLimiter::new(
            AUTH_FAILURES_PER_SEC,
            AUTH_FAILURES_BURST,
            AUTH_SOURCES_MAX,
        ))
    }
}

impl AuthFailureLimiter {
    pub fn new(buckets: RateLimiter) -> Self {
        Self { buckets }
    }
}

fn key(ip: IpAddr) -> [u8; 32] {
    let mut k = [0u8; 32];
    match ip {
        IpAddr::V4(a) => k[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => {
            k[..16].copy_from_slice(&a.octets());
            k[16] = 6;
        }
    }
    k
}

/// The middleware. A request without a known source address (none in tests that call the
/// router directly) is not limited.
pub async fn limit(
    State(limiter): State<Arc<AuthFailureLimiter>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(ip) = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return next.run(req).await;
    };
    if let Some(wait) = limiter.buckets.wait(key(ip), Instant::now()) {
        return too_many(wait.as_secs_f64());
    }
    let resp = next.run(req).await;
    if resp.status() == StatusCode::UNAUTHORIZED {
        // Empty or not, the bucket gets this failure; the next request is the one refused.
        let _ = limiter.buckets.take(key(ip), Instant::now());
    }
    resp
}

fn too_many(wait_s: f64) -> Response {
    let secs = wait_s.ceil().max(1.0) as u64;
    let msg = format!("too many failed authentications from this address; retry in {secs} s");
    let mut resp = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "tooManyRequests",
        &msg,
        serde_json::Value::Null,
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_and_v6_addresses_have_distinct_keys() {
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        let c: IpAddr = "127.0.0.2".parse().expect("ip");
        assert_ne!(key(a), key(b));
        assert_ne!(key(a), key(c));
    }
}
