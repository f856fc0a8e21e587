//! Fair shares and load caps: how many shard-roles each node may hold.
//!
//! Pure rendezvous gives each node a binomial number of shards: at 1,024 shards over 60 nodes the
//! busiest node carries ~1.5x the mean. The solver therefore bounds each node by a cap derived
//! from its fair share (proportional to weight), at most `LOAD_FACTOR` times that share.
//! All arithmetic is plain IEEE-754 in a fixed order, so every node derives the same caps.

/// Upper bound on a node's load relative to its fair share (when the share is large enough for
/// the bound to be met in whole shards; otherwise the cap is the share rounded up).
pub const LOAD_FACTOR: f64 = 1.15;

/// The cap for a node whose fair share is `fair` shard-roles.
pub(crate) fn cap_for(fair: f64) -> u32 {
    let upper = (fair * LOAD_FACTOR).floor();
    let lower = fair.ceil();
    // Shares are at most n_shards (a u32), so the cast cannot truncate.
    upper.max(lower) as u32
}

/// `total` split in proportion to `weights`.
pub(crate) fn proportional(total: f64, weights: &[f64]) -> Vec<f64> {
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 {
        return vec![0.0; weights.len()];
    }
    weights.iter().map(|w| total * w / sum).collect()
}

/// `total` split in proportion to `weights`, but no item above its `limit` ("water filling"):
/// items that would exceed their limit are pinned to it and the rest is shared among the others.
/// If the limits add up to less than `total`, every item gets its limit.
pub(crate) fn water_fill(total: f64, weights: &[f64], limits: &[f64]) -> Vec<f64> {
    assert_eq!(weights.len(), limits.len(), "one limit per weight");
    let mut share = vec![0.0; weights.len()];
    let mut pinned = vec![false; weights.len()];
    let mut remaining = total;
    // Each pass pins at least one item or finishes, so this runs at most len + 1 times.
    loop {
        let free_weight: f64 = (0..weights.len())
            .filter(|&i| !pinned[i])
            .map(|i| weights[i])
            .sum();
        if free_weight <= 0.0 || remaining <= 0.0 {
            break;
        }
        let per_weight = remaining / free_weight;
        let mut pinned_any = false;
        for i in 0..weights.len() {
            if !pinned[i] && per_weight * weights[i] >= limits[i] {
                pinned[i] = true;
                share[i] = limits[i];
                remaining -= limits[i];
                pinned_any = true;
            }
        }
        if !pinned_any {
            for i in (0..weights.len()).filter(|&i| !pinned[i]) {
                share[i] = per_weight * weights[i];
            }
            break;
        }
    }
    share
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_allows_load_factor_or_one_more_than_the_share() {
        assert_eq!(cap_for(1024.0 / 60.0), 19); // 17.07 * 1.15 = 19.6
        assert_eq!(cap_for(100.0), 114); // 1.15 is slightly below 115/100 in binary
        assert_eq!(cap_for(2.5), 3); // 2.875 floors below the share: round the share up
        assert_eq!(cap_for(0.0), 0);
    }

    #[test]
    fn water_fill_pins_items_at_their_limit() {
        // Regions of 10, 1 and 1 nodes; 3 replicas of 1,024 shards, at most one per region.
        let share = water_fill(3.0 * 1024.0, &[10.0, 1.0, 1.0], &[1024.0; 3]);
        assert_eq!(share, vec![1024.0; 3]);
        let share = water_fill(2.0 * 1024.0, &[10.0, 1.0, 1.0], &[1024.0; 3]);
        assert_eq!(share, vec![1024.0, 512.0, 512.0]);
        let share = water_fill(90.0, &[1.0, 2.0], &[100.0, 100.0]);
        assert_eq!(share, vec![30.0, 60.0]);
    }

    #[test]
    fn water_fill_gives_limits_when_short() {
        assert_eq!(
            water_fill(50.0, &[1.0, 1.0], &[10.0, 20.0]),
            vec![10.0, 20.0]
        );
        assert_eq!(water_fill(50.0, &[0.0, 0.0], &[10.0, 20.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn proportional_splits_by_weight() {
        assert_eq!(proportional(12.0, &[1.0, 2.0, 3.0]), vec![2.0, 4.0, 6.0]);
        assert_eq!(proportional(12.0, &[]), Vec::<f64>::new());
    }
}
