//! Read-only tenant views: `/v1/monitoring_zones` (the cluster's regions with live node counts,
//! from the committed members and their liveness) and `/v1/views/overview` (entities with their
//! checks with their newest observations per zone, alarms and latest alarm states).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use meridian_raft::model::{ConfigState, ObjectKind, ObjectRecord};
use serde_json::{Value, json};

use super::alarms::Alarms;
use super::checks::Checks;
use super::entities::Entities;
use super::resource::{RResult, View, object_json};
use super::results::zone_values;
use super::{AppState, PageParams, ReadParams, TenantAuth, page};
use crate::error::Error;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/monitoring_zones", get(zones))
        .route("/v1/monitoring_zones/{id}", get(zone))
        .route("/v1/views/overview", get(overview))
}

/// Every region with members: `{id, label, nodes, nodes_up}`, in name order.
fn zone_list(s: &ConfigState) -> Vec<Value> {
    let mut by_region: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for m in s.members() {
        let e = by_region.entry(m.region.as_str()).or_default();
        e.0 += 1;
        e.1 += u32::from(m.up);
    }
    by_region
        .into_iter()
        .map(|(r, (n, up))| json!({"id": r, "label": r, "nodes": n, "nodes_up": up, "available": up > 0}))
        .collect()
}

async fn zones(
    State(node): State<AppState>,
    _: TenantAuth,
    Query(p): Query<PageParams>,
) -> RResult<Response> {
    let limit = p.limit()?;
    node.consistent_read(p.read().linearizable(false)?).await?;
    let marker = p.marker.as_deref();
    let all = node.state.read(zone_list);
    let values: Vec<Value> = all
        .into_iter()
        .filter(|z| marker.is_none_or(|m| z["id"].as_str().unwrap_or("") > m))
        .take(limit + 1)
        .collect();
    Ok(axum::Json(page(values, limit, marker, |v| v["id"].as_str())).into_response())
}

async fn zone(
    State(node): State<AppState>,
    _: TenantAuth,
    Path(id): Path<String>,
    Query(p): Query<ReadParams>,
) -> RResult<Response> {
    node.consistent_read(p.linearizable(false)?).await?;
    let z = node
        .state
        .read(zone_list)
        .into_iter()
        .find(|z| z["id"] == id.as_str());
    let z = z.ok_or_else(|| Error::NotFound(format!("monitoring zone {id} does not exist")))?;
    Ok(axum::Json(z).into_response())
}

/// The checks and alarms of the entities in `page`, gathered in one pass over the tenant's.
fn children<'a>(s: &'a ConfigState, tenant: &'a str, page: &[&'a ObjectRecord]) -> Children<'a> {
    let mut by_entity: Children<'a> = page
        .iter()
        .map(|e| (e.id.as_str(), (Vec::new(), Vec::new())))
        .collect();
    for kind in [ObjectKind::Check, ObjectKind::Alarm] {
        for o in s.objects_after(tenant, kind, None) {
            if let Some(slot) = o.parent.as_deref().and_then(|p| by_entity.get_mut(p)) {
                if kind == ObjectKind::Check {
                    slot.0.push(o)
                } else {
                    slot.1.push(o)
                }
            }
        }
    }
    by_entity
}

type Children<'a> = BTreeMap<&'a str, (Vec<&'a ObjectRecord>, Vec<&'a ObjectRecord>)>;

/// One entity with its checks, alarms and their latest states.
fn overview_of(
    view: &View<'_>,
    e: &ObjectRecord,
    checks: &[&ObjectRecord],
    alarms: &[&ObjectRecord],
) -> Value {
    let states: Vec<Value> = alarms
        .iter()
        .filter_map(|a| {
            let st = view.state.alarm_state(&e.tenant, &a.id)?;
            Some(json!({
                "alarm_id": a.id, "check_id": a.body["check_id"], "state": st.state,
                "previous_state": st.previous_state, "timestamp": st.at_ms, "reason": st.reason,
            }))
        })
        .collect();
    let checks: Vec<Value> = checks
        .iter()
        .map(|o| object_json::<Checks>(view, o))
        .collect();
    let alarms: Vec<Value> = alarms
        .iter()
        .map(|o| object_json::<Alarms>(view, o))
        .collect();
    json!({"entity": object_json::<Entities>(view, e), "checks": checks, "alarms": alarms, "latest_alarm_states": states})
}

async fn overview(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Query(p): Query<PageParams>,
) -> RResult<Response> {
    let limit = p.limit()?;
    node.consistent_read(p.read().linearizable(false)?).await?;
    let marker = p.marker_of(ObjectKind::Entity.id_prefix())?;
    let assignment = node.assignment();
    let values: Vec<Value> = node.state.read(|s| {
        let view = View {
            state: s,
            assignment: &assignment,
        };
        let entities: Vec<&ObjectRecord> = s
            .objects_after(&tenant, ObjectKind::Entity, marker)
            .take(limit + 1)
            .collect();
        let kids = children(s, &tenant, &entities);
        let none = (Vec::new(), Vec::new());
        entities
            .iter()
            .map(|e| {
                let (checks, alarms) = kids.get(e.id.as_str()).unwrap_or(&none);
                overview_of(&view, e, checks, alarms)
            })
            .collect()
    });
    let values = with_observations(&node, &tenant, values).await;
    Ok(axum::Json(page(values, limit, marker, |v| v["entity"]["id"].as_str())).into_response())
}

/// Adds each check's newest observation per zone (`latest_observations`), gathered from the
/// zones' owners in one call per owner.
async fn with_observations(node: &AppState, tenant: &str, mut values: Vec<Value>) -> Vec<Value> {
    let zones_of = |c: &Value| -> Vec<String> {
        c["monitoring_zones_poll"]
            .as_array()
            .map(|z| {
                z.iter()
                    .filter_map(|z| z.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let checks: Vec<(String, Vec<String>)> = values
        .iter()
        .flat_map(|v| v["checks"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| Some((c["id"].as_str()?.to_string(), zones_of(&c))))
        .collect();
    if checks.is_empty() {
        return values;
    }
    let local = node.poller_local();
    let got = node.gather(&local).latest(tenant, &checks).await;
    for v in &mut values {
        let Some(list) = v["checks"].as_array_mut() else {
            continue;
        };
        for c in list {
            let id = c["id"].as_str().unwrap_or_default().to_string();
            let zones = zones_of(c);
            c["latest_observations"] = Value::Array(zone_values(&id, &zones, &got));
        }
    }
    values
}
