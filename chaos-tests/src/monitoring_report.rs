//! What `check-monitoring` reports: violations by kind, per-alarm and delivery summaries,
//! the detection latency distribution, and their human-readable rendering.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// At most this many violations are kept with their details; the counts stay complete.
pub const VIOLATIONS_SHOWN_MAX: usize = 1000;

/// A rule of the monitoring checker that a history broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViolationKind {
    /// A target change held for the settle time had no transition within `detect_within_s`.
    Missed,
    /// A transition to a state that was not expected at any moment of the window before it.
    Spurious,
    /// A transition to the state already committed, or a second one for the same change.
    DuplicateTransition,
    /// An unjustified transition back to the state before the last one, or to UNKNOWN.
    Reset,
    /// The alarm's `seq` values are not 1, 2, 3, ... in time order.
    SeqGap,
    /// A committed transition with no delivery carrying a valid signature.
    Undelivered,
    /// A delivery whose signature did not verify.
    InvalidSignature,
    /// An `event_id` delivered more often than one plus the failovers during its delivery.
    DuplicateDeliveries,
    /// A delivery naming an (alarm, seq, state) that no transition committed.
    DeliveryWithoutTransition,
    /// One transition delivered under several `event_id`s, or one `event_id` for several.
    UnstableEventId,
}

/// One broken rule, with what the checker knows of where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub kind: ViolationKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_ns: Option<u64>,
    pub detail: String,
}

/// Per-alarm counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlarmSummary {
    pub alarm: String,
    pub target: String,
    pub level: String,
    /// Committed transitions checked.
    pub transitions: u64,
    /// Expected-state changes that held for the settle time (the initial state included).
    pub changes_owed: u64,
    pub changes_detected: u64,
    /// Owed changes whose deadline lies after the end of the history, not yet detected.
    pub unresolved_at_end: u64,
    pub missed: u64,
    pub spurious: u64,
    pub duplicate_transitions: u64,
    pub resets: u64,
    pub seq_gaps: u64,
    pub undelivered: u64,
    pub invalid_signatures: u64,
}

/// Deliveries seen and duplicates per `event_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliverySummary {
    pub deliveries: u64,
    pub event_ids: u64,
    /// Fault starts of class kill, pause or partition that touched a node.
    pub failovers: u64,
    /// Every `event_id` delivered more than once.
    pub duplicated: Vec<DuplicateDelivery>,
}

/// An `event_id` delivered more than once, and how many extra deliveries were allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateDelivery {
    pub event_id: String,
    pub deliveries: u64,
    /// Failovers that started between the transition's commit and the last delivery.
    pub failovers_during: u64,
}

/// Detection latency of owed changes (change to first committed transition), nearest rank.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn of(mut latencies_ns: Vec<u64>) -> LatencySummary {
        if latencies_ns.is_empty() {
            return LatencySummary::default();
        }
        latencies_ns.sort_unstable();
        let rank = |p: f64| {
            let n = latencies_ns.len();
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            latencies_ns[i] as f64 / 1e6
        };
        LatencySummary {
            count: latencies_ns.len() as u64,
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: rank(1.0),
        }
    }
}

/// The checker's whole answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonitoringReport {
    pub alarms: Vec<AlarmSummary>,
    pub deliveries: DeliverySummary,
    pub detection_latency: LatencySummary,
    pub violations_by_kind: BTreeMap<ViolationKind, u64>,
    /// The first [`VIOLATIONS_SHOWN_MAX`] violations in the order found.
    pub violations: Vec<Violation>,
    pub violations_not_shown: u64,
}

impl MonitoringReport {
    /// True when no rule was broken.
    pub fn ok(&self) -> bool {
        self.violations_by_kind.is_empty()
    }

    /// Records a violation: always counted, detailed while under the cap.
    pub fn push(&mut self, v: Violation) {
        *self.violations_by_kind.entry(v.kind).or_default() += 1;
        if self.violations.len() < VIOLATIONS_SHOWN_MAX {
            self.violations.push(v);
        } else {
            self.violations_not_shown += 1;
        }
    }

    /// Whether any violation of this kind was found.
    pub fn has(&self, kind: ViolationKind) -> bool {
        self.violations_by_kind.contains_key(&kind)
    }

    /// Human-readable text: one line per alarm, deliveries, latency, then each violation.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for a in &self.alarms {
            let _ = writeln!(
                out,
                "alarm {} ({} on {}): {} transitions, {}/{} changes detected ({} unresolved at \
                 end), missed {}, spurious {}, duplicate {}, resets {}, seq gaps {}, undelivered \
                 {}, bad signatures {}",
                a.alarm,
                a.level,
                a.target,
                a.transitions,
                a.changes_detected,
                a.changes_owed,
                a.unresolved_at_end,
                a.missed,
                a.spurious,
                a.duplicate_transitions,
                a.resets,
                a.seq_gaps,
                a.undelivered,
                a.invalid_signatures
            );
        }
        let d = &self.deliveries;
        let _ = writeln!(
            out,
            "deliveries: {} for {} event ids, {} failovers, {} event ids delivered more than once",
            d.deliveries,
            d.event_ids,
            d.failovers,
            d.duplicated.len()
        );
        for dup in &d.duplicated {
            let _ = writeln!(
                out,
                "  {}: {} deliveries, {} failovers during",
                dup.event_id, dup.deliveries, dup.failovers_during
            );
        }
        let l = &self.detection_latency;
        let _ = writeln!(
            out,
            "detection latency over {} changes: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            l.count, l.p50_ms, l.p99_ms, l.max_ms
        );
        for v in &self.violations {
            let _ = writeln!(out, "VIOLATION {}", describe(v));
        }
        if self.violations_not_shown > 0 {
            let _ = writeln!(out, "... and {} more violations", self.violations_not_shown);
        }
        out
    }
}

fn describe(v: &Violation) -> String {
    let kind = serde_json::to_value(v.kind)
        .ok()
        .and_then(|k| k.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut s = kind;
    if let Some(a) = &v.alarm {
        let _ = write!(s, " alarm={a}");
    }
    if let Some(q) = v.seq {
        let _ = write!(s, " seq={q}");
    }
    if let Some(e) = &v.event_id {
        let _ = write!(s, " event_id={e}");
    }
    if let Some(t) = v.time_ns {
        let _ = write!(s, " time_ns={t}");
    }
    let _ = write!(s, ": {}", v.detail);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spurious(i: u64) -> Violation {
        Violation {
            kind: ViolationKind::Spurious,
            alarm: Some("al1".into()),
            seq: Some(i),
            event_id: None,
            time_ns: Some(i),
            detail: "x".into(),
        }
    }

    #[test]
    fn violations_kept_up_to_the_cap_and_counted_beyond() {
        let mut r = MonitoringReport::default();
        for i in 0..VIOLATIONS_SHOWN_MAX as u64 + 7 {
            r.push(spurious(i));
        }
        assert_eq!(r.violations.len(), VIOLATIONS_SHOWN_MAX);
        assert_eq!(r.violations_not_shown, 7);
        assert_eq!(r.violations_by_kind[&ViolationKind::Spurious], 1007);
        assert!(!r.ok() && r.render().contains("... and 7 more violations"));
        assert!(r.render().contains("VIOLATION spurious alarm=al1 seq=0"));
    }

    #[test]
    fn latency_percentiles_by_nearest_rank() {
        let l = LatencySummary::of((1..=100).map(|ms| ms * 1_000_000).collect());
        assert_eq!(
            (l.count, l.p50_ms, l.p99_ms, l.max_ms),
            (100, 50.0, 99.0, 100.0)
        );
        assert_eq!(LatencySummary::of(vec![]).count, 0);
        let one = LatencySummary::of(vec![3_000_000]);
        assert_eq!((one.p50_ms, one.max_ms), (3.0, 3.0));
    }
}
