//! Threshold alarms end to end: the evaluator against a model that keeps every raw value,
//! buckets them by period, takes the statistic, and applies the reference M of N.

use std::collections::BTreeSet;

use meridian_alarm::{
    AlarmEvaluator, AlarmSpec, Committed, Comparison, MissingData, Outcome, Point, Rule, State,
    Statistic, ThresholdSpec, evaluation_range,
};
use proptest::prelude::*;

use crate::reference;
use crate::support::{obs, zones};

pub fn threshold_spec(n: u32, m: u32, mode: MissingData, statistic: Statistic) -> AlarmSpec {
    AlarmSpec {
        period_ms: 1000,
        zones: zones(3),
        rule: Rule::Threshold(ThresholdSpec {
            metric: "v".into(),
            statistic,
            period_ms: 1000,
            comparison: Comparison::GreaterOrEqual,
            threshold: 5.0,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            treat_missing_data: mode,
            state: State::Warning,
        }),
    }
}

/// The model's statistic of one bucket's raw values.
fn statistic(values: &[f64], statistic: Statistic) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = |p: usize| sorted[(p * sorted.len()).div_ceil(100).max(1) - 1];
    match statistic {
        Statistic::Average => values.iter().sum::<f64>() / values.len() as f64,
        Statistic::Min => sorted[0],
        Statistic::Max => sorted[sorted.len() - 1],
        Statistic::Sum => values.iter().sum(),
        Statistic::Count => values.len() as f64,
        Statistic::P50 => rank(50),
        Statistic::P90 => rank(90),
        Statistic::P99 => rank(99),
    }
}

#[derive(Debug, Clone)]
enum Step {
    Observe { zone: usize, dt: i64, v: u8 },
    Evaluate { dt: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0usize..3, 0i64..700, 0u8..10).prop_map(|(zone, dt, v)| Step::Observe { zone, dt, v }),
        1 => (0i64..2500).prop_map(|dt| Step::Evaluate { dt }),
    ]
}

fn statistics() -> Vec<Statistic> {
    ["average", "min", "max", "sum", "count", "p50", "p90", "p99"]
        .iter()
        .map(|n| Statistic::from_name(n).expect("known"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn evaluator_matches_the_bucket_model(
        (n, m) in (1u32..=5).prop_flat_map(|n| (Just(n), 1..=n)),
        mode in prop::sample::select(MissingData::ALL.to_vec()),
        stat in prop::sample::select(statistics()),
        start in 0i64..5000,
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let spec = threshold_spec(n, m, mode, stat);
        let mut ev = AlarmEvaluator::new(spec, Committed::initial()).expect("valid");
        let names = zones(3);
        let mut raw: Vec<(i64, f64)> = Vec::new();
        let mut committed = Committed::initial();
        let mut watching_since: Option<i64> = None;
        let mut now = start;
        for step in steps {
            match step {
                Step::Observe { zone, dt, v } => {
                    now += dt;
                    ev.observe(obs(&names[zone], now, f64::from(v), true)).expect("accepted");
                    raw.push((now, f64::from(v)));
                }
                Step::Evaluate { dt } => {
                    now += dt;
                    let since = *watching_since.get_or_insert(now);
                    let decision = ev.evaluate(now, &BTreeSet::new());
                    let len = evaluation_range(n) as i64;
                    let last = now.div_euclid(1000) - 1;
                    let points: Vec<Point> = (last - len + 1..=last)
                        .map(|b| {
                            let values: Vec<f64> = raw
                                .iter()
                                .filter(|(t, _)| t.div_euclid(1000) == b)
                                .map(|(_, v)| *v)
                                .collect();
                            if values.is_empty() {
                                Point::Missing
                            } else if statistic(&values, stat) >= 5.0 {
                                Point::Breaching
                            } else {
                                Point::NotBreaching
                            }
                        })
                        .collect();
                    let real = points.iter().filter(|p| **p != Point::Missing).count();
                    let watched = (last - len + 1) * 1000 >= since;
                    let outcome = if watched || real >= n as usize {
                        reference::m_of_n(&points, n as usize, m as usize, mode)
                    } else {
                        Outcome::Retain
                    };
                    let want = match outcome {
                        Outcome::Alarm => State::Warning,
                        Outcome::Ok => State::Ok,
                        Outcome::InsufficientData => State::Unknown,
                        Outcome::Retain => committed.state,
                    };
                    prop_assert_eq!(decision.state, want);
                    prop_assert_eq!(decision.proposal.is_some(), want != committed.state);
                    if let Some(t) = decision.proposal {
                        committed = Committed { seq: t.seq, state: t.to };
                        ev.on_committed(committed);
                    }
                }
            }
        }
    }
}
