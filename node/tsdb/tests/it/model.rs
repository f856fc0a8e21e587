//! Model-based test: random writes, seals, merges and reopenings against a naive map.

use crate::fixture::*;
use meridian_tsdb::DAY_MS;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Write {
        series: usize,
        points: Vec<(i64, f64)>,
    },
    Flush,
    Maintain {
        advance_h: i64,
    },
    Reopen {
        clean: bool,
    },
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0i64..20).prop_map(|i| i as f64 / 4.0),
        Just(-0.0),
        Just(f64::from_bits(0x7ff0_0000_0000_0002)),
        any::<f64>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..3, proptest::collection::vec((0i64..3 * DAY_MS / 600_000, value()), 1..40))
            .prop_map(|(series, pts)| Op::Write {
                series,
                points: pts.into_iter().map(|(t, v)| (BASE_DAY * DAY_MS + t * 600_000, v)).collect(),
            }),
        2 => Just(Op::Flush),
        2 => (0i64..30).prop_map(|advance_h| Op::Maintain { advance_h }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn engine_matches_a_naive_map(ops in proptest::collection::vec(op(), 1..25)) {
        let mut t = TestEngine::with(|c| {
            c.merge_fanin = 2;
            c.retention.raw_ms = 3650 * DAY_MS;
        });
        let keys: Vec<_> = (0..3).map(|i| key(&format!("m{i}"))).collect();
        let mut models: Vec<Model> = (0..3).map(|_| Model::default()).collect();
        let mut now = BASE_DAY * DAY_MS;
        t.set_now(now);
        for op in ops {
            match op {
                Op::Write { series, points } => {
                    write(t.e(), &keys[series], &points);
                    models[series].add(&points);
                }
                Op::Flush => t.e().flush().unwrap(),
                Op::Maintain { advance_h } => {
                    now += advance_h * 3_600_000;
                    t.set_now(now);
                    t.e().maintain().unwrap();
                }
                Op::Reopen { clean } => t.reopen(clean, |c| {
                    c.merge_fanin = 2;
                    c.retention.raw_ms = 3650 * DAY_MS;
                }),
            }
        }
        let (from, to) = (BASE_DAY * DAY_MS, (BASE_DAY + 4) * DAY_MS);
        for (k, m) in keys.iter().zip(&models) {
            let got = t.e().raw(k, from, to, 100_000).unwrap();
            prop_assert_eq!(got.len(), m.0.len());
            for (g, w) in got.iter().zip(m.range(from, to)) {
                prop_assert_eq!(g.0, w.0);
                prop_assert_eq!(g.1.to_bits(), w.1.to_bits());
            }
        }
    }
}

#[derive(Debug, Clone)]
enum RollOp {
    /// Points (unique timestamps) for day `BASE_DAY + offset`.
    Write { offset: i64, n: i64 },
    /// Seal, move the clock on by `hours`, run maintenance.
    Advance { hours: i64 },
}

fn roll_op() -> impl Strategy<Value = RollOp> {
    prop_oneof![
        3 => (0i64..30, 1i64..20).prop_map(|(offset, n)| RollOp::Write { offset, n }),
        2 => (0i64..96).prop_map(|hours| RollOp::Advance { hours }),
    ]
}

fn assert_close(a: f64, b: f64) -> Result<(), TestCaseError> {
    prop_assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{} vs {}", a, b);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// Whatever mix of raw, own-day rollups, folded late points and spans a day ends up in,
    /// daily and 4-hour buckets equal the naive aggregation of every point written.
    #[test]
    fn buckets_match_naive_through_closing_expiry_folds_and_spans(
        ops in proptest::collection::vec(roll_op(), 1..30)
    ) {
        let t = TestEngine::with(|c| c.merge_fanin = 2);
        let k = key("roll");
        let mut model = Model::default();
        let mut now = BASE_DAY * DAY_MS + 3_600_000;
        let mut seq = 0i64;
        t.set_now(now);
        for op in ops {
            match op {
                RollOp::Write { offset, n } => {
                    let pts: Vec<(i64, f64)> = (0..n)
                        .map(|_| {
                            seq += 1;
                            ((BASE_DAY + offset) * DAY_MS + seq * 1000, (seq % 97) as f64 / 4.0)
                        })
                        .collect();
                    write(t.e(), &k, &pts);
                    model.add(&pts);
                }
                RollOp::Advance { hours } => {
                    t.e().flush().unwrap();
                    now += hours * 3_600_000;
                    t.set_now(now);
                    while t.e().maintain().unwrap().merged > 0 {}
                }
            }
        }
        let (from, to) = (BASE_DAY * DAY_MS, (BASE_DAY + 31) * DAY_MS);
        for period in [DAY_MS, 4 * 3_600_000] {
            let got = t.e().buckets(&k, from, to, period).unwrap().buckets;
            let want = meridian_tsdb::rollup::aggregate(&model.range(from, to), period);
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!((g.start_ms, g.count, g.min, g.max), (w.start_ms, w.count, w.min, w.max));
                assert_close(g.sum, w.sum)?;
                assert_close(g.sum_sq, w.sum_sq)?;
                prop_assert_eq!(&g.sketch, &w.sketch);
            }
        }
    }
}
