//! Criteria alarms end to end: zone windows and the whole evaluator against a model that keeps
//! every observation and recomputes consecutive counts, freshness, votes and the combination
//! from scratch at each evaluation.

use std::collections::{BTreeMap, BTreeSet};

use meridian_alarm::{
    AlarmEvaluator, Committed, Consistency, MissingData, State, Statistic, ZoneWindow,
};
use proptest::prelude::*;

use crate::reference;
use crate::support::{all_up, criteria, criteria_spec, levels_state, obs, zones};
use crate::threshold::threshold_spec;

#[derive(Debug, Clone)]
enum Step {
    /// Zone `zone` reports `v` (or is unavailable) `dt` ms after the previous step.
    Observe {
        zone: usize,
        dt: i64,
        v: u8,
        available: bool,
    },
    /// Evaluate `dt` ms later with the zones of mask `up` up; commit the proposal if `commit`.
    Evaluate { dt: i64, up: u8, commit: bool },
}

fn step(zone_count: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..zone_count, 1i64..400, 0u8..3, prop::bool::weighted(0.85)).prop_map(
            |(zone, dt, v, available)| Step::Observe { zone, dt, v, available }
        ),
        2 => (0i64..600, any::<u8>(), prop::bool::weighted(0.8))
            .prop_map(|(dt, up, commit)| Step::Evaluate { dt, up, commit }),
    ]
}

fn case() -> impl Strategy<Value = (usize, u8, &'static str, Vec<Step>)> {
    (
        1usize..=4,
        1u8..=3,
        prop::sample::select(vec!["ONE", "QUORUM", "ALL"]),
    )
        .prop_flat_map(|(n, k, level)| {
            (
                Just(n),
                Just(k),
                Just(level),
                prop::collection::vec(step(n), 1..80),
            )
        })
}

fn level_of(name: &str) -> Consistency {
    criteria(name, 1).consistency
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn zone_windows_settle_like_the_reference(
        k in 1usize..=5,
        verdicts in prop::collection::vec((0u8..3, prop::bool::weighted(0.8)), 1..40),
    ) {
        let c = criteria("QUORUM", k as u8);
        let mut window = ZoneWindow::new();
        let mut history = Vec::new();
        for (i, (v, available)) in verdicts.into_iter().enumerate() {
            let ts = i as i64 * 10;
            window.push(Some(&c), k, 1, obs("z0", ts, f64::from(v), available).observation);
            history.push((ts, levels_state(f64::from(v), available)));
            let got = window.settled().map(|s| (s.state, s.since_ms));
            prop_assert_eq!(got, reference::settled(&history, k));
            prop_assert!(window.verdicts_held() <= k);
        }
    }

    #[test]
    fn evaluator_matches_the_model((n, k, level, steps) in case()) {
        let period_ms = 1000;
        let spec = criteria_spec(level, k, n, period_ms);
        let mut ev = AlarmEvaluator::new(spec, Committed::initial()).expect("valid spec");
        let names = zones(n);
        let mut history: BTreeMap<usize, Vec<(i64, State)>> = BTreeMap::new();
        let mut committed = Committed::initial();
        let mut now = 0i64;
        for step in steps {
            match step {
                Step::Observe { zone, dt, v, available } => {
                    now += dt;
                    ev.observe(obs(&names[zone], now, f64::from(v), available)).expect("accepted");
                    history.entry(zone).or_default().push((now, levels_state(f64::from(v), available)));
                }
                Step::Evaluate { dt, up, commit } => {
                    now += dt;
                    let up_set: BTreeSet<String> =
                        (0..n).filter(|i| up & (1 << i) != 0).map(|i| names[i].clone()).collect();
                    let decision = ev.evaluate(now, &up_set);
                    // The model: votes from scratch.
                    let mut votes = Vec::new();
                    for (i, name) in names.iter().enumerate() {
                        let h = history.get(&i).map(Vec::as_slice).unwrap_or(&[]);
                        let settled = reference::settled(h, usize::from(k));
                        let fresh = h.last().is_some_and(|(t, _)| {
                            ((now - t) as f64) < 1.5 * f64::from(k) * period_ms as f64
                        });
                        let voting = settled.is_some() && fresh && up_set.contains(name);
                        prop_assert_eq!(decision.zone_states[name].voting, voting, "zone {}", name);
                        prop_assert_eq!(decision.zone_states[name].state, settled.map(|s| s.0));
                        if voting {
                            votes.push(settled.expect("voting zones are settled"));
                        }
                    }
                    let want = reference::combine(level_of(level), committed.state, n, &votes);
                    prop_assert_eq!(decision.state, want);
                    match &decision.proposal {
                        None => prop_assert_eq!(want, committed.state),
                        Some(t) => {
                            prop_assert_ne!(want, committed.state);
                            prop_assert_eq!((t.from, t.to, t.seq), (committed.state, want, committed.seq + 1));
                            prop_assert_eq!(t.zone_states.len(), votes.len());
                            // A change is always held by a zone that voted for it.
                            prop_assert!(t.zone_states.values().any(|s| *s == t.to));
                            if commit {
                                committed = Committed { seq: t.seq, state: t.to };
                                ev.on_committed(committed);
                            }
                        }
                    }
                }
            }
        }
    }
}

proptest! {
    #[test]
    fn a_resumed_evaluator_never_proposes_before_observations(
        seq in 0u64..1000,
        state in prop::sample::select(State::ALL.to_vec()),
        kind in 0usize..7,
        times in prop::collection::vec(0i64..10_000_000, 1..10),
    ) {
        let spec = match kind {
            0 => criteria_spec("ONE", 1, 3, 1000),
            1 => criteria_spec("QUORUM", 2, 3, 1000),
            2 => criteria_spec("ALL", 3, 3, 1000),
            k => threshold_spec(3, 2, MissingData::ALL[k - 3], Statistic::Average),
        };
        let committed = Committed { seq, state };
        let mut ev = AlarmEvaluator::new(spec, committed).expect("valid");
        let mut sorted = times;
        sorted.sort_unstable();
        // Evaluations within the first evaluation range of the threshold alarms (5 periods).
        let first = sorted[0];
        for now in sorted.into_iter().filter(|t| t - first < 5_000) {
            let d = ev.evaluate(now, &all_up(3));
            prop_assert_eq!(d.state, state);
            prop_assert!(d.proposal.is_none());
        }
    }
}
