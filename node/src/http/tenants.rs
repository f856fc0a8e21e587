//! `/v1/tenants` (admin token): create a tenant (its token is shown once) and list tenants.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use meridian_raft::model::{CommandResult, Op};
use serde::Deserialize;

use super::KEY_REUSED;
use super::auth::token_hash;
use super::{Admin, ApiResult, AppState, JsonBody, PageParams, Request, idempotency_key, page};
use crate::error::Error;
use crate::node::new_id;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/tenants", get(list).post(create))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
}

/// A fresh random API token (256 bits, hex).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("mrd_{}", hex::encode(bytes))
}

async fn create(
    State(node): State<AppState>,
    _: Admin,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewTenant>,
) -> ApiResult<Response> {
    let sent = serde_json::json!({"name": body.name});
    let request = Request {
        method: &Method::POST,
        path: "/v1/tenants",
        body: Some(&sent),
    };
    let key = idempotency_key(&headers, "admin", &request)?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(Error::BadRequest("name: must be 1 to 100 characters".into()).into());
    }
    crate::spec::fields::plain_text("name", name)?;
    let token = new_token();
    let op = Op::CreateTenant {
        id: new_id("tn"),
        name: name.to_string(),
        token_hash: hex::encode(token_hash(&token)),
    };
    let retried = key.is_some();
    let (rid, fingerprint) = key.map(|k| (k.id, k.fingerprint)).unzip();
    match node.write_keyed(op, rid, fingerprint).await? {
        CommandResult::Tenant(t) => {
            // The token is known only to the request that created it; a retry cannot show it.
            let token = if retried && hex::encode(token_hash(&token)) != t.token_hash {
                serde_json::Value::Null
            } else {
                serde_json::Value::String(token)
            };
            let token_id = meridian_raft::model::TokenRecord::id_of(&t.token_hash);
            let body = serde_json::json!({"id": t.id, "name": t.name, "token": token, "token_id": token_id, "created_at": t.created_at_ms});
            let location = format!("/v1/tenants/{}", t.id);
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                axum::Json(body),
            )
                .into_response())
        }
        CommandResult::Refused(e) => Err(Error::from(e).into()),
        // Only a key first used for something else can bring another kind of result.
        _ => Err(Error::IdempotencyKeyReused(KEY_REUSED.into()).into()),
    }
}

async fn list(
    State(node): State<AppState>,
    _: Admin,
    Query(p): Query<PageParams>,
) -> ApiResult<Response> {
    let limit = p.limit()?;
    node.consistent_read(p.read().linearizable(false)?).await?;
    let marker = p.marker_of("tn")?;
    let values: Vec<serde_json::Value> = node.state.read(|s| {
        s.tenants()
            .filter(|t| marker.is_none_or(|m| t.id.as_str() > m))
            .take(limit + 1)
            .map(|t| {
                let tokens: Vec<_> = t.token_list().iter().map(|k| serde_json::json!({"id": k.id, "created_at": k.created_at_ms})).collect();
                serde_json::json!({"id": t.id, "name": t.name, "created_at": t.created_at_ms, "tokens": tokens})
            })
            .collect()
    });
    Ok(axum::Json(page(values, limit, marker, |v| v["id"].as_str())).into_response())
}
