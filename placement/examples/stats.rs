//! Measures balance and movement over many random clusters: the figures in README.md.
//!
//! `cargo run --release -p meridian-placement --example stats -- [CASES]` (default 1000).
//! Each case draws 3 to 60 equal-weight nodes over 1 to 5 regions (uneven sizes), places 1,024
//! shards, then adds a node, removes one and marks one down, and counts which role slots moved.

use std::collections::BTreeMap;

use meridian_placement::{Assignment, Member, PlacementConfig, assign};

const ROLES: [&str; 3] = ["poller", "series", "evaluator"];
const CHANGES: [&str; 3] = ["add", "remove", "down"];

/// A small deterministic generator, so runs are reproducible without a dependency.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Role slots moved between two assignments: (slots, moved to or from `x`, moved between others).
fn moves(a: &Assignment, b: &Assignment, x: u64) -> [(u64, u64, u64); 3] {
    let mut m = [(0, 0, 0); 3];
    let single = |m: &mut (u64, u64, u64), p: Option<u64>, q: Option<u64>| {
        m.0 += 1;
        if p != q {
            if p == Some(x) || q == Some(x) {
                m.1 += 1
            } else {
                m.2 += 1
            }
        }
    };
    for s in 0..a.n_shards {
        for r in a.regions() {
            single(&mut m[0], a.poller_owner(s, r), b.poller_owner(s, r));
        }
        single(&mut m[2], a.evaluator(s), b.evaluator(s));
        let (p, q) = (a.series_replicas(s), b.series_replicas(s));
        let removed = p.iter().filter(|i| !q.contains(i)).count();
        let added = q.iter().filter(|i| !p.contains(i)).count();
        let via_x = u64::from(p.contains(&x) != q.contains(&x));
        m[1].0 += p.len().max(q.len()) as u64;
        m[1].1 += via_x;
        m[1].2 += removed.max(added) as u64 - via_x;
    }
    m
}

/// Largest load over fair share: evaluators over all nodes, pollers within each region.
fn balance(members: &[Member], a: &Assignment) -> (f64, f64) {
    let counts = a.counts();
    let n = members.len() as f64;
    let evaluator = counts.values().map(|c| c.evaluator).max().unwrap_or(0);
    let mut by_region: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for m in members {
        by_region.entry(&m.region).or_default().push(m.id);
    }
    let poller = by_region
        .values()
        .map(|ids| {
            let max = ids.iter().map(|id| counts[id].poller).max().unwrap_or(0);
            f64::from(max) * ids.len() as f64 / f64::from(a.n_shards)
        })
        .fold(0.0, f64::max);
    (poller, f64::from(evaluator) * n / f64::from(a.n_shards))
}

fn cluster(rng: &mut Lcg) -> Vec<Member> {
    let n = 3 + rng.below(58);
    let regions = 1 + rng.below(5);
    (0..n)
        .map(|i| {
            let region = if i < regions { i } else { rng.below(regions) };
            Member::new(rng.below(1 << 40) << 8 | i, format!("zone-{region}"))
        })
        .collect()
}

fn main() {
    let cases: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let cfg = PlacementConfig::default();
    let mut rng = Lcg(12_345);
    let (mut worst_poller, mut worst_evaluator, mut repaired, mut over_cap) = (0.0, 0.0, 0, 0);
    // [change][role] = (sum of fractions moved between others, largest, sum moved via the node)
    let mut stats = [[(0.0, 0.0_f64, 0.0); 3]; 3];
    let mut counted = [0u32; 3];
    for _ in 0..cases {
        let members = cluster(&mut rng);
        let before = assign(&members, &cfg, 1);
        let (p, e) = balance(&members, &before);
        (worst_poller, worst_evaluator) = (f64::max(worst_poller, p), f64::max(worst_evaluator, e));
        let pick = rng.below(members.len() as u64) as usize;
        let x = 1 << 63 | rng.below(1 << 40);
        let mut grown = members.clone();
        grown.push(Member::new(x, members[pick].region.clone()));
        let mut shrunk = members.clone();
        let gone = shrunk.remove(pick);
        let mut downed = members.clone();
        downed[pick].up = false;
        // Removing a region's last node removes the region (and may change the default
        // replication factor): that is not a one-node change, so it is not counted.
        let region_survives = shrunk.iter().any(|m| m.region == gone.region);
        let pairs = [
            Some((before.clone(), assign(&grown, &cfg, 2), x)),
            region_survives.then(|| (assign(&shrunk, &cfg, 3), before.clone(), gone.id)),
            Some((assign(&downed, &cfg, 4), before.clone(), gone.id)),
        ];
        for (change, (a, b, node)) in pairs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, p.as_ref()?)))
        {
            counted[change] += 1;
            repaired += a.repaired_placements() + b.repaired_placements();
            over_cap += a.over_cap_placements() + b.over_cap_placements();
            for (role, (slots, via, other)) in moves(a, b, *node).into_iter().enumerate() {
                let s = &mut stats[change][role];
                let frac = other as f64 / slots as f64;
                *s = (s.0 + frac, s.1.max(frac), s.2 + via as f64 / slots as f64);
            }
        }
    }
    println!(
        "{cases} clusters; shards repaired within caps {repaired}, placed over caps {over_cap}"
    );
    println!(
        "largest load / fair share: poller (within region) {worst_poller:.3}, \
         evaluator {worst_evaluator:.3}"
    );
    for ((change, row), n) in CHANGES.iter().zip(stats).zip(counted) {
        for (role, (sum, max, via)) in ROLES.iter().zip(row) {
            let mean = |x: f64| 100.0 * x / f64::from(n.max(1));
            println!(
                "{change:6} {role:9} moved via the node {:5.2}% | \
                 between others: mean {:.2}%, max {:.2}%",
                mean(via),
                mean(sum),
                100.0 * max
            );
        }
    }
}
