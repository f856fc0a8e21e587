//! One placement role (pollers of a region, series replicas, alarm evaluators) as the solver sees
//! it: the candidate nodes, how many each shard needs, and how much each node may hold.

use crate::score::{pair_hash, score, shard_key};

/// A node that may hold roles: up and with a positive weight.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub id: u64,
    /// `score::node_key(id)`, computed once.
    pub key: u64,
    pub weight: u32,
    /// `score::inv_weight(weight)`, computed once.
    pub inv_weight: f64,
    /// Index into the assignment's sorted region list.
    pub region: u32,
}

/// What the solver needs to know about one role.
#[derive(Clone, Debug)]
pub(crate) struct Role {
    /// Separates this role's rendezvous order from the other roles'.
    pub salt: u64,
    /// Candidates, sorted by id.
    pub nodes: Vec<Candidate>,
    /// Holders wanted per shard (already at most `nodes.len()`).
    pub picks: usize,
    /// How many of the picks must come from distinct regions (already at most the number of
    /// regions among `nodes`).
    pub diverse: usize,
    /// Most shards each node may hold, parallel to `nodes`.
    pub caps: Vec<u32>,
    /// One more than the largest region index in `nodes`.
    pub n_regions: usize,
}

impl Role {
    /// Builds a role, clamping `picks` and `diverse` to what the candidates allow.
    pub fn new(salt: u64, nodes: Vec<Candidate>, picks: usize, caps: Vec<u32>) -> Role {
        assert_eq!(nodes.len(), caps.len(), "one cap per candidate");
        debug_assert!(
            nodes.windows(2).all(|w| w[0].id < w[1].id),
            "candidates sorted by id"
        );
        let n_regions = nodes
            .iter()
            .map(|c| c.region as usize + 1)
            .max()
            .unwrap_or(0);
        let picks = picks.min(nodes.len());
        let diverse = picks.min(regions_present(&nodes, n_regions));
        Role {
            salt,
            nodes,
            picks,
            diverse,
            caps,
            n_regions,
        }
    }

    /// The score of candidate `node` (an index into `nodes`) for `shard`.
    pub fn score(&self, shard: u32, node: u32) -> f64 {
        let c = &self.nodes[node as usize];
        score(pair_hash(shard_key(self.salt, shard), c.key), c.inv_weight)
    }
}

/// How many distinct regions the candidates cover.
fn regions_present(nodes: &[Candidate], n_regions: usize) -> usize {
    let mut seen = vec![false; n_regions];
    for c in nodes {
        seen[c.region as usize] = true;
    }
    seen.iter().filter(|&&s| s).count()
}
