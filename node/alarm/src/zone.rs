//! One zone's window of a criteria alarm: its newest verdicts and the state they settled on.

use std::collections::VecDeque;

use meridian_criteria::{CONSECUTIVE_COUNT_MAX, Criteria, Observation, ZoneVerdict, evaluate};

use crate::state::State;

/// Most verdicts a zone window holds: the largest `consecutiveCount`. Together with the one
/// observation kept for `previous()`/`rate()`, this bounds a zone's memory.
pub const ZONE_WINDOW_MAX: usize = CONSECUTIVE_COUNT_MAX as usize;

/// A zone's settled state: the state its last `consecutiveCount` agreeing observations reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneState {
    /// The zone's state.
    pub state: State,
    /// The message of the newest observation that agreed with the state.
    pub message: String,
    /// Timestamp of the observation that made the zone settle on this state.
    pub since_ms: i64,
}

/// The window of one zone.
///
/// The zone's state changes to S once `consecutive_count` consecutive observations evaluate to S;
/// before that it has no state (a new evaluator starts with empty windows and does not guess).
#[derive(Debug, Clone, Default)]
pub struct ZoneWindow {
    /// Verdict states of the newest observations, oldest first, at most `consecutive_count`.
    verdicts: VecDeque<State>,
    /// The newest observation, the `prev` of the next evaluation.
    latest: Option<Observation>,
    /// Node that polled the newest observation.
    node_id: u64,
    /// The settled state, once there is one.
    settled: Option<ZoneState>,
}

impl ZoneWindow {
    /// An empty window.
    pub fn new() -> Self {
        ZoneWindow::default()
    }

    /// Evaluates `obs` against `criteria` (with the previous observation for `previous()` and
    /// `rate()`), records the verdict and settles the zone when `consecutive_count` agree.
    /// Returns the verdict. The caller has checked that `obs` is newer than [`Self::latest_ms`].
    pub fn push(
        &mut self,
        criteria: Option<&Criteria>,
        consecutive_count: usize,
        node_id: u64,
        obs: Observation,
    ) -> ZoneVerdict {
        assert!((1..=ZONE_WINDOW_MAX).contains(&consecutive_count));
        debug_assert!(self.latest_ms().is_none_or(|t| t < obs.timestamp_ms));
        let verdict = evaluate(criteria, &obs, self.latest.as_ref());
        let state = State::from(verdict.state);
        while self.verdicts.len() >= consecutive_count {
            self.verdicts.pop_front();
        }
        self.verdicts.push_back(state);
        let agreed =
            self.verdicts.len() == consecutive_count && self.verdicts.iter().all(|s| *s == state);
        match &mut self.settled {
            Some(settled) if settled.state == state => settled.message.clone_from(&verdict.message),
            _ if agreed => {
                self.settled = Some(ZoneState {
                    state,
                    message: verdict.message.clone(),
                    since_ms: obs.timestamp_ms,
                });
            }
            _ => {}
        }
        self.node_id = node_id;
        self.latest = Some(obs);
        verdict
    }

    /// Timestamp of the newest observation, if any.
    pub fn latest_ms(&self) -> Option<i64> {
        self.latest.as_ref().map(|o| o.timestamp_ms)
    }

    /// Node that polled the newest observation (0 before the first).
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The settled state, if the zone has reached one.
    pub fn settled(&self) -> Option<&ZoneState> {
        self.settled.as_ref()
    }

    /// Verdicts held now (never more than [`ZONE_WINDOW_MAX`]).
    pub fn verdicts_held(&self) -> usize {
        self.verdicts.len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn obs(ts: i64, available: bool) -> Observation {
        Observation {
            timestamp_ms: ts,
            available,
            status: if available { "ok" } else { "timeout" }.into(),
            metrics: BTreeMap::new(),
        }
    }

    #[test]
    fn settles_after_consecutive_count_agreeing_observations() {
        let mut w = ZoneWindow::new();
        assert!(w.settled().is_none());
        w.push(None, 3, 1, obs(1, true));
        w.push(None, 3, 1, obs(2, true));
        assert!(w.settled().is_none(), "two of three is not enough");
        w.push(None, 3, 1, obs(3, true));
        let s = w.settled().expect("settled");
        assert_eq!((s.state, s.since_ms), (State::Ok, 3));
        w.push(None, 3, 2, obs(4, false));
        w.push(None, 3, 2, obs(5, false));
        assert_eq!(w.settled().map(|s| s.state), Some(State::Ok));
        w.push(None, 3, 2, obs(6, true));
        w.push(None, 3, 2, obs(7, false));
        assert_eq!(
            w.settled().map(|s| s.state),
            Some(State::Ok),
            "interrupted run"
        );
        w.push(None, 3, 2, obs(8, false));
        w.push(None, 3, 2, obs(9, false));
        let s = w.settled().expect("settled");
        assert_eq!((s.state, s.since_ms), (State::Critical, 9));
        assert_eq!(s.message, "timeout");
        assert_eq!(w.node_id(), 2);
        assert_eq!(w.latest_ms(), Some(9));
    }

    #[test]
    fn window_never_holds_more_than_the_max() {
        let mut w = ZoneWindow::new();
        for ts in 0..(3 * ZONE_WINDOW_MAX as i64) {
            w.push(None, ZONE_WINDOW_MAX, 1, obs(ts, ts % 2 == 0));
            assert!(w.verdicts_held() <= ZONE_WINDOW_MAX);
        }
        assert_eq!(w.verdicts_held(), ZONE_WINDOW_MAX);
        assert!(w.settled().is_none(), "alternating verdicts never agree");
    }
}
