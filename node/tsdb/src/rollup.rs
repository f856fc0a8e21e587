//! Rollup buckets: resolutions, per-bucket aggregates, and the statistics read from them.
//!
//! A bucket covers `[start_ms, start_ms + resolution)` with `start_ms` a multiple of the
//! resolution (epoch aligned). Only finite values are aggregated: NaN (including stale markers)
//! and infinities stay in the raw data but are skipped by rollups. Buckets are computed from
//! points sorted by time, so the float sums are the same on every replica holding the same points.

use crate::bytes::{Reader, put_uvarint};
use crate::codec;
use crate::error::{Error, Result};
use crate::sketch::{DdSketch, SKETCH_BINS_MAX};
use std::collections::BTreeMap;

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

    /// Days one merged rollup block covers once raw data is gone (1: never merged across days).
    pub fn span_days(self) -> u32 {
        match self {
            Resolution::Raw | Resolution::Min5 => 1,
            Resolution::Min20 => 4,
            Resolution::Min60 => 16,
            Resolution::Min240 => 32,
            Resolution::Min1440 => 128,
        }
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

/// Encodes buckets sorted by start, column by column: starts like timestamps, counts and
/// sketch bins as integer columns, the four floats with the raw value codec (bit-exact).
pub(crate) fn encode_buckets(buckets: &[Bucket], out: &mut Vec<u8>) -> Result<()> {
    put_uvarint(out, buckets.len() as u64);
    if buckets.is_empty() {
        return Ok(());
    }
    let starts: Vec<i64> = buckets.iter().map(|b| b.start_ms).collect();
    codec::encode_timestamps(&starts, out)?;
    codec::encode_ints(
        &buckets.iter().map(|b| b.count as i64).collect::<Vec<_>>(),
        out,
    )?;
    for f in [
        |b: &Bucket| b.sum,
        |b: &Bucket| b.sum_sq,
        |b: &Bucket| b.min,
        |b: &Bucket| b.max,
    ] {
        codec::encode_values(&buckets.iter().map(f).collect::<Vec<_>>(), out)?;
    }
    let (mut zeros, mut sizes, mut idx, mut cnt) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for b in buckets {
        let (zero, pos, neg) = b.sketch.parts();
        zeros.push(zero as i64);
        for side in [pos, neg] {
            sizes.push(side.len() as i64);
            let mut prev = 0i64;
            for (&i, &c) in side {
                idx.push(i64::from(i) - prev);
                prev = i64::from(i);
                cnt.push(c as i64);
            }
        }
    }
    put_uvarint(out, idx.len() as u64);
    for col in [&zeros, &sizes, &idx, &cnt] {
        codec::encode_ints(col, out)?;
    }
    Ok(())
}

/// Most buckets one rollup chunk may hold (a day at 5 minutes is 288).
const CHUNK_BUCKETS_MAX: usize = 1 << 20;

pub(crate) fn decode_buckets(buf: &[u8]) -> Result<Vec<Bucket>> {
    let mut r = Reader::new(buf, "rollup chunk");
    let n = r.len(CHUNK_BUCKETS_MAX)?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let starts = codec::decode_timestamps(&mut r, n)?;
    let counts = codec::decode_ints(&mut r, n)?;
    let mut floats = Vec::with_capacity(4);
    for _ in 0..4 {
        floats.push(codec::decode_values(&mut r, n)?);
    }
    let bins = r.len(n.saturating_mul(2 * SKETCH_BINS_MAX))?;
    let zeros = codec::decode_ints(&mut r, n)?;
    let sizes = codec::decode_ints(&mut r, 2 * n)?;
    let idx = codec::decode_ints(&mut r, bins)?;
    let cnt = codec::decode_ints(&mut r, bins)?;
    let bad = |what: &str| Error::corrupt("rollup chunk", what.to_owned());
    let mut at = 0usize;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut sides = [BTreeMap::new(), BTreeMap::new()];
        for (s, side) in sides.iter_mut().enumerate() {
            let len = usize::try_from(sizes[2 * i + s]).map_err(|_| bad("sketch size"))?;
            if len > SKETCH_BINS_MAX || at + len > bins {
                return Err(bad("sketch size"));
            }
            let mut prev = 0i64;
            for j in at..at + len {
                prev += idx[j];
                let key = i32::try_from(prev).map_err(|_| bad("sketch index"))?;
                side.insert(key, u64::try_from(cnt[j]).map_err(|_| bad("sketch count"))?);
            }
            at += len;
        }
        let [pos, neg] = sides;
        out.push(Bucket {
            start_ms: starts[i],
            count: u64::try_from(counts[i]).map_err(|_| bad("count"))?,
            sum: floats[0][i],
            sum_sq: floats[1][i],
            min: floats[2][i],
            max: floats[3][i],
            sketch: DdSketch::from_parts(
                u64::try_from(zeros[i]).map_err(|_| bad("zero"))?,
                pos,
                neg,
            ),
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
            encode_buckets(&got, &mut out).unwrap();
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
