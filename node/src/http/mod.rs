//! The public HTTP API (JSON) served by every node.
//!
//! Architecture invariant: the only module that knows HTTP. Handlers validate input, call the
//! node's write or read path, and shape the answer; `ApiError` is the one place errors become
//! HTTP statuses and JSON bodies.

mod alarm_views;
mod alarms;
mod auth;
pub mod auth_limit;
mod body;
mod check_metrics;
mod checks;
mod cluster;
mod entities;
mod hygiene;
mod idempotency;
pub mod metrics_api;
mod notifications;
pub mod openapi;
mod openapi_schemas;
mod ops;
pub mod rate_limit;
pub mod request_timeout;
mod resource;
pub mod results;
pub mod secrets;
mod suppressions;
mod tenant_lifecycle;
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
pub use idempotency::{IDEMPOTENCY_KEY_MAX, KEY_REUSED, Request, RequestKey, idempotency_key};
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
        .merge(tenant_lifecycle::routes())
        .merge(entities::routes())
        .merge(checks::routes())
        .merge(alarms::routes())
        .merge(notifications::routes())
        .merge(suppressions::routes())
        .merge(views::routes())
        .merge(results::routes())
        .merge(alarm_views::routes())
        .method_not_allowed_fallback(hygiene::method_not_allowed)
        .merge(metrics_api::routes())
        .merge(check_metrics::routes())
        .layer(axum::middleware::from_fn_with_state(
            limiter,
            rate_limit::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(auth_limit::AuthFailureLimiter::default()),
            auth_limit::limit,
        ))
        .layer(axum::middleware::from_fn(hygiene::check))
        .layer(axum::middleware::from_fn_with_state(
            std::time::Duration::from_millis(node.cfg.request_timeout_ms),
            request_timeout::limit,
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

/// The message of every internal error: its text (which may name files, records or the
/// server's own types) goes to the log under the answer's `request_id`, never to the client.
pub const INTERNAL_MESSAGE: &str =
    "internal error; the server log has the details under this request_id";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let cause = self.0.to_string();
        let message = if self.0.is_internal() {
            INTERNAL_MESSAGE
        } else {
            &cause
        };
        answer(
            status,
            self.0.kind(),
            message,
            serde_json::Value::Null,
            &cause,
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
    answer(status, kind, message, details, message)
}

/// The challenge of every 401 (RFC 9110 11.6.1).
pub const WWW_AUTHENTICATE: &str = "Bearer realm=\"meridian\"";

/// An error body; `cause` is what the log says of a server error.
fn answer(
    status: StatusCode,
    kind: &str,
    message: &str,
    details: serde_json::Value,
    cause: &str,
) -> Response {
    let request_id = new_id("req");
    if status.is_server_error() {
        tracing::warn!(%request_id, error = %cause, "request failed");
    }
    let body = serde_json::json!({
        "type": kind,
        "code": status.as_u16(),
        "message": message,
        "details": details,
        "request_id": request_id,
    });
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(WWW_AUTHENTICATE),
        );
    }
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

/// An `If-Match` condition (RFC 9110 13.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version.
    Any,
    /// A list of entity tags: the versions among them that are ours. Comparison is strong, so
    /// a weak tag (`W/"1"`) or a tag that is not ours never matches; the list may be empty.
    Tags(Vec<u64>),
}

impl IfMatch {
    pub fn matches(&self, version: u64) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Tags(t) => t.contains(&version),
        }
    }
}

/// Most entity tags looked at in `If-Match` headers.
pub const IF_MATCH_TAGS_MAX: usize = 64;

/// `If-Match` (every field line of it): None when absent.
pub fn if_match(headers: &HeaderMap) -> Option<IfMatch> {
    let mut lines = headers.get_all(header::IF_MATCH).iter().peekable();
    lines.peek()?;
    let mut tags = Vec::new();
    for v in lines {
        let Ok(s) = v.to_str() else {
            continue;
        };
        // Our tags are digits in quotes, so a comma never occurs inside one of them.
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item == "*" {
                return Some(IfMatch::Any);
            }
            let ours = item
                .strip_prefix('"')
                .and_then(|i| i.strip_suffix('"'))
                .and_then(|i| i.parse::<u64>().ok());
            if let Some(v) = ours
                && tags.len() < IF_MATCH_TAGS_MAX
            {
                tags.push(v);
            }
        }
    }
    Some(IfMatch::Tags(tags))
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
/// Longest id accepted as a `marker`.
pub const MARKER_MAX: usize = 64;

impl PageParams {
    /// `marker`: an id of the listed kind (`prefix`, then letters and digits), or 400.
    pub fn marker_of(&self, prefix: &str) -> Result<Option<&str>, Error> {
        let Some(m) = self.marker.as_deref() else {
            return Ok(None);
        };
        let ok = m.len() <= MARKER_MAX
            && m.len() > prefix.len()
            && m.starts_with(prefix)
            && m.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(Error::BadRequest(format!(
                "marker: {m:?} is not an id of this list (the next_marker of a page)"
            )));
        }
        Ok(Some(m))
    }

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

/// An object as the API shows it (secrets masked), for other subsystems' messages.
pub fn shown(
    state: &meridian_raft::model::ConfigState,
    assignment: &meridian_placement::Assignment,
    o: &meridian_raft::model::ObjectRecord,
) -> serde_json::Map<String, serde_json::Value> {
    use meridian_raft::model::ObjectKind as K;
    let view = resource::View { state, assignment };
    let v = match o.kind {
        K::Entity => resource::object_json::<entities::Entities>(&view, o),
        K::Check => resource::object_json::<checks::Checks>(&view, o),
        K::Alarm => resource::object_json::<alarms::Alarms>(&view, o),
        K::Notification => resource::object_json::<notifications::Notifications>(&view, o),
        K::Plan => resource::object_json::<notifications::Plans>(&view, o),
        K::Suppression => resource::object_json::<suppressions::Suppressions>(&view, o),
    };
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(resp: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }

    #[tokio::test]
    async fn an_internal_error_answers_without_its_text() {
        let cause = "unexpected result Object(ObjectRecord { id: \"en1\" })";
        let resp = ApiError(Error::Internal(cause.into())).into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let b = body(resp).await;
        assert_eq!(b["message"], INTERNAL_MESSAGE);
        assert_eq!(b["type"], "internalError");
        assert!(b["request_id"].is_string());
        assert!(!b.to_string().contains("Object"), "{b}");
        let resp = ApiError(Error::Unauthorized("no token".into())).into_response();
        let challenge = resp.headers().get(header::WWW_AUTHENTICATE);
        assert_eq!(
            challenge.map(|v| v.as_bytes()),
            Some(WWW_AUTHENTICATE.as_bytes())
        );
        // Client errors keep their message: it says what to fix.
        let resp = ApiError(Error::BadRequest("label: is required".into())).into_response();
        assert_eq!(body(resp).await["message"], "label: is required");
    }

    fn if_match_of(lines: &[&str]) -> Option<IfMatch> {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(header::IF_MATCH, l.parse().expect("header"));
        }
        if_match(&h)
    }

    #[test]
    fn if_match_follows_rfc_9110() {
        assert_eq!(if_match_of(&[]), None);
        assert_eq!(if_match_of(&["*"]), Some(IfMatch::Any));
        let list = if_match_of(&["\"3\", \"5\""]).expect("list");
        assert!(list.matches(5) && list.matches(3) && !list.matches(4));
        assert_eq!(
            if_match_of(&["\"3\"", "\"7\""]),
            Some(IfMatch::Tags(vec![3, 7]))
        );
        // Strong comparison: a weak tag never matches; nor does a tag that is not ours.
        assert_eq!(if_match_of(&["W/\"3\""]), Some(IfMatch::Tags(vec![])));
        assert_eq!(if_match_of(&["\"x\", 3"]), Some(IfMatch::Tags(vec![])));
        let many: Vec<String> = (0..100).map(|i| format!("\"{i}\"")).collect();
        let many = if_match_of(&[many.join(",").as_str()]);
        assert_eq!(
            many,
            Some(IfMatch::Tags((0..IF_MATCH_TAGS_MAX as u64).collect()))
        );
    }
}
