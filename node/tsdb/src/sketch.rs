//! DDSketch: a mergeable quantile sketch with a relative-error bound.
//!
//! Positive and negative values fall into logarithmic bins `ceil(log_gamma(|x|))` with
//! `gamma = (1 + a) / (1 - a)`, `a = SKETCH_RELATIVE_ERROR`; a bin answers `2 gamma^i / (gamma + 1)`,
//! within `a` of every value in it. Merging adds bin counts, so the result is the same whatever
//! the merge order. Each side keeps at most `SKETCH_BINS_MAX` bins: lower bins collapse into the
//! lowest kept one, a rule that depends only on the highest bin, so it too ignores merge order.

use std::collections::BTreeMap;

/// Relative accuracy of every quantile answer, for values whose bins were not collapsed.
pub const SKETCH_RELATIVE_ERROR: f64 = 0.01;
/// Most bins per sign; covers a ratio of about 1e35 between the smallest and largest value.
pub const SKETCH_BINS_MAX: usize = 4096;
/// Magnitudes below this count as zero.
const MIN_INDEXABLE: f64 = 1e-300;

/// `ln(gamma)`, spelled out so the hot path does not recompute it (a test checks it).
const LN_GAMMA: f64 = 0.020000666706669435;

fn gamma() -> f64 {
    (1.0 + SKETCH_RELATIVE_ERROR) / (1.0 - SKETCH_RELATIVE_ERROR)
}

/// A quantile sketch over finite values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DdSketch {
    zero: u64,
    positive: BTreeMap<i32, u64>,
    negative: BTreeMap<i32, u64>,
}

impl DdSketch {
    /// An empty sketch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one finite value; NaN and infinities are ignored (callers skip them).
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        if v.abs() < MIN_INDEXABLE {
            self.zero += 1;
            return;
        }
        let i = (v.abs().ln() / LN_GAMMA).ceil() as i32;
        let store = if v > 0.0 {
            &mut self.positive
        } else {
            &mut self.negative
        };
        *store.entry(i).or_insert(0) += 1;
        collapse(store);
    }

    /// Adds every count of `other` into `self`.
    pub fn merge(&mut self, other: &DdSketch) {
        self.zero += other.zero;
        for (side, theirs) in [
            (&mut self.positive, &other.positive),
            (&mut self.negative, &other.negative),
        ] {
            for (&i, &c) in theirs {
                *side.entry(i).or_insert(0) += c;
            }
            collapse(side);
        }
    }

    /// Number of values added.
    pub fn count(&self) -> u64 {
        self.zero + self.positive.values().sum::<u64>() + self.negative.values().sum::<u64>()
    }

    /// The value at quantile `q` in [0, 1], or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = (q * (n - 1) as f64).floor() as u64;
        let mut seen = 0u64;
        for (&i, &c) in self.negative.iter().rev() {
            seen += c;
            if seen > rank {
                return Some(-bin_value(i));
            }
        }
        seen += self.zero;
        if seen > rank {
            return Some(0.0);
        }
        for (&i, &c) in &self.positive {
            seen += c;
            if seen > rank {
                return Some(bin_value(i));
            }
        }
        unreachable!("rank {rank} below count {n}")
    }

    /// Number of bins held (both signs).
    pub fn bins(&self) -> usize {
        self.positive.len() + self.negative.len()
    }

    /// Zero count and the (index, count) bins of each side, for columnar storage.
    pub(crate) fn parts(&self) -> (u64, &BTreeMap<i32, u64>, &BTreeMap<i32, u64>) {
        (self.zero, &self.positive, &self.negative)
    }

    pub(crate) fn from_parts(
        zero: u64,
        positive: BTreeMap<i32, u64>,
        negative: BTreeMap<i32, u64>,
    ) -> Self {
        DdSketch {
            zero,
            positive,
            negative,
        }
    }
}

fn bin_value(i: i32) -> f64 {
    2.0 * gamma().powi(i) / (gamma() + 1.0)
}

fn collapse(side: &mut BTreeMap<i32, u64>) {
    let Some((&top, _)) = side.last_key_value() else {
        return;
    };
    let floor = top - (SKETCH_BINS_MAX as i32 - 1);
    let Some((&low, _)) = side.first_key_value() else {
        return;
    };
    if low >= floor {
        return;
    }
    let keep = side.split_off(&floor);
    let folded: u64 = side.values().sum();
    *side = keep;
    *side.entry(floor).or_insert(0) += folded;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    proptest! {
        #[test]
        fn quantiles_within_relative_error(vs in proptest::collection::vec(
            prop_oneof![-1e6f64..1e6, 1e-3f64..1e3, Just(0.0)], 1..2000), q in 0.0f64..=1.0) {
            let mut s = DdSketch::new();
            vs.iter().for_each(|&v| s.add(v));
            let mut sorted = vs.clone();
            sorted.sort_by(f64::total_cmp);
            let exact = exact_quantile(&sorted, q);
            let got = s.quantile(q).unwrap();
            prop_assert!((got - exact).abs() <= SKETCH_RELATIVE_ERROR * exact.abs() + 1e-300,
                "q {} exact {} got {}", q, exact, got);
        }

        #[test]
        fn merge_order_does_not_matter(parts in proptest::collection::vec(
            proptest::collection::vec(-1e9f64..1e9, 0..200), 1..6)) {
            let sketches: Vec<DdSketch> = parts.iter().map(|p| {
                let mut s = DdSketch::new();
                p.iter().for_each(|&v| s.add(v));
                s
            }).collect();
            let mut forward = DdSketch::new();
            sketches.iter().for_each(|s| forward.merge(s));
            let mut backward = DdSketch::new();
            sketches.iter().rev().for_each(|s| backward.merge(s));
            let mut whole = DdSketch::new();
            parts.iter().flatten().for_each(|&v| whole.add(v));
            prop_assert_eq!(&forward, &backward);
            prop_assert_eq!(&forward, &whole);
        }
    }

    #[test]
    fn ln_gamma_constant_is_exact() {
        assert_eq!(LN_GAMMA.to_bits(), gamma().ln().to_bits());
    }

    #[test]
    fn bins_are_bounded_and_collapse_is_order_free() {
        let mut a = DdSketch::new();
        let mut b = DdSketch::new();
        for k in 0..400 {
            a.add(10f64.powi(k - 200));
            b.add(10f64.powi(200 - k) * 3.0);
        }
        // 400 values 10x apart span far more than SKETCH_BINS_MAX bins: the low ones collapse.
        assert!(a.bins() < 400 && a.count() == 400);
        let (lo, hi) = (
            a.positive.first_key_value().unwrap().0,
            a.positive.last_key_value().unwrap().0,
        );
        assert_eq!(hi - lo, SKETCH_BINS_MAX as i32 - 1);
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert!(ab.bins() <= SKETCH_BINS_MAX);
        assert_eq!(ab.count(), 800);
    }
}
