//! Integration tests of placement through its public API only: the properties README.md promises.

mod edges;
mod properties;

use std::collections::BTreeSet;

use meridian_placement::{Assignment, Member, PlacementConfig, assign};
use proptest::prelude::*;

/// The shard count the properties are stated for.
pub const SHARDS: u32 = 1024;

/// Role slots that changed between two assignments, split by whether `x` was involved.
#[derive(Clone, Copy, Debug, Default)]
pub struct Moves {
    /// Slots in the role (the larger of the two assignments' counts for series).
    pub slots: u64,
    /// Slots whose holder changed to or from `x`.
    pub via_x: u64,
    /// Slots whose holder changed between two other nodes.
    pub other: u64,
}

/// Per role: [poller, series, evaluator].
pub fn moves(a: &Assignment, b: &Assignment, x: u64) -> [Moves; 3] {
    let mut m = [Moves::default(); 3];
    let single = |m: &mut Moves, p: Option<u64>, q: Option<u64>| {
        m.slots += 1;
        if p != q {
            if p == Some(x) || q == Some(x) {
                m.via_x += 1
            } else {
                m.other += 1
            }
        }
    };
    for s in 0..a.n_shards {
        for r in a.regions() {
            single(&mut m[0], a.poller_owner(s, r), b.poller_owner(s, r));
        }
        single(&mut m[2], a.evaluator(s), b.evaluator(s));
        let (p, q) = (a.series_replicas(s), b.series_replicas(s));
        m[1].slots += p.len().max(q.len()) as u64;
        let removed: Vec<u64> = p.iter().copied().filter(|i| !q.contains(i)).collect();
        let added: Vec<u64> = q.iter().copied().filter(|i| !p.contains(i)).collect();
        let x_moved = u64::from(removed.contains(&x) || added.contains(&x));
        let changed = removed.len().max(added.len()) as u64;
        m[1].via_x += x_moved;
        m[1].other += changed - x_moved;
    }
    m
}

/// `n` live members with weight 100 and distinct ids; member i is in region `regions[i]`.
pub fn members(ids: &BTreeSet<u64>, regions: &[usize]) -> Vec<Member> {
    ids.iter()
        .zip(regions)
        .map(|(&id, &r)| Member::new(id, format!("zone-{r}")))
        .collect()
}

prop_compose! {
    /// 3 to 60 members spread over 1 to 5 regions (every region non-empty, sizes uneven),
    /// with arbitrary distinct ids.
    pub fn arb_cluster()(n in 3usize..=60, n_regions in 1usize..=5)(
        ids in prop::collection::btree_set(any::<u64>(), n),
        extra in prop::collection::vec(0..n_regions, n),
        n_regions in Just(n_regions),
    ) -> Vec<Member> {
        // The first n_regions members seed one region each; the rest land anywhere.
        let regions: Vec<usize> = (0..extra.len())
            .map(|i| if i < n_regions { i } else { extra[i] })
            .collect();
        members(&ids, &regions)
    }
}

/// The default config at `SHARDS` shards.
pub fn config() -> PlacementConfig {
    PlacementConfig {
        n_shards: SHARDS,
        replication_factor: None,
    }
}

/// `assign` at the default config.
pub fn place(members: &[Member]) -> Assignment {
    assign(members, &config(), 7)
}

/// Proptest settings: assignments of 60 nodes x 1,024 shards take tens of ms in debug builds.
pub fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        ..ProptestConfig::default()
    }
}
