//! What goes in and out of an evaluator: a zone's observation in; zone reports, the transition
//! to propose and the zones to re-check out.

use std::collections::BTreeMap;

use meridian_criteria::Observation;

use crate::spec::ZoneId;
use crate::state::State;

/// One run of the alarm's check from one zone, as a poller reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneObservation {
    /// The monitoring zone that polled.
    pub zone: ZoneId,
    /// The node that polled.
    pub node_id: u64,
    /// Timestamp, availability, status and metrics.
    pub observation: Observation,
}

/// How one polled zone stands at an evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneReport {
    /// The zone's settled state; `None` before it has one (and always for threshold alarms).
    pub state: Option<State>,
    /// The settled state's message.
    pub message: String,
    /// Timestamp of the zone's newest observation.
    pub latest_ms: Option<i64>,
    /// The node that polled the newest observation (0 before the first).
    pub node_id: u64,
    /// Whether the zone voted: settled, fresh and with a node up.
    pub voting: bool,
}

/// A state change to commit through Raft as a compare-and-set on `seq - 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The committed state it leaves.
    pub from: State,
    /// The new state.
    pub to: State,
    /// The committed sequence plus one.
    pub seq: u64,
    /// Why, for the changelog and notifications.
    pub message: String,
    /// The voting zones' states that decided (empty for threshold alarms).
    pub zone_states: BTreeMap<ZoneId, State>,
}

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The state the observations justify now (the committed one when nothing changes).
    pub state: State,
    /// Every polled zone (criteria alarms; empty for threshold alarms).
    pub zone_states: BTreeMap<ZoneId, ZoneReport>,
    /// The transition to propose, only when `state` differs from the committed state.
    pub proposal: Option<Transition>,
    /// Zones whose pollers should poll the check now.
    pub recheck: Vec<ZoneId>,
}
