//! Delivery rules of the monitoring checker (pure): every committed transition delivered at
//! least once with a valid signature, `event_id`s stable, and at most one extra delivery of an
//! `event_id` per failover that started while it was being delivered.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::monitoring_history::{AlarmState, Delivery, MonitoringHistory, Transition};
use crate::monitoring_report::{DuplicateDelivery, MonitoringReport, Violation, ViolationKind};

fn delivery_violation(kind: ViolationKind, d: &Delivery, detail: String) -> Violation {
    Violation {
        kind,
        alarm: Some(d.alarm.clone()),
        seq: Some(d.seq),
        event_id: Some(d.event_id.clone()),
        time_ns: Some(d.time_ns),
        detail,
    }
}

/// Adds the delivery findings to `report` (whose per-alarm summaries must already exist).
pub fn check_deliveries(h: &MonitoringHistory, report: &mut MonitoringReport) {
    // The first commit of each (alarm, seq); repeats are reported by the seq rule.
    let mut committed: HashMap<(&str, u64), &Transition> = HashMap::new();
    for t in &h.transitions {
        committed.entry((t.alarm.as_str(), t.seq)).or_insert(t);
    }
    let mut valid: HashMap<(&str, u64), u64> = HashMap::new();
    for d in &h.deliveries {
        check_one(
            d,
            committed.get(&(d.alarm.as_str(), d.seq)).copied(),
            report,
        );
        if d.signature_ok {
            *valid.entry((d.alarm.as_str(), d.seq)).or_default() += 1;
        }
    }
    for t in &h.transitions {
        if valid.contains_key(&(t.alarm.as_str(), t.seq)) {
            continue;
        }
        bump(report, &t.alarm, |s| s.undelivered += 1);
        report.push(Violation {
            kind: ViolationKind::Undelivered,
            alarm: Some(t.alarm.clone()),
            seq: Some(t.seq),
            event_id: None,
            time_ns: Some(t.time_ns),
            detail: format!(
                "transition to {} never delivered with a valid signature",
                t.state
            ),
        });
    }
    check_event_ids(h, &committed, report);
}

fn bump(
    report: &mut MonitoringReport,
    alarm: &str,
    f: impl FnOnce(&mut crate::monitoring_report::AlarmSummary),
) {
    if let Some(s) = report.alarms.iter_mut().find(|s| s.alarm == alarm) {
        f(s);
    }
}

fn check_one(d: &Delivery, transition: Option<&Transition>, report: &mut MonitoringReport) {
    if !d.signature_ok {
        bump(report, &d.alarm, |s| s.invalid_signatures += 1);
        let detail = "the webhook signature did not verify".to_string();
        report.push(delivery_violation(
            ViolationKind::InvalidSignature,
            d,
            detail,
        ));
    }
    let detail = match transition {
        None => format!("no transition with seq {} was committed", d.seq),
        Some(t) if t.state != d.state => {
            format!("delivered as {} but committed as {}", d.state, t.state)
        }
        Some(_) => return,
    };
    report.push(delivery_violation(
        ViolationKind::DeliveryWithoutTransition,
        d,
        detail,
    ));
}

/// `event_id` stability and the duplicate allowance.
///
/// A failover is a fault start of class kill, pause or partition touching at least one node.
/// An `event_id` delivered n times may have at most k extra deliveries (n - 1 <= k), where k
/// counts the failovers that started between the commit of its transition (its first delivery
/// when the transition is not in the history) and its last delivery, both included.
fn check_event_ids(
    h: &MonitoringHistory,
    committed: &HashMap<(&str, u64), &Transition>,
    report: &mut MonitoringReport,
) {
    let mut by_event: BTreeMap<&str, Vec<&Delivery>> = BTreeMap::new();
    let mut ids_of: HashMap<(&str, u64), BTreeSet<&str>> = HashMap::new();
    for d in &h.deliveries {
        by_event.entry(d.event_id.as_str()).or_default().push(d);
        ids_of
            .entry((d.alarm.as_str(), d.seq))
            .or_default()
            .insert(d.event_id.as_str());
    }
    let failovers: Vec<u64> = h
        .faults
        .iter()
        .filter(|f| f.is_failover())
        .map(|f| f.time_ns)
        .collect();
    report.deliveries.deliveries = h.deliveries.len() as u64;
    report.deliveries.event_ids = by_event.len() as u64;
    report.deliveries.failovers = failovers.len() as u64;
    for (event_id, ds) in &by_event {
        let first = ds[0];
        let names: BTreeSet<(&str, u64, AlarmState)> = ds
            .iter()
            .map(|d| (d.alarm.as_str(), d.seq, d.state))
            .collect();
        if names.len() > 1 {
            let detail = format!("one event_id names {} different transitions", names.len());
            report.push(delivery_violation(
                ViolationKind::UnstableEventId,
                first,
                detail,
            ));
        }
        if ds.len() < 2 {
            continue;
        }
        let from = committed
            .get(&(first.alarm.as_str(), first.seq))
            .map_or(first.time_ns, |t| t.time_ns.min(first.time_ns));
        let to = ds[ds.len() - 1].time_ns;
        let during = failovers.iter().filter(|&&f| f >= from && f <= to).count() as u64;
        let extra = ds.len() as u64 - 1;
        report.deliveries.duplicated.push(DuplicateDelivery {
            event_id: event_id.to_string(),
            deliveries: ds.len() as u64,
            failovers_during: during,
        });
        if extra > during {
            let detail = format!(
                "delivered {} times with {during} failovers during its delivery (at most one \
                 extra per failover)",
                ds.len()
            );
            report.push(delivery_violation(
                ViolationKind::DuplicateDeliveries,
                first,
                detail,
            ));
        }
    }
    unstable_ids(ids_of, report);
}

/// One transition delivered under several `event_id`s.
fn unstable_ids(ids_of: HashMap<(&str, u64), BTreeSet<&str>>, report: &mut MonitoringReport) {
    let mut unstable: Vec<_> = ids_of
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .collect();
    unstable.sort();
    for ((alarm, seq), ids) in unstable {
        report.push(Violation {
            kind: ViolationKind::UnstableEventId,
            alarm: Some(alarm.to_string()),
            seq: Some(seq),
            event_id: ids.first().map(|s| s.to_string()),
            time_ns: None,
            detail: format!("one transition delivered under {} event_ids", ids.len()),
        });
    }
}
