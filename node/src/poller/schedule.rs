//! The schedule math of the pollers, pure: which checks this node polls, when each is due, and
//! how a late poll is skipped. Time comes in as `now_ms`; nothing here reads a clock.
//!
//! A check's polls in one zone sit on a fixed grid: `offset + k * period`, with the offset
//! `hash(check, zone) mod period`, so a period's polls are spread evenly, the same check in
//! different zones is offset differently, and a poll never drifts. A pair that becomes owned
//! after the node started is polled within `NEW_PAIR_WITHIN_MS` (then on the grid), so a
//! created or re-homed check answers quickly.

use meridian_placement::{Assignment, stable_hash};

/// A pair owned after start-up is first polled within this many ms.
pub const NEW_PAIR_WITHIN_MS: i64 = 1000;

/// The shard a check belongs to: its poller owners and its evaluator are this shard's.
pub fn check_shard(tenant: &str, check_id: &str, n_shards: u32) -> u32 {
    meridian_placement::shard_of(format!("check/{tenant}/{check_id}").as_bytes(), n_shards)
}

/// Whether `node` polls `check` for `zone` under `assignment`.
pub fn owns(assignment: &Assignment, node: u64, zone: &str, tenant: &str, check_id: &str) -> bool {
    let shard = check_shard(tenant, check_id, assignment.n_shards);
    assignment.poller_owner(shard, zone) == Some(node)
}

/// The grid offset of `check` in `zone` within a period of `period_ms`.
pub fn offset_ms(check_id: &str, zone: &str, period_ms: i64) -> i64 {
    assert!(period_ms > 0, "period must be positive");
    let h = stable_hash(format!("{check_id}/{zone}").as_bytes());
    (h % period_ms as u64) as i64
}

/// The first grid time at or after `now_ms`.
pub fn grid_at_or_after(now_ms: i64, offset_ms: i64, period_ms: i64) -> i64 {
    let k = (now_ms - offset_ms).div_euclid(period_ms);
    let t = offset_ms + k * period_ms;
    if t < now_ms { t + period_ms } else { t }
}

/// When a pair that just became owned is first due: on the grid at start-up (so a restarted
/// node does not poll everything at once), otherwise within `NEW_PAIR_WITHIN_MS`, spread by the
/// same hash, unless the grid comes sooner.
pub fn first_due(check_id: &str, zone: &str, period_ms: i64, now_ms: i64, at_start: bool) -> i64 {
    let offset = offset_ms(check_id, zone, period_ms);
    let grid = grid_at_or_after(now_ms, offset, period_ms);
    if at_start {
        return grid;
    }
    let soon = now_ms + offset % NEW_PAIR_WITHIN_MS;
    grid.min(soon)
}

/// After a poll due at `due_ms` was started (or skipped) at `now_ms`: the next due time on the
/// grid and how many grid slots were missed in between (each counted as skipped).
pub fn next_due(due_ms: i64, period_ms: i64, offset_ms: i64, now_ms: i64) -> (i64, u64) {
    let next = grid_at_or_after(due_ms + 1, offset_ms, period_ms);
    if next > now_ms {
        return (next, 0);
    }
    let resumed = grid_at_or_after(now_ms + 1, offset_ms, period_ms);
    let missed = ((resumed - next) / period_ms) as u64;
    (resumed, missed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_placement::{Member, PlacementConfig, assign};

    #[test]
    fn the_grid_is_fixed_and_offsets_spread_over_the_period() {
        let period = 60_000;
        let off = offset_ms("chA", "r1", period);
        assert!((0..period).contains(&off));
        assert_ne!(off, offset_ms("chA", "r2", period), "zones differ");
        let t0 = grid_at_or_after(1_000_000, off, period);
        assert!(t0 >= 1_000_000 && t0 < 1_000_000 + period);
        assert_eq!((t0 - off).rem_euclid(period), 0);
        // No drift: from any due time the next is exactly one period on.
        let (n, missed) = next_due(t0, period, off, t0 + 40);
        assert_eq!((n, missed), (t0 + period, 0));
        // 1,000 checks spread over the period: no second of it holds more than 3x the mean.
        let mut per_sec = vec![0u32; 60];
        for i in 0..1000 {
            per_sec[(offset_ms(&format!("ch{i}"), "r1", period) / 1000) as usize] += 1;
        }
        let most = per_sec.iter().max().copied().unwrap_or(0);
        assert!(most <= 50, "bursty offsets: {most} polls in one second");
    }

    #[test]
    fn a_late_poll_skips_to_the_next_slot_and_counts_what_it_missed() {
        let (p, off) = (10_000, 1234);
        let due = grid_at_or_after(0, off, p);
        // Started 25 s late: slots at +10 s and +20 s are missed, next is +30 s.
        let (n, missed) = next_due(due, p, off, due + 25_000);
        assert_eq!((n, missed), (due + 30_000, 2));
        // Exactly on the next slot: that slot is missed too (it is now, not ahead).
        let (n, missed) = next_due(due, p, off, due + 10_000);
        assert_eq!((n, missed), (due + 20_000, 1));
    }

    #[test]
    fn new_pairs_are_due_within_a_second_and_start_up_uses_the_grid() {
        for i in 0..200 {
            let id = format!("ch{i}");
            let now = 5_000_000 + i;
            let d = first_due(&id, "r1", 300_000, now, false);
            assert!(d >= now && d < now + NEW_PAIR_WITHIN_MS, "{id}: {d}");
            let g = first_due(&id, "r1", 300_000, now, true);
            assert_eq!(
                g,
                grid_at_or_after(now, offset_ms(&id, "r1", 300_000), 300_000)
            );
        }
    }

    #[test]
    fn exactly_one_live_node_of_each_region_owns_a_check() {
        let mut members: Vec<Member> = (1..=5)
            .map(|i| Member::new(i, ["r1", "r2", "r3"][(i as usize - 1) % 3]))
            .collect();
        let cfg = PlacementConfig {
            n_shards: 64,
            replication_factor: None,
        };
        let a = assign(&members, &cfg, 1);
        for c in 0..300 {
            let id = format!("ch{c}");
            for zone in ["r1", "r2", "r3"] {
                let owners: Vec<u64> = members
                    .iter()
                    .filter(|m| owns(&a, m.id, zone, "t1", &id))
                    .map(|m| m.id)
                    .collect();
                assert_eq!(owners.len(), 1, "{id} in {zone}: {owners:?}");
                let owner = members.iter().find(|m| m.id == owners[0]);
                assert_eq!(owner.map(|m| m.region.as_str()), Some(zone));
            }
        }
        // Node 1 (r1) down: node 4, the other r1 node, owns every r1 check.
        members[0].up = false;
        let a = assign(&members, &cfg, 2);
        for c in 0..100 {
            assert!(owns(&a, 4, "r1", "t1", &format!("ch{c}")));
        }
    }
}
