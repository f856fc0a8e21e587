//! Naive models of the solver, and property tests that hold the real one to them.
//!
//! The models favour obviousness over speed: full sorted preference lists, global sorts, and
//! round-by-round proposals recomputed from scratch. A brute-force stability check stands beside
//! them, independent of how either one searches.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use proptest::prelude::*;

use crate::choose::Chooser;
use crate::role::{Candidate, Role};
use crate::score::{cmp_best_first, inv_weight, node_key};
use crate::solver::{deferred_acceptance, solve};

/// Open nodes of `shard`, best first.
fn ranked(role: &Role, shard: u32, open: &BTreeSet<u32>) -> Vec<u32> {
    let mut list: Vec<u32> = open.iter().copied().collect();
    list.sort_by(|&a, &b| by_score(role, shard, a, b));
    list
}

fn by_score(role: &Role, shard: u32, a: u32, b: u32) -> Ordering {
    let key = |n: u32| (role.score(shard, n), role.nodes[n as usize].id);
    cmp_best_first(key(a), key(b))
}

/// The choice rule, as written in the README: region bests in score order, then fill.
fn naive_choice(role: &Role, shard: u32, open: &BTreeSet<u32>) -> Vec<u32> {
    let list = ranked(role, shard, open);
    let mut seen_regions = BTreeSet::new();
    let mut chosen = Vec::new();
    for &n in &list {
        if seen_regions.insert(role.nodes[n as usize].region) && chosen.len() < role.diverse {
            chosen.push(n);
        }
    }
    for &n in &list {
        if chosen.len() < role.picks && !chosen.contains(&n) {
            chosen.push(n);
        }
    }
    chosen.sort_by(|&a, &b| by_score(role, shard, a, b));
    chosen
}

fn all_nodes(role: &Role) -> BTreeSet<u32> {
    (0..role.nodes.len() as u32).collect()
}

/// Deferred acceptance in synchronous rounds, recomputed from scratch each round.
fn naive_rounds(role: &Role, n_shards: u32) -> Vec<Vec<u32>> {
    let mut open: Vec<BTreeSet<u32>> = vec![all_nodes(role); n_shards as usize];
    loop {
        let choices: Vec<Vec<u32>> = (0..n_shards)
            .map(|s| naive_choice(role, s, &open[s as usize]))
            .collect();
        let mut refused_any = false;
        for node in 0..role.nodes.len() as u32 {
            let mut offers: Vec<u32> = (0..n_shards)
                .filter(|&s| choices[s as usize].contains(&node))
                .collect();
            offers.sort_by(|&a, &b| {
                role.score(b, node)
                    .total_cmp(&role.score(a, node))
                    .then(a.cmp(&b))
            });
            for &s in offers.iter().skip(role.caps[node as usize] as usize) {
                open[s as usize].remove(&node);
                refused_any = true;
            }
        }
        if !refused_any {
            return choices;
        }
    }
}

/// The global greedy for one-holder roles: all (shard, node) pairs, best score first.
fn naive_greedy(role: &Role, n_shards: u32) -> Vec<Vec<u32>> {
    let mut pairs: Vec<(u32, u32)> = (0..n_shards)
        .flat_map(|s| (0..role.nodes.len() as u32).map(move |n| (s, n)))
        .collect();
    pairs.sort_by(|&(s1, n1), &(s2, n2)| {
        role.score(s2, n2)
            .total_cmp(&role.score(s1, n1))
            .then((n1, s1).cmp(&(n2, s2)))
    });
    let mut load = vec![0u32; role.nodes.len()];
    let mut holders = vec![Vec::new(); n_shards as usize];
    for (s, n) in pairs {
        if holders[s as usize].is_empty() && load[n as usize] < role.caps[n as usize] {
            holders[s as usize].push(n);
            load[n as usize] += 1;
        }
    }
    holders
}

/// Brute force: no shard and node would both rather be together than keep what they hold.
fn assert_stable(role: &Role, holders: &[Vec<u32>]) {
    let mut held: Vec<Vec<u32>> = vec![Vec::new(); role.nodes.len()];
    for (s, set) in (0u32..).zip(holders) {
        for &n in set {
            held[n as usize].push(s);
        }
    }
    for (s, set) in (0u32..).zip(holders) {
        for n in 0..role.nodes.len() as u32 {
            if set.contains(&n) {
                continue;
            }
            let mut with_n: BTreeSet<u32> = set.iter().copied().collect();
            with_n.insert(n);
            let shard_wants = naive_choice(role, s, &with_n).contains(&n);
            let node = &held[n as usize];
            let node_wants = node.len() < role.caps[n as usize] as usize
                || node.iter().any(|&t| role.score(t, n) < role.score(s, n));
            assert!(!(shard_wants && node_wants), "shard {s} and node {n} block");
        }
    }
}

prop_compose! {
    /// A small role with arbitrary (often too tight) caps, to exercise evictions and repairs.
    fn arb_role()(
        nodes in prop::collection::btree_map(0u64..1_000, (0u32..4, 1u32..400), 1..12),
        picks in 1usize..5,
        salt in any::<u64>(),
        cap_seed in prop::collection::vec(0u32..24, 12),
    ) -> Role {
        let nodes: Vec<Candidate> = nodes
            .into_iter()
            .map(|(id, (region, weight))| Candidate {
                id,
                key: node_key(id),
                weight,
                inv_weight: inv_weight(weight),
                region,
            })
            .collect();
        let caps = cap_seed[..nodes.len()].to_vec();
        Role::new(salt, nodes, picks, caps)
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Every path of the chooser (prefix walk, fresh prefix, full scan), with its memory reused
    /// across calls as refusals accumulate, agrees with the naive rule.
    #[test]
    fn chooser_matches_naive_choice(
        role in arb_role(),
        shard in 0u32..1000,
        refusals in prop::collection::vec(prop::collection::btree_set(0u32..12, 0..4), 1..5),
        prefix_len in prop_oneof![0usize..6, Just(crate::choose::PREFIX_LEN)],
    ) {
        let mut chooser = Chooser::with_prefix_len(&role, shard + 1, prefix_len);
        let mut closed = BTreeSet::new();
        for more in refusals {
            closed.extend(more.into_iter().filter(|&n| (n as usize) < role.nodes.len()));
            let excluded: Vec<u32> = closed.iter().copied().collect();
            let open: BTreeSet<u32> = all_nodes(&role).difference(&closed).copied().collect();
            let mut got = Vec::new();
            chooser.choose(&role, shard, &excluded, &mut got);
            prop_assert_eq!(&got, &naive_choice(&role, shard, &open));
            chooser.choose_exact(&role, shard, &mut got);
            prop_assert_eq!(got, naive_choice(&role, shard, &all_nodes(&role)));
        }
    }

    /// The lemma the solver rests on: closing one chosen node never drops another.
    #[test]
    fn closing_a_chosen_node_keeps_the_others(role in arb_role(), shard in 0u32..1000) {
        let open = all_nodes(&role);
        let before = naive_choice(&role, shard, &open);
        for &gone in &before {
            let mut fewer = open.clone();
            fewer.remove(&gone);
            let after = naive_choice(&role, shard, &fewer);
            for n in before.iter().filter(|&&n| n != gone) {
                prop_assert!(after.contains(n), "closing {} dropped {}", gone, n);
            }
        }
    }

    #[test]
    fn matching_equals_naive_rounds_and_is_stable(role in arb_role(), n_shards in 1u32..48) {
        let holders = deferred_acceptance(&role, n_shards);
        prop_assert_eq!(&holders, &naive_rounds(&role, n_shards));
        assert_stable(&role, &holders);
    }

    #[test]
    fn single_holder_matching_equals_global_greedy(mut role in arb_role(), n_shards in 1u32..48) {
        role.picks = 1;
        role.diverse = 1;
        prop_assert_eq!(deferred_acceptance(&role, n_shards), naive_greedy(&role, n_shards));
    }

    /// After repair every shard is complete and region-diverse; unless the fallback ran, no
    /// node is over its cap; and shards the matching completed are only touched by repairs.
    #[test]
    fn repair_completes_every_shard_within_caps(role in arb_role(), n_shards in 1u32..48) {
        let matched = deferred_acceptance(&role, n_shards);
        let solution = solve(&role, n_shards);
        let mut load = vec![0u32; role.nodes.len()];
        let mut changed = 0u32;
        for (set, before) in solution.holders.iter().zip(&matched) {
            let regions: BTreeSet<u32> =
                set.iter().map(|&n| role.nodes[n as usize].region).collect();
            prop_assert_eq!(set.len(), role.picks);
            prop_assert!(regions.len() >= role.diverse);
            for &n in set {
                load[n as usize] += 1;
            }
            changed += u32::from(set != before);
        }
        if solution.fallbacks == 0 {
            prop_assert!(load.iter().zip(&role.caps).all(|(l, c)| l <= c), "{:?}", load);
        }
        // Each repair or fallback changes its own shard and moves at most picks others aside.
        let touched = (solution.repaired + solution.fallbacks) * (1 + role.picks as u32);
        prop_assert!(changed <= touched, "changed {} touched {}", changed, touched);
    }
}

/// With caps that never bind, the solver is plain rendezvous: each shard gets its naive choice.
#[test]
fn loose_caps_give_plain_rendezvous() {
    let nodes: Vec<Candidate> = (0..9u64)
        .map(|id| Candidate {
            id,
            key: node_key(id),
            weight: 100,
            inv_weight: inv_weight(100),
            region: (id % 3) as u32,
        })
        .collect();
    let role = Role::new(42, nodes, 3, vec![u32::MAX; 9]);
    let solution = solve(&role, 256);
    assert_eq!(solution.fallbacks, 0);
    for (s, set) in (0u32..).zip(&solution.holders) {
        assert_eq!(set, &naive_choice(&role, s, &all_nodes(&role)));
    }
}
