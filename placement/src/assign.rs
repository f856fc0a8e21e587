//! `assign`: from the committed members and the config to an `Assignment`, one role at a time.

use crate::assignment::Assignment;
use crate::capacity::{cap_for, proportional, water_fill};
use crate::config::PlacementConfig;
use crate::hash::stable_hash;
use crate::member::Member;
use crate::role::{Candidate, Role};
use crate::score::{inv_weight, node_key};
use crate::solver::{Solution, solve};

/// Role salts: part of the algorithm, frozen like the hash (changing one moves that role).
const POLLER_SALT: &[u8] = b"meridian/placement/poller";
const SERIES_SALT: &[u8] = b"meridian/placement/series";
const EVALUATOR_SALT: &[u8] = b"meridian/placement/evaluator";

/// Computes the placement of `cfg.n_shards` shards over `members`, as of log index `epoch`.
///
/// Deterministic: the result depends on the set of members, not their order. Never fails and
/// never panics; with no live member every role is empty.
pub fn assign(members: &[Member], cfg: &PlacementConfig, epoch: u64) -> Assignment {
    let roster = Roster::new(members);
    let n_shards = cfg.n_shards;
    let rf = cfg.effective_replication_factor(roster.regions.len());
    let (mut over_cap, mut repaired) = (0, 0);

    let mut pollers = Vec::with_capacity(roster.regions.len() * n_shards as usize);
    for region in 0..roster.regions.len() as u32 {
        let nodes: Vec<Candidate> = roster
            .candidates
            .iter()
            .filter(|c| c.region == region)
            .cloned()
            .collect();
        let caps = proportional_caps(n_shards, &nodes);
        let role = Role::new(stable_hash(POLLER_SALT), nodes, 1, caps);
        let solution = solve(&role, n_shards);
        over_cap += solution.fallbacks;
        repaired += solution.repaired;
        pollers.extend(to_ids(&role, &solution));
    }

    let caps = series_caps(n_shards, rf, &roster);
    let role = Role::new(
        stable_hash(SERIES_SALT),
        roster.candidates.clone(),
        rf,
        caps,
    );
    let solution = solve(&role, n_shards);
    over_cap += solution.fallbacks;
    repaired += solution.repaired;
    let (series, series_end) = flatten(&role, &solution);

    let caps = proportional_caps(n_shards, &roster.candidates);
    let role = Role::new(
        stable_hash(EVALUATOR_SALT),
        roster.candidates.clone(),
        1,
        caps,
    );
    let solution = solve(&role, n_shards);
    over_cap += solution.fallbacks;
    repaired += solution.repaired;
    let evaluators = to_ids(&role, &solution);

    Assignment {
        epoch,
        n_shards,
        replication_factor: rf,
        members: roster.members,
        regions: roster.regions,
        pollers,
        series,
        series_end,
        evaluators,
        over_cap,
        repaired,
    }
}

/// The member list in canonical form.
struct Roster {
    /// (id, eligible), sorted by id, one entry per id.
    members: Vec<(u64, bool)>,
    /// All members' regions, sorted and deduplicated.
    regions: Vec<String>,
    /// Eligible members (up, weight > 0), sorted by id.
    candidates: Vec<Candidate>,
}

impl Roster {
    fn new(members: &[Member]) -> Roster {
        let mut sorted: Vec<&Member> = members.iter().collect();
        sorted.sort_by(|a, b| {
            (a.id, &a.region, a.up, a.weight).cmp(&(b.id, &b.region, b.up, b.weight))
        });
        sorted.dedup_by_key(|m| m.id);
        let mut regions: Vec<String> = sorted.iter().map(|m| m.region.clone()).collect();
        regions.sort();
        regions.dedup();
        let candidates = sorted
            .iter()
            .filter(|m| m.is_eligible())
            .map(|m| Candidate {
                id: m.id,
                key: node_key(m.id),
                weight: m.weight,
                inv_weight: inv_weight(m.weight),
                // The region is in `regions` by construction; its index fits in u32.
                region: regions.binary_search(&m.region).unwrap_or(0) as u32,
            })
            .collect();
        let members = sorted.iter().map(|m| (m.id, m.is_eligible())).collect();
        Roster {
            members,
            regions,
            candidates,
        }
    }
}

/// Caps for a role where each shard needs one holder and shares follow weight.
fn proportional_caps(n_shards: u32, nodes: &[Candidate]) -> Vec<u32> {
    let weights: Vec<f64> = nodes.iter().map(|c| f64::from(c.weight)).collect();
    proportional(f64::from(n_shards), &weights)
        .into_iter()
        .map(cap_for)
        .collect()
}

/// Caps for series replicas. Each shard first takes one replica in each of `diverse` distinct
/// regions, so a region's share is proportional to its weight but at most `n_shards`; extra
/// replicas (when `rf` exceeds the live regions) are shared by weight, at most one per shard
/// per node. A node's share of its region follows its weight.
fn series_caps(n_shards: u32, rf: usize, roster: &Roster) -> Vec<u32> {
    let nodes = &roster.candidates;
    let m = f64::from(n_shards);
    let picks = rf.min(nodes.len());
    let mut region_weight = vec![0.0; roster.regions.len()];
    for c in nodes {
        region_weight[c.region as usize] += f64::from(c.weight);
    }
    let live_regions = region_weight.iter().filter(|&&w| w > 0.0).count();
    let diverse = picks.min(live_regions);
    let limits = vec![m; region_weight.len()];
    let region_share = water_fill(diverse as f64 * m, &region_weight, &limits);
    let base: Vec<f64> = nodes
        .iter()
        .map(|c| {
            let r = c.region as usize;
            region_share[r] * f64::from(c.weight) / region_weight[r]
        })
        .collect();
    let weights: Vec<f64> = nodes.iter().map(|c| f64::from(c.weight)).collect();
    let room: Vec<f64> = base.iter().map(|b| (m - b).max(0.0)).collect();
    let extra = water_fill((picks - diverse) as f64 * m, &weights, &room);
    base.iter()
        .zip(extra)
        .map(|(b, e)| cap_for(b + e))
        .collect()
}

/// Single holders as ids.
fn to_ids(role: &Role, solution: &Solution) -> Vec<Option<u64>> {
    solution
        .holders
        .iter()
        .map(|h| h.first().map(|&i| role.nodes[i as usize].id))
        .collect()
}

/// Replica sets as one flat id list plus each shard's end offset.
fn flatten(role: &Role, solution: &Solution) -> (Vec<u64>, Vec<usize>) {
    let mut ids = Vec::with_capacity(solution.holders.len() * role.picks);
    let mut ends = Vec::with_capacity(solution.holders.len());
    for set in &solution.holders {
        ids.extend(set.iter().map(|&i| role.nodes[i as usize].id));
        ends.push(ids.len());
    }
    (ids, ends)
}
