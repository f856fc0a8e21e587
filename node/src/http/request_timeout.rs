//! The request timeout of the public API: a handler that has not answered within
//! `request-timeout-ms` is dropped and the client gets 503 with `Retry-After`.
//!
//! The peer gRPC routes share the listener but not this layer: a snapshot stream between
//! nodes may rightly take minutes, and every peer call carries its own deadline. `test-check`
//! is exempt too: it is bounded by the check's own timeout (plus 2 s), which may be longer.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::error_response;

/// Default of `request-timeout-ms`.
pub const REQUEST_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);
/// Paths (by their last segment) exempt from the request timeout, with the bound they have
/// instead: `test-check` waits at most the check's timeout plus 2 s.
pub const EXEMPT_LAST_SEGMENTS: &[&str] = &["test-check"];

/// The middleware; its state is the timeout.
pub async fn limit(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    let last = req.uri().path().rsplit('/').next().unwrap_or_default();
    if EXEMPT_LAST_SEGMENTS.contains(&last) {
        return next.run(req).await;
    }
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceUnavailable",
            &format!(
                "request timeout: no answer within {} ms; retry",
                timeout.as_millis()
            ),
            serde_json::Value::Null,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over a real socket: a handler slower than the timeout answers 503 with `Retry-After`
    /// at the timeout; a fast one and an exempt slow one answer normally.
    #[tokio::test]
    async fn a_slow_handler_answers_503_at_the_timeout() {
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "late"
        };
        let app = axum::Router::new()
            .route("/fast", axum::routing::get(|| async { "ok" }))
            .route("/slow", axum::routing::get(slow))
            .route("/e/test-check", axum::routing::get(slow))
            .layer(axum::middleware::from_fn_with_state(
                Duration::from_millis(200),
                limit,
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        let get = |p: &str| http.get(format!("http://{addr}{p}")).send();
        assert_eq!(get("/fast").await.expect("reply").status(), 200);
        let late = get("/slow").await.expect("reply");
        assert_eq!(late.status(), 503);
        assert_eq!(late.headers()["retry-after"], "1");
        let body: serde_json::Value = late.json().await.expect("json");
        assert_eq!(body["type"], "serviceUnavailable");
        assert!(
            body["message"]
                .as_str()
                .expect("message")
                .contains("200 ms")
        );
        let exempt = get("/e/test-check").await.expect("reply");
        assert_eq!(exempt.status(), 200);
        assert_eq!(exempt.text().await.expect("text"), "late");
        server.abort();
    }
}
