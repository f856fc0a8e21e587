//! The monitoring checker (pure): from a [`MonitoringHistory`], decides whether every owed
//! alarm transition was committed in time, none was unjustified, sequences are gapless, and
//! every transition was delivered with a valid signature and few enough duplicates.
//!
//! Rules (chaos-tests/README.md, "Monitoring checker"): a target starts up; an alarm's
//! expected state is CRITICAL while its target is down in scope `all`, OK otherwise. A change
//! of expected state is owed a transition once it has held for 3 check periods, committed
//! within `detect_within_s` of the change. A transition to S is justified only if S was
//! expected at some moment of the `detect_within_s` before it.

use std::collections::HashSet;

use crate::monitoring_deliveries::check_deliveries;
use crate::monitoring_history::{
    AlarmRecord, AlarmState, Health, Level, MonitoringHistory, Scope, Transition,
};
use crate::monitoring_report::{
    AlarmSummary, LatencySummary, MonitoringReport, Violation, ViolationKind,
};

/// One period of constant expected state for an alarm's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub time_ns: u64,
    /// When the next change began; `None` for the last one (it holds to the end).
    pub until_ns: Option<u64>,
    pub state: AlarmState,
    /// The state the target starts in (up, so OK), from the start of the history.
    pub initial: bool,
}

/// The expected state of alarms on `target` over time: OK from the start of the history,
/// CRITICAL while the target is down in scope `all`. Regional outages change nothing.
pub fn expected_timeline(h: &MonitoringHistory, target: &str) -> Vec<Change> {
    let mut changes = vec![Change {
        time_ns: h.start_ns,
        until_ns: None,
        state: AlarmState::Ok,
        initial: true,
    }];
    for t in h
        .targets
        .iter()
        .filter(|t| t.target == target && t.scope == Scope::All)
    {
        let state = match t.state {
            Health::Up => AlarmState::Ok,
            Health::Down => AlarmState::Critical,
        };
        let last = changes
            .last_mut()
            .expect("the timeline starts with the initial state");
        if last.state == state {
            continue;
        }
        if last.time_ns == t.time_ns && !last.initial {
            // The last state held for no time at all, so it was never expected: drop it, and
            // the one before it (two states alternate) goes on.
            changes.pop();
            let previous = changes
                .last_mut()
                .expect("a later change has a predecessor");
            debug_assert_eq!(previous.state, state);
            previous.until_ns = None;
            continue;
        }
        last.until_ns = Some(t.time_ns);
        changes.push(Change {
            time_ns: t.time_ns,
            until_ns: None,
            state,
            initial: false,
        });
    }
    changes
}

/// The change that justifies a transition to `state` at `at_ns`: the latest change to `state`
/// that began no later than `at_ns` and was still in force at `at_ns - detect_ns` or later.
/// `changes` is a timeline from [`expected_timeline`].
pub fn justifying_change(
    changes: &[Change],
    state: AlarmState,
    at_ns: u64,
    detect_ns: u64,
) -> Option<usize> {
    let i = latest_change(changes, state, at_ns)?;
    let window_start = at_ns.saturating_sub(detect_ns);
    changes[i]
        .until_ns
        .is_none_or(|u| u > window_start)
        .then_some(i)
}

/// The latest change to `state` that began no later than `at_ns`. Changes are in time order
/// and alternate between two states, so it is one of the last two that began by then.
fn latest_change(changes: &[Change], state: AlarmState, at_ns: u64) -> Option<usize> {
    let begun = changes.partition_point(|c| c.time_ns <= at_ns);
    (0..begun)
        .rev()
        .take(2)
        .find(|&i| changes[i].state == state)
}

/// Checks a whole history.
pub fn check(h: &MonitoringHistory) -> MonitoringReport {
    let mut report = MonitoringReport::default();
    let mut latencies = Vec::new();
    for alarm in &h.alarms {
        let summary = check_alarm(h, alarm, &mut report, &mut latencies);
        report.alarms.push(summary);
    }
    check_deliveries(h, &mut report);
    annotate_failovers(h, &mut report);
    report.detection_latency = LatencySummary::of(latencies);
    report
}

/// Names the failover that started within `detect_within_s` before an unjustified or
/// duplicate transition, the likeliest cause to look at first.
fn annotate_failovers(h: &MonitoringHistory, report: &mut MonitoringReport) {
    let detect = h.detect_ns();
    for v in &mut report.violations {
        let suspect = matches!(
            v.kind,
            ViolationKind::Reset | ViolationKind::Spurious | ViolationKind::DuplicateTransition
        );
        let Some(at) = v.time_ns.filter(|_| suspect) else {
            continue;
        };
        let failover = h
            .faults
            .iter()
            .rfind(|f| f.is_failover() && f.time_ns <= at && at - f.time_ns <= detect);
        if let Some(f) = failover {
            v.detail += &format!(
                " ({} of {} started {} ms before)",
                f.class.name(),
                f.nodes.join(","),
                (at - f.time_ns) / 1_000_000
            );
        }
    }
}

fn violation(kind: ViolationKind, t: &Transition, detail: String) -> Violation {
    Violation {
        kind,
        alarm: Some(t.alarm.clone()),
        seq: Some(t.seq),
        event_id: None,
        time_ns: Some(t.time_ns),
        detail,
    }
}

fn check_alarm(
    h: &MonitoringHistory,
    alarm: &AlarmRecord,
    report: &mut MonitoringReport,
    latencies: &mut Vec<u64>,
) -> AlarmSummary {
    let transitions: Vec<&Transition> = h
        .transitions
        .iter()
        .filter(|t| t.alarm == alarm.alarm)
        .collect();
    let changes = expected_timeline(h, &alarm.target);
    let mut sum = AlarmSummary {
        alarm: alarm.alarm.clone(),
        target: alarm.target.clone(),
        level: match alarm.level {
            Level::Quorum => "QUORUM".into(),
            Level::All => "ALL".into(),
        },
        transitions: transitions.len() as u64,
        ..AlarmSummary::default()
    };
    check_seq(&transitions, &mut sum, report);
    classify(&changes, &transitions, h.detect_ns(), &mut sum, report);
    check_owed(h, &changes, &transitions, &mut sum, report, latencies);
    sum
}

/// `seq` must run 1, 2, 3, ... in time order.
fn check_seq(transitions: &[&Transition], sum: &mut AlarmSummary, report: &mut MonitoringReport) {
    let mut want = 1;
    for t in transitions {
        if t.seq != want {
            sum.seq_gaps += 1;
            report.push(violation(
                ViolationKind::SeqGap,
                t,
                format!("expected seq {want}, committed {}", t.seq),
            ));
        }
        want = t.seq.saturating_add(1);
    }
}

/// Walks the transitions with the committed state, judging each one.
fn classify(
    changes: &[Change],
    transitions: &[&Transition],
    detect_ns: u64,
    sum: &mut AlarmSummary,
    report: &mut MonitoringReport,
) {
    let (mut committed, mut before) = (AlarmState::Unknown, AlarmState::Unknown);
    let mut matched: HashSet<usize> = HashSet::new();
    let mut previous_justified = true;
    for t in transitions {
        let justified = justifying_change(changes, t.state, t.time_ns, detect_ns);
        if t.state != AlarmState::Unknown && t.state == committed {
            sum.duplicate_transitions += 1;
            let detail = format!("{} again, though already committed", t.state);
            report.push(violation(ViolationKind::DuplicateTransition, t, detail));
            continue;
        }
        match justified {
            Some(i) => {
                if !matched.insert(i) && previous_justified {
                    sum.duplicate_transitions += 1;
                    let detail = format!(
                        "second transition to {} for the target change at time_ns {}",
                        t.state, changes[i].time_ns
                    );
                    report.push(violation(ViolationKind::DuplicateTransition, t, detail));
                }
                previous_justified = true;
            }
            None if t.state == AlarmState::Unknown || t.state == before => {
                sum.resets += 1;
                let detail = format!(
                    "{committed} -> {} with no target change to justify it",
                    t.state
                );
                report.push(violation(ViolationKind::Reset, t, detail));
                previous_justified = false;
            }
            None => {
                sum.spurious += 1;
                let detail = format!(
                    "{committed} -> {}, but {} was never expected in the window before it",
                    t.state, t.state
                );
                report.push(violation(ViolationKind::Spurious, t, detail));
                previous_justified = false;
            }
        }
        (before, committed) = (committed, t.state);
    }
}

/// The committed state just before `at_ns` (UNKNOWN before the first transition).
fn committed_before(transitions: &[&Transition], at_ns: u64) -> AlarmState {
    let before = transitions.partition_point(|t| t.time_ns < at_ns);
    before
        .checked_sub(1)
        .map_or(AlarmState::Unknown, |i| transitions[i].state)
}

/// Every change held for the settle time must be committed within `detect_within_s`.
fn check_owed(
    h: &MonitoringHistory,
    changes: &[Change],
    transitions: &[&Transition],
    sum: &mut AlarmSummary,
    report: &mut MonitoringReport,
    latencies: &mut Vec<u64>,
) {
    let (settle, detect) = (h.settle_ns(), h.detect_ns());
    for (i, c) in changes.iter().enumerate() {
        let held = c.until_ns.unwrap_or(h.end_ns) - c.time_ns;
        if held < settle {
            continue;
        }
        sum.changes_owed += 1;
        let deadline = c.time_ns.saturating_add(detect);
        // The first transition to the new state committed in time, for this change and not
        // for a later change to the same state.
        let from = transitions.partition_point(|t| t.time_ns < c.time_ns);
        let first = transitions[from..]
            .iter()
            .take_while(|t| t.time_ns <= deadline)
            .find(|t| t.state == c.state && latest_change(changes, c.state, t.time_ns) == Some(i));
        if let Some(t) = first {
            sum.changes_detected += 1;
            if !c.initial && committed_before(transitions, t.time_ns) != c.state {
                latencies.push(t.time_ns - c.time_ns);
            }
        } else if committed_before(transitions, c.time_ns.saturating_add(1)) == c.state {
            sum.changes_detected += 1;
        } else if deadline > h.end_ns {
            sum.unresolved_at_end += 1;
        } else {
            sum.missed += 1;
            let after = transitions.partition_point(|t| t.time_ns <= deadline);
            let late = transitions[after..]
                .iter()
                .find(|t| t.state == c.state)
                .map_or(String::new(), |t| {
                    format!(
                        " (seq {} came {} ms after the change)",
                        t.seq,
                        (t.time_ns - c.time_ns) / 1_000_000
                    )
                });
            report.push(Violation {
                kind: ViolationKind::Missed,
                alarm: Some(sum.alarm.clone()),
                seq: None,
                event_id: None,
                time_ns: Some(c.time_ns),
                detail: format!(
                    "{} change held {} ms with no {} transition within {} ms{late}",
                    if c.initial { "initial" } else { "target" },
                    held / 1_000_000,
                    c.state,
                    detect / 1_000_000
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::monitoring_history::{RunRecord, TargetChange};

    fn history(records: &[(u64, bool, bool)], detect_s: f64) -> MonitoringHistory {
        let mut targets: Vec<TargetChange> = records
            .iter()
            .map(|&(t, down, global)| TargetChange {
                target: "t1".into(),
                state: if down { Health::Down } else { Health::Up },
                scope: if global {
                    Scope::All
                } else {
                    Scope::Region("r2".into())
                },
                time_ns: t,
            })
            .collect();
        targets.sort_by_key(|t| t.time_ns);
        let start_ns = targets.first().map_or(0, |t| t.time_ns);
        let end_ns = targets.last().map_or(0, |t| t.time_ns);
        MonitoringHistory {
            run: RunRecord {
                check_period_s: 1e-9,
                detect_within_s: detect_s,
            },
            alarms: vec![AlarmRecord {
                alarm: "al1".into(),
                target: "t1".into(),
                level: Level::Quorum,
            }],
            targets,
            transitions: Vec::new(),
            deliveries: Vec::new(),
            faults: Vec::new(),
            start_ns,
            end_ns,
        }
    }

    /// The naive model: replay every global record up to the moment (a record applies from
    /// its own time on); before any, the target is up.
    fn naive_expected(h: &MonitoringHistory, at: u64) -> AlarmState {
        let down = h
            .targets
            .iter()
            .rfind(|t| t.scope == Scope::All && t.time_ns <= at)
            .is_some_and(|t| t.state == Health::Down);
        if down {
            AlarmState::Critical
        } else {
            AlarmState::Ok
        }
    }

    proptest! {
        /// `justifying_change` agrees with trying every moment that matters in the window:
        /// its two ends and every record inside it.
        #[test]
        fn justification_matches_the_naive_model(
            records in prop::collection::vec((0u64..200, any::<bool>(), any::<bool>()), 1..30),
            detect in 0u64..60,
            at in 0u64..260,
            critical in any::<bool>(),
        ) {
            let h = history(&records, detect as f64 / 1e9);
            let at = at.max(h.start_ns);
            let state = if critical { AlarmState::Critical } else { AlarmState::Ok };
            let changes = expected_timeline(&h, "t1");
            let from = at.saturating_sub(detect);
            let mut moments = vec![from, at];
            moments.extend(h.targets.iter().map(|t| t.time_ns).filter(|&t| t >= from && t <= at));
            let naive = moments.iter().any(|&m| naive_expected(&h, m) == state);
            prop_assert_eq!(justifying_change(&changes, state, at, detect).is_some(), naive);
            // and the timeline itself is the naive state wherever a period is not empty
            for c in changes.iter().filter(|c| c.until_ns != Some(c.time_ns)) {
                prop_assert_eq!(naive_expected(&h, c.time_ns), c.state);
            }
        }
    }
}
