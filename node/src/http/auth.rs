//! Authentication: the admin token and tenant tokens, from `Authorization: Bearer` (the scheme
//! in any case, RFC 9110 11.1) or `X-Auth-Token`. Tokens are compared as SHA-256 digests; the
//! admin digest in constant time. A 401 names the scheme in `WWW-Authenticate`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::error::Error;

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn presented_token(parts: &Parts) -> Option<&str> {
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let (scheme, token) = v.to_str().ok()?.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    parts
        .headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

enum Principal {
    Admin,
    Tenant(String),
}

/// Identifies the caller. A token this node does not know yet may belong to a tenant created
/// through another node moments ago, so it is looked up once more after a read barrier.
async fn principal(parts: &Parts, node: &AppState) -> Result<Principal, Error> {
    let token = presented_token(parts)
        .ok_or_else(|| Error::Unauthorized("no token: send Authorization: Bearer TOKEN".into()))?;
    let hash = token_hash(token);
    if bool::from(hash.ct_eq(&node.admin_token_hash)) {
        return Ok(Principal::Admin);
    }
    let hex = hex::encode(hash);
    let lookup = || {
        node.state
            .read(|s| s.tenant_by_token_hash(&hex).map(|t| t.id.clone()))
    };
    if let Some(id) = lookup() {
        return Ok(Principal::Tenant(id));
    }
    node.read_barrier().await?;
    lookup()
        .map(Principal::Tenant)
        .ok_or_else(|| Error::Unauthorized("invalid token".into()))
}

/// The caller holds the admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, node: &AppState) -> Result<Self, ApiError> {
        match principal(parts, node).await? {
            Principal::Admin => Ok(Admin),
            Principal::Tenant(_) => Err(ApiError(Error::Forbidden(
                "this endpoint needs the admin token".into(),
            ))),
        }
    }
}

/// The caller is a tenant; carries the tenant id.
pub struct TenantAuth(pub String);

impl FromRequestParts<AppState> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, node: &AppState) -> Result<Self, ApiError> {
        match principal(parts, node).await? {
            Principal::Tenant(id) => Ok(TenantAuth(id)),
            Principal::Admin => Err(ApiError(Error::Forbidden(
                "tenant resources need a tenant token, not the admin token".into(),
            ))),
        }
    }
}
