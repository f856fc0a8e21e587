//! Weighted rendezvous scores, computed with nothing but IEEE-754 basic arithmetic.
//!
//! A node's score for a shard is `ln(u) / weight` (always negative; the highest wins), where `u`
//! in (0, 1) comes from the stable hash of (role, shard, node). `-ln(u) / weight` is exponentially
//! distributed with rate `weight`, so the node with the highest score (the smallest such variable)
//! wins with probability `weight / total weight`: that is what makes the scheme *weighted*
//! rendezvous (equal weights reduce it to plain highest-random-weight hashing).
//!
//! `f64::ln` is left to the platform's libm, whose last bit may differ between machines, so `ln`
//! is computed here with `+ - * /` only: IEEE-754 rounds those exactly the same way everywhere, and
//! Rust never fuses them into FMA on its own. Two nodes therefore compute bit-identical scores.
//! The series is cut at an error below 1e-12: plenty for weighting, and the short
//! dependency chain keeps scoring 4 million (shard, node) pairs fast.

use std::cmp::Ordering;

use crate::hash::{mix64, stable_hash};

/// Per-node key: the stable hash of the node id. Computed once per assignment.
pub(crate) fn node_key(id: u64) -> u64 {
    stable_hash(&id.to_le_bytes())
}

/// Per-(role, shard) key. `salt` separates the roles so the evaluator of a shard is not simply
/// the poller owner or the first series replica.
pub(crate) fn shard_key(salt: u64, shard: u32) -> u64 {
    mix64(salt ^ u64::from(shard).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The rendezvous hash of one (role, shard) and one node.
pub(crate) fn pair_hash(shard_key: u64, node_key: u64) -> u64 {
    mix64(shard_key ^ node_key)
}

/// The weighted rendezvous score, higher wins; `inv_weight` is `1.0 / weight` (weight > 0).
pub(crate) fn score(hash: u64, inv_weight: f64) -> f64 {
    ln(unit(hash)) * inv_weight
}

/// The hash as a number strictly inside (0, 1): `(h >> 12) < 2^52`, so adding 0.5 is exact.
pub(crate) fn unit(hash: u64) -> f64 {
    ((hash >> 12) as f64 + 0.5) * (1.0 / 4_503_599_627_370_496.0)
}

/// A cheap bound with `score(hash, inv_weight) <= score_bound(unit(hash), inv_weight)`, used to
/// skip the logarithm for nodes that cannot make a shard's shortlist.
///
/// `ln u <= u - 1` for every u > 0; `ln` here is within a relative 1e-12 of the true logarithm and
/// both sides are negative, so scaling the bound by `1 - 1e-9` (towards zero) covers that error
/// and the rounding of this expression with a wide margin.
pub(crate) fn score_bound(u: f64, inv_weight: f64) -> f64 {
    (u - 1.0) * inv_weight * (1.0 - 1e-9)
}

/// `1.0 / weight`, the form `score` takes it in.
pub(crate) fn inv_weight(weight: u32) -> f64 {
    1.0 / f64::from(weight)
}

/// Orders candidates best first: higher score, then lower node id (a deterministic tie-break).
pub(crate) fn cmp_best_first(a: (f64, u64), b: (f64, u64)) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

const FRAC_MASK: u64 = (1 << 52) - 1;
const EXP_ONE: u64 = 1023 << 52;

/// Natural logarithm of a positive, normal, finite `x`, from basic arithmetic only.
///
/// `x = m * 2^e` with `m` in [sqrt(1/2), sqrt(2)); `ln m = 2 atanh(t)` with `t = (m-1)/(m+1)`,
/// `|t| <= 0.1716`, summed as an odd series to 13th order (the next term is below 5e-13).
pub(crate) fn ln(x: f64) -> f64 {
    debug_assert!(x.is_normal() && x > 0.0, "ln of {x}");
    let bits = x.to_bits();
    let mut exp = ((bits >> 52) & 0x7FF) as i64 - 1023;
    let mut m = f64::from_bits((bits & FRAC_MASK) | EXP_ONE);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        exp += 1;
    }
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    // Horner form of 2 (1 + t2/3 + t2^2/5 + ... + t2^6/13).
    const C: [f64; 7] = [
        2.0 / 13.0,
        2.0 / 11.0,
        2.0 / 9.0,
        2.0 / 7.0,
        2.0 / 5.0,
        2.0 / 3.0,
        2.0,
    ];
    let mut series = 0.0;
    for c in C {
        series = series * t2 + c;
    }
    exp as f64 * std::f64::consts::LN_2 + t * series
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_agrees_with_libm() {
        let mut x = 1e-300_f64;
        while x < 4.0 {
            let (ours, theirs) = (ln(x), x.ln());
            let err = (ours - theirs).abs() / theirs.abs().max(1e-300);
            assert!(
                err < 2e-12 || (ours - theirs).abs() < 5e-13,
                "x={x} {ours} vs {theirs}"
            );
            x *= 1.000_7;
        }
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn ln_is_pinned_bit_for_bit() {
        // Frozen outputs: a change here means scores, and so placements, changed.
        assert_eq!(ln(0.5).to_bits(), (-std::f64::consts::LN_2).to_bits());
        assert_eq!(ln(0.1).to_bits(), 0xC002_6BB1_BBB5_5514);
        assert_eq!(ln(0.75).to_bits(), 0xBFD2_6962_1134_D98F);
        assert_eq!(ln(1e-10).to_bits(), 0xC037_069E_2AA2_AA5A);
        assert_eq!(ln(0.999).to_bits(), 0xBF50_6467_0D97_9B73);
    }

    #[test]
    fn scores_are_finite_negative_and_weighted() {
        for h in [0, 1, u64::MAX, 1 << 63, 0x1234_5678_9ABC_DEF0] {
            let s = score(h, inv_weight(1));
            assert!(s.is_finite() && s < 0.0, "hash {h:#x} score {s}");
            assert_eq!(
                score(h, inv_weight(4)),
                s / 4.0,
                "power-of-two weights scale exactly"
            );
        }
        assert!(
            score(u64::MAX, 1.0) > score(0, 1.0),
            "a larger hash ranks higher"
        );
    }

    #[test]
    fn score_bound_is_never_below_the_score() {
        let mut h = 0x0123_4567_89AB_CDEFu64;
        for i in 0..200_000u32 {
            h = crate::hash::mix64(h.wrapping_add(u64::from(i)));
            for w in [1, 3, 100, 65_535, u32::MAX] {
                let iw = inv_weight(w);
                assert!(
                    score(h, iw) <= score_bound(unit(h), iw),
                    "hash {h:#x} weight {w}"
                );
            }
        }
        for h in [0, 1 << 12, u64::MAX, u64::MAX - (1 << 12)] {
            assert!(score(h, 1.0) <= score_bound(unit(h), 1.0), "hash {h:#x}");
        }
    }

    #[test]
    fn weight_shifts_wins_proportionally() {
        // Two nodes, weights 1 and 3: the heavy one should win about 3/4 of the shards.
        let (a, b) = (node_key(1), node_key(2));
        let shards = 20_000u32;
        let mut heavy_wins = 0;
        for shard in 0..shards {
            let k = shard_key(7, shard);
            if score(pair_hash(k, b), inv_weight(3)) > score(pair_hash(k, a), inv_weight(1)) {
                heavy_wins += 1;
            }
        }
        let share = f64::from(heavy_wins) / f64::from(shards);
        assert!((share - 0.75).abs() < 0.02, "heavy node share {share}");
    }
}
