//! `AlarmEvaluator`: one alarm's windows, fed observations, asked for decisions at `now_ms`.

use std::collections::{BTreeMap, BTreeSet};

use crate::consistency::{Vote, combine};
use crate::decision::{Decision, Transition, ZoneObservation, ZoneReport};
use crate::error::{AlarmError, Result};
use crate::m_of_n::{Outcome, Point, decide};
use crate::spec::{AlarmSpec, Rule, ThresholdSpec, ZoneId};
use crate::state::{Committed, State};
use crate::threshold::ThresholdWindow;
use crate::zone::ZoneWindow;

/// The evaluator of one alarm. Pure: observations and `now_ms` in, decisions out.
///
/// It starts from the committed state with empty windows, so it changes the state only once
/// fresh observations justify it; it proposes a transition only when its decision differs from
/// the committed state, and keeps proposing the same step until [`Self::on_committed`] moves it.
#[derive(Debug, Clone)]
pub struct AlarmEvaluator {
    spec: AlarmSpec,
    committed: Committed,
    windows: Windows,
    /// The zone whose newest observation started to move it away from the alarm's state.
    recheck_from: Option<ZoneId>,
    /// When the last re-check was asked for.
    last_recheck_ms: Option<i64>,
    /// `now_ms` of the first evaluation: buckets before it were not watched by this evaluator.
    watching_since_ms: Option<i64>,
}

#[derive(Debug, Clone)]
enum Windows {
    Zones(BTreeMap<ZoneId, ZoneWindow>),
    Threshold(ThresholdWindow),
}

impl AlarmEvaluator {
    /// An evaluator for `spec` resuming from `committed` (use [`Committed::initial`] for a new
    /// alarm). Refuses a spec that does not validate.
    pub fn new(spec: AlarmSpec, committed: Committed) -> Result<Self> {
        spec.validate()?;
        let windows = match &spec.rule {
            Rule::Criteria { .. } => Windows::Zones(
                spec.zones
                    .iter()
                    .map(|z| (z.clone(), ZoneWindow::new()))
                    .collect(),
            ),
            Rule::Threshold(_) => Windows::Threshold(ThresholdWindow::new()),
        };
        Ok(AlarmEvaluator {
            spec,
            committed,
            windows,
            recheck_from: None,
            last_recheck_ms: None,
            watching_since_ms: None,
        })
    }

    /// The spec evaluated.
    pub fn spec(&self) -> &AlarmSpec {
        &self.spec
    }

    /// The committed state the evaluator proposes from.
    pub fn committed(&self) -> Committed {
        self.committed
    }

    /// A transition was committed (by this evaluator or, after a lost compare-and-set, another):
    /// proposals go on from it. An older one than known is ignored.
    pub fn on_committed(&mut self, committed: Committed) {
        if committed.seq >= self.committed.seq {
            self.committed = committed;
        }
    }

    /// Treats every bucket as watched, for a dry run over observations given all at once.
    pub(crate) fn assume_watched(&mut self) {
        self.watching_since_ms = Some(i64::MIN);
    }

    /// Takes one observation. Refused: a zone the check does not poll, and (criteria alarms) an
    /// observation not newer than the zone's newest.
    pub fn observe(&mut self, obs: ZoneObservation) -> Result<()> {
        if !self.spec.zones.contains(&obs.zone) {
            return Err(AlarmError::UnknownZone { zone: obs.zone });
        }
        match (&mut self.windows, &self.spec.rule) {
            (Windows::Threshold(window), Rule::Threshold(t)) => {
                let value = obs
                    .observation
                    .metrics
                    .get(&t.metric)
                    .and_then(|v| v.as_number());
                if let (true, Some(value)) = (obs.observation.available, value) {
                    window.add(t, obs.observation.timestamp_ms, value);
                }
                Ok(())
            }
            (
                Windows::Zones(zones),
                Rule::Criteria {
                    criteria,
                    consecutive_count,
                },
            ) => {
                let window = zones.get_mut(&obs.zone).expect("a window per polled zone");
                if let Some(newest_ms) = window.latest_ms()
                    && obs.observation.timestamp_ms <= newest_ms
                {
                    let timestamp_ms = obs.observation.timestamp_ms;
                    return Err(AlarmError::OutOfOrder {
                        zone: obs.zone,
                        timestamp_ms,
                        newest_ms,
                    });
                }
                let before = window.settled().map(|s| s.state);
                let k = usize::from(*consecutive_count);
                let verdict = window.push(criteria.as_ref(), k, obs.node_id, obs.observation);
                let state = State::from(verdict.state);
                if state != self.committed.state && before != Some(state) {
                    self.recheck_from = Some(obs.zone);
                }
                Ok(())
            }
            _ => unreachable!("windows are built from the rule"),
        }
    }

    /// The decision at `now_ms`, given the zones that have at least one node up.
    pub fn evaluate(&mut self, now_ms: i64, zones_up: &BTreeSet<ZoneId>) -> Decision {
        let since = *self.watching_since_ms.get_or_insert(now_ms);
        let (state, message, zone_states, votes) = match &mut self.windows {
            Windows::Zones(zones) => {
                self.spec
                    .combine_zones(zones, now_ms, zones_up, self.committed)
            }
            Windows::Threshold(window) => {
                let Rule::Threshold(t) = &self.spec.rule else {
                    unreachable!("windows are built from the rule")
                };
                let (state, message) = threshold_state(t, window, now_ms, since, self.committed);
                (state, message, BTreeMap::new(), BTreeMap::new())
            }
        };
        let proposal = (state != self.committed.state).then(|| Transition {
            from: self.committed.state,
            to: state,
            seq: self.committed.seq + 1,
            message,
            zone_states: votes,
        });
        let recheck = self.rechecks(now_ms, zones_up);
        Decision {
            state,
            zone_states,
            proposal,
            recheck,
        }
    }

    /// The zones to poll now: every other polled zone that is up, when a zone started to
    /// disagree and no re-check was asked for within the last period.
    fn rechecks(&mut self, now_ms: i64, zones_up: &BTreeSet<ZoneId>) -> Vec<ZoneId> {
        let Some(from) = self.recheck_from.take() else {
            return Vec::new();
        };
        if self
            .last_recheck_ms
            .is_some_and(|t| now_ms - t < self.spec.period_ms)
        {
            return Vec::new();
        }
        let zones: Vec<ZoneId> = self
            .spec
            .zones
            .iter()
            .filter(|z| **z != from && zones_up.contains(*z))
            .cloned()
            .collect();
        if !zones.is_empty() {
            self.last_recheck_ms = Some(now_ms);
        }
        zones
    }
}

type Combined = (
    State,
    String,
    BTreeMap<ZoneId, ZoneReport>,
    BTreeMap<ZoneId, State>,
);

impl AlarmSpec {
    /// Zone reports, votes and the combined state of a criteria alarm.
    fn combine_zones(
        &self,
        zones: &BTreeMap<ZoneId, ZoneWindow>,
        now_ms: i64,
        zones_up: &BTreeSet<ZoneId>,
        committed: Committed,
    ) -> Combined {
        let Rule::Criteria {
            consecutive_count, ..
        } = &self.rule
        else {
            unreachable!("zone windows belong to criteria alarms")
        };
        // Fresh: younger than 1.5 x consecutiveCount x period, in integers.
        let fresh_limit = 3 * i128::from(*consecutive_count) * i128::from(self.period_ms);
        let mut reports = BTreeMap::new();
        let mut voters: Vec<(&ZoneId, Vote, &str)> = Vec::new();
        for (zone, window) in zones {
            let settled = window.settled();
            let fresh = window
                .latest_ms()
                .is_some_and(|t| 2 * (i128::from(now_ms) - i128::from(t)) < fresh_limit);
            let voting = settled.is_some() && fresh && zones_up.contains(zone);
            if let (true, Some(s)) = (voting, settled) {
                let vote = Vote {
                    state: s.state,
                    since_ms: s.since_ms,
                };
                voters.push((zone, vote, &s.message));
            }
            let report = ZoneReport {
                state: settled.map(|s| s.state),
                message: settled.map(|s| s.message.clone()).unwrap_or_default(),
                latest_ms: window.latest_ms(),
                node_id: window.node_id(),
                voting,
            };
            reports.insert(zone.clone(), report);
        }
        let votes: Vec<Vote> = voters.iter().map(|(_, v, _)| *v).collect();
        let level = self.rule.consistency();
        let state = combine(level, committed.state, self.zones.len(), &votes);
        let message = voters
            .iter()
            .filter(|(_, v, _)| v.state == state)
            .max_by_key(|(_, v, _)| v.since_ms)
            .map(|(zone, _, message)| format!("{zone}: {message}"))
            .unwrap_or_default();
        let decided = voters
            .iter()
            .map(|(z, v, _)| ((*z).clone(), v.state))
            .collect();
        (state, message, reports, decided)
    }
}

/// A threshold alarm's state at `now_ms` and why.
///
/// Until the evaluator has watched a whole evaluation range (it started at `watching_since_ms`
/// with empty buckets), buckets without data may only be unseen, not missing: the state then
/// changes only on N real points (which decide whatever `treat_missing_data` says), and is kept
/// otherwise. So a failover never turns an alarm UNKNOWN, OK or ALARM on data it did not see.
fn threshold_state(
    t: &ThresholdSpec,
    window: &mut ThresholdWindow,
    now_ms: i64,
    watching_since_ms: i64,
    committed: Committed,
) -> (State, String) {
    let range = window.range(t, now_ms);
    let breaching = range
        .points
        .iter()
        .filter(|p| **p == Point::Breaching)
        .count();
    let with_data = range
        .points
        .iter()
        .filter(|p| **p != Point::Missing)
        .count();
    let watched = range.first_ms >= watching_since_ms;
    let outcome = if watched || with_data >= t.evaluation_periods as usize {
        decide(
            &range.points,
            t.evaluation_periods,
            t.datapoints_to_alarm,
            t.treat_missing_data,
        )
    } else {
        Outcome::Retain
    };
    let current = committed.state;
    let condition = format!(
        "{}({}) {} {}",
        t.statistic.name(),
        t.metric,
        t.comparison.symbol(),
        meridian_criteria::format_number(t.threshold)
    );
    let of = format!("{breaching} of {with_data} periods with data");
    let state = match outcome {
        Outcome::Alarm => t.state,
        Outcome::Ok => State::Ok,
        Outcome::InsufficientData => State::Unknown,
        Outcome::Retain => current,
    };
    let message = match outcome {
        Outcome::Alarm | Outcome::Ok => format!("{condition} in {of}"),
        Outcome::InsufficientData | Outcome::Retain => {
            format!("insufficient data for {condition}: {of}")
        }
    };
    (state, message)
}
