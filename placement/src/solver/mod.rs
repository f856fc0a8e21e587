//! Bounded-load rendezvous: deferred acceptance between shards and capped nodes.
//!
//! Every shard proposes to its choice (see `choose`) among the nodes that have not refused it. A
//! node keeps at most its cap of shards, preferring those for which it scores highest; when it
//! is full and a better shard arrives, it drops its worst one, which then chooses again without
//! that node. Refusals are final, so the loop ends after at most (shards x nodes) refusals. A
//! full node's worst shard is published to the chooser as a bar: a shard that would be refused
//! there skips the node at once instead of proposing and being refused one node at a time.
//!
//! Both sides rank by the same rendezvous score, and a shard's choice only ever grows by a
//! replacement when a node refuses it, so the outcome is the shard-optimal stable matching: unique,
//! and independent of the order in which shards are processed. When caps never bind it is exactly
//! plain rendezvous hashing.
//!
//! A stable matching can leave a shard short of holders or of region diversity while capacity
//! remains elsewhere (it happens when a few regions are in demand and one must take nearly every
//! shard); `repair` then completes it within the caps by moving one other shard aside.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use crate::choose::Chooser;
use crate::role::Role;
use crate::score::cmp_best_first;

mod repair;

/// The holders of one role: for each shard, candidate indices best first.
#[derive(Debug, Default)]
pub(crate) struct Solution {
    pub holders: Vec<Vec<u32>>,
    /// Shards completed by the repair step within the caps.
    pub repaired: u32,
    /// Shards placed by the last-resort fallback, ignoring caps.
    pub fallbacks: u32,
}

/// Solves one role for shards `0..n_shards`.
pub(crate) fn solve(role: &Role, n_shards: u32) -> Solution {
    if role.picks == 0 {
        return Solution {
            holders: vec![Vec::new(); n_shards as usize],
            ..Solution::default()
        };
    }
    let mut state = State::new(role, n_shards);
    state.run();
    let (repaired, fallbacks) = state.repair();
    state.finish(repaired, fallbacks)
}

/// Deferred acceptance alone, without repairs: what the naive model reproduces.
#[cfg(test)]
pub(crate) fn deferred_acceptance(role: &Role, n_shards: u32) -> Vec<Vec<u32>> {
    let mut state = State::new(role, n_shards);
    if role.picks > 0 {
        state.run();
    }
    state.finish(0, 0).holders
}

/// A shard held by a node. Ordered so that the heap's top is the node's *worst* shard.
struct Held {
    score: f64,
    shard: u32,
}

impl Ord for Held {
    fn cmp(&self, other: &Held) -> Ordering {
        // Worse = lower score, then higher shard id.
        other
            .score
            .total_cmp(&self.score)
            .then(self.shard.cmp(&other.shard))
    }
}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Held) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Held {}

struct State<'a> {
    role: &'a Role,
    chooser: Chooser,
    held: Vec<BinaryHeap<Held>>,
    assigned: Vec<Vec<u32>>,
    refused: Vec<Vec<u32>>,
    queue: VecDeque<u32>,
}

impl<'a> State<'a> {
    fn new(role: &'a Role, n_shards: u32) -> State<'a> {
        let mut chooser = Chooser::new(role, n_shards);
        for (node, _) in (0u32..).zip(&role.caps).filter(|&(_, &cap)| cap == 0) {
            chooser.set_bar(node, Some((f64::INFINITY, 0)));
        }
        State {
            role,
            chooser,
            held: role
                .caps
                .iter()
                .map(|&c| BinaryHeap::with_capacity(c.min(n_shards) as usize))
                .collect(),
            assigned: vec![Vec::new(); n_shards as usize],
            refused: vec![Vec::new(); n_shards as usize],
            queue: (0..n_shards).collect(),
        }
    }

    fn run(&mut self) {
        let mut choice = Vec::with_capacity(self.role.picks);
        while let Some(shard) = self.queue.pop_front() {
            let s = shard as usize;
            self.chooser
                .choose(self.role, shard, &self.refused[s], &mut choice);
            debug_assert!(
                self.assigned[s].iter().all(|n| choice.contains(n)),
                "a refusal must never drop another holder from a shard's choice"
            );
            let mut refused_now = false;
            for &node in &choice {
                if !self.assigned[s].contains(&node) {
                    refused_now |= !self.propose(shard, node);
                }
            }
            if refused_now {
                self.queue.push_back(shard);
            }
        }
    }

    /// Offers `shard` to `node`; returns whether the node took it.
    fn propose(&mut self, shard: u32, node: u32) -> bool {
        let n = node as usize;
        let offer = Held {
            score: self.role.score(shard, node),
            shard,
        };
        let cap = self.role.caps[n] as usize;
        let heap = &mut self.held[n];
        if heap.len() < cap {
            heap.push(offer);
        } else {
            match heap.peek() {
                Some(worst) if offer < *worst => {}
                _ => {
                    self.refused[shard as usize].push(node);
                    return false;
                }
            }
            let dropped = heap.pop().map(|h| h.shard);
            heap.push(offer);
            if let Some(d) = dropped {
                self.assigned[d as usize].retain(|&x| x != node);
                self.refused[d as usize].push(node);
                self.queue.push_back(d);
            }
        }
        let heap = &self.held[n];
        let worst = (heap.len() >= cap).then(|| heap.peek().map(|h| (h.score, h.shard)));
        self.chooser.set_bar(node, worst.flatten());
        self.assigned[shard as usize].push(node);
        true
    }

    /// The holders, each shard's sorted best first.
    fn finish(mut self, repaired: u32, fallbacks: u32) -> Solution {
        let mut holders = std::mem::take(&mut self.assigned);
        for (shard, set) in (0u32..).zip(holders.iter_mut()) {
            let score = |n: u32| (self.role.score(shard, n), self.role.nodes[n as usize].id);
            set.sort_by(|&a, &b| cmp_best_first(score(a), score(b)));
        }
        Solution {
            holders,
            repaired,
            fallbacks,
        }
    }

    /// Whether `shard` has all its holders, in enough distinct regions.
    fn is_complete(&self, shard: u32) -> bool {
        let set = &self.assigned[shard as usize];
        set.len() >= self.role.picks && self.regions(set) >= self.role.diverse
    }

    /// Distinct regions among `set` (sets are a handful of nodes).
    fn regions(&self, set: &[u32]) -> usize {
        let region = |n: u32| self.role.nodes[n as usize].region;
        (0..set.len())
            .filter(|&i| !set[..i].iter().any(|&p| region(p) == region(set[i])))
            .count()
    }
}
