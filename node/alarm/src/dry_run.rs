//! The dry run of `POST /v1/entities/{en}/test-alarm`: each observation's zone state and the
//! state all of them together give, without any committed state.

use std::collections::{BTreeMap, BTreeSet};

use meridian_criteria::{Observation, evaluate, format_number};

use crate::decision::ZoneObservation;
use crate::error::{AlarmError, Result};
use crate::evaluator::AlarmEvaluator;
use crate::spec::{AlarmSpec, Rule, ThresholdSpec, ZoneId};
use crate::state::{Committed, State};

/// Most observations one dry run evaluates.
pub const DRY_RUN_OBSERVATIONS_MAX: usize = 1_000;

/// One observation's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunValue {
    /// The zone that polled.
    pub zone: ZoneId,
    /// The state this observation alone gives its zone.
    pub state: State,
    /// Why: the criteria's message, or the threshold comparison.
    pub status: String,
    /// The observation's timestamp.
    pub timestamp_ms: i64,
}

/// A dry run's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// One value per observation, in timestamp order.
    pub values: Vec<DryRunValue>,
    /// The alarm's state from all observations, starting from `Unknown`, every zone up, at the
    /// newest timestamp (threshold alarms: at the end of the newest observation's period).
    pub state: State,
}

/// Evaluates `observations` for `spec` (whose zones must include every observation's zone).
pub fn dry_run(spec: &AlarmSpec, mut observations: Vec<ZoneObservation>) -> Result<DryRun> {
    if observations.len() > DRY_RUN_OBSERVATIONS_MAX {
        let message = format!("at most {DRY_RUN_OBSERVATIONS_MAX} observations");
        return Err(AlarmError::invalid("check_data", message));
    }
    observations.sort_by_key(|o| o.observation.timestamp_ms);
    let mut evaluator = AlarmEvaluator::new(spec.clone(), Committed::initial())?;
    let mut previous: BTreeMap<ZoneId, Observation> = BTreeMap::new();
    let mut values = Vec::with_capacity(observations.len());
    let mut newest_ms = None;
    for obs in observations {
        let (state, status) = match &spec.rule {
            Rule::Criteria { criteria, .. } => {
                let verdict =
                    evaluate(criteria.as_ref(), &obs.observation, previous.get(&obs.zone));
                (State::from(verdict.state), verdict.message)
            }
            Rule::Threshold(t) => threshold_value(t, &obs.observation),
        };
        values.push(DryRunValue {
            zone: obs.zone.clone(),
            state,
            status,
            timestamp_ms: obs.observation.timestamp_ms,
        });
        newest_ms = Some(obs.observation.timestamp_ms);
        previous.insert(obs.zone.clone(), obs.observation.clone());
        evaluator.observe(obs)?;
    }
    let Some(newest_ms) = newest_ms else {
        return Ok(DryRun {
            values,
            state: State::Unknown,
        });
    };
    let now_ms = match &spec.rule {
        Rule::Criteria { .. } => newest_ms,
        Rule::Threshold(t) => (newest_ms.div_euclid(t.period_ms) + 1) * t.period_ms,
    };
    evaluator.assume_watched();
    let zones_up: BTreeSet<ZoneId> = spec.zones.iter().cloned().collect();
    let state = evaluator.evaluate(now_ms, &zones_up).state;
    Ok(DryRun { values, state })
}

/// One observation against a threshold: its own value breaching or not.
fn threshold_value(t: &ThresholdSpec, obs: &Observation) -> (State, String) {
    let value = obs.metrics.get(&t.metric).and_then(|v| v.as_number());
    match value {
        Some(v) if obs.available => {
            let comparison = format!(
                "{} {} {}",
                t.metric,
                t.comparison.symbol(),
                format_number(t.threshold)
            );
            if t.comparison.holds(v, t.threshold) {
                (
                    t.state,
                    format!("{comparison}: {} breaches", format_number(v)),
                )
            } else {
                (
                    State::Ok,
                    format!("{comparison}: {} does not breach", format_number(v)),
                )
            }
        }
        _ => (State::Unknown, format!("no value of {}", t.metric)),
    }
}
