//! Rollup buckets: resolutions, per-bucket aggregates, and the statistics read from them.
//!
//! A bucket covers `[start_ms, start_ms + resolution)` with `start_ms` a multiple of the
//! resolution (epoch aligned). Only finite values are aggregated: NaN (including stale markers)
//! and infinities stay in the raw data but are skipped by rollups. Buckets are computed from
//! points sorted by time, so the float sums are the same on every replica holding the same points.

use crate::bytes::{Reader, put_ivarint, put_u64, put_uvarint};
use crate::error::{Error, Result};
use crate::sketch::DdSketch;

const MINUTE_MS: i64 = 60_000;

/// A stored resolution: raw points or one of the rollup periods.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Resolution {
    Raw,
    Min5,
    Min20,
    Min60,
    Min240,
    Min1440,
}

impl Resolution {
    /// Every resolution, finest first.
    pub const ALL: [Resolution; 6] = [
        Resolution::Raw,
        Resolution::Min5,
        Resolution::Min20,
        Resolution::Min60,
        Resolution::Min240,
        Resolution::Min1440,
    ];
    /// The rollup resolutions, finest first.
    pub const ROLLUPS: [Resolution; 5] = [
        Resolution::Min5,
        Resolution::Min20,
        Resolution::Min60,
        Resolution::Min240,
        Resolution::Min1440,
    ];

    /// Bucket width in ms (`None` for raw).
    pub fn period_ms(self) -> Option<i64> {
        let minutes = match self {
            Resolution::Raw => return None,
            Resolution::Min5 => 5,
            Resolution::Min20 => 20,
            Resolution::Min60 => 60,
            Resolution::Min240 => 240,
            Resolution::Min1440 => 1440,
        };
        Some(minutes * MINUTE_MS)
    }

    pub(crate) fn code(self) -> u8 {
        Resolution::ALL
            .iter()
            .position(|r| *r == self)
            .expect("listed") as u8
    }

    pub(crate) fn from_code(c: u8) -> Option<Self> {
        Resolution::ALL.get(usize::from(c)).copied()
    }
}

/// Aggregates of one bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub start_ms: i64,
    pub count: u64,
    pub sum: f64,
    pub sum_sq: f64,
    pub min: f64,
    pub max: f64,
    pub sketch: DdSketch,
}

/// A statistic a query can ask of a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    Count,
    Sum,
    Average,
    Min,
    Max,
    Variance,
    /// A percentile in (0, 100], e.g. `p99` or `p99.9`.
    Percentile(f64),
}

impl std::str::FromStr for Statistic {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "count" => Statistic::Count,
            "sum" => Statistic::Sum,
            "average" => Statistic::Average,
            "min" => Statistic::Min,
            "max" => Statistic::Max,
            "variance" => Statistic::Variance,
            _ => return parse_percentile(s),
        })
    }
}

fn parse_percentile(s: &str) -> Result<Statistic> {
    let bad = || Error::invalid("statistics", format!("unknown statistic {s:?}"));
    let digits = s.strip_prefix('p').ok_or_else(bad)?;
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let shape_ok = (1..=3).contains(&whole.len())
        && frac.len() <= 1
        && whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
        && !(digits.contains('.') && frac.is_empty());
    let p: f64 = digits.parse().map_err(|_| bad())?;
    if !shape_ok || !(0.0..=100.0).contains(&p) {
        return Err(bad());
    }
    Ok(Statistic::Percentile(p))
}

impl Bucket {
    /// An empty bucket starting at `start_ms`.
    pub fn empty(start_ms: i64) -> Self {
        Bucket {
            start_ms,
            count: 0,
            sum: 0.0,
            sum_sq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sketch: DdSketch::new(),
        }
    }

    /// Folds one value in (non-finite values are skipped).
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        self.count += 1;
        self.sum += v;
        self.sum_sq += v * v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sketch.add(v);
    }

    /// Folds another bucket's aggregates in.
    pub fn merge(&mut self, other: &Bucket) {
        self.count += other.count;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sketch.merge(&other.sketch);
    }

    /// The statistic's value, or `None` for an empty bucket.
    pub fn statistic(&self, stat: Statistic) -> Option<f64> {
        if self.count == 0 {
            return (stat == Statistic::Count).then_some(0.0);
        }
        let n = self.count as f64;
        let mean = self.sum / n;
        Some(match stat {
            Statistic::Count => n,
            Statistic::Sum => self.sum,
            Statistic::Average => mean,
            Statistic::Min => self.min,
            Statistic::Max => self.max,
            Statistic::Variance => (self.sum_sq / n - mean * mean).max(0.0),
            Statistic::Percentile(p) => self.sketch.quantile(p / 100.0)?.clamp(self.min, self.max),
        })
    }
}

/// Buckets of width `period_ms` (epoch aligned) over points sorted by time.
pub fn aggregate(points: &[(i64, f64)], period_ms: i64) -> Vec<Bucket> {
    assert!(period_ms > 0, "period must be positive");
    let mut out: Vec<Bucket> = Vec::new();
    for &(ts, v) in points {
        let start = ts - ts.rem_euclid(period_ms);
        if out.last().is_none_or(|b| b.start_ms != start) {
            debug_assert!(
                out.last().is_none_or(|b| b.start_ms < start),
                "points not sorted"
            );
            out.push(Bucket::empty(start));
        }
        out.last_mut().expect("pushed").add(v);
    }
    out
}

/// Regroups finer buckets (sorted by start) into buckets of `period_ms`.
pub fn regroup(buckets: &[Bucket], period_ms: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for b in buckets {
        let start = b.start_ms - b.start_ms.rem_euclid(period_ms);
        if out.last().is_none_or(|o| o.start_ms != start) {
            out.push(Bucket::empty(start));
        }
        out.last_mut().expect("pushed").merge(b);
    }
    out
}

/// Encodes buckets sorted by start.
pub(crate) fn encode_buckets(buckets: &[Bucket], out: &mut Vec<u8>) {
    put_uvarint(out, buckets.len() as u64);
    let mut prev = 0i64;
    for b in buckets {
        put_ivarint(out, b.start_ms - prev);
        prev = b.start_ms;
        put_uvarint(out, b.count);
        for f in [b.sum, b.sum_sq, b.min, b.max] {
            put_u64(out, f.to_bits());
        }
        b.sketch.encode(out);
    }
}

/// Most buckets one rollup chunk may hold (a day at 5 minutes is 288).
const CHUNK_BUCKETS_MAX: usize = 1 << 20;

pub(crate) fn decode_buckets(buf: &[u8]) -> Result<Vec<Bucket>> {
    let mut r = Reader::new(buf, "rollup chunk");
    let n = r.len(CHUNK_BUCKETS_MAX)?;
    let mut out = Vec::with_capacity(n);
    let mut prev = 0i64;
    for _ in 0..n {
        prev += r.ivarint()?;
        let count = r.uvarint()?;
        let mut f = [0f64; 4];
        for x in &mut f {
            *x = f64::from_bits(r.u64()?);
        }
        let sketch = DdSketch::decode(&mut r)?;
        out.push(Bucket {
            start_ms: prev,
            count,
            sum: f[0],
            sum_sq: f[1],
            min: f[2],
            max: f[3],
            sketch,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn buckets_match_naive(mut pts in proptest::collection::vec((0i64..10_000_000, -1e6f64..1e6), 0..500),
                               res in 1usize..6) {
            pts.sort_by_key(|p| p.0);
            pts.dedup_by_key(|p| p.0);
            let period = Resolution::ALL[res].period_ms().unwrap();
            let got = aggregate(&pts, period);
            let mut starts: Vec<i64> = pts.iter().map(|p| p.0 / period * period).collect();
            starts.dedup();
            prop_assert_eq!(got.len(), starts.len());
            for (b, s) in got.iter().zip(starts) {
                let inside: Vec<f64> = pts.iter().filter(|p| p.0 / period * period == s).map(|p| p.1).collect();
                prop_assert_eq!(b.start_ms, s);
                prop_assert_eq!(b.count, inside.len() as u64);
                prop_assert_eq!(b.sum, inside.iter().fold(0.0, |a, v| a + v));
                prop_assert_eq!(b.sum_sq, inside.iter().fold(0.0, |a, v| a + v * v));
                prop_assert_eq!(b.min, inside.iter().cloned().fold(f64::INFINITY, f64::min));
                prop_assert_eq!(b.max, inside.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
                prop_assert_eq!(b.sketch.count(), inside.len() as u64);
            }
            let mut out = Vec::new();
            encode_buckets(&got, &mut out);
            prop_assert_eq!(decode_buckets(&out).unwrap(), got);
        }
    }

    #[test]
    fn statistics_parse_and_compute() {
        let mut b = Bucket::empty(0);
        for v in [1.0, 2.0, 3.0, 4.0, f64::NAN, f64::INFINITY] {
            b.add(v);
        }
        assert_eq!(b.count, 4);
        let get = |s: &str| b.statistic(s.parse().unwrap()).unwrap();
        assert_eq!(get("average"), 2.5);
        assert_eq!(get("variance"), 1.25);
        assert_eq!(get("sum"), 10.0);
        assert!((get("p50") - 2.0).abs() <= 0.02);
        assert!((get("p99.9") - 3.0).abs() <= 0.03);
        assert!((get("p100") - 4.0).abs() <= 0.04);
        for bad in ["p", "p100.01", "p99.", "p1000", "mean", "p-1", "p9.99"] {
            assert!(bad.parse::<Statistic>().is_err(), "{bad}");
        }
    }
}
