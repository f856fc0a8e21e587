//! Monitoring history format: JSON-lines records (run, alarms, target changes, committed
//! transitions, deliveries, faults) as typed values; `monitoring_parse` reads them with errors
//! naming line and field.
//!
//! The format is documented in chaos-tests/README.md ("Monitoring history format") so that a
//! history may come from anywhere. Unknown fields are ignored; unknown record types are not.

use std::fmt;

use serde_json::json;

use crate::nemesis::FaultClass;

/// Why a monitoring history could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: field `{field}`: {reason}")]
pub struct HistoryError {
    /// 1-based line number in the file.
    pub line: usize,
    pub field: String,
    pub reason: String,
}

pub(crate) fn err(line: usize, field: &str, reason: impl Into<String>) -> HistoryError {
    HistoryError {
        line,
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Health of an HTTP target as the suite set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    Up,
    Down,
}

/// Where a target change applies: everywhere, or as seen from one region only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    All,
    /// A regional outage: the target is unreachable from this region only.
    Region(String),
}

/// Consistency level of an alarm under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Quorum,
    All,
}

/// Alarm states as committed by the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AlarmState {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl AlarmState {
    pub fn name(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Warning => "WARNING",
            AlarmState::Critical => "CRITICAL",
            AlarmState::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(text: &str) -> Option<AlarmState> {
        Some(match text {
            "OK" => AlarmState::Ok,
            "WARNING" => AlarmState::Warning,
            "CRITICAL" => AlarmState::Critical,
            "UNKNOWN" => AlarmState::Unknown,
            _ => return None,
        })
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a fault record marks the start or the heal of a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultPhase {
    Start,
    Heal,
}

/// `{"type": "run", "check_period_s", "detect_within_s"}`: the first record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunRecord {
    pub check_period_s: f64,
    pub detect_within_s: f64,
}

/// `{"type": "alarm", "alarm", "target", "level"}`: one alarm under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmRecord {
    pub alarm: String,
    pub target: String,
    pub level: Level,
}

/// `{"type": "target", "target", "state", "scope", "time_ns"}`: the suite changed a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetChange {
    pub target: String,
    pub state: Health,
    pub scope: Scope,
    pub time_ns: u64,
}

/// `{"type": "transition", "alarm", "seq", "state", "time_ns"}`: a committed transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub alarm: String,
    pub seq: u64,
    pub state: AlarmState,
    pub time_ns: u64,
}

/// `{"type": "delivery", "event_id", "alarm", "seq", "state", "signature_ok", "time_ns"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: String,
    pub alarm: String,
    pub seq: u64,
    pub state: AlarmState,
    pub signature_ok: bool,
    pub time_ns: u64,
}

/// `{"type": "fault", "id", "class", "phase", "nodes", "time_ns"}`: a nemesis action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultMark {
    pub id: u64,
    pub class: FaultClass,
    pub phase: FaultPhase,
    pub nodes: Vec<String>,
    pub time_ns: u64,
}

impl FaultMark {
    /// A failover: the start of a kill, pause or partition touching at least one node.
    pub fn is_failover(&self) -> bool {
        self.phase == FaultPhase::Start
            && !self.nodes.is_empty()
            && matches!(
                self.class,
                FaultClass::Kill | FaultClass::Pause | FaultClass::Partition
            )
    }
}

/// One line of a monitoring history.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Run(RunRecord),
    Alarm(AlarmRecord),
    Target(TargetChange),
    Transition(Transition),
    Delivery(Delivery),
    Fault(FaultMark),
}

impl Record {
    /// The record's time on the history's monotonic clock (`None` for run and alarm records).
    pub fn time_ns(&self) -> Option<u64> {
        match self {
            Record::Run(_) | Record::Alarm(_) => None,
            Record::Target(r) => Some(r.time_ns),
            Record::Transition(r) => Some(r.time_ns),
            Record::Delivery(r) => Some(r.time_ns),
            Record::Fault(r) => Some(r.time_ns),
        }
    }

    /// The record as one JSON line (without the newline), in the documented format.
    pub fn to_line(&self) -> String {
        let value = match self {
            Record::Run(r) => json!({"type": "run", "check_period_s": r.check_period_s,
                "detect_within_s": r.detect_within_s}),
            Record::Alarm(r) => json!({"type": "alarm", "alarm": r.alarm, "target": r.target,
                "level": match r.level { Level::Quorum => "QUORUM", Level::All => "ALL" }}),
            Record::Target(r) => json!({"type": "target", "target": r.target,
                "state": match r.state { Health::Up => "up", Health::Down => "down" },
                "scope": match &r.scope { Scope::All => "all".to_string(),
                    Scope::Region(name) => format!("region:{name}") },
                "time_ns": r.time_ns}),
            Record::Transition(r) => json!({"type": "transition", "alarm": r.alarm,
                "seq": r.seq, "state": r.state.name(), "time_ns": r.time_ns}),
            Record::Delivery(r) => json!({"type": "delivery", "event_id": r.event_id,
                "alarm": r.alarm, "seq": r.seq, "state": r.state.name(),
                "signature_ok": r.signature_ok, "time_ns": r.time_ns}),
            Record::Fault(r) => json!({"type": "fault", "id": r.id, "class": r.class.name(),
                "phase": match r.phase { FaultPhase::Start => "start", FaultPhase::Heal => "heal" },
                "nodes": r.nodes, "time_ns": r.time_ns}),
        };
        value.to_string()
    }
}

/// A parsed, validated monitoring history; every list is in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitoringHistory {
    pub run: RunRecord,
    pub alarms: Vec<AlarmRecord>,
    pub targets: Vec<TargetChange>,
    pub transitions: Vec<Transition>,
    pub deliveries: Vec<Delivery>,
    pub faults: Vec<FaultMark>,
    /// Time of the first and of the last timed record (both 0 when there is none).
    pub start_ns: u64,
    pub end_ns: u64,
}

impl MonitoringHistory {
    /// The settle time: a target change is owed a transition once it has held this long.
    pub fn settle_ns(&self) -> u64 {
        secs_to_ns(3.0 * self.run.check_period_s)
    }

    /// `detect_within_s` in nanoseconds.
    pub fn detect_ns(&self) -> u64 {
        secs_to_ns(self.run.detect_within_s)
    }
}

fn secs_to_ns(s: f64) -> u64 {
    (s * 1e9).round() as u64
}
