//! Self-validation of the monitoring checker: hand-written bad histories rejected for the
//! right reason, good ones accepted; histories simulated from a correct cluster accepted and
//! each single corruption of them rejected.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use meridian_chaos::monitoring_check::check;
use meridian_chaos::monitoring_history::{
    AlarmRecord, AlarmState, Delivery, FaultMark, FaultPhase, Health, Level, MonitoringHistory,
    Record, RunRecord, Scope, Transition,
};
use meridian_chaos::monitoring_parse::{assemble, parse};
use meridian_chaos::monitoring_report::{MonitoringReport, ViolationKind as K};
use meridian_chaos::nemesis::FaultClass;
use meridian_chaos::target_schedule::{ScheduleSpec, target_schedule};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const S: u64 = 1_000_000_000;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/histories/monitoring")
}

/// Each stored history and exactly the violation kinds it must produce (none for good ones).
fn expectations() -> Vec<(&'static str, Vec<K>)> {
    vec![
        ("good-basic", vec![]),
        ("good-regional-outage-ignored", vec![]),
        ("good-failover-one-duplicate", vec![]),
        ("good-blip-not-owed", vec![]),
        ("bad-missed-transition", vec![K::Missed]),
        ("bad-late-transition", vec![K::Missed]),
        ("bad-spurious-transition", vec![K::Spurious]),
        ("bad-duplicate-transition", vec![K::DuplicateTransition]),
        ("bad-reset-after-failover", vec![K::Reset]),
        ("bad-seq-gap", vec![K::SeqGap]),
        ("bad-undelivered-transition", vec![K::Undelivered]),
        ("bad-signature", vec![K::InvalidSignature, K::Undelivered]),
        (
            "bad-too-many-duplicate-deliveries",
            vec![K::DuplicateDeliveries],
        ),
        ("bad-regional-outage-reported", vec![K::Spurious]),
    ]
}

fn check_path(path: &Path) -> MonitoringReport {
    check(&parse(&std::fs::read_to_string(path).unwrap()).unwrap())
}

#[test]
fn stored_histories_are_judged_for_the_right_reason() {
    let stored: BTreeSet<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected = expectations();
    assert_eq!(
        stored.len(),
        expected.len(),
        "every stored history has an expectation"
    );
    for (name, kinds) in expected {
        let report = check_path(&dir().join(format!("{name}.jsonl")));
        let found: BTreeSet<K> = report.violations_by_kind.keys().copied().collect();
        let want: BTreeSet<K> = kinds.into_iter().collect();
        assert_eq!(found, want, "{name}:\n{}", report.render());
        assert_eq!(report.ok(), name.starts_with("good-"));
    }
}

#[test]
fn stored_histories_report_what_happened() {
    let good = check_path(&dir().join("good-basic.jsonl"));
    let al1 = &good.alarms[0];
    assert_eq!(
        (al1.transitions, al1.changes_owed, al1.changes_detected),
        (3, 3, 3)
    );
    assert_eq!(good.detection_latency.count, 4);
    assert_eq!(good.detection_latency.max_ms, 9000.0);
    assert_eq!(good.detection_latency.p50_ms, 8000.0);
    let dup = check_path(&dir().join("good-failover-one-duplicate.jsonl"));
    assert_eq!(dup.deliveries.failovers, 1);
    assert_eq!(dup.deliveries.duplicated.len(), 1);
    assert_eq!(dup.deliveries.duplicated[0].deliveries, 2);
    let reset = check_path(&dir().join("bad-reset-after-failover.jsonl"));
    let detail = &reset.violations[0].detail;
    assert!(
        detail.ends_with("(kill of n2 started 5000 ms before)"),
        "{detail}"
    );
    let late = check_path(&dir().join("bad-late-transition.jsonl"));
    assert!(
        late.violations[0].detail.contains("came 25000 ms after"),
        "{:?}",
        late.violations
    );
}

#[test]
fn check_monitoring_command_exit_codes() {
    for (name, kinds) in expectations() {
        let out = Command::new(env!("CARGO_BIN_EXE_meridian-chaos"))
            .arg("check-monitoring")
            .arg(dir().join(format!("{name}.jsonl")))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let want = if kinds.is_empty() { 0 } else { 1 };
        assert_eq!(out.status.code(), Some(want), "{name}: {stdout}");
        assert!(stdout.contains("detection latency over"), "{stdout}");
    }
    let json = Command::new(env!("CARGO_BIN_EXE_meridian-chaos"))
        .args(["check-monitoring", "--json"])
        .arg(dir().join("bad-seq-gap.jsonl"))
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["violations_by_kind"]["seq-gap"], 1);
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "{\"type\":\"run\",\"check_period_s\":2}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_meridian-chaos"))
        .arg("check-monitoring")
        .arg(bad.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 1: field `detect_within_s`: missing"),
        "{stderr}"
    );
}

/// A history as a correct cluster would produce it: targets from the seeded schedule (with
/// regional outages), each global change committed 1-6 s later (before the next change, as
/// every state holds at least 6 s), each transition delivered, some delivered again after a
/// failover that started in between, and unrelated faults.
fn simulated(seed: u64) -> Vec<Record> {
    let mut rng = StdRng::seed_from_u64(seed);
    let targets: Vec<String> = (1..=rng.random_range(1..=3))
        .map(|i| format!("t{i}"))
        .collect();
    let spec = ScheduleSpec {
        seed,
        targets: targets.clone(),
        regions: vec!["r1".into(), "r2".into(), "r3".into()],
        check_period_s: 2,
        duration_s: rng.random_range(40..=200),
        start_ns: S,
        regional_outage_chance: 0.4,
    };
    let changes = target_schedule(&spec).unwrap();
    let mut records = vec![Record::Run(RunRecord {
        check_period_s: 2.0,
        detect_within_s: 20.0,
    })];
    let mut timed = Vec::new();
    let mut fault_id = 0;
    for (i, target) in targets.iter().enumerate() {
        let alarm = format!("al{}", i + 1);
        let level = if i % 2 == 0 {
            Level::Quorum
        } else {
            Level::All
        };
        records.push(Record::Alarm(AlarmRecord {
            alarm: alarm.clone(),
            target: target.clone(),
            level,
        }));
        timed.push(Record::Target(change(target, Health::Up, S)));
        let mut moments = vec![(S, AlarmState::Ok)];
        for c in changes
            .iter()
            .filter(|c| &c.target == target && c.scope == Scope::All)
        {
            let state = if c.state == Health::Down {
                AlarmState::Critical
            } else {
                AlarmState::Ok
            };
            moments.push((c.time_ns, state));
        }
        simulate_alarm(&alarm, &moments, &mut rng, &mut fault_id, &mut timed);
    }
    timed.extend(changes.into_iter().map(Record::Target));
    // node faults and clock skew change nothing; the history ends well after the last change
    let end = S + spec.duration_s * S + 30 * S;
    fault_id += 1;
    timed.push(fault(
        fault_id,
        FaultClass::Clock,
        FaultPhase::Start,
        end - S,
    ));
    timed.push(fault(fault_id, FaultClass::Clock, FaultPhase::Heal, end));
    timed.sort_by_key(|r| r.time_ns());
    records.extend(timed);
    records
}

/// A correct evaluator and notifier for one alarm: each expected state committed 1-6 s after
/// it began, delivered once, and sometimes again after a failover that started in between.
fn simulate_alarm(
    alarm: &str,
    moments: &[(u64, AlarmState)],
    rng: &mut StdRng,
    fault_id: &mut u64,
    timed: &mut Vec<Record>,
) {
    for (seq, &(at, state)) in moments.iter().enumerate() {
        let commit = at + rng.random_range(S..6 * S);
        let seq = seq as u64 + 1;
        timed.push(Record::Transition(Transition {
            alarm: alarm.to_string(),
            seq,
            state,
            time_ns: commit,
        }));
        let first = commit + rng.random_range(10_000_000..500_000_000);
        timed.push(Record::Delivery(delivery(alarm, seq, state, first)));
        if rng.random_bool(0.2) {
            *fault_id += 1;
            let class = [FaultClass::Kill, FaultClass::Pause, FaultClass::Partition]
                [rng.random_range(0..3)];
            timed.push(fault(*fault_id, class, FaultPhase::Start, first + 1));
            timed.push(Record::Delivery(delivery(alarm, seq, state, first + 2 * S)));
            timed.push(fault(*fault_id, class, FaultPhase::Heal, first + 3 * S));
        }
    }
}

fn change(
    target: &str,
    state: Health,
    time_ns: u64,
) -> meridian_chaos::monitoring_history::TargetChange {
    meridian_chaos::monitoring_history::TargetChange {
        target: target.to_string(),
        state,
        scope: Scope::All,
        time_ns,
    }
}

fn delivery(alarm: &str, seq: u64, state: AlarmState, time_ns: u64) -> Delivery {
    Delivery {
        event_id: format!("ten1:en1:{alarm}:ch1:{seq}:{state}"),
        alarm: alarm.to_string(),
        seq,
        state,
        signature_ok: true,
        time_ns,
    }
}

fn fault(id: u64, class: FaultClass, phase: FaultPhase, time_ns: u64) -> Record {
    Record::Fault(FaultMark {
        id,
        class,
        phase,
        nodes: vec!["n2".into()],
        time_ns,
    })
}

fn history(records: Vec<Record>) -> MonitoringHistory {
    let mut records = records;
    // run and alarm records first, then the timed ones in time order (stable)
    records.sort_by_key(|r| r.time_ns().unwrap_or(0));
    assemble(
        records
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i + 1, r))
            .collect(),
    )
    .unwrap()
}

fn last_time(records: &[Record]) -> u64 {
    records.iter().filter_map(Record::time_ns).max().unwrap()
}

/// Appends a transition and its delivery.
fn append(records: &mut Vec<Record>, alarm: &str, seq: u64, state: AlarmState, at: u64) {
    records.push(Record::Transition(Transition {
        alarm: alarm.to_string(),
        seq,
        state,
        time_ns: at,
    }));
    records.push(Record::Delivery(delivery(alarm, seq, state, at + 1)));
}

/// Delivers the transition's last delivery again, once more than there are failovers.
fn repeat_last_delivery(records: &mut Vec<Record>, pick: &Transition) {
    let copy = records.iter().rev().find_map(|r| match r {
        Record::Delivery(d) if d.alarm == pick.alarm && d.seq == pick.seq => Some(d.clone()),
        _ => None,
    });
    let copy = copy.unwrap();
    let failovers = records
        .iter()
        .filter(|r| matches!(r, Record::Fault(f) if f.is_failover()))
        .count();
    for _ in 0..=failovers {
        records.push(Record::Delivery(copy.clone()));
    }
}

/// One random corruption and the violation kinds (any of them) that must then be reported.
fn corrupt(records: &mut Vec<Record>, rng: &mut StdRng) -> (&'static str, Vec<K>) {
    let transitions: Vec<Transition> = records
        .iter()
        .filter_map(|r| {
            if let Record::Transition(t) = r {
                Some(t.clone())
            } else {
                None
            }
        })
        .collect();
    let pick = transitions[rng.random_range(0..transitions.len())].clone();
    let is_pick = |alarm: &str, seq: u64| alarm == pick.alarm && seq == pick.seq;
    let end = last_time(records);
    let last_of_alarm = transitions
        .iter()
        .rfind(|t| t.alarm == pick.alarm)
        .unwrap()
        .clone();
    let next_seq = last_of_alarm.seq + 1;
    match rng.random_range(0..7) {
        0 => {
            records.retain(|r| match r {
                Record::Transition(t) => !is_pick(&t.alarm, t.seq),
                Record::Delivery(d) => !is_pick(&d.alarm, d.seq),
                _ => true,
            });
            ("drop a transition", vec![K::Missed])
        }
        1 => {
            let state = if last_of_alarm.state == AlarmState::Ok {
                AlarmState::Critical
            } else {
                AlarmState::Ok
            };
            append(records, &pick.alarm, next_seq, state, end + 25 * S);
            ("an unjustified transition", vec![K::Spurious, K::Reset])
        }
        2 => {
            append(records, &pick.alarm, next_seq, last_of_alarm.state, end + 1);
            (
                "the same state committed twice",
                vec![K::DuplicateTransition],
            )
        }
        3 => {
            for r in records.iter_mut() {
                match r {
                    Record::Transition(t) if is_pick(&t.alarm, t.seq) => t.seq += 100,
                    Record::Delivery(d) if is_pick(&d.alarm, d.seq) => d.seq += 100,
                    _ => {}
                }
            }
            ("a seq gap", vec![K::SeqGap])
        }
        4 => {
            records.retain(|r| !matches!(r, Record::Delivery(d) if is_pick(&d.alarm, d.seq)));
            ("an undelivered transition", vec![K::Undelivered])
        }
        5 => {
            let d = records.iter_mut().find_map(|r| match r {
                Record::Delivery(d) if is_pick(&d.alarm, d.seq) => Some(d),
                _ => None,
            });
            d.unwrap().signature_ok = false;
            ("a bad signature", vec![K::InvalidSignature])
        }
        _ => {
            repeat_last_delivery(records, &pick);
            (
                "too many duplicate deliveries",
                vec![K::DuplicateDeliveries],
            )
        }
    }
}

#[test]
fn simulated_histories_accepted_and_single_corruptions_rejected() {
    let mut rng = StdRng::seed_from_u64(0x5EED);
    for seed in 0..150 {
        let records = simulated(seed);
        let report = check(&history(records.clone()));
        assert!(report.ok(), "seed {seed}: {}", report.render());
        // the text form of the same history parses back to the same verdict
        let text: Vec<String> = records.iter().map(Record::to_line).collect();
        assert!(check(&parse(&text.join("\n")).unwrap()).ok());
        let mut bad = records;
        let (what, kinds) = corrupt(&mut bad, &mut rng);
        let report = check(&history(bad));
        assert!(
            kinds.iter().any(|&k| report.has(k)),
            "seed {seed}: {what} not reported as {kinds:?}:\n{}",
            report.render()
        );
    }
}

mod arbitrary {
    use meridian_chaos::monitoring_check::check;
    use meridian_chaos::monitoring_history::{
        AlarmRecord, AlarmState, Delivery, FaultMark, FaultPhase, Health, Level, Record, RunRecord,
        Scope, TargetChange, Transition,
    };
    use meridian_chaos::monitoring_parse::assemble;
    use meridian_chaos::monitoring_report::VIOLATIONS_SHOWN_MAX;
    use meridian_chaos::nemesis::FaultClass;
    use proptest::prelude::*;

    const STATES: [AlarmState; 4] = [
        AlarmState::Ok,
        AlarmState::Warning,
        AlarmState::Critical,
        AlarmState::Unknown,
    ];

    fn record() -> impl Strategy<Value = (u64, Record)> {
        let seq = prop_oneof![1u64..6, Just(u64::MAX)];
        (
            0u64..6,
            any::<u8>(),
            seq,
            0usize..4,
            any::<u64>(),
            any::<bool>(),
        )
            .prop_map(|(kind, pick, seq, s, time, flag)| {
                let alarm = format!("al{}", pick % 2);
                let state = STATES[s];
                let time_ns = time % 200_000_000_000;
                let record = match kind {
                    0 | 1 => Record::Target(TargetChange {
                        target: format!("t{}", pick % 2),
                        state: if flag { Health::Down } else { Health::Up },
                        scope: if pick % 3 == 0 {
                            Scope::Region("r1".into())
                        } else {
                            Scope::All
                        },
                        time_ns,
                    }),
                    2 => Record::Transition(Transition {
                        alarm,
                        seq,
                        state,
                        time_ns,
                    }),
                    3 | 4 => Record::Delivery(Delivery {
                        event_id: format!("e{}", pick % 4),
                        alarm,
                        seq,
                        state,
                        signature_ok: flag,
                        time_ns,
                    }),
                    _ => Record::Fault(FaultMark {
                        id: u64::from(pick),
                        class: FaultClass::ALL[s],
                        phase: FaultPhase::Start,
                        nodes: vec!["n1".into()],
                        time_ns,
                    }),
                };
                (time_ns, record)
            })
    }

    proptest! {
        /// Any well-formed history is judged without a panic, and the report's counts agree
        /// with its listed violations.
        #[test]
        fn any_history_is_judged(mut timed in prop::collection::vec(record(), 0..80)) {
            timed.sort_by_key(|(t, _)| *t);
            let mut seen_faults = std::collections::HashSet::new();
            timed.retain(|(_, r)| !matches!(r, Record::Fault(f) if !seen_faults.insert(f.id)));
            let mut records = vec![Record::Run(RunRecord { check_period_s: 2.0, detect_within_s: 20.0 })];
            for i in 0..2 {
                let level = if i == 0 { Level::Quorum } else { Level::All };
                records.push(Record::Alarm(AlarmRecord {
                    alarm: format!("al{i}"),
                    target: format!("t{i}"),
                    level,
                }));
            }
            records.extend(timed.into_iter().map(|(_, r)| r));
            let numbered = records.into_iter().enumerate().map(|(i, r)| (i + 1, r)).collect();
            let report = check(&assemble(numbered).unwrap());
            let counted: u64 = report.violations_by_kind.values().sum();
            prop_assert_eq!(counted, report.violations.len() as u64 + report.violations_not_shown);
            prop_assert!(report.violations.len() <= VIOLATIONS_SHOWN_MAX);
            prop_assert_eq!(report.ok(), report.violations.is_empty());
        }
    }
}
