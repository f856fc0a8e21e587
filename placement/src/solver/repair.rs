//! Completing the shards the stable matching left short, within the caps when possible.
//!
//! A short shard `s` needs one more holder (of a new region, if it lacks diversity). If an
//! admissible node has room it takes it. Otherwise it takes a full admissible node `y` after
//! moving one of `y`'s shards, `t`, to a node `z` with room that suits `t` as well (`t` keeps its
//! count and its region diversity). Candidates are tried in score order and the search is bounded
//! by `REPAIR_STEPS_MAX`; only if that fails is the shard placed ignoring caps.

use std::cmp::Ordering;

use super::{Held, State};
use crate::score::cmp_best_first;

/// Most (full node, shard to move aside) pairs examined to complete one shard before it is
/// placed ignoring caps. Bounds the repair's cost on pathological inputs.
pub(crate) const REPAIR_STEPS_MAX: usize = 4096;

impl State<'_> {
    /// Completes every short shard; returns (shards repaired within the caps, shards placed
    /// ignoring them).
    pub(super) fn repair(&mut self) -> (u32, u32) {
        let (mut repaired, mut fallbacks) = (0, 0);
        for shard in 0..self.assigned.len() as u32 {
            if self.is_complete(shard) {
                continue;
            }
            let mut steps = 0;
            loop {
                self.shed_duplicate(shard);
                if self.is_complete(shard) || !self.augment(shard, &mut steps) {
                    break;
                }
            }
            if self.is_complete(shard) {
                repaired += 1;
            } else {
                self.place_ignoring_caps(shard);
                fallbacks += 1;
            }
        }
        (repaired, fallbacks)
    }

    /// A shard with all its holders but too few regions drops its worst holder among those
    /// sharing a region, making room for one from a new region.
    fn shed_duplicate(&mut self, shard: u32) {
        let set = &self.assigned[shard as usize];
        if set.len() < self.role.picks || self.regions(set) >= self.role.diverse {
            return;
        }
        let region = |n: u32| self.role.nodes[n as usize].region;
        let shared = |n: u32| set.iter().filter(|&&p| region(p) == region(n)).count() > 1;
        let worst = set
            .iter()
            .copied()
            .filter(|&n| shared(n))
            .min_by(|&a, &b| self.cmp_for(shard, b, a));
        if let Some(node) = worst {
            self.release(shard, node);
        }
    }

    /// Adds one admissible holder to `shard`, moving another shard aside if needed.
    fn augment(&mut self, shard: u32, steps: &mut usize) -> bool {
        let set = &self.assigned[shard as usize];
        let needs_region = self.regions(set) < self.role.diverse;
        let region = |n: u32| self.role.nodes[n as usize].region;
        let mut candidates: Vec<u32> = (0..self.role.nodes.len() as u32)
            .filter(|y| !set.contains(y))
            .filter(|&y| !needs_region || set.iter().all(|&p| region(p) != region(y)))
            .collect();
        candidates.sort_by(|&a, &b| self.cmp_for(shard, a, b));
        if let Some(&y) = candidates.iter().find(|&&y| self.has_room(y)) {
            self.take(shard, y);
            return true;
        }
        let spare: Vec<u32> = (0..self.role.nodes.len() as u32)
            .filter(|&z| self.has_room(z))
            .collect();
        if spare.is_empty() {
            return false;
        }
        for y in candidates {
            let mut held: Vec<(f64, u32)> = self.held[y as usize]
                .iter()
                .map(|h| (h.score, h.shard))
                .collect();
            // Worst first: the shard `y` values least is the cheapest to move aside.
            held.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
            for (_, moved) in held {
                *steps += 1;
                if *steps > REPAIR_STEPS_MAX {
                    return false;
                }
                if let Some(z) = self.best_spare_for(moved, y, &spare) {
                    self.release(moved, y);
                    self.take(moved, z);
                    self.take(shard, y);
                    return true;
                }
            }
        }
        false
    }

    /// The best node with room that can replace `leaving` among `shard`'s holders without
    /// costing it a region.
    fn best_spare_for(&self, shard: u32, leaving: u32, spare: &[u32]) -> Option<u32> {
        let set = &self.assigned[shard as usize];
        let before = self.regions(set);
        let rest: Vec<u32> = set.iter().copied().filter(|&n| n != leaving).collect();
        let kept = self.regions(&rest);
        let region = |n: u32| self.role.nodes[n as usize].region;
        let adds_region = |z: u32| rest.iter().all(|&p| region(p) != region(z));
        spare
            .iter()
            .copied()
            .filter(|z| !set.contains(z))
            .filter(|&z| kept + usize::from(adds_region(z)) >= before)
            .min_by(|&a, &b| self.cmp_for(shard, a, b))
    }

    /// The last resort: the shard's plain rendezvous choice, whatever the loads.
    fn place_ignoring_caps(&mut self, shard: u32) {
        let mut choice = Vec::with_capacity(self.role.picks);
        self.chooser.choose_exact(self.role, shard, &mut choice);
        for node in self.assigned[shard as usize].clone() {
            self.release(shard, node);
        }
        for node in choice {
            self.take(shard, node);
        }
    }

    fn has_room(&self, node: u32) -> bool {
        self.held[node as usize].len() < self.role.caps[node as usize] as usize
    }

    fn take(&mut self, shard: u32, node: u32) {
        let score = self.role.score(shard, node);
        self.held[node as usize].push(Held { score, shard });
        self.assigned[shard as usize].push(node);
    }

    fn release(&mut self, shard: u32, node: u32) {
        self.held[node as usize].retain(|h| h.shard != shard);
        self.assigned[shard as usize].retain(|&n| n != node);
    }

    /// Best first for `shard`.
    fn cmp_for(&self, shard: u32, a: u32, b: u32) -> Ordering {
        let key = |n: u32| (self.role.score(shard, n), self.role.nodes[n as usize].id);
        cmp_best_first(key(a), key(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::{Candidate, Role};
    use crate::score::{inv_weight, node_key};

    /// Every shard needs one node in each of two regions; region 0's two nodes can hold only
    /// 4,200 of 4,300 shards, and no shard can move aside (its other holder is already in
    /// region 1), so each short shard searches until `REPAIR_STEPS_MAX` and then falls back.
    #[test]
    fn repair_search_stops_at_its_bound() {
        let node = |id: u64, region: u32| Candidate {
            id,
            key: node_key(id),
            weight: 1,
            inv_weight: inv_weight(1),
            region,
        };
        let nodes = vec![node(1, 0), node(2, 0), node(3, 1), node(4, 1)];
        let role = Role::new(9, nodes, 2, vec![2100, 2100, 4300, 4300]);
        let mut state = State::new(&role, 4300);
        state.run();
        let short = (0..4300).find(|&s| !state.is_complete(s)).unwrap_or(0);
        assert!(
            !state.is_complete(short),
            "the caps must leave shards short"
        );
        let mut steps = 0;
        assert!(!state.augment(short, &mut steps));
        assert_eq!(steps, REPAIR_STEPS_MAX + 1);

        let solution = super::super::solve(&role, 4300);
        assert_eq!((solution.repaired, solution.fallbacks), (0, 100));
        assert!(solution.holders.iter().all(|set| set.len() == 2));
    }
}
