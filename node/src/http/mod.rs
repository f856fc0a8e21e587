//! The public HTTP API (JSON) served by every node.
//!
//! Architecture invariant: the only module that knows HTTP. Handlers validate input, call the
//! node's write or read path, and shape the answer; `ApiError` is the one place errors become
//! HTTP statuses and JSON bodies.

mod alarms;
mod auth;
mod body;
mod check_metrics;
mod checks;
mod cluster;
mod entities;
pub mod metrics_api;
mod notifications;
pub mod openapi;
mod openapi_schemas;
mod ops;
pub mod rate_limit;
mod resource;
pub mod results;
mod suppressions;
mod tenants;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::error::Error;
use crate::node::{Node, new_id};

pub use auth::{Admin, TenantAuth, token_hash};
pub use body::JsonBody;
pub use tenants::new_token;

pub type AppState = Arc<Node>;

/// All routes of the public API.
pub fn router(node: AppState) -> Router<()> {
    let limiter = rate_limit::TokenLimiter::new(
        node.admin_token_hash,
        rate_limit::RateLimiter::new(
            node.cfg.rate_limit_per_sec,
            node.cfg.rate_limit_burst,
            rate_limit::RATE_LIMIT_TOKENS_MAX,
        ),
    );
    let limiter = Arc::new(limiter);
    Router::new()
        .merge(ops::routes())
        .merge(openapi::routes())
        .merge(cluster::routes())
        .merge(tenants::routes())
        .merge(entities::routes())
        .merge(checks::routes())
        .merge(alarms::routes())
        .merge(notifications::routes())
        .merge(suppressions::routes())
        .merge(views::routes())
        .merge(results::routes())
        .merge(metrics_api::routes())
        .merge(check_metrics::routes())
        .layer(axum::middleware::from_fn_with_state(
            limiter,
            rate_limit::limit,
        ))
        .with_state(node)
}

/// Counts responses by status class for `/metrics`.
pub async fn count_status(
    axum::extract::State(node): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let resp = next.run(req).await;
    let s = resp.status();
    if s.is_success() {
        node.metrics.http_2xx.inc();
    } else if s.is_client_error() {
        node.metrics.http_4xx.inc();
    } else if s.is_server_error() {
        node.metrics.http_5xx.inc();
    }
    resp
}

/// The JSON 404 for unknown paths, set after the gRPC routes are merged in.
pub async fn not_found() -> ApiError {
    ApiError(Error::NotFound("no such route".into()))
}

/// An error answer: `{type, code, message, details, request_id}` with the right status.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        error_response(
            status,
            self.0.kind(),
            &self.0.to_string(),
            serde_json::Value::Null,
        )
    }
}

/// The one shape of every error body: `{type, code, message, details, request_id}`.
pub fn error_response(
    status: StatusCode,
    kind: &str,
    message: &str,
    details: serde_json::Value,
) -> Response {
    let request_id = new_id("req");
    if status.is_server_error() {
        tracing::warn!(%request_id, error = %message, "request failed");
    }
    let body = serde_json::json!({
        "type": kind,
        "code": status.as_u16(),
        "message": message,
        "details": details,
        "request_id": request_id,
    });
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `?consistency=local|linearizable`.
#[derive(Debug, Deserialize, Default)]
pub struct ReadParams {
    pub consistency: Option<String>,
}

impl ReadParams {
    /// Whether the read must be linearizable; `default` applies when the parameter is absent.
    pub fn linearizable(&self, default: bool) -> Result<bool, Error> {
        match self.consistency.as_deref() {
            None => Ok(default),
            Some("linearizable") => Ok(true),
            Some("local") => Ok(false),
            Some(other) => Err(Error::BadRequest(format!(
                "consistency: {other:?} is not one of local, linearizable"
            ))),
        }
    }
}

/// Longest accepted `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// The request id of a write: from `Idempotency-Key` (scoped to the caller), or None.
pub fn idempotency_key(headers: &HeaderMap, scope: &str) -> Result<Option<String>, Error> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .map_err(|_| Error::BadRequest("Idempotency-Key: must be visible ASCII".into()))?;
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX {
        return Err(Error::BadRequest(format!(
            "Idempotency-Key: must be 1 to {IDEMPOTENCY_KEY_MAX} characters"
        )));
    }
    Ok(Some(format!("idem/{scope}/{key}")))
}

/// `If-Match`: None when absent; Some(None) when present but not one of our tags (never matches).
pub fn if_match(headers: &HeaderMap) -> Option<Option<u64>> {
    let v = headers.get(header::IF_MATCH)?;
    let s = v.to_str().unwrap_or("").trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    Some(s.trim_matches('"').parse::<u64>().ok())
}

pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header")
}

/// `?limit=&marker=` for lists.
#[derive(Debug, Deserialize, Default)]
pub struct PageParams {
    pub limit: Option<String>,
    pub marker: Option<String>,
    pub consistency: Option<String>,
}

pub const LIST_LIMIT_DEFAULT: usize = 100;
pub const LIST_LIMIT_MAX: usize = 1000;

impl PageParams {
    pub fn limit(&self) -> Result<usize, Error> {
        match &self.limit {
            None => Ok(LIST_LIMIT_DEFAULT),
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=LIST_LIMIT_MAX).contains(&n) => Ok(n),
                _ => Err(Error::BadRequest(format!(
                    "limit: {s:?} must be an integer 1..={LIST_LIMIT_MAX}"
                ))),
            },
        }
    }

    pub fn read(&self) -> ReadParams {
        ReadParams {
            consistency: self.consistency.clone(),
        }
    }
}

/// `{values, metadata: {count, limit, marker, next_marker}}`.
/// `values` holds up to `limit + 1` items; the extra one only says another page follows, whose
/// marker is the id (read by `id_of`) of the last item kept.
pub fn page(
    mut values: Vec<serde_json::Value>,
    limit: usize,
    marker: Option<&str>,
    id_of: fn(&serde_json::Value) -> Option<&str>,
) -> serde_json::Value {
    let next = (values.len() > limit).then(|| {
        values.truncate(limit);
        values
            .last()
            .and_then(id_of)
            .unwrap_or_default()
            .to_string()
    });
    serde_json::json!({
        "values": values,
        "metadata": {"count": values.len(), "limit": limit, "marker": marker, "next_marker": next},
    })
}
