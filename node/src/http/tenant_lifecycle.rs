//! Tenant lifecycle (admin token): `DELETE /v1/tenants/{id}` removes the tenant's objects and
//! tokens through Raft (its series are dropped later by the series store, which reads
//! `ConfigState::tenants_dropped`); `POST /v1/tenants/{id}/tokens` issues another token (shown
//! once, at most `TOKENS_PER_TENANT_MAX` held); `DELETE /v1/tenants/{id}/tokens/{token_id}`
//! revokes one. Tokens are stored only as SHA-256 digests.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use meridian_raft::model::{CommandResult, Op, TokenRecord};
use serde_json::json;

use super::KEY_REUSED;
use super::auth::token_hash;
use super::tenants::new_token;
use super::{Admin, ApiResult, AppState, Request, idempotency_key};
use crate::error::Error;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants/{id}", delete(delete_tenant))
        .route("/v1/tenants/{id}/tokens", post(issue_token))
        .route("/v1/tenants/{id}/tokens/{token_id}", delete(revoke_token))
}

/// What a tenant path names; refused before anything is written.
fn check_id(field: &str, prefix: &str, id: &str) -> Result<(), Error> {
    let ok =
        id.len() <= 64 && id.starts_with(prefix) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::NotFound(format!("{field} {id:?} does not exist")))
    }
}

fn refused(r: CommandResult) -> Error {
    match r {
        CommandResult::Refused(e) => Error::from(e),
        // Only a key first used for something else can bring another kind of result.
        _ => Error::IdempotencyKeyReused(KEY_REUSED.into()),
    }
}

async fn delete_tenant(
    State(node): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    check_id("tenant", "tn", &id)?;
    match node.write(Op::DeleteTenant { id }, None).await? {
        CommandResult::Tenant(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        other => Err(refused(other).into()),
    }
}

async fn issue_token(
    State(node): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_id("tenant", "tn", &id)?;
    let path = format!("/v1/tenants/{id}/tokens");
    let request = Request {
        method: &Method::POST,
        path: &path,
        body: None,
    };
    let key = idempotency_key(&headers, "admin", &request)?;
    let token = new_token();
    let hash = hex::encode(token_hash(&token));
    let op = Op::AddTenantToken {
        tenant: id.clone(),
        token_hash: hash.clone(),
    };
    let (rid, fingerprint) = key.map(|k| (k.id, k.fingerprint)).unzip();
    let t = match node.write_keyed(op, rid, fingerprint).await? {
        CommandResult::Tenant(t) => t,
        other => return Err(refused(other).into()),
    };
    let token_id = TokenRecord::id_of(&hash);
    // A retry answers the first result: its token was shown to the first request only.
    let Some(issued) = t.tokens.iter().find(|k| k.id == token_id) else {
        let first = t.tokens.last().map(|k| k.id.clone());
        let body = json!({"id": first, "tenant_id": t.id, "token": null});
        return Ok((StatusCode::CREATED, axum::Json(body)).into_response());
    };
    let body = json!({
        "id": issued.id, "tenant_id": t.id, "token": token, "created_at": issued.created_at_ms,
    });
    let location = format!("{path}/{}", issued.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(body),
    )
        .into_response())
}

async fn revoke_token(
    State(node): State<AppState>,
    _: Admin,
    Path((id, token_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    check_id("tenant", "tn", &id)?;
    check_id("token", "tk", &token_id)?;
    let op = Op::RevokeTenantToken {
        tenant: id,
        token_id,
    };
    match node.write(op, None).await? {
        CommandResult::Tenant(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        other => Err(refused(other).into()),
    }
}
