//! A threshold alarm's window: per-period buckets of one metric from every zone, reduced to the
//! points of the evaluation range.

use std::collections::BTreeMap;

use crate::m_of_n::{Point, evaluation_range};
use crate::spec::{EVALUATION_PERIODS_MAX, Statistic, ThresholdSpec};

/// Most values a bucket keeps for percentiles. Count, sum, min and max stay exact past it;
/// percentiles are then taken over the first `BUCKET_SAMPLES_MAX` values of the bucket.
pub const BUCKET_SAMPLES_MAX: usize = 1024;
/// Most buckets held: the largest evaluation range plus the bucket being filled and one ahead
/// (a poller clock slightly in front). The oldest go first beyond it.
pub const BUCKETS_MAX: usize = evaluation_range(EVALUATION_PERIODS_MAX) + 2;

/// One period's values.
#[derive(Debug, Clone)]
struct Bucket {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    samples: Vec<f64>,
}

impl Bucket {
    fn new() -> Self {
        Bucket {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if self.samples.len() < BUCKET_SAMPLES_MAX {
            self.samples.push(value);
        }
    }

    fn statistic(&self, statistic: Statistic) -> f64 {
        debug_assert!(self.count > 0);
        match statistic {
            Statistic::Average => self.sum / self.count as f64,
            Statistic::Min => self.min,
            Statistic::Max => self.max,
            Statistic::Sum => self.sum,
            Statistic::Count => self.count as f64,
            Statistic::P50 => nearest_rank(&self.samples, 50),
            Statistic::P90 => nearest_rank(&self.samples, 90),
            Statistic::P99 => nearest_rank(&self.samples, 99),
        }
    }
}

/// The `pct` percentile of `samples` by nearest rank: the smallest value with at least `pct`%
/// of the values at or below it.
pub fn nearest_rank(samples: &[f64], pct: u32) -> f64 {
    assert!(!samples.is_empty() && (1..=100).contains(&pct));
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (pct as usize * sorted.len()).div_ceil(100);
    sorted[rank.max(1) - 1]
}

/// The buckets of one threshold alarm.
#[derive(Debug, Clone, Default)]
pub struct ThresholdWindow {
    buckets: BTreeMap<i64, Bucket>,
}

/// The evaluation range at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    /// Points, oldest first.
    pub points: Vec<Point>,
    /// The statistic of the newest bucket with data, if any.
    pub newest_value: Option<f64>,
    /// Where the oldest bucket of the range starts, in ms.
    pub first_ms: i64,
}

impl ThresholdWindow {
    /// An empty window.
    pub fn new() -> Self {
        ThresholdWindow::default()
    }

    /// Adds one value observed at `timestamp_ms` (values that are not finite are skipped).
    pub fn add(&mut self, spec: &ThresholdSpec, timestamp_ms: i64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let index = timestamp_ms.div_euclid(spec.period_ms);
        self.buckets
            .entry(index)
            .or_insert_with(Bucket::new)
            .add(value);
        while self.buckets.len() > BUCKETS_MAX {
            self.buckets.pop_first();
        }
    }

    /// The evaluation range ending with the last complete period before `now_ms`; buckets older
    /// than the range are dropped.
    pub fn range(&mut self, spec: &ThresholdSpec, now_ms: i64) -> Range {
        let len = evaluation_range(spec.evaluation_periods) as i64;
        let last = now_ms.div_euclid(spec.period_ms) - 1;
        let first = last - len + 1;
        self.buckets.retain(|index, _| *index >= first);
        let mut newest_value = None;
        let points = (first..=last)
            .map(|index| match self.buckets.get(&index) {
                None => Point::Missing,
                Some(bucket) => {
                    let value = bucket.statistic(spec.statistic);
                    newest_value = Some(value);
                    if spec.comparison.holds(value, spec.threshold) {
                        Point::Breaching
                    } else {
                        Point::NotBreaching
                    }
                }
            })
            .collect();
        Range {
            points,
            newest_value,
            first_ms: first.saturating_mul(spec.period_ms),
        }
    }

    /// Buckets held now (never more than [`BUCKETS_MAX`]).
    pub fn buckets_held(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Comparison, MissingData};
    use crate::state::State;

    fn spec(statistic: Statistic) -> ThresholdSpec {
        ThresholdSpec {
            metric: "ms".into(),
            statistic,
            period_ms: 1000,
            comparison: Comparison::Greater,
            threshold: 10.0,
            evaluation_periods: 3,
            datapoints_to_alarm: 3,
            treat_missing_data: MissingData::Missing,
            state: State::Critical,
        }
    }

    #[test]
    fn buckets_reduce_by_statistic_and_only_complete_periods_count() {
        let s = spec(Statistic::Average);
        let mut w = ThresholdWindow::new();
        for (ts, v) in [
            (0, 5.0),
            (500, 25.0),
            (1500, 1.0),
            (3100, 100.0),
            (5000, 99.0),
        ] {
            w.add(&s, ts, v);
        }
        let r = w.range(&s, 5000);
        use Point::*;
        // Buckets 0..=4; bucket 5 (now) is not complete yet.
        assert_eq!(
            r.points,
            [Breaching, NotBreaching, Missing, Breaching, Missing]
        );
        assert_eq!(r.newest_value, Some(100.0));
        let mut w2 = w.clone();
        assert_eq!(
            w2.range(&spec(Statistic::Min), 5000).points[0],
            NotBreaching
        );
        assert_eq!(
            w2.range(&spec(Statistic::Count), 5000).newest_value,
            Some(1.0)
        );
        // Later, the old buckets leave the range and are dropped.
        let r = w.range(&s, 9000);
        assert_eq!(r.points, [Missing, Breaching, Missing, Missing, Missing]);
        assert_eq!(w.buckets_held(), 1);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(nearest_rank(&samples, 50), 5.0);
        assert_eq!(nearest_rank(&samples, 90), 9.0);
        assert_eq!(nearest_rank(&samples, 99), 10.0);
        assert_eq!(nearest_rank(&[7.0], 1), 7.0);
    }

    #[test]
    fn held_buckets_and_samples_are_bounded() {
        let s = spec(Statistic::P99);
        let mut w = ThresholdWindow::new();
        for i in 0..(BUCKETS_MAX as i64 + 10) {
            w.add(&s, i * 1000, 1.0);
        }
        assert_eq!(w.buckets_held(), BUCKETS_MAX);
        let mut w = ThresholdWindow::new();
        for i in 0..(BUCKET_SAMPLES_MAX + 100) {
            w.add(&s, 0, i as f64);
        }
        let bucket = w.buckets.get(&0).expect("bucket 0");
        assert_eq!(bucket.samples.len(), BUCKET_SAMPLES_MAX);
        assert_eq!(bucket.count, BUCKET_SAMPLES_MAX as u64 + 100);
        assert_eq!(
            bucket.max,
            (BUCKET_SAMPLES_MAX + 99) as f64,
            "max stays exact"
        );
    }
}
