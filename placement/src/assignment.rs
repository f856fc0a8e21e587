//! The `Assignment`: who holds which role of every shard, plus its counts and digest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hash::stable_hash;

/// How many shards a member holds per role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleCounts {
    pub poller: u32,
    pub series: u32,
    pub evaluator: u32,
}

/// The placement derived from one committed member list.
///
/// Every node that computes it from the same members and config gets an equal value (and the
/// same `digest`), whatever order the members were listed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The Raft log index the member list was read at. Not part of the digest.
    pub epoch: u64,
    pub n_shards: u32,
    pub(crate) replication_factor: usize,
    /// (id, holds roles) of every member, sorted by id.
    pub(crate) members: Vec<(u64, bool)>,
    /// Every member's region, sorted, deduplicated.
    pub(crate) regions: Vec<String>,
    /// Poller owner of (region index r, shard s) at `r * n_shards + s`.
    pub(crate) pollers: Vec<Option<u64>>,
    /// Series replicas of shard s: `series[series_end[s-1]..series_end[s]]`, best first.
    pub(crate) series: Vec<u64>,
    pub(crate) series_end: Vec<usize>,
    pub(crate) evaluators: Vec<Option<u64>>,
    pub(crate) over_cap: u32,
    pub(crate) repaired: u32,
}

/// Version tag of the digest encoding below. Bump it only together with an algorithm change
/// that is meant to move shards.
const DIGEST_TAG: &[u8] = b"meridian-placement-v1";

impl Assignment {
    /// The live node in `region` that polls `shard` there; `None` if the region has no live
    /// node, is unknown, or the shard is out of range.
    pub fn poller_owner(&self, shard: u32, region: &str) -> Option<u64> {
        if shard >= self.n_shards {
            return None;
        }
        let r = self
            .regions
            .binary_search_by(|x| x.as_str().cmp(region))
            .ok()?;
        self.pollers[r * self.n_shards as usize + shard as usize]
    }

    /// The nodes holding `shard`'s series, best first (the first is the natural coordinator).
    /// Fewer than the replication factor only when fewer nodes are live; empty if out of range.
    pub fn series_replicas(&self, shard: u32) -> &[u64] {
        if shard >= self.n_shards {
            return &[];
        }
        let s = shard as usize;
        let start = if s == 0 { 0 } else { self.series_end[s - 1] };
        &self.series[start..self.series_end[s]]
    }

    /// The node evaluating `shard`'s alarms; `None` if no node is live or out of range.
    pub fn evaluator(&self, shard: u32) -> Option<u64> {
        self.evaluators.get(shard as usize).copied().flatten()
    }

    /// Shards held per role by every member; down and drained members appear with zeros.
    pub fn counts(&self) -> BTreeMap<u64, RoleCounts> {
        let mut counts: BTreeMap<u64, RoleCounts> = self
            .members
            .iter()
            .map(|&(id, _)| (id, RoleCounts::default()))
            .collect();
        let mut bump = |id: u64, role: fn(&mut RoleCounts) -> &mut u32| {
            if let Some(c) = counts.get_mut(&id) {
                *role(c) += 1;
            }
        };
        for &id in self.pollers.iter().flatten() {
            bump(id, |c| &mut c.poller);
        }
        for &id in &self.series {
            bump(id, |c| &mut c.series);
        }
        for &id in self.evaluators.iter().flatten() {
            bump(id, |c| &mut c.evaluator);
        }
        counts
    }

    /// 16 hex digits: the stable hash of everything in the assignment except `epoch`.
    ///
    /// The epoch is left out on purpose: two nodes that derived the assignment from the same
    /// members at different log indexes hold the same placement and must show the same digest.
    pub fn digest(&self) -> String {
        format!("{:016x}", stable_hash(&self.encode()))
    }

    /// Every member's region, sorted.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// The replication factor the series replicas were placed for.
    pub fn replication_factor(&self) -> usize {
        self.replication_factor
    }

    /// Shards whose role was placed ignoring the load caps, because the caps would have left
    /// them short of holders or of region diversity. 0 in balanced clusters; worth a metric.
    pub fn over_cap_placements(&self) -> u32 {
        self.over_cap
    }

    /// Shards whose role the stable matching left short and a repair completed within the caps
    /// by moving one other shard aside. Diagnostic only.
    pub fn repaired_placements(&self) -> u32 {
        self.repaired
    }

    /// The canonical byte encoding the digest hashes. Frozen: see `DIGEST_TAG`.
    fn encode(&self) -> Vec<u8> {
        let n = self.n_shards as usize;
        let mut out = Vec::with_capacity(64 + 9 * (self.pollers.len() + n) + 8 * self.series.len());
        out.extend_from_slice(DIGEST_TAG);
        out.extend_from_slice(&self.n_shards.to_le_bytes());
        out.extend_from_slice(&(self.replication_factor as u64).to_le_bytes());
        out.extend_from_slice(&(self.members.len() as u64).to_le_bytes());
        for &(id, eligible) in &self.members {
            out.extend_from_slice(&id.to_le_bytes());
            out.push(u8::from(eligible));
        }
        out.extend_from_slice(&(self.regions.len() as u64).to_le_bytes());
        for region in &self.regions {
            out.extend_from_slice(&(region.len() as u64).to_le_bytes());
            out.extend_from_slice(region.as_bytes());
        }
        for shard in 0..self.n_shards {
            for r in 0..self.regions.len() {
                encode_holder(&mut out, self.pollers[r * n + shard as usize]);
            }
            let replicas = self.series_replicas(shard);
            out.extend_from_slice(&(replicas.len() as u32).to_le_bytes());
            for id in replicas {
                out.extend_from_slice(&id.to_le_bytes());
            }
            encode_holder(&mut out, self.evaluators[shard as usize]);
        }
        out
    }
}

fn encode_holder(out: &mut Vec<u8>, holder: Option<u64>) {
    match holder {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
}
