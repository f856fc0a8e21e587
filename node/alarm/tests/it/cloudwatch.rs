//! M of N with TreatMissingData: AWS's documented tables as explicit cases, and the crate's
//! `decide` against the reference for every mode on random ranges.

use meridian_alarm::{MissingData, Outcome, Point, decide, evaluation_range};
use proptest::prelude::*;

use crate::reference;

/// `0 - X - X` (oldest first): 0 not breaching, X breaching, - missing.
fn points(text: &str) -> Vec<Point> {
    text.split_whitespace()
        .map(|p| match p {
            "0" => Point::NotBreaching,
            "X" => Point::Breaching,
            "-" => Point::Missing,
            other => panic!("bad point {other}"),
        })
        .collect()
}

fn outcome(text: &str) -> Outcome {
    match text {
        "ALARM" => Outcome::Alarm,
        "OK" => Outcome::Ok,
        "INSUFFICIENT_DATA" => Outcome::InsufficientData,
        "retain" => Outcome::Retain,
        other => panic!("bad outcome {other}"),
    }
}

/// Rows: points, then the outcome under missing, ignore, breaching, notBreaching.
fn check_table(n: u32, m: u32, rows: &[(&str, [&str; 4])]) {
    let modes = [
        MissingData::Missing,
        MissingData::Ignore,
        MissingData::Breaching,
        MissingData::NotBreaching,
    ];
    for (text, expected) in rows {
        let p = points(text);
        assert_eq!(
            p.len(),
            evaluation_range(n),
            "the tables fetch 5 points for N = 3"
        );
        for (mode, want) in modes.iter().zip(expected) {
            let want = outcome(want);
            assert_eq!(
                decide(&p, n, m, *mode),
                want,
                "{m} of {n}, `{text}`, {mode:?}"
            );
            let reference = reference::m_of_n(&p, n as usize, m as usize, *mode);
            assert_eq!(reference, want, "reference: {m} of {n}, `{text}`, {mode:?}");
        }
    }
}

#[test]
fn aws_table_three_of_three() {
    check_table(
        3,
        3,
        &[
            ("0 - X - X", ["OK", "OK", "OK", "OK"]),
            ("0 - - - -", ["OK", "OK", "OK", "OK"]),
            ("- - - - -", ["INSUFFICIENT_DATA", "retain", "ALARM", "OK"]),
            ("0 X X - X", ["ALARM", "ALARM", "ALARM", "ALARM"]),
            ("- - - - X", ["INSUFFICIENT_DATA", "retain", "ALARM", "OK"]),
            ("X - - - -", ["ALARM", "retain", "ALARM", "OK"]),
        ],
    );
}

#[test]
fn aws_table_two_of_three() {
    check_table(
        3,
        2,
        &[
            ("0 - X - X", ["ALARM", "ALARM", "ALARM", "ALARM"]),
            ("0 0 X 0 X", ["ALARM", "ALARM", "ALARM", "ALARM"]),
            ("0 - X - -", ["OK", "OK", "ALARM", "OK"]),
            ("- - - - 0", ["OK", "OK", "ALARM", "OK"]),
            ("- - - - X", ["INSUFFICIENT_DATA", "retain", "ALARM", "OK"]),
        ],
    );
}

fn point() -> impl Strategy<Value = Point> {
    prop::sample::select(vec![Point::Missing, Point::Breaching, Point::NotBreaching])
}

fn m_of_n_case() -> impl Strategy<Value = (u32, u32, Vec<Point>)> {
    (1u32..=12).prop_flat_map(|n| {
        let len = evaluation_range(n);
        (Just(n), 1..=n, prop::collection::vec(point(), len))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decide_matches_the_reference_in_every_mode((n, m, p) in m_of_n_case()) {
        for mode in MissingData::ALL {
            let want = reference::m_of_n(&p, n as usize, m as usize, mode);
            prop_assert_eq!(decide(&p, n, m, mode), want, "{:?}", mode);
        }
    }

    #[test]
    fn with_n_real_points_the_mode_plays_no_part((n, m, mut p) in m_of_n_case()) {
        // Give the range N real points: the newest missing ones become non-breaching.
        let mut real = p.iter().filter(|x| **x != Point::Missing).count();
        for x in p.iter_mut().rev() {
            if real >= n as usize {
                break;
            }
            if *x == Point::Missing {
                *x = Point::NotBreaching;
                real += 1;
            }
        }
        let first = decide(&p, n, m, MissingData::Missing);
        for mode in MissingData::ALL {
            prop_assert_eq!(decide(&p, n, m, mode), first);
        }
    }

    #[test]
    fn one_more_breach_never_clears_an_alarm((n, m, p) in m_of_n_case(), at in any::<prop::sample::Index>()) {
        // The first non-breaching point at or after a random place, if there is one.
        let start = at.index(p.len());
        let found = (0..p.len()).map(|k| (start + k) % p.len()).find(|i| p[*i] == Point::NotBreaching);
        let Some(i) = found else {
            return Ok(());
        };
        let mut worse = p.clone();
        worse[i] = Point::Breaching;
        for mode in MissingData::ALL {
            if decide(&p, n, m, mode) == Outcome::Alarm {
                prop_assert_eq!(decide(&worse, n, m, mode), Outcome::Alarm, "{:?}", mode);
            }
        }
    }
}
