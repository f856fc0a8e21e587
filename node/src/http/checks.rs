//! `/v1/entities/{en}/checks` (tenant token): what to poll, how often, from which zones.

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use meridian_raft::model::{ConfigState, ObjectKind};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::check_details;
use super::fields::{bad, hostname, label, metadata, typed_body};
use super::resource::{self, Ctx, Prepared, RResult, Resource};
use crate::error::Error;

/// Shortest poll period, seconds.
pub const PERIOD_MIN: u32 = 30;
/// Longest poll period, seconds.
pub const PERIOD_MAX: u32 = 1800;
/// Poll period when not given, seconds.
pub const PERIOD_DEFAULT: u32 = 60;
/// Shortest poll timeout, seconds (the longest is the period less one second).
pub const TIMEOUT_MIN: u32 = 2;
/// Poll timeout when not given, seconds (never past the period less one second).
pub const TIMEOUT_DEFAULT: u32 = 30;
/// Most monitoring zones one check is polled from.
pub const ZONES_MAX: usize = 16;

pub fn routes() -> Router<AppState> {
    resource::routes::<Checks>()
}

pub struct Checks;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    label: Option<String>,
    #[serde(rename = "type")]
    check_type: Option<String>,
    details: Option<Value>,
    period: Option<u32>,
    timeout: Option<u32>,
    monitoring_zones_poll: Option<Vec<String>>,
    target_hostname: Option<String>,
    target_alias: Option<String>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

impl Resource for Checks {
    const KIND: ObjectKind = ObjectKind::Check;
    const COLLECTION: &'static str = "/v1/entities/{entity_id}/checks";

    fn prepare(ctx: &Ctx<'_>, body: Map<String, Value>) -> RResult<Prepared> {
        let c: CheckBody = typed_body(body)?;
        let label = label(c.label.as_deref())?;
        let Some(check_type) = c.check_type else {
            return Err(bad("type: is required".into()).into());
        };
        let details = check_details::validate(&check_type, c.details.unwrap_or_else(|| json!({})))?;
        let (period, timeout) = timing(c.period, c.timeout)?;
        let zones = zones(ctx.state, c.monitoring_zones_poll)?;
        let mut body = json!({
            "label": label, "type": check_type, "details": details, "period": period,
            "timeout": timeout, "monitoring_zones_poll": zones, "disabled": c.disabled,
        });
        let (field, value) = target(ctx, c.target_hostname, c.target_alias)?;
        body[field] = Value::String(value);
        metadata(&c.metadata)?;
        body["metadata"] = json!(c.metadata);
        Ok(Prepared {
            body,
            refs: Vec::new(),
        })
    }
}

/// `period` in 30..=1800 and `timeout` in 2..period.
fn timing(period: Option<u32>, timeout: Option<u32>) -> Result<(u32, u32), Error> {
    let period = period.unwrap_or(PERIOD_DEFAULT);
    if !(PERIOD_MIN..=PERIOD_MAX).contains(&period) {
        return Err(bad(format!(
            "period: {period} must be {PERIOD_MIN}..={PERIOD_MAX} seconds"
        )));
    }
    let timeout = timeout.unwrap_or(TIMEOUT_DEFAULT.min(period - 1));
    if timeout < TIMEOUT_MIN || timeout >= period {
        return Err(bad(format!(
            "timeout: {timeout} must be {TIMEOUT_MIN} to period - 1 ({}) seconds",
            period - 1
        )));
    }
    Ok((period, timeout))
}

/// The zones to poll from: 1 to `ZONES_MAX` distinct regions of the cluster.
fn zones(state: &ConfigState, zones: Option<Vec<String>>) -> Result<Vec<String>, Error> {
    let Some(zones) = zones else {
        return Err(bad("monitoring_zones_poll: is required".into()));
    };
    if zones.is_empty() || zones.len() > ZONES_MAX {
        return Err(bad(format!(
            "monitoring_zones_poll: must name 1 to {ZONES_MAX} zones"
        )));
    }
    let regions: BTreeSet<&str> = state.members().map(|m| m.region.as_str()).collect();
    let mut seen = BTreeSet::new();
    for z in &zones {
        if !regions.contains(z.as_str()) {
            let known = regions.iter().copied().collect::<Vec<_>>().join(", ");
            return Err(bad(format!(
                "monitoring_zones_poll: {z:?} is not a monitoring zone (zones: {known})"
            )));
        }
        if !seen.insert(z) {
            return Err(bad(format!("monitoring_zones_poll: {z:?} is listed twice")));
        }
    }
    Ok(zones)
}

/// Exactly one of `target_hostname` and `target_alias` (a name of the entity's ip_addresses).
fn target(
    ctx: &Ctx<'_>,
    host: Option<String>,
    alias: Option<String>,
) -> Result<(&'static str, String), Error> {
    match (host, alias) {
        (Some(_), Some(_)) => Err(bad(
            "target_hostname: give target_hostname or target_alias, not both".into(),
        )),
        (None, None) => Err(bad(
            "target_hostname: one of target_hostname or target_alias is required".into(),
        )),
        (Some(h), None) => {
            hostname("target_hostname", &h)?;
            Ok(("target_hostname", h))
        }
        (None, Some(a)) => {
            let entity = ctx
                .parent
                .and_then(|en| ctx.state.object(ctx.tenant, ObjectKind::Entity, en));
            let known = entity.is_some_and(|e| e.body["ip_addresses"].get(&a).is_some());
            if !known {
                return Err(bad(format!(
                    "target_alias: {a:?} is not a name in the entity's ip_addresses"
                )));
            }
            Ok(("target_alias", a))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_and_timeout_bounds() {
        assert_eq!(timing(None, None).expect("ok"), (60, 30));
        assert_eq!(timing(Some(30), None).expect("ok"), (30, 29));
        assert!(
            timing(Some(29), None)
                .expect_err("low")
                .to_string()
                .starts_with("period:")
        );
        assert!(
            timing(Some(1801), None)
                .expect_err("high")
                .to_string()
                .starts_with("period:")
        );
        assert!(
            timing(Some(60), Some(60))
                .expect_err("eq")
                .to_string()
                .starts_with("timeout:")
        );
        assert!(
            timing(Some(60), Some(1))
                .expect_err("low")
                .to_string()
                .starts_with("timeout:")
        );
        assert_eq!(timing(Some(1800), Some(1799)).expect("ok"), (1800, 1799));
    }
}
