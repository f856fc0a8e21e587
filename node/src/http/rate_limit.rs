//! Per-token rate limiting: a token bucket per presented token (by its SHA-256), in a map of
//! bounded size. Past the rate the caller gets 429 with `Retry-After`. The admin token is not
//! limited (operators and the cluster's own tooling must always get through).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::auth::token_hash;
use super::error_response;

/// Requests per second a token may make on one node, sustained.
pub const RATE_LIMIT_PER_SEC: f64 = 1000.0;
/// Requests a token may make at once after being idle.
pub const RATE_LIMIT_BURST: f64 = 2000.0;
/// Most tokens tracked at once; idle (full) buckets, then the least recently used, are dropped.
pub const RATE_LIMIT_TOKENS_MAX: usize = 10_000;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by token digest.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    max: usize,
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(RATE_LIMIT_PER_SEC, RATE_LIMIT_BURST, RATE_LIMIT_TOKENS_MAX)
    }
}

impl RateLimiter {
    pub fn new(rate: f64, burst: f64, max: usize) -> Self {
        assert!(
            rate > 0.0 && burst >= 1.0 && max > 0,
            "rate limiter bounds must be positive"
        );
        Self {
            rate,
            burst,
            max,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket at `now`; `Err(wait)` when it is empty.
    pub fn take(&self, key: [u8; 32], now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(&key) && buckets.len() >= self.max {
            self.evict(&mut buckets, now);
        }
        let b = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
    }

    /// How long until `key` has a whole request at `now`, without taking one; `None` when it
    /// has one already (an unknown key has a full bucket).
    pub fn wait(&self, key: [u8; 32], now: Instant) -> Option<Duration> {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.get(&key)?;
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        let tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        (tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - tokens) / self.rate))
    }

    /// Drops every bucket that has refilled (forgetting it changes nothing), or else the least
    /// recently used one.
    fn evict(&self, buckets: &mut HashMap<[u8; 32], Bucket>, now: Instant) {
        let full = |b: &Bucket| {
            b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * self.rate >= self.burst
        };
        buckets.retain(|_, b| !full(b));
        if buckets.len() >= self.max
            && let Some(oldest) = buckets.iter().min_by_key(|(_, b)| b.last).map(|(k, _)| *k)
        {
            buckets.remove(&oldest);
        }
    }

    pub fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn presented(req: &Request) -> Option<&str> {
    let h = req.headers();
    if let Some(v) = h.get(header::AUTHORIZATION) {
        return v.to_str().ok()?.strip_prefix("Bearer ").map(str::trim);
    }
    h.get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The limiter of one node: buckets for every token but the admin's.
pub struct TokenLimiter {
    admin_token_hash: [u8; 32],
    buckets: RateLimiter,
}

impl TokenLimiter {
    pub fn new(admin_token_hash: [u8; 32], buckets: RateLimiter) -> Self {
        Self {
            admin_token_hash,
            buckets,
        }
    }
}

/// The middleware: 429 with `Retry-After` (whole seconds, at least 1) past a token's rate.
pub async fn limit(State(limiter): State<Arc<TokenLimiter>>, req: Request, next: Next) -> Response {
    if let Some(token) = presented(&req) {
        let hash = token_hash(token);
        let admin = bool::from(hash.ct_eq(&limiter.admin_token_hash));
        if !admin && let Err(wait) = limiter.buckets.take(hash, Instant::now()) {
            return too_many(wait);
        }
    }
    next.run(req).await
}

fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let msg = format!("rate limit: too many requests for this token; retry in {secs} s");
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
    fn a_bucket_empties_then_refills_at_the_rate() {
        let l = RateLimiter::new(10.0, 3.0, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take([1; 32], t0).is_ok());
        }
        let wait = l.take([1; 32], t0).expect_err("empty");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(
            l.take([2; 32], t0).is_ok(),
            "another token has its own bucket"
        );
        assert!(l.take([1; 32], t0 + Duration::from_millis(100)).is_ok());
    }

    #[test]
    fn wait_looks_without_taking() {
        let l = RateLimiter::new(10.0, 2.0, 100);
        let t0 = Instant::now();
        assert_eq!(
            l.wait([1; 32], t0),
            None,
            "an unknown key has a full bucket"
        );
        assert!(l.take([1; 32], t0).is_ok());
        assert_eq!(l.wait([1; 32], t0), None);
        assert!(l.take([1; 32], t0).is_ok());
        for _ in 0..3 {
            let w = l.wait([1; 32], t0).expect("empty");
            assert!(
                w > Duration::ZERO && w <= Duration::from_millis(100),
                "{w:?}"
            );
        }
        assert_eq!(l.wait([1; 32], t0 + Duration::from_millis(100)), None);
    }

    /// The middleware on a real listener: past the burst a tenant token gets 429 with
    /// `Retry-After`; another token and the admin token still get through.
    #[tokio::test]
    async fn the_middleware_answers_429_with_retry_after() {
        let admin = token_hash("admin");
        // One request per 100 s after a burst of 3: nothing refills during the test.
        let limiter = Arc::new(TokenLimiter::new(admin, RateLimiter::new(0.01, 3.0, 10)));
        let app = axum::Router::new()
            .route("/x", axum::routing::get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(limiter, limit));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        let get = |token: &'static str| {
            http.get(format!("http://{addr}/x"))
                .bearer_auth(token)
                .send()
        };
        for _ in 0..3 {
            assert_eq!(get("tenant").await.expect("reply").status(), 200);
        }
        let limited = get("tenant").await.expect("reply");
        assert_eq!(limited.status(), 429);
        let retry: u64 = limited.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!((99..=101).contains(&retry), "{retry}");
        let body: serde_json::Value = limited.json().await.expect("json");
        assert_eq!(body["type"], "tooManyRequests");
        assert_eq!(get("other").await.expect("reply").status(), 200);
        for _ in 0..10 {
            assert_eq!(get("admin").await.expect("reply").status(), 200);
        }
        server.abort();
    }

    #[test]
    fn the_map_never_holds_more_than_its_bound() {
        let l = RateLimiter::new(1.0, 5.0, 50);
        let t0 = Instant::now();
        for i in 0..500u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            assert!(l.take(key, t0).is_ok());
            assert!(l.tracked() <= 50);
        }
        assert_eq!(l.tracked(), 50);
    }
}
