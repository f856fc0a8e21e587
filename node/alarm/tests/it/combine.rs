//! Zone combination against the reference: every level, every subset of voting zones, every
//! state assignment, exhaustively for up to five zones, and random `since` values by proptest.

use meridian_alarm::{Consistency, State, Vote, combine};
use proptest::prelude::*;

use crate::reference;

const LEVELS: [Consistency; 3] = [Consistency::One, Consistency::Quorum, Consistency::All];
const ZONE_STATES: [State; 3] = [State::Ok, State::Warning, State::Critical];

/// Zone `i` of `polled` is silent (None) or votes a state with a `since` in {0, 1}.
fn assignments(polled: usize) -> Vec<Vec<Option<(State, i64)>>> {
    let choices: Vec<Option<(State, i64)>> = std::iter::once(None)
        .chain(
            ZONE_STATES
                .iter()
                .flat_map(|s| [Some((*s, 0)), Some((*s, 1))]),
        )
        .collect();
    let mut all = vec![Vec::new()];
    for _ in 0..polled {
        all = all
            .into_iter()
            .flat_map(|prefix| {
                choices.iter().map(move |c| {
                    let mut next = prefix.clone();
                    next.push(*c);
                    next
                })
            })
            .collect();
    }
    all
}

fn check(level: Consistency, current: State, polled: usize, votes: &[(State, i64)]) {
    let typed: Vec<Vote> = votes
        .iter()
        .map(|(state, since_ms)| Vote {
            state: *state,
            since_ms: *since_ms,
        })
        .collect();
    let got = combine(level, current, polled, &typed);
    let want = reference::combine(level, current, polled, votes);
    assert_eq!(
        got, want,
        "{level:?} current {current:?} of {polled}: {votes:?}"
    );
}

#[test]
fn every_subset_of_up_to_five_zones_matches_the_reference() {
    let mut cases = 0;
    for polled in 1..=5 {
        for assignment in assignments(polled) {
            let votes: Vec<(State, i64)> = assignment.into_iter().flatten().collect();
            for level in LEVELS {
                for current in State::ALL {
                    check(level, current, polled, &votes);
                    cases += 1;
                }
            }
        }
    }
    // 7^1 + ... + 7^5 assignments, 3 levels, 4 current states.
    assert_eq!(cases, (7 + 49 + 343 + 2401 + 16807) * 12);
}

#[test]
fn silent_zones_never_let_one_zone_decide_under_quorum_or_all() {
    let critical = |n: usize| {
        vec![
            Vote {
                state: State::Critical,
                since_ms: 3
            };
            n
        ]
    };
    for level in [Consistency::Quorum, Consistency::All] {
        // The spec's own case: QUORUM with 2 of 3 zones silent changes nothing.
        assert_eq!(
            combine(level, State::Ok, 3, &critical(1)),
            State::Ok,
            "{level:?}"
        );
        assert_eq!(
            combine(level, State::Ok, 3, &critical(2)),
            State::Critical,
            "{level:?}"
        );
        // One voter of two or more polled zones never decides.
        for polled in 2..=ZONES {
            assert_eq!(
                combine(level, State::Ok, polled, &critical(1)),
                State::Ok,
                "{level:?}"
            );
        }
    }
    // ONE follows the one zone that still speaks.
    assert_eq!(
        combine(Consistency::One, State::Ok, 3, &critical(1)),
        State::Critical
    );
}

const ZONES: usize = 9;

fn vote() -> impl Strategy<Value = (State, i64)> {
    (prop::sample::select(ZONE_STATES.to_vec()), 0i64..6)
}

proptest! {
    #[test]
    fn random_votes_match_the_reference(
        extra_silent in 0usize..5,
        votes in prop::collection::vec(vote(), 0..12),
        level in prop::sample::select(LEVELS.to_vec()),
        current in prop::sample::select(State::ALL.to_vec()),
    ) {
        check(level, current, votes.len() + extra_silent, &votes);
    }

    #[test]
    fn quorum_and_all_ignore_zone_order(
        votes in prop::collection::vec(vote(), 0..8),
        current in prop::sample::select(State::ALL.to_vec()),
    ) {
        let typed: Vec<Vote> = votes.iter().map(|(state, since_ms)| Vote { state: *state, since_ms: *since_ms }).collect();
        let mut reversed = typed.clone();
        reversed.reverse();
        for level in [Consistency::Quorum, Consistency::All] {
            let polled = votes.len().max(1);
            prop_assert_eq!(combine(level, current, polled, &typed), combine(level, current, polled, &reversed));
        }
    }
}
