//! Turns what the suite observes into monitoring history records (pure): nemesis fault
//! records, receiver deliveries and `/v1/changelogs/alarms` entries; and writes a history in
//! the documented order (run, alarms, then timed records by time).

use std::io::Write;

use serde_json::Value;

use crate::faults::FaultRecord;
use crate::monitoring_history::{
    AlarmRecord, AlarmState, FaultMark, FaultPhase, Record, RunRecord, Transition,
};

/// At most this many changelog entries are turned into transitions in one call.
pub const CHANGELOG_ENTRIES_MAX: usize = 1_000_000;

/// Why a changelog entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangelogError {
    #[error("changelog entry {index}: field `{field}`: {reason}")]
    Field {
        index: usize,
        field: &'static str,
        reason: String,
    },
    #[error("field `entries`: {0} entries, over {CHANGELOG_ENTRIES_MAX}")]
    TooMany(usize),
}

/// The start and heal of a nemesis fault as history records; `workload_start_ns` is the
/// history time of the offsets in `FaultRecord`. A fault that never took effect yields none.
pub fn fault_marks(record: &FaultRecord, workload_start_ns: u64) -> Vec<Record> {
    let Some(applied_ms) = record.applied_ms else {
        return Vec::new();
    };
    let nodes: Vec<String> = record.targets.iter().map(|n| format!("n{n}")).collect();
    let mark = |phase, ms: u64| {
        Record::Fault(FaultMark {
            id: record.id as u64,
            class: record.class,
            phase,
            nodes: nodes.clone(),
            time_ns: workload_start_ns + ms * 1_000_000,
        })
    };
    let mut out = vec![mark(FaultPhase::Start, applied_ms)];
    if let Some(healed_ms) = record.healed_ms {
        out.push(mark(FaultPhase::Heal, healed_ms.max(applied_ms)));
    }
    out
}

/// Transitions from changelog entries as the API lists them (newest first, in commit order).
///
/// `seq` is the entry's own `seq` when present, else its position among its alarm's entries
/// counted from the oldest (so the list must hold every transition of those alarms). The
/// commit `timestamp` (ms, wall clock) maps to the history clock as
/// `(timestamp - wall_at_start_ms) * 1e6 + start_ns`; times before the start are clamped to it.
pub fn transitions_from_changelog(
    entries: &[Value],
    wall_at_start_ms: u64,
    start_ns: u64,
) -> Result<Vec<Transition>, ChangelogError> {
    if entries.len() > CHANGELOG_ENTRIES_MAX {
        return Err(ChangelogError::TooMany(entries.len()));
    }
    let mut counts: std::collections::HashMap<String, u64> = Default::default();
    let mut out = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate().rev() {
        let field = |field: &'static str, reason: &str| ChangelogError::Field {
            index,
            field,
            reason: reason.to_string(),
        };
        let alarm = entry["alarm_id"]
            .as_str()
            .ok_or_else(|| field("alarm_id", "missing"))?;
        let state = entry["state"]
            .as_str()
            .ok_or_else(|| field("state", "missing"))?;
        let state = AlarmState::parse(state).ok_or_else(|| field("state", "not a state"))?;
        let ms = entry["timestamp"]
            .as_u64()
            .ok_or_else(|| field("timestamp", "expected milliseconds"))?;
        let count = counts.entry(alarm.to_string()).or_default();
        *count += 1;
        let seq = match &entry["seq"] {
            Value::Null => *count,
            v => v
                .as_u64()
                .filter(|&s| s > 0)
                .ok_or_else(|| field("seq", "not positive"))?,
        };
        out.push(Transition {
            alarm: alarm.to_string(),
            seq,
            state,
            time_ns: start_ns + ms.saturating_sub(wall_at_start_ms) * 1_000_000,
        });
    }
    Ok(out)
}

/// Writes a whole history: the run record, the alarms, then `timed` sorted by time (stable,
/// so records with equal times keep the order they were given in).
pub fn write_history(
    mut out: impl Write,
    run: RunRecord,
    alarms: &[AlarmRecord],
    mut timed: Vec<Record>,
) -> std::io::Result<()> {
    assert!(
        timed.iter().all(|r| r.time_ns().is_some()),
        "run and alarm records are written from their own arguments"
    );
    timed.sort_by_key(|r| r.time_ns());
    writeln!(out, "{}", Record::Run(run).to_line())?;
    for alarm in alarms {
        writeln!(out, "{}", Record::Alarm(alarm.clone()).to_line())?;
    }
    for record in &timed {
        writeln!(out, "{}", record.to_line())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::monitoring_history::{Health, Level, Scope, TargetChange};
    use crate::monitoring_parse::parse;
    use crate::nemesis::{Fault, FaultClass};

    fn fault(applied: Option<u64>, healed: Option<u64>) -> FaultRecord {
        FaultRecord {
            id: 4,
            class: FaultClass::Kill,
            fault: Fault::Kill { leader: true },
            scheduled_start_ms: 1000,
            scheduled_heal_ms: 5000,
            applied_ms: applied,
            healed_ms: healed,
            targets: vec![2],
            detail: String::new(),
            errors: Vec::new(),
        }
    }

    #[test]
    fn faults_become_start_and_heal_marks() {
        let marks = fault_marks(&fault(Some(1200), Some(5100)), 7);
        let Record::Fault(start) = &marks[0] else {
            panic!("not a fault")
        };
        assert!(start.is_failover());
        assert_eq!(
            (start.nodes.as_slice(), start.time_ns),
            (&["n2".to_string()][..], 7 + 1_200_000_000)
        );
        assert_eq!(marks[1].time_ns(), Some(7 + 5_100_000_000));
        assert!(fault_marks(&fault(None, None), 0).is_empty());
        assert_eq!(fault_marks(&fault(Some(1), None), 0).len(), 1);
    }

    #[test]
    fn changelog_newest_first_numbered_from_the_oldest() {
        let entries = vec![
            json!({"alarm_id": "al1", "state": "OK", "timestamp": 1_000_009_000u64}),
            json!({"alarm_id": "al2", "state": "OK", "timestamp": 1_000_004_000u64}),
            json!({"alarm_id": "al1", "state": "CRITICAL", "timestamp": 1_000_003_000u64}),
            json!({"alarm_id": "al1", "state": "OK", "timestamp": 1_000_001_000u64, "seq": 1}),
        ];
        let t = transitions_from_changelog(&entries, 1_000_000_000, 5).unwrap();
        let got: Vec<_> = t
            .iter()
            .map(|t| (t.alarm.as_str(), t.seq, t.state, t.time_ns))
            .collect();
        assert_eq!(
            got,
            vec![
                ("al1", 1, AlarmState::Ok, 5 + 1_000_000_000),
                ("al1", 2, AlarmState::Critical, 5 + 3_000_000_000),
                ("al2", 1, AlarmState::Ok, 5 + 4_000_000_000),
                ("al1", 3, AlarmState::Ok, 5 + 9_000_000_000),
            ]
        );
        let bad = vec![json!({"alarm_id": "al1", "state": "FIRING", "timestamp": 1})];
        let e = transitions_from_changelog(&bad, 0, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "changelog entry 0: field `state`: not a state"
        );
        let bad = vec![json!({"alarm_id": "al1", "state": "OK", "timestamp": 1, "seq": 0})];
        assert!(
            transitions_from_changelog(&bad, 0, 0)
                .unwrap_err()
                .to_string()
                .contains("seq")
        );
    }

    #[test]
    fn changelog_bounded() {
        let entries = vec![Value::Null; CHANGELOG_ENTRIES_MAX + 1];
        let e = transitions_from_changelog(&entries, 0, 0).unwrap_err();
        assert_eq!(e, ChangelogError::TooMany(CHANGELOG_ENTRIES_MAX + 1));
    }

    #[test]
    fn written_history_parses_back_in_time_order() {
        let run = RunRecord {
            check_period_s: 2.0,
            detect_within_s: 20.0,
        };
        let alarms = vec![AlarmRecord {
            alarm: "al1".into(),
            target: "t1".into(),
            level: Level::All,
        }];
        let down = TargetChange {
            target: "t1".into(),
            state: Health::Down,
            scope: Scope::All,
            time_ns: 9,
        };
        let up = TargetChange {
            time_ns: 3,
            state: Health::Up,
            ..down.clone()
        };
        let mut text = Vec::new();
        write_history(
            &mut text,
            run,
            &alarms,
            vec![Record::Target(down), Record::Target(up)],
        )
        .unwrap();
        let h = parse(std::str::from_utf8(&text).unwrap()).unwrap();
        assert_eq!(
            h.targets.iter().map(|t| t.time_ns).collect::<Vec<_>>(),
            vec![3, 9]
        );
        assert_eq!(h.alarms, alarms);
    }
}
