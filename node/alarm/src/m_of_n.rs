//! CloudWatch's M-of-N decision over an evaluation range of period buckets, with
//! `TreatMissingData`, as AWS documents it (the tables are tests in tests/it/cloudwatch.rs).

use crate::spec::MissingData;

/// One period bucket of the evaluation range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// No data in the bucket.
    Missing,
    /// The bucket's statistic breaches the threshold.
    Breaching,
    /// The bucket has data that does not breach.
    NotBreaching,
}

/// What the range decides, in CloudWatch's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// ALARM: the alarm goes to its configured state.
    Alarm,
    /// OK.
    Ok,
    /// INSUFFICIENT_DATA: Meridian's `Unknown`.
    InsufficientData,
    /// The alarm keeps its state (`ignore` with too little data).
    Retain,
}

/// Buckets fetched for N evaluation periods: more than N, as CloudWatch does, so that real points
/// a little older than N periods still count. AWS leaves the size unspecified; its tables use 5
/// for N = 3, which `N + max(N / 3, 2)` gives.
pub const fn evaluation_range(n: u32) -> usize {
    let extra = if n / 3 > 2 { n / 3 } else { 2 };
    (n + extra) as usize
}

/// The decision for `points` (the evaluation range, oldest first), N evaluation periods and
/// M datapoints to alarm.
///
/// - At least N real points: the newest N real points decide, `missing` plays no part;
///   M or more breaching is ALARM, otherwise OK.
/// - Fewer: `breaching` and `notBreaching` fill the N - real missing points (as few as possible),
///   every real point counts. `missing` and `ignore` use the real points: M breaching is ALARM;
///   any non-breaching is OK; none at all is INSUFFICIENT_DATA (`missing`) or keeps the state
///   (`ignore`); only breaching ones, fewer than M, are INSUFFICIENT_DATA under `missing` unless
///   the oldest of them is at least M periods old (AWS's "avoiding premature transition": the
///   breach has lasted M periods), and keep the state under `ignore`.
pub fn decide(points: &[Point], n: u32, m: u32, missing: MissingData) -> Outcome {
    assert!(1 <= m && m <= n, "m of n out of range: {m} of {n}");
    let (n, m) = (n as usize, m as usize);
    let real = points.iter().filter(|p| **p != Point::Missing).count();
    let breaching =
        |it: &mut dyn Iterator<Item = &Point>| it.filter(|p| **p == Point::Breaching).count();
    if real >= n {
        let newest = &mut points
            .iter()
            .rev()
            .filter(|p| **p != Point::Missing)
            .take(n);
        return alarm_if(breaching(newest) >= m);
    }
    let breaches = breaching(&mut points.iter());
    match missing {
        MissingData::Breaching => alarm_if(breaches + (n - real) >= m),
        MissingData::NotBreaching => alarm_if(breaches >= m),
        MissingData::Missing | MissingData::Ignore => {
            let hold = if missing == MissingData::Missing {
                Outcome::InsufficientData
            } else {
                Outcome::Retain
            };
            if real == 0 {
                return hold;
            }
            if breaches >= m {
                return Outcome::Alarm;
            }
            if breaches < real {
                return Outcome::Ok;
            }
            let oldest_age = points.len()
                - points
                    .iter()
                    .position(|p| *p != Point::Missing)
                    .unwrap_or(0);
            if missing == MissingData::Missing && oldest_age >= m {
                Outcome::Alarm
            } else {
                hold
            }
        }
    }
}

fn alarm_if(alarm: bool) -> Outcome {
    if alarm { Outcome::Alarm } else { Outcome::Ok }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_five_for_three_periods_and_grows_with_n() {
        assert_eq!(evaluation_range(1), 3);
        assert_eq!(evaluation_range(3), 5);
        assert_eq!(evaluation_range(9), 12);
        assert_eq!(evaluation_range(100), 133);
    }

    #[test]
    fn enough_real_points_ignore_the_missing_mode() {
        use Point::*;
        let points = [Breaching, Missing, NotBreaching, Breaching, Breaching];
        for mode in MissingData::ALL {
            assert_eq!(decide(&points, 3, 2, mode), Outcome::Alarm);
            assert_eq!(decide(&points, 3, 3, mode), Outcome::Ok);
        }
    }
}
