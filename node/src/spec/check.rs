//! `CheckSpec`: a check as every subsystem sees it, parsed once from a request body (with full
//! validation) or from its stored record.

use std::collections::{BTreeMap, BTreeSet};

use meridian_raft::model::{ConfigState, ObjectKind, ObjectRecord};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::details::Details;
use super::fields::{bad, hostname, label, metadata, typed_body};
use crate::error::Error;

/// Longest poll period, seconds.
pub const PERIOD_MAX: u32 = 1800;
/// Poll period when not given, seconds.
pub const PERIOD_DEFAULT: u32 = 60;
/// Lowest value of `--min-check-period-s`, seconds.
pub const MIN_PERIOD_FLOOR: u32 = 1;
/// Default of `--min-check-period-s`: the shortest period the API accepts, seconds.
pub const MIN_PERIOD_DEFAULT: u32 = 30;
/// Shortest poll timeout, seconds (the longest is the period less one second).
pub const TIMEOUT_MIN: u32 = 1;
/// Poll timeout when not given, seconds (never past the period less one second).
pub const TIMEOUT_DEFAULT: u32 = 30;
/// Most monitoring zones one check is polled from.
pub const ZONES_MAX: usize = 16;

/// What a check polls: a host name, or a name of its entity's `ip_addresses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Hostname(String),
    Alias(String),
}

/// The operator's bounds on checks.
#[derive(Debug, Clone, Copy)]
pub struct CheckLimits {
    /// Shortest `period` accepted, seconds (`--min-check-period-s`).
    pub min_period_s: u32,
}

impl Default for CheckLimits {
    fn default() -> Self {
        Self {
            min_period_s: MIN_PERIOD_DEFAULT,
        }
    }
}

/// A check: what to poll, how often, from which zones.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    pub label: String,
    pub details: Details,
    pub period_s: u32,
    pub timeout_s: u32,
    pub zones: Vec<String>,
    pub target: Target,
    pub disabled: bool,
    pub metadata: BTreeMap<String, String>,
}

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

impl CheckSpec {
    /// Validates a whole check body for `entity` of `tenant`: zones must be regions of the
    /// cluster and an alias a name in the entity's `ip_addresses`. Errors name the field.
    pub fn from_body(
        state: &ConfigState,
        tenant: &str,
        entity: Option<&str>,
        limits: CheckLimits,
        body: Map<String, Value>,
    ) -> Result<CheckSpec, Error> {
        let c: CheckBody = typed_body(body)?;
        let label = label(c.label.as_deref())?;
        let Some(check_type) = c.check_type else {
            return Err(bad("type: is required".into()));
        };
        let details = Details::parse(&check_type, c.details.unwrap_or_else(|| json!({})))?;
        let (period_s, timeout_s) = timing(limits, c.period, c.timeout)?;
        let zones = zones(state, c.monitoring_zones_poll)?;
        let target = target(state, tenant, entity, c.target_hostname, c.target_alias)?;
        metadata(&c.metadata)?;
        Ok(CheckSpec {
            label,
            details,
            period_s,
            timeout_s,
            zones,
            target,
            disabled: c.disabled,
            metadata: c.metadata,
        })
    }

    /// Reads a stored check. Stored bodies were validated when written, so only their shape
    /// is checked here (zones and aliases may have changed since, which pollers handle).
    pub fn from_record(record: &ObjectRecord) -> Result<CheckSpec, Error> {
        debug_assert_eq!(record.kind, ObjectKind::Check);
        CheckSpec::from_stored(record.body.clone())
    }

    /// Reads a check in its stored JSON form (see `from_record`).
    pub fn from_stored(body: Value) -> Result<CheckSpec, Error> {
        let Value::Object(body) = body else {
            return Err(bad("body: a stored check is not an object".into()));
        };
        let c: CheckBody = typed_body(body)?;
        let check_type = c.check_type.unwrap_or_default();
        let details = Details::parse(&check_type, c.details.unwrap_or_else(|| json!({})))?;
        let target = match (c.target_hostname, c.target_alias) {
            (Some(h), _) => Target::Hostname(h),
            (None, Some(a)) => Target::Alias(a),
            (None, None) => return Err(bad("target_hostname: missing in stored check".into())),
        };
        Ok(CheckSpec {
            label: c.label.unwrap_or_default(),
            details,
            period_s: c.period.unwrap_or(PERIOD_DEFAULT),
            timeout_s: c.timeout.unwrap_or(TIMEOUT_DEFAULT),
            zones: c.monitoring_zones_poll.unwrap_or_default(),
            target,
            disabled: c.disabled,
            metadata: c.metadata,
        })
    }

    /// The stored JSON form.
    pub fn to_body(&self) -> Value {
        let mut body = json!({
            "label": self.label, "type": self.details.check_type(),
            "details": self.details.to_json(), "period": self.period_s,
            "timeout": self.timeout_s, "monitoring_zones_poll": self.zones,
            "disabled": self.disabled, "metadata": self.metadata,
        });
        match &self.target {
            Target::Hostname(h) => body["target_hostname"] = json!(h),
            Target::Alias(a) => body["target_alias"] = json!(a),
        }
        body
    }

    /// The host to poll: the host name, or the address the alias names in `entity`'s
    /// `ip_addresses`; `None` when the alias is gone.
    pub fn target_host(&self, entity: Option<&ObjectRecord>) -> Option<String> {
        match &self.target {
            Target::Hostname(h) => Some(h.clone()),
            Target::Alias(a) => entity
                .and_then(|e| e.body["ip_addresses"].get(a))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }
}

/// `period` in min..=`PERIOD_MAX` and `timeout` in `TIMEOUT_MIN`..period.
fn timing(
    limits: CheckLimits,
    period: Option<u32>,
    timeout: Option<u32>,
) -> Result<(u32, u32), Error> {
    let min = limits.min_period_s.clamp(MIN_PERIOD_FLOOR + 1, PERIOD_MAX);
    let period = period.unwrap_or(PERIOD_DEFAULT.max(min));
    if !(min..=PERIOD_MAX).contains(&period) {
        return Err(bad(format!(
            "period: {period} must be {min}..={PERIOD_MAX} seconds"
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
    state: &ConfigState,
    tenant: &str,
    entity: Option<&str>,
    host: Option<String>,
    alias: Option<String>,
) -> Result<Target, Error> {
    match (host, alias) {
        (Some(_), Some(_)) => Err(bad(
            "target_hostname: give target_hostname or target_alias, not both".into(),
        )),
        (None, None) => Err(bad(
            "target_hostname: one of target_hostname or target_alias is required".into(),
        )),
        (Some(h), None) => {
            hostname("target_hostname", &h)?;
            Ok(Target::Hostname(h))
        }
        (None, Some(a)) => {
            let entity = entity.and_then(|en| state.object(tenant, ObjectKind::Entity, en));
            let known = entity.is_some_and(|e| e.body["ip_addresses"].get(&a).is_some());
            if !known {
                return Err(bad(format!(
                    "target_alias: {a:?} is not a name in the entity's ip_addresses"
                )));
            }
            Ok(Target::Alias(a))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(min_period_s: u32) -> CheckLimits {
        CheckLimits { min_period_s }
    }

    #[test]
    fn period_and_timeout_bounds() {
        let l = CheckLimits::default();
        assert_eq!(timing(l, None, None).expect("ok"), (60, 30));
        assert_eq!(timing(l, Some(30), None).expect("ok"), (30, 29));
        let err = |r: Result<(u32, u32), Error>| r.expect_err("refused").to_string();
        assert!(err(timing(l, Some(29), None)).starts_with("period:"));
        assert!(err(timing(l, Some(1801), None)).starts_with("period:"));
        assert!(err(timing(l, Some(60), Some(60))).starts_with("timeout:"));
        assert!(err(timing(l, Some(60), Some(0))).starts_with("timeout:"));
        assert_eq!(timing(l, Some(1800), Some(1799)).expect("ok"), (1800, 1799));
    }

    #[test]
    fn a_low_minimum_period_allows_fast_checks() {
        assert_eq!(timing(lim(2), Some(2), None).expect("ok"), (2, 1));
        assert_eq!(timing(lim(2), None, None).expect("ok"), (60, 30));
        // The floor: a period of 1 s would leave no room for a timeout.
        assert!(timing(lim(1), Some(1), None).is_err());
        assert!(timing(lim(5), Some(4), None).is_err());
    }
}
