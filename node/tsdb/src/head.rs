//! The head: recent points per series in memory, not yet sealed into blocks; and the rule
//! that settles two values written for the same (series, timestamp).

use crate::wal::WalSeries;
use std::collections::{BTreeMap, HashMap};

/// Bytes a point costs in the head (timestamp + value).
pub(crate) const POINT_BYTES: usize = 16;
/// Bytes a series costs in the head beyond its points (map entry, vector header).
pub(crate) const SERIES_BYTES: usize = 64;
/// Milliseconds in a UTC day: blocks are partitioned by day.
pub const DAY_MS: i64 = 86_400_000;

/// Sorts points by time and keeps one per timestamp: the same value twice is one point; two
/// different values keep the larger by `f64::total_cmp` (so `0.0` beats `-0.0`, and NaNs are
/// ordered by their bits). The rule ignores arrival order, so replicas holding the same points
/// keep the same one. Returns how many values lost a conflict.
pub fn settle(points: &mut Vec<(i64, f64)>) -> u64 {
    points.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut conflicts = 0;
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(points.len());
    for &p in points.iter() {
        match out.last_mut() {
            Some(last) if last.0 == p.0 => {
                if last.1.to_bits() != p.1.to_bits() {
                    conflicts += 1;
                    *last = p;
                }
            }
            _ => out.push(p),
        }
    }
    *points = out;
    conflicts
}

/// Sealed output of a head: per day, per series (ascending ids), settled points.
pub(crate) type DayRuns = BTreeMap<i64, Vec<(u64, Vec<(i64, f64)>)>>;

/// In-memory points of every series written since the last seal.
#[derive(Debug, Default)]
pub(crate) struct Head {
    series: HashMap<u64, Vec<(i64, f64)>>,
    bytes: usize,
    points: u64,
    /// Clock time of the first write into this head (for time-based sealing).
    pub(crate) first_write_ms: Option<i64>,
}

impl Head {
    pub(crate) fn apply(&mut self, batch: &[(u64, &WalSeries)], now_ms: i64) {
        self.first_write_ms.get_or_insert(now_ms);
        for (id, s) in batch {
            let v = self.series.entry(*id).or_insert_with(|| {
                self.bytes += SERIES_BYTES;
                Vec::new()
            });
            v.extend_from_slice(&s.points);
            self.bytes += s.points.len() * POINT_BYTES;
            self.points += s.points.len() as u64;
        }
    }

    /// Drops every series whose id satisfies `gone`.
    pub(crate) fn purge(&mut self, gone: impl Fn(u64) -> bool) {
        self.series.retain(|id, pts| {
            if gone(*id) {
                self.bytes -= SERIES_BYTES + pts.len() * POINT_BYTES;
                self.points -= pts.len() as u64;
                false
            } else {
                true
            }
        });
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn points(&self) -> u64 {
        self.points
    }

    pub(crate) fn series_count(&self) -> usize {
        self.series.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Unsettled points of a series within `[from, to)`.
    pub(crate) fn points_in(&self, id: u64, from: i64, to: i64, out: &mut Vec<(i64, f64)>) {
        if let Some(pts) = self.series.get(&id) {
            out.extend(pts.iter().filter(|p| p.0 >= from && p.0 < to));
        }
    }

    /// Settles every series and splits it by UTC day. Returns the runs and conflicts found.
    pub(crate) fn to_days(&self) -> (DayRuns, u64) {
        let mut ids: Vec<u64> = self.series.keys().copied().collect();
        ids.sort_unstable();
        let mut days = DayRuns::new();
        let mut conflicts = 0;
        for id in ids {
            let mut pts = self.series[&id].clone();
            conflicts += settle(&mut pts);
            let mut start = 0;
            while start < pts.len() {
                let day = pts[start].0.div_euclid(DAY_MS);
                let end = start + pts[start..].partition_point(|p| p.0.div_euclid(DAY_MS) == day);
                days.entry(day)
                    .or_default()
                    .push((id, pts[start..end].to_vec()));
                start = end;
            }
        }
        (days, conflicts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn settle_ignores_arrival_order(mut pts in proptest::collection::vec(
            (0i64..50, prop_oneof![any::<f64>(), Just(0.0), Just(-0.0), Just(1.5)]), 0..200),
            seed in any::<u64>()) {
            let mut a = pts.clone();
            let ca = settle(&mut a);
            // A deterministic shuffle from the seed.
            let n = pts.len();
            for i in (1..n).rev() {
                let j = (seed.wrapping_mul(i as u64 + 7) % (i as u64 + 1)) as usize;
                pts.swap(i, j);
            }
            let cb = settle(&mut pts);
            prop_assert_eq!(ca, cb);
            prop_assert_eq!(a.len(), pts.len());
            for (x, y) in a.iter().zip(&pts) {
                prop_assert_eq!(x.0, y.0);
                prop_assert_eq!(x.1.to_bits(), y.1.to_bits());
            }
            prop_assert!(a.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }

    #[test]
    fn same_value_is_a_no_op_and_conflict_keeps_larger() {
        let mut pts = vec![(1, 2.0), (1, 2.0), (2, -0.0), (2, 0.0), (3, 5.0), (3, 4.0)];
        assert_eq!(settle(&mut pts), 2);
        assert_eq!(pts.len(), 3);
        assert_eq!(pts[1].1.to_bits(), 0.0f64.to_bits());
        assert_eq!(pts[2].1, 5.0);
    }
}
