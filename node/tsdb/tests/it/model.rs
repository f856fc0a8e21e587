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
