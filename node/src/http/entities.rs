//! `/v1/entities` (tenant token): entity CRUD with ETag / If-Match and Idempotency-Key.

use std::collections::BTreeMap;
use std::net::IpAddr;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use meridian_raft::model::{CommandResult, ObjectKind, ObjectRecord, Op, PutMode};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ApiResult, AppState, JsonBody, PageParams, ReadParams, TenantAuth};
use super::{etag, idempotency_key, if_match, page};
use crate::error::Error;
use crate::node::new_id;

pub const LABEL_MAX: usize = 255;
pub const METADATA_ENTRIES_MAX: usize = 100;
pub const METADATA_KEY_MAX: usize = 255;
pub const METADATA_VALUE_MAX: usize = 1024;
pub const IP_ADDRESSES_MAX: usize = 64;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/entities", get(list).post(create))
        .route("/v1/entities/{id}", get(read).put(update).delete(remove))
}

/// The fields a client may send; on PUT, absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityInput {
    label: Option<String>,
    ip_addresses: Option<BTreeMap<String, String>>,
    metadata: Option<BTreeMap<String, String>>,
}

fn validate(e: &EntityInput) -> Result<(), Error> {
    let bad = |m: String| Err(Error::BadRequest(m));
    if let Some(l) = &e.label
        && (l.trim().is_empty() || l.chars().count() > LABEL_MAX)
    {
        return bad(format!("label: must be 1 to {LABEL_MAX} characters"));
    }
    if let Some(ips) = &e.ip_addresses {
        if ips.len() > IP_ADDRESSES_MAX {
            return bad(format!("ip_addresses: at most {IP_ADDRESSES_MAX} entries"));
        }
        for (name, ip) in ips {
            if name.is_empty() || name.len() > 64 {
                return bad("ip_addresses: names must be 1 to 64 characters".into());
            }
            if ip.parse::<IpAddr>().is_err() {
                return bad(format!("ip_addresses.{name}: {ip:?} is not an IP address"));
            }
        }
    }
    if let Some(md) = &e.metadata {
        if md.len() > METADATA_ENTRIES_MAX {
            return bad(format!("metadata: at most {METADATA_ENTRIES_MAX} entries"));
        }
        for (k, v) in md {
            if k.is_empty() || k.len() > METADATA_KEY_MAX {
                return bad(format!("metadata: keys must be 1 to {METADATA_KEY_MAX} bytes"));
            }
            if v.len() > METADATA_VALUE_MAX {
                return bad(format!("metadata.{k}: values must be at most {METADATA_VALUE_MAX} bytes"));
            }
        }
    }
    Ok(())
}

/// Merges the input over `base` (an existing body, or empty for a create).
fn merged(base: &Value, input: EntityInput) -> Value {
    let mut body: Map<String, Value> = base.as_object().cloned().unwrap_or_default();
    if let Some(l) = input.label {
        body.insert("label".into(), Value::String(l.trim().to_string()));
    }
    if let Some(ips) = input.ip_addresses {
        body.insert("ip_addresses".into(), serde_json::json!(ips));
    }
    if let Some(md) = input.metadata {
        body.insert("metadata".into(), serde_json::json!(md));
    }
    body.entry("ip_addresses").or_insert_with(|| serde_json::json!({}));
    body.entry("metadata").or_insert_with(|| serde_json::json!({}));
    Value::Object(body)
}

pub fn entity_json(o: &ObjectRecord) -> Value {
    let mut v = o.body.clone();
    if let Some(m) = v.as_object_mut() {
        m.insert("id".into(), Value::String(o.id.clone()));
        m.insert("created_at".into(), Value::from(o.created_at_ms));
        m.insert("updated_at".into(), Value::from(o.updated_at_ms));
    }
    v
}

fn object_response(status: StatusCode, o: &ObjectRecord) -> Response {
    let mut resp = (status, axum::Json(entity_json(o))).into_response();
    resp.headers_mut().insert(header::ETAG, etag(o.version));
    if status == StatusCode::CREATED
        && let Ok(loc) = format!("/v1/entities/{}", o.id).parse()
    {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}

fn expect_object(r: CommandResult) -> Result<ObjectRecord, Error> {
    match r {
        CommandResult::Object(o) => Ok(o),
        CommandResult::Refused(e) => Err(e.into()),
        other => Err(Error::Internal(format!("unexpected result {other:?}"))),
    }
}

async fn create(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    headers: HeaderMap,
    JsonBody(input): JsonBody<EntityInput>,
) -> ApiResult<Response> {
    validate(&input)?;
    if input.label.is_none() {
        return Err(Error::BadRequest("label: is required".into()).into());
    }
    let rid = idempotency_key(&headers, &tenant)?;
    let op = Op::PutObject {
        tenant: tenant.clone(),
        kind: ObjectKind::Entity,
        id: new_id(ObjectKind::Entity.id_prefix()),
        parent: None,
        body: merged(&Value::Null, input),
        mode: PutMode::Create,
    };
    let o = expect_object(node.write(op, rid).await?)?;
    Ok(object_response(StatusCode::CREATED, &o))
}

fn find(node: &AppState, tenant: &str, id: &str) -> Result<ObjectRecord, Error> {
    node.state
        .read(|s| s.object(tenant, ObjectKind::Entity, id).cloned())
        .ok_or_else(|| Error::NotFound(format!("entity {id} does not exist")))
}

async fn read(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<String>,
    Query(p): Query<ReadParams>,
) -> ApiResult<Response> {
    node.consistent_read(p.linearizable(true)?).await?;
    Ok(object_response(StatusCode::OK, &find(&node, &tenant, &id)?))
}

/// Most read-merge-write rounds for a PUT without If-Match that races other writers.
pub const UPDATE_ATTEMPTS_MAX: u32 = 5;

async fn update(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(input): JsonBody<EntityInput>,
) -> ApiResult<Response> {
    validate(&input)?;
    let rid = idempotency_key(&headers, &tenant)?;
    let condition = if_match(&headers);
    if condition == Some(None) {
        return Err(Error::PreconditionFailed("If-Match does not match the current ETag".into()).into());
    }
    // Read-merge-write: the version check in apply makes it atomic. With If-Match the client's
    // version is checked; without, a race with another writer is retried here.
    for _ in 0..UPDATE_ATTEMPTS_MAX {
        node.read_barrier().await?;
        let current = find(&node, &tenant, &id)?;
        let op = Op::PutObject {
            tenant: tenant.clone(),
            kind: ObjectKind::Entity,
            id: id.clone(),
            parent: None,
            body: merged(&current.body, input.clone()),
            mode: PutMode::Replace { if_match: condition.flatten().or(Some(current.version)) },
        };
        match node.write(op, rid.clone()).await? {
            CommandResult::Refused(e)
                if condition.is_none() && e.kind == meridian_raft::model::ApplyErrorKind::PreconditionFailed => {}
            r => return Ok(object_response(StatusCode::OK, &expect_object(r)?)),
        }
    }
    Err(Error::Conflict("entity: changed by other writers on every attempt; retry".into()).into())
}

async fn remove(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let rid = idempotency_key(&headers, &tenant)?;
    let condition = if_match(&headers);
    if condition == Some(None) {
        return Err(Error::PreconditionFailed("If-Match does not match the current ETag".into()).into());
    }
    let op = Op::DeleteObject { tenant, kind: ObjectKind::Entity, id, if_match: condition.flatten() };
    match node.write(op, rid).await? {
        CommandResult::Deleted(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        CommandResult::Refused(e) => Err(Error::from(e).into()),
        other => Err(Error::Internal(format!("unexpected result {other:?}")).into()),
    }
}

async fn list(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Query(p): Query<PageParams>,
) -> ApiResult<Response> {
    let limit = p.limit()?;
    node.consistent_read(p.read().linearizable(false)?).await?;
    let marker = p.marker.as_deref();
    let mut values: Vec<Value> = node.state.read(|s| {
        s.objects_after(&tenant, ObjectKind::Entity, marker).take(limit + 1).map(entity_json).collect()
    });
    let next = (values.len() > limit).then(|| {
        values.truncate(limit);
        values.last().and_then(|v| v["id"].as_str()).unwrap_or_default().to_string()
    });
    Ok(axum::Json(page(values, limit, marker, next)).into_response())
}
