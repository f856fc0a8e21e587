//! A shard's choice of holders from the nodes still open to it: region-diverse rendezvous.
//!
//! The choice rule (the "naive" definition the tests compare against): rank the open nodes by
//! score; take the best node of each region, best regions first, until `diverse` picks; then fill
//! up to `picks` with the best remaining nodes of any region. Removing one node from the open set
//! never drops another node from the choice (it only adds a replacement), which is what lets the
//! solver treat a rejection as final.
//!
//! Scoring every node for every shard is the cost of placement, so each shard's best few open
//! nodes are remembered; choosing again after a refusal walks that prefix, and scores every node
//! again only when the prefix runs out.

use std::cmp::Ordering;

use crate::role::Role;
use crate::score::{cmp_best_first, ln, pair_hash, score, score_bound, shard_key, unit};

/// Nodes remembered per shard, best first, so that a shard refused by a node can almost always
/// choose again from memory instead of rescoring every node.
pub(crate) const PREFIX_LEN: usize = 16;

/// Chooses holders for the shards of one role; remembers each shard's best nodes.
pub(crate) struct Chooser {
    prefix_len: usize,
    /// Per shard, once computed: its best `prefix_len` nodes among those open at the time, best
    /// first.
    prefixes: Vec<Vec<(f64, u32)>>,
    /// Scratch space for the exact scan and the prefix walk, reused so the hot loop does not
    /// allocate.
    scores: Vec<f64>,
    closed: Vec<bool>,
    region_best: Vec<Option<u32>>,
    bests: Vec<u32>,
    picked: Vec<usize>,
    seen_regions: Vec<u32>,
    barred: Vec<u32>,
    /// Per full node, the worst shard it holds as (score, shard): a shard that ranks below it
    /// there would be refused, and always will be (a full node's worst only improves), so the
    /// choice treats that node as closed instead of proposing and being refused one by one.
    bar: Vec<Option<(f64, u32)>>,
}

impl Chooser {
    pub fn new(role: &Role, n_shards: u32) -> Chooser {
        Chooser::with_prefix_len(role, n_shards, PREFIX_LEN)
    }

    /// A chooser remembering `prefix_len` nodes per shard (0 always rescans: tests use it).
    pub fn with_prefix_len(role: &Role, n_shards: u32, prefix_len: usize) -> Chooser {
        Chooser {
            prefix_len,
            prefixes: vec![Vec::new(); n_shards as usize],
            scores: vec![0.0; role.nodes.len()],
            closed: vec![false; role.nodes.len()],
            region_best: vec![None; role.n_regions],
            bests: Vec::with_capacity(role.n_regions),
            picked: Vec::with_capacity(role.picks),
            seen_regions: Vec::with_capacity(role.picks),
            barred: Vec::new(),
            bar: vec![None; role.nodes.len()],
        }
    }

    /// Records that `node` is full and the worst shard it holds, or (`None`) that it has room.
    pub fn set_bar(&mut self, node: u32, worst: Option<(f64, u32)>) {
        self.bar[node as usize] = worst;
    }

    /// Sets `out` to the role's choice for `shard` among the nodes neither in `excluded` nor
    /// barred (see `set_bar`), best first. `out` is shorter than `role.picks` only when too few
    /// nodes are open. Between calls for the same shard the open set may only shrink (refusals
    /// are final, bars only rise): the remembered prefix leaves out nodes closed when taken.
    pub fn choose(&mut self, role: &Role, shard: u32, excluded: &[u32], out: &mut Vec<u32>) {
        out.clear();
        for &n in excluded {
            self.closed[n as usize] = true;
        }
        let fresh = self.prefixes[shard as usize].is_empty();
        if fresh {
            self.remember(role, shard);
        }
        // When the prefix runs out, take a fresh one from the nodes still open; as a last resort
        // (diversity needs regions beyond a fresh prefix) scan every node.
        let chosen = self.choose_from_prefix(role, shard, out)
            || (!fresh && {
                self.remember(role, shard);
                self.choose_from_prefix(role, shard, out)
            });
        if !chosen {
            self.choose_by_scan(role, shard, true, out);
        }
        for &n in excluded {
            self.closed[n as usize] = false;
        }
    }

    /// The choice among all nodes, ignoring bars and the remembered prefix: plain rendezvous.
    pub fn choose_exact(&mut self, role: &Role, shard: u32, out: &mut Vec<u32>) {
        out.clear();
        self.choose_by_scan(role, shard, false, out);
    }

    fn choose_by_scan(&mut self, role: &Role, shard: u32, use_bar: bool, out: &mut Vec<u32>) {
        self.score_open(role, shard, use_bar);
        self.pick_region_bests(role, out);
        self.fill(role, out);
        out.sort_by(|&a, &b| self.cmp(role, a, b));
        for n in self.barred.drain(..) {
            self.closed[n as usize] = false;
        }
    }

    /// Records the shard's best `prefix_len` open nodes.
    fn remember(&mut self, role: &Role, shard: u32) {
        let key = shard_key(role.salt, shard);
        let mut best = std::mem::take(&mut self.prefixes[shard as usize]);
        best.clear();
        for (i, c) in (0u32..).zip(&role.nodes) {
            if self.closed[i as usize] {
                continue;
            }
            let u = unit(pair_hash(key, c.key));
            // Nodes come in id order, so on an exact tie the one already kept ranks first.
            let full = best.len() == self.prefix_len;
            if full
                && best
                    .last()
                    .is_none_or(|&(last, _)| score_bound(u, c.inv_weight) <= last)
            {
                continue;
            }
            let s = ln(u) * c.inv_weight;
            if (full && best.last().is_none_or(|&(last, _)| s <= last))
                || is_barred(self.bar[i as usize], s, shard)
            {
                continue;
            }
            let pos = best.partition_point(|&(b, _)| b >= s);
            best.insert(pos, (s, i));
            best.truncate(self.prefix_len);
        }
        self.prefixes[shard as usize] = best;
    }

    /// The choice rule walked over the remembered prefix. Exact when it completes inside the
    /// prefix (every open node beyond ranks lower) or when the prefix is shorter than
    /// `prefix_len` (it then held every node open when taken); otherwise returns false.
    fn choose_from_prefix(&mut self, role: &Role, shard: u32, out: &mut Vec<u32>) -> bool {
        let prefix = &self.prefixes[shard as usize];
        let whole = prefix.len() < self.prefix_len;
        self.picked.clear();
        self.seen_regions.clear();
        let open = |&(s, n): &(f64, u32)| {
            !self.closed[n as usize] && !is_barred(self.bar[n as usize], s, shard)
        };
        for (pos, &(s, n)) in prefix.iter().enumerate() {
            if self.picked.len() == role.diverse {
                break;
            }
            let region = role.nodes[n as usize].region;
            if open(&(s, n)) && !self.seen_regions.contains(&region) {
                self.seen_regions.push(region);
                self.picked.push(pos);
            }
        }
        if self.picked.len() < role.diverse && !whole {
            return false;
        }
        for (pos, entry) in prefix.iter().enumerate() {
            if self.picked.len() == role.picks {
                break;
            }
            if open(entry) && !self.picked.contains(&pos) {
                self.picked.push(pos);
            }
        }
        if self.picked.len() < role.picks && !whole {
            return false;
        }
        self.picked.sort_unstable();
        out.extend(self.picked.iter().map(|&pos| prefix[pos].1));
        true
    }

    /// Scores every open node and records the best one of each region; with `use_bar`, barred
    /// nodes are closed (and listed in `barred` to be reopened).
    fn score_open(&mut self, role: &Role, shard: u32, use_bar: bool) {
        let key = shard_key(role.salt, shard);
        for (i, c) in role.nodes.iter().enumerate() {
            if self.closed[i] {
                continue;
            }
            let s = score(pair_hash(key, c.key), c.inv_weight);
            if use_bar && is_barred(self.bar[i], s, shard) {
                self.closed[i] = true;
                self.barred.push(i as u32);
                continue;
            }
            self.scores[i] = s;
            let slot = &mut self.region_best[c.region as usize];
            // Id order again: a strictly higher score is needed to displace the region's best.
            if slot.is_none_or(|b| s > self.scores[b as usize]) {
                *slot = Some(i as u32);
            }
        }
    }

    /// Takes the best node of each region, best regions first, up to `role.diverse` of them.
    fn pick_region_bests(&mut self, role: &Role, out: &mut Vec<u32>) {
        self.bests.clear();
        for slot in &mut self.region_best {
            self.bests.extend(slot.take());
        }
        let mut bests = std::mem::take(&mut self.bests);
        bests.sort_by(|&a, &b| self.cmp(role, a, b));
        out.extend(bests.iter().take(role.diverse));
        self.bests = bests;
    }

    /// Adds the best open nodes not yet chosen until `role.picks` are chosen.
    fn fill(&mut self, role: &Role, out: &mut Vec<u32>) {
        let want = role.picks.saturating_sub(out.len());
        if want == 0 {
            return;
        }
        for &n in out.iter() {
            self.closed[n as usize] = true;
        }
        let chosen = out.len();
        // `out[chosen..]` is kept sorted best first and at most `want` long.
        for i in 0..role.nodes.len() as u32 {
            if self.closed[i as usize] {
                continue;
            }
            let pos = out[chosen..].partition_point(|&o| self.cmp(role, o, i) == Ordering::Less);
            if pos < want {
                out.insert(chosen + pos, i);
                out.truncate(chosen + want);
            }
        }
        for &n in &out[..chosen] {
            self.closed[n as usize] = false;
        }
    }

    /// Best first among scored nodes.
    fn cmp(&self, role: &Role, a: u32, b: u32) -> Ordering {
        let (a, b) = (a as usize, b as usize);
        cmp_best_first(
            (self.scores[a], role.nodes[a].id),
            (self.scores[b], role.nodes[b].id),
        )
    }
}

/// Whether a node with `bar` (see `Chooser::set_bar`) would refuse `shard`, scoring `score` there.
fn is_barred(bar: Option<(f64, u32)>, score: f64, shard: u32) -> bool {
    bar.is_some_and(|(worst, held)| score < worst || (score == worst && shard > held))
}
