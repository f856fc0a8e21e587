//! The shared logic of every tenant resource (entities, checks, alarms, notifications, plans,
//! suppressions): create, read, update, delete and list, with ETag / If-Match,
//! Idempotency-Key, `limit` / `marker`, tenant isolation and nesting under an entity.
//!
//! A resource only says how to turn a request body into a stored body (`Resource::prepare`) and
//! what to add when it is shown (`Resource::decorate`). Updates merge the sent fields over the
//! stored body (a `null` removes a field) and validate the result as a whole, so create and
//! update share one validation.

use axum::Router;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRequestParts, Query, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use meridian_raft::model::{
    ApplyErrorKind, CommandResult, ConfigState, ObjectKind, ObjectRecord, Op, PutMode,
};
use serde_json::{Map, Value};

use super::{ApiError, AppState, JsonBody, PageParams, ReadParams, Request, TenantAuth, secrets};
use super::{IfMatch, KEY_REUSED, error_response, etag, idempotency_key, if_match, page};
use crate::error::Error;
use crate::node::new_id;
use meridian_criteria::CriteriaError;

/// Fields the server owns: ignored when a client sends them back (e.g. a GET body re-PUT).
pub const READ_ONLY_FIELDS: [&str; 5] = ["id", "entity_id", "created_at", "updated_at", "state"];
/// Most read-merge-write rounds for a PUT without If-Match that races other writers.
pub const UPDATE_ATTEMPTS_MAX: u32 = 5;

/// What a handler can answer besides success: an API error, or a criteria parse error whose
/// `details` locate the bad token.
#[derive(Debug)]
pub enum Rejection {
    Api(ApiError),
    Parse {
        field: &'static str,
        error: CriteriaError,
    },
}

impl<E: Into<Error>> From<E> for Rejection {
    fn from(e: E) -> Self {
        Rejection::Api(ApiError(e.into()))
    }
}

impl From<ApiError> for Rejection {
    fn from(e: ApiError) -> Self {
        Rejection::Api(e)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Api(e) => e.into_response(),
            Rejection::Parse { field, error } => {
                let details = serde_json::to_value(&error).unwrap_or(Value::Null);
                let message = format!("{field}: {error}");
                error_response(
                    StatusCode::BAD_REQUEST,
                    "alarmParseError",
                    &message,
                    details,
                )
            }
        }
    }
}

pub type RResult<T> = Result<T, Rejection>;

/// What `prepare` sees: the applied state, the caller and where the object lives.
pub struct Ctx<'a> {
    pub state: &'a ConfigState,
    pub tenant: &'a str,
    /// The entity a check or alarm belongs to.
    pub parent: Option<&'a str>,
    /// The operator's bounds on checks.
    pub check_limits: crate::spec::CheckLimits,
}

/// A validated body to store, with the objects it depends on (checked again inside `apply`).
pub struct Prepared {
    pub body: Value,
    pub refs: Vec<(ObjectKind, String)>,
}

/// One kind of tenant object.
pub trait Resource: Send + Sync + 'static {
    const KIND: ObjectKind;
    /// The collection's route; nested kinds contain `{entity_id}`.
    const COLLECTION: &'static str;
    /// Validates a whole body (the sent fields merged over the stored ones) and normalises it.
    fn prepare(ctx: &Ctx<'_>, body: Map<String, Value>) -> RResult<Prepared>;
    /// Adds derived fields when the object is shown.
    fn decorate(_view: &View<'_>, _o: &ObjectRecord, _out: &mut Map<String, Value>) {}
}

/// Collection and item routes of `R`.
pub fn routes<R: Resource>() -> Router<AppState> {
    Router::new()
        .route(R::COLLECTION, get(list::<R>).post(create::<R>))
        .route(
            &format!("{}/{{id}}", R::COLLECTION),
            get(read::<R>).put(update::<R>).delete(remove::<R>),
        )
}

/// The path parameters: the owning entity (nested kinds) and the object id (item routes).
pub struct Loc {
    pub parent: Option<String>,
    pub id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Loc {
    type Rejection = RawPathParamsRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state).await?;
        let get = |k: &str| {
            raw.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        Ok(Loc {
            parent: get("entity_id"),
            id: get("id"),
        })
    }
}

fn not_found(kind: ObjectKind, id: &str) -> Error {
    Error::NotFound(format!("{} {id} does not exist", kind.as_str()))
}

/// What an object is shown against: the applied state and the placement derived from it.
pub struct View<'a> {
    pub state: &'a ConfigState,
    pub assignment: &'a meridian_placement::Assignment,
}

/// The JSON shown for an object: its body without internal (`_`) fields, plus bookkeeping.
pub fn object_json<R: Resource>(view: &View<'_>, o: &ObjectRecord) -> Value {
    let mut out: Map<String, Value> = o.body.as_object().cloned().unwrap_or_default();
    out.retain(|k, _| !k.starts_with('_'));
    out.insert("id".into(), Value::String(o.id.clone()));
    if let Some(p) = &o.parent {
        out.insert("entity_id".into(), Value::String(p.clone()));
    }
    out.insert("created_at".into(), Value::from(o.created_at_ms));
    out.insert("updated_at".into(), Value::from(o.updated_at_ms));
    R::decorate(view, o, &mut out);
    secrets::mask(R::KIND, &mut out);
    Value::Object(out)
}

fn location<R: Resource>(o: &ObjectRecord) -> String {
    let base = R::COLLECTION.replace("{entity_id}", o.parent.as_deref().unwrap_or(""));
    format!("{base}/{}", o.id)
}

fn object_response<R: Resource>(node: &AppState, status: StatusCode, o: &ObjectRecord) -> Response {
    let assignment = node.assignment();
    let json = node.state.read(|state| {
        let view = View {
            state,
            assignment: &assignment,
        };
        object_json::<R>(&view, o)
    });
    let mut resp = (status, axum::Json(json)).into_response();
    resp.headers_mut().insert(header::ETAG, etag(o.version));
    if status == StatusCode::CREATED
        && let Ok(loc) = location::<R>(o).parse()
    {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}

/// The object a write returned. `apply` refuses a key sent with another request; a result of
/// another shape, or another object than `mine` accepts, can still come from an id remembered
/// before fingerprints existed, and is refused the same way.
fn expect_object(
    r: CommandResult,
    mine: impl Fn(&ObjectRecord) -> bool,
) -> Result<ObjectRecord, Error> {
    match r {
        CommandResult::Object(o) if mine(&o) => Ok(o),
        CommandResult::Refused(e) => Err(e.into()),
        _ => Err(Error::IdempotencyKeyReused(KEY_REUSED.into())),
    }
}

/// The request id and fingerprint of a write (`Idempotency-Key`), both None without the header.
type Keyed = (Option<String>, Option<String>);

fn request_key(
    headers: &HeaderMap,
    tenant: &str,
    method: Method,
    uri: &Uri,
    body: Option<&Map<String, Value>>,
) -> Result<Keyed, Error> {
    let body = body.map(|m| Value::Object(m.clone()));
    let request = Request {
        method: &method,
        path: uri.path(),
        body: body.as_ref(),
    };
    let key = idempotency_key(headers, tenant, &request)?;
    Ok(key.map(|k| (k.id, k.fingerprint)).unzip())
}

/// 422 at once when this node already knows the key was used for another request, before the
/// body is validated against the objects it names; a key this node does not know yet is
/// decided by `apply`.
fn refuse_known_reuse(node: &AppState, key: &Keyed) -> Result<(), Error> {
    if let (Some(rid), Some(fp)) = key
        && node.state.read(|s| s.request_reused(rid, fp))
    {
        return Err(Error::IdempotencyKeyReused(KEY_REUSED.into()));
    }
    Ok(())
}

/// The object at `loc` in the local state; 404 when absent, another tenant's, or under
/// another entity than the path names.
fn find<R: Resource>(node: &AppState, tenant: &str, loc: &Loc) -> Result<ObjectRecord, Error> {
    let id = loc.id.as_deref().unwrap_or_default();
    let o = node.state.read(|s| s.object(tenant, R::KIND, id).cloned());
    o.filter(|o| o.parent == loc.parent)
        .ok_or_else(|| not_found(R::KIND, id))
}

/// 404 unless the entity named by the path exists for this tenant.
fn check_parent(node: &AppState, tenant: &str, loc: &Loc) -> Result<(), Error> {
    match &loc.parent {
        Some(en)
            if node
                .state
                .read(|s| s.object(tenant, ObjectKind::Entity, en).is_none()) =>
        {
            Err(not_found(ObjectKind::Entity, en))
        }
        _ => Ok(()),
    }
}

/// Sent fields over `base`: a `null` removes the field; server-owned fields are ignored.
fn merge(base: Option<&Value>, input: Map<String, Value>) -> Map<String, Value> {
    let mut body = base.and_then(Value::as_object).cloned().unwrap_or_default();
    body.retain(|k, _| !k.starts_with('_'));
    for (k, v) in input {
        if READ_ONLY_FIELDS.contains(&k.as_str()) {
            continue;
        }
        if v.is_null() {
            body.remove(&k);
        } else {
            body.insert(k, v);
        }
    }
    body
}

fn prepare<R: Resource>(
    node: &AppState,
    tenant: &str,
    loc: &Loc,
    body: Map<String, Value>,
) -> RResult<Prepared> {
    secrets::refuse_mask(R::KIND, &body)?;
    node.state.read(|s| {
        R::prepare(
            &Ctx {
                state: s,
                tenant,
                parent: loc.parent.as_deref(),
                check_limits: node.cfg.check_limits(),
            },
            body,
        )
    })
}

async fn create<R: Resource>(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    loc: Loc,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(input): JsonBody<Map<String, Value>>,
) -> RResult<Response> {
    let key = request_key(&headers, &tenant, Method::POST, &uri, Some(&input))?;
    refuse_known_reuse(&node, &key)?;
    let (rid, fp) = key;
    let body = merge(None, input);
    let attempt = || -> RResult<Prepared> {
        check_parent(&node, &tenant, &loc)?;
        prepare::<R>(&node, &tenant, &loc, body.clone())
    };
    // Checked against the local state first. The body may name objects created through another
    // node a moment ago, so a refusal is checked once more after a read barrier. (A reference
    // that exists here but was deleted meanwhile is refused by `apply`, which decides.)
    let p = match attempt() {
        Ok(p) => p,
        Err(_) => {
            node.read_barrier().await?;
            attempt()?
        }
    };
    let op = Op::PutObject {
        tenant: tenant.clone(),
        kind: R::KIND,
        id: new_id(R::KIND.id_prefix()),
        parent: loc.parent.clone(),
        body: p.body,
        mode: PutMode::Create,
        refs: p.refs,
    };
    let mine = |o: &ObjectRecord| o.kind == R::KIND && o.parent == loc.parent;
    let o = expect_object(node.write_keyed(op, rid, fp).await?, mine)?;
    Ok(object_response::<R>(&node, StatusCode::CREATED, &o))
}

async fn read<R: Resource>(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    loc: Loc,
    Query(p): Query<ReadParams>,
) -> RResult<Response> {
    node.consistent_read(p.linearizable(true)?).await?;
    Ok(object_response::<R>(
        &node,
        StatusCode::OK,
        &find::<R>(&node, &tenant, &loc)?,
    ))
}

fn precondition_failed() -> Error {
    Error::PreconditionFailed("If-Match does not match the current ETag".into())
}

/// `If-Match`; 412 at once when it names none of our tags.
fn condition(headers: &HeaderMap) -> Result<Option<IfMatch>, Error> {
    match if_match(headers) {
        Some(IfMatch::Tags(t)) if t.is_empty() => Err(precondition_failed()),
        c => Ok(c),
    }
}

async fn update<R: Resource>(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    loc: Loc,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(input): JsonBody<Map<String, Value>>,
) -> RResult<Response> {
    let key = request_key(&headers, &tenant, Method::PUT, &uri, Some(&input))?;
    refuse_known_reuse(&node, &key)?;
    let (rid, fp) = key;
    let given = condition(&headers)?;
    // Read-merge-write, atomic through the version check in apply: the write names the version
    // it merged over. The first round reads the local state; later rounds (after a conflict, or
    // when the object or the client's version is not here yet) read after a read barrier.
    for attempt in 0..UPDATE_ATTEMPTS_MAX {
        if attempt > 0 {
            node.read_barrier().await?;
        }
        let current = match find::<R>(&node, &tenant, &loc) {
            Ok(c) => c,
            Err(_) if attempt == 0 => continue,
            Err(e) => return Err(e.into()),
        };
        if given.as_ref().is_some_and(|c| !c.matches(current.version)) {
            if attempt == 0 {
                continue;
            }
            return Err(precondition_failed().into());
        }
        let mut merged = merge(Some(&current.body), input.clone());
        secrets::keep_stored(R::KIND, &current.body, &mut merged);
        let p = match prepare::<R>(&node, &tenant, &loc, merged) {
            Ok(p) => p,
            Err(_) if attempt == 0 => continue,
            Err(e) => return Err(e),
        };
        let op = Op::PutObject {
            tenant: tenant.clone(),
            kind: R::KIND,
            id: current.id.clone(),
            parent: current.parent.clone(),
            body: p.body,
            mode: PutMode::Replace {
                if_match: Some(current.version),
            },
            refs: p.refs,
        };
        match node.write_keyed(op, rid.clone(), fp.clone()).await? {
            // Changed since it was read: merge again, unless the client named versions.
            CommandResult::Refused(e)
                if given.as_ref().is_none_or(|g| *g == IfMatch::Any)
                    && e.kind == ApplyErrorKind::PreconditionFailed => {}
            r => {
                let mine = |o: &ObjectRecord| o.kind == R::KIND && o.id == current.id;
                let o = expect_object(r, mine)?;
                return Ok(object_response::<R>(&node, StatusCode::OK, &o));
            }
        }
    }
    let what = R::KIND.as_str();
    Err(Error::Conflict(format!(
        "{what}: changed by other writers on every attempt; retry"
    ))
    .into())
}

async fn remove<R: Resource>(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    loc: Loc,
    uri: Uri,
    headers: HeaderMap,
) -> RResult<Response> {
    let key = request_key(&headers, &tenant, Method::DELETE, &uri, None)?;
    refuse_known_reuse(&node, &key)?;
    let (rid, fp) = key;
    let given = condition(&headers)?;
    node.read_barrier().await?;
    let id = loc.id.clone().unwrap_or_default();
    let current = find::<R>(&node, &tenant, &loc);
    let anywhere = node
        .state
        .read(|s| s.object(&tenant, R::KIND, &id).is_some());
    // A retried delete (same Idempotency-Key) of an object that is gone answers as the first
    // attempt did: apply returns the remembered result, or 404 if there was none.
    // The version the delete is conditional on, checked again by apply.
    let if_match = match (&given, &current) {
        (Some(c), Ok(o)) if !c.matches(o.version) => return Err(precondition_failed().into()),
        (Some(IfMatch::Tags(_)), Ok(o)) => Some(o.version),
        _ => None,
    };
    if let Err(e) = current
        && (rid.is_none() || anywhere)
    {
        return Err(e.into());
    }
    let op = Op::DeleteObject {
        tenant,
        kind: R::KIND,
        id: id.clone(),
        if_match,
    };
    deleted(node.write_keyed(op, rid, fp).await?, (R::KIND, id))
}

/// 204 for the delete of `mine`; like `expect_object`, another result is a reused key.
fn deleted(r: CommandResult, mine: (ObjectKind, String)) -> RResult<Response> {
    match r {
        CommandResult::Deleted(ids) if ids.first() == Some(&mine) => {
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        CommandResult::Refused(e) => Err(Error::from(e).into()),
        _ => Err(Error::IdempotencyKeyReused(KEY_REUSED.into()).into()),
    }
}

async fn list<R: Resource>(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    loc: Loc,
    Query(p): Query<PageParams>,
) -> RResult<Response> {
    let limit = p.limit()?;
    node.consistent_read(p.read().linearizable(false)?).await?;
    check_parent(&node, &tenant, &loc)?;
    let marker = p.marker_of(R::KIND.id_prefix())?;
    let assignment = node.assignment();
    let values: Vec<Value> = node.state.read(|s| {
        let view = View {
            state: s,
            assignment: &assignment,
        };
        s.objects_after(&tenant, R::KIND, marker)
            .filter(|o| o.parent == loc.parent)
            .take(limit + 1)
            .map(|o| object_json::<R>(&view, o))
            .collect()
    });
    Ok(axum::Json(page(values, limit, marker, |v| v["id"].as_str())).into_response())
}
