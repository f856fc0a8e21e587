//! What alarms did: `/v1/changelogs/alarms` (committed transitions, newest first),
//! `.../alarms/{al}/notification_history` (deliveries), `.../test-alarm` (a dry run) and
//! `/v1/notifications/{nt}/test` (a test send).

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use meridian_raft::model::{AlarmStateRecord, DeliveryRecord, ObjectKind};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::resource::{RResult, Rejection};
use super::{AppState, JsonBody, TenantAuth};
use crate::error::Error;
use crate::spec::fields::{bad, typed_body};

/// Most changelog entries or delivery records in one page.
pub const HISTORY_PAGE_MAX: usize = 1000;
/// Page size when `limit` is not given.
pub const HISTORY_PAGE_DEFAULT: usize = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/changelogs/alarms", get(changelog))
        .route(
            "/v1/entities/{entity_id}/alarms/{alarm_id}/notification_history",
            get(history),
        )
        .route("/v1/entities/{entity_id}/test-alarm", post(test_alarm))
        .route(
            "/v1/notifications/{notification_id}/test",
            post(test_notification),
        )
}

/// Sends one test notification now through the notification's channel (one attempt).
async fn test_notification(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<String>,
) -> RResult<Response> {
    let spec = node.state.read(|s| {
        let rec = s
            .object(&tenant, ObjectKind::Notification, &id)
            .ok_or_else(|| Error::NotFound(format!("notification {id} does not exist")))?;
        crate::spec::NotificationSpec::from_record(rec)
    })?;
    let report = node.notifier.test(spec, &tenant).await;
    Ok(axum::Json(report.to_json()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangelogParams {
    entity_id: Option<String>,
    alarm_id: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    limit: Option<usize>,
    marker: Option<String>,
}

fn limit_of(limit: Option<usize>) -> Result<usize, Error> {
    match limit {
        None => Ok(HISTORY_PAGE_DEFAULT),
        Some(l) if (1..=HISTORY_PAGE_MAX).contains(&l) => Ok(l),
        Some(_) => Err(bad(format!("limit: must be 1..={HISTORY_PAGE_MAX}"))),
    }
}

/// A changelog entry as the API shows it.
fn change_json(c: &AlarmStateRecord) -> Value {
    json!({
        "id": format!("cl{}", c.index), "timestamp": c.at_ms, "entity_id": c.facts.entity_id,
        "alarm_id": c.alarm_id, "check_id": c.facts.check_id, "state": c.state,
        "previous_state": c.previous_state, "message": c.reason, "seq": c.seq,
        "zone_states": c.facts.zone_states, "analyzed_by_monitoring_zone_id": c.facts.zone,
        "evaluated_by": c.evaluator,
    })
}

async fn changelog(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Query(p): Query<ChangelogParams>,
) -> RResult<Response> {
    let limit = limit_of(p.limit)?;
    let after = match p.marker.as_deref() {
        None => None,
        Some(m) => Some(
            m.strip_prefix("cl")
                .and_then(|i| i.parse::<u64>().ok())
                .ok_or_else(|| bad(format!("marker: {m:?} is not a changelog id")))?,
        ),
    };
    let values: Vec<Value> = node.state.read(|s| {
        s.alarm_changes()
            .rev()
            .filter(|c| c.tenant == tenant)
            .filter(|c| after.is_none_or(|a| c.index < a))
            .filter(|c| p.entity_id.as_ref().is_none_or(|e| *e == c.facts.entity_id))
            .filter(|c| p.alarm_id.as_ref().is_none_or(|a| *a == c.alarm_id))
            .filter(|c| p.from.is_none_or(|f| c.at_ms >= f))
            .filter(|c| p.to.is_none_or(|t| c.at_ms < t))
            .take(limit + 1)
            .map(change_json)
            .collect()
    });
    Ok(
        axum::Json(super::page(values, limit, p.marker.as_deref(), |v| {
            v["id"].as_str()
        }))
        .into_response(),
    )
}

/// A delivery record as the notification history shows it.
fn delivery_json(d: &DeliveryRecord) -> Value {
    let f = &d.facts;
    let done = if f.done_at_ms != 0 {
        f.done_at_ms
    } else {
        d.at_ms
    };
    let first = (f.first_attempt_at_ms != 0).then_some(f.first_attempt_at_ms);
    json!({
        "event_id": d.event_id, "notification_id": d.notification_id, "type": f.kind,
        "state": f.state, "status": d.status, "attempts": f.attempts,
        "last_error": f.last_error, "first_attempt_at": first, "done_at": done,
    })
}

async fn history(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((entity, alarm)): Path<(String, String)>,
) -> RResult<Response> {
    let values = node.state.read(|s| {
        let a = s
            .object(&tenant, ObjectKind::Alarm, &alarm)
            .filter(|a| a.parent.as_deref() == Some(entity.as_str()))
            .ok_or_else(|| Error::NotFound(format!("alarm {alarm} does not exist")))?;
        let prefix = format!("{tenant}:{entity}:{}:", a.id);
        let mut v: Vec<&DeliveryRecord> = s.deliveries_with_prefix(&prefix).collect();
        v.sort_by_key(|d| std::cmp::Reverse(d.at_ms));
        Ok::<_, Error>(
            v.into_iter()
                .take(HISTORY_PAGE_MAX)
                .map(delivery_json)
                .collect::<Vec<_>>(),
        )
    })?;
    Ok(axum::Json(json!({"values": values})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestAlarm {
    criteria: Option<String>,
    threshold: Option<Value>,
    /// The check the observations come from (its type and period); optional.
    check_id: Option<String>,
    #[serde(default)]
    check_data: Vec<CheckData>,
}

/// One observation of `check_data`: the shape test-check answers, fields optional.
#[derive(Deserialize)]
struct CheckData {
    monitoring_zone_id: String,
    #[serde(default)]
    node_id: u64,
    #[serde(default)]
    timestamp: i64,
    #[serde(default = "yes")]
    available: bool,
    #[serde(default)]
    status: String,
    #[serde(default)]
    metrics: std::collections::BTreeMap<String, crate::poller::Metric>,
}

fn yes() -> bool {
    true
}

async fn test_alarm(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(entity): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> RResult<Response> {
    let t: TestAlarm = typed_body(body)?;
    let check = node.state.read(|s| {
        if s.object(&tenant, ObjectKind::Entity, &entity).is_none() {
            return Err(Error::NotFound(format!("entity {entity} does not exist")));
        }
        match &t.check_id {
            None => Ok(None),
            Some(id) => s
                .object(&tenant, ObjectKind::Check, id)
                .filter(|c| c.parent.as_deref() == Some(entity.as_str()))
                .ok_or_else(|| bad(format!("check_id: check {id} does not exist on {entity}")))
                .and_then(|c| crate::spec::CheckSpec::from_record(c).map(Some)),
        }
    })?;
    let observations: Vec<meridian_alarm::ZoneObservation> = t
        .check_data
        .iter()
        .map(|d| {
            crate::evaluator::convert::zone_observation(&crate::poller::Observation {
                check_id: String::new(),
                entity_id: entity.clone(),
                tenant_id: tenant.clone(),
                monitoring_zone_id: d.monitoring_zone_id.clone(),
                node_id: d.node_id,
                timestamp: d.timestamp,
                available: d.available,
                status: d.status.clone(),
                metrics: d.metrics.clone(),
            })
        })
        .collect();
    let zones: BTreeSet<String> = observations.iter().map(|o| o.zone.clone()).collect();
    let (check_type, period_ms) = check.as_ref().map_or(("remote.http", 60_000), |c| {
        (c.details.check_type(), i64::from(c.period_s) * 1000)
    });
    let rule = match (t.criteria, t.threshold) {
        (Some(_), Some(_)) => {
            return Err(bad("criteria: give criteria or threshold, not both".into()).into());
        }
        (Some(text), None) => {
            let c = meridian_criteria::parse(&text).map_err(|error| Rejection::Parse {
                field: "criteria",
                error,
            })?;
            meridian_alarm::Rule::from_criteria(Some(c), check_type)
        }
        (None, Some(v)) => {
            let th = crate::spec::alarm::parse_threshold(v)?;
            meridian_alarm::Rule::Threshold(crate::spec::alarm::threshold_spec(&th)?)
        }
        (None, None) => meridian_alarm::Rule::from_criteria(None, check_type),
    };
    let spec = meridian_alarm::AlarmSpec {
        period_ms,
        zones: zones.into_iter().collect(),
        rule,
    };
    let run = meridian_alarm::dry_run(&spec, observations).map_err(|e| bad(e.to_string()))?;
    let values: Vec<Value> = run
        .values
        .iter()
        .map(|v| {
            json!({"monitoring_zone_id": v.zone, "state": v.state.as_str(),
                   "status": v.status, "timestamp": v.timestamp_ms})
        })
        .collect();
    Ok(axum::Json(json!({"values": values, "state": run.state.as_str()})).into_response())
}
