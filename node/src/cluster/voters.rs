//! Voter policy: which members vote in Raft. Pure.
//!
//! An odd number of voters, at most `max_voters`, spread over regions: current voters are kept
//! (membership changes are costly), then the region with the fewest voters gets the next one.

use std::collections::{BTreeMap, BTreeSet};

/// A member as the policy sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: u64,
    pub region: String,
    /// The operator allows this member to vote.
    pub eligible: bool,
}

/// The voters the cluster should have.
pub fn choose_voters(
    members: &[Candidate],
    current: &BTreeSet<u64>,
    max_voters: usize,
) -> BTreeSet<u64> {
    let eligible: Vec<&Candidate> = members.iter().filter(|m| m.eligible).collect();
    let mut target = eligible.len().min(max_voters);
    if target > 1 && target.is_multiple_of(2) {
        target -= 1;
    }
    let mut chosen: Vec<&Candidate> = eligible
        .iter()
        .copied()
        .filter(|m| current.contains(&m.id))
        .collect();
    while chosen.len() > target {
        // Drop from the region with the most voters; on a tie, the newest (highest id) voter.
        let counts = region_counts(&chosen);
        let drop = chosen
            .iter()
            .enumerate()
            .max_by_key(|(_, m)| (counts.get(m.region.as_str()).copied().unwrap_or(0), m.id))
            .map(|(i, _)| i)
            .expect("more chosen than the target");
        chosen.remove(drop);
    }
    while chosen.len() < target {
        let counts = region_counts(&chosen);
        let next = eligible
            .iter()
            .copied()
            .filter(|m| !chosen.iter().any(|c| c.id == m.id))
            .min_by_key(|m| (counts.get(m.region.as_str()).copied().unwrap_or(0), m.id))
            .expect("fewer chosen than eligible");
        chosen.push(next);
    }
    chosen.into_iter().map(|m| m.id).collect()
}

fn region_counts<'a>(chosen: &[&'a Candidate]) -> BTreeMap<&'a str, usize> {
    let mut counts = BTreeMap::new();
    for m in chosen {
        *counts.entry(m.region.as_str()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: u64, region: &str) -> Candidate {
        Candidate {
            id,
            region: region.into(),
            eligible: true,
        }
    }

    fn ids(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    #[test]
    fn three_nodes_all_vote_and_four_keep_three() {
        let three = [c(1, "a"), c(2, "a"), c(3, "a")];
        assert_eq!(choose_voters(&three, &ids(&[1]), 5), ids(&[1, 2, 3]));
        let four = [c(1, "a"), c(2, "a"), c(3, "a"), c(4, "a")];
        assert_eq!(choose_voters(&four, &ids(&[1, 2, 3]), 5), ids(&[1, 2, 3]));
    }

    #[test]
    fn voters_spread_over_regions_and_cap_at_max() {
        let m: Vec<_> = (1..=9)
            .map(|i| c(i, ["a", "b", "c"][(i as usize - 1) / 3]))
            .collect();
        let v = choose_voters(&m, &ids(&[1]), 5);
        assert_eq!(v.len(), 5);
        let regions: BTreeSet<_> = v.iter().map(|id| &m[*id as usize - 1].region).collect();
        assert_eq!(regions.len(), 3, "{v:?}");
    }

    #[test]
    fn removing_a_voter_promotes_another_and_ineligible_never_vote() {
        let mut m = vec![c(1, "a"), c(2, "b"), c(3, "c"), c(4, "a")];
        m[3].eligible = false;
        assert_eq!(choose_voters(&m, &ids(&[1, 2, 3]), 5), ids(&[1, 2, 3]));
        let without_2: Vec<_> = m.iter().filter(|x| x.id != 2).cloned().collect();
        assert_eq!(choose_voters(&without_2, &ids(&[1, 3]), 5), ids(&[1]));
    }

    #[test]
    fn shrinking_max_drops_from_the_busiest_region() {
        let m = [c(1, "a"), c(2, "a"), c(3, "a"), c(4, "b"), c(5, "c")];
        let v = choose_voters(&m, &ids(&[1, 2, 3, 4, 5]), 3);
        assert_eq!(v, ids(&[1, 4, 5]));
    }
}
