//! A check's observations: `GET .../checks/{ch}/results` (the newest from each zone, gathered
//! from the zones' owners) and `POST /v1/entities/{en}/test-check` (a check run once now from
//! each zone, nothing stored).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use meridian_raft::model::ObjectKind;
use serde_json::{Map, Value, json};

use super::resource::RResult;
use super::{AppState, JsonBody, ReadParams, TenantAuth};
use crate::error::Error;
use crate::poller::Observation;
use crate::poller::remote::ZoneResult;
use crate::spec::CheckSpec;

/// Test checks a tenant may run per minute on one node, and at once.
pub const TEST_CHECKS_PER_MINUTE: f64 = 60.0;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/entities/{entity_id}/checks/{check_id}/results",
            get(results),
        )
        .route("/v1/entities/{entity_id}/test-check", post(test_check))
}

/// An observation as the API shows it.
pub fn observation_json(o: &Observation) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// A zone that has nothing to show, and why.
fn missing_json(zone: &str, why: &str) -> Value {
    json!({"monitoring_zone_id": zone, "available": Value::Null, "status": why})
}

/// The newest observation of each of `zones`, in their order.
pub fn zone_values(
    check: &str,
    zones: &[String],
    got: &std::collections::BTreeMap<(String, String), ZoneResult>,
) -> Vec<Value> {
    zones
        .iter()
        .map(|z| match got.get(&(check.to_string(), z.clone())) {
            Some(ZoneResult::Observed(o)) => observation_json(o),
            Some(ZoneResult::Missing(why)) => missing_json(z, why),
            None => missing_json(z, "not polled yet"),
        })
        .collect()
}

async fn results(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((entity, check)): Path<(String, String)>,
    Query(p): Query<ReadParams>,
) -> RResult<Response> {
    node.consistent_read(p.linearizable(false)?).await?;
    let rec = node
        .state
        .read(|s| s.object(&tenant, ObjectKind::Check, &check).cloned())
        .filter(|c| c.parent.as_deref() == Some(entity.as_str()))
        .ok_or_else(|| Error::NotFound(format!("check {check} does not exist")))?;
    let spec = CheckSpec::from_record(&rec)?;
    let local = node.poller_local();
    let got = node
        .gather(&local)
        .latest(&tenant, &[(check.clone(), spec.zones.clone())])
        .await;
    let values = zone_values(&check, &spec.zones, &got);
    Ok(axum::Json(json!({"values": values})).into_response())
}

async fn test_check(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(entity): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> RResult<Response> {
    let key = crate::http::token_hash(&format!("test-check/{tenant}"));
    if let Err(wait) = node.test_check_limiter.take(key, std::time::Instant::now()) {
        return Err(Error::TooManyRequests(format!(
            "test-check: at most {TEST_CHECKS_PER_MINUTE} per minute; retry in {} s",
            wait.as_secs() + 1
        ))
        .into());
    }
    let limits = node.cfg.check_limits();
    let (spec, host) = node.state.read(|s| {
        let Some(e) = s.object(&tenant, ObjectKind::Entity, &entity) else {
            return Err(Error::NotFound(format!("entity {entity} does not exist")));
        };
        let spec = CheckSpec::from_body(s, &tenant, Some(&entity), limits, body)?;
        let host = spec.target_host(Some(e));
        Ok((spec, host))
    })?;
    let local = node.poller_local();
    let gather = node.gather(&local);
    let runs = spec.zones.iter().map(|zone| {
        let (gather, spec, host, tenant, entity) = (&gather, &spec, &host, &tenant, &entity);
        async move {
            match gather
                .test_check(tenant, entity, spec, host.as_deref(), zone)
                .await
            {
                Ok(o) => observation_json(&o),
                Err(why) => json!({"monitoring_zone_id": zone, "available": false, "status": why}),
            }
        }
    });
    let values = futures::future::join_all(runs).await;
    Ok(axum::Json(json!({"values": values})).into_response())
}
