//! Builders shared by the tests: zones, observations, specs.

use std::collections::{BTreeMap, BTreeSet};

use meridian_alarm::{
    AlarmSpec, Criteria, MetricValue, Observation, Rule, State, ZoneId, ZoneObservation,
};

/// Criteria giving CRITICAL for v > 1, WARNING for v > 0, OK otherwise.
pub const LEVELS: &str = "if (metric['v'] > 1) { return new AlarmStatus(CRITICAL, 'v=#{v}'); }
if (metric['v'] > 0) { return new AlarmStatus(WARNING, 'v=#{v}'); }
return new AlarmStatus(OK, 'v=#{v}');";

/// Zone names `z0`, `z1`, ...
pub fn zones(n: usize) -> Vec<ZoneId> {
    (0..n).map(|i| format!("z{i}")).collect()
}

/// Every zone up.
pub fn all_up(n: usize) -> BTreeSet<ZoneId> {
    zones(n).into_iter().collect()
}

/// An observation of `zone` at `ts` with metric `v`, or unavailable.
pub fn obs(zone: &str, ts: i64, v: f64, available: bool) -> ZoneObservation {
    let metrics = BTreeMap::from([("v".to_string(), MetricValue::Number(v))]);
    ZoneObservation {
        zone: zone.to_string(),
        node_id: 7,
        observation: Observation {
            timestamp_ms: ts,
            available,
            status: if available {
                "code=200"
            } else {
                "connection refused"
            }
            .to_string(),
            metrics,
        },
    }
}

/// The verdict state the `LEVELS` criteria give.
pub fn levels_state(v: f64, available: bool) -> State {
    if !available || v > 1.0 {
        State::Critical
    } else if v > 0.0 {
        State::Warning
    } else {
        State::Ok
    }
}

/// `LEVELS` with a consistency level and consecutive count set.
pub fn criteria(level: &str, count: u8) -> Criteria {
    let text = format!(":set consistencyLevel={level}\n:set consecutiveCount={count}\n{LEVELS}");
    meridian_criteria::parse(&text).expect("test criteria parse")
}

/// A criteria alarm over `n` zones with period `period_ms`.
pub fn criteria_spec(level: &str, count: u8, n: usize, period_ms: i64) -> AlarmSpec {
    AlarmSpec {
        period_ms,
        zones: zones(n),
        rule: Rule::Criteria {
            criteria: Some(criteria(level, count)),
            consecutive_count: count,
        },
    }
}
