//! Combining the votes of zones into the alarm's state by consistency level (ONE, QUORUM, ALL).

use meridian_criteria::Consistency;

use crate::state::State;

/// One voting zone's settled state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// The zone's state (never `Unknown`).
    pub state: State,
    /// When the zone settled on it (the settling observation's timestamp).
    pub since_ms: i64,
}

/// The smallest `n` of spec/alarms.md: the voting zones, but never fewer than a majority of the
/// zones polled, so that zones which went silent cannot let a minority decide.
pub fn effective_voters(polled: usize, voting: usize) -> usize {
    voting.max(polled / 2 + 1)
}

/// The alarm's state after combining `votes` (the zones that vote, in zone order) of `polled`
/// zones by `level`, when the alarm is now `current`. No decision keeps `current`.
///
/// - ONE: the newest zone state wins (ties: a state differing from `current`, then the most
///   severe, then the first zone), so the alarm follows the latest change any zone saw.
/// - QUORUM: the state held by at least n/2+1 voters, n = [`effective_voters`].
/// - ALL: the state held by every voter, when they are at least a majority of the polled zones.
pub fn combine(level: Consistency, current: State, polled: usize, votes: &[Vote]) -> State {
    debug_assert!(votes.len() <= polled);
    debug_assert!(votes.iter().all(|v| v.state != State::Unknown));
    match level {
        Consistency::One => newest(current, votes).unwrap_or(current),
        Consistency::Quorum => {
            let n = effective_voters(polled, votes.len());
            [State::Ok, State::Warning, State::Critical]
                .into_iter()
                .find(|s| votes.iter().filter(|v| v.state == *s).count() > n / 2)
                .unwrap_or(current)
        }
        Consistency::All => {
            let enough = votes.len() == effective_voters(polled, votes.len());
            match votes.first() {
                Some(first) if enough && votes.iter().all(|v| v.state == first.state) => {
                    first.state
                }
                _ => current,
            }
        }
    }
}

/// The vote that ONE follows: newest, then differing from `current`, then most severe, then first.
fn newest(current: State, votes: &[Vote]) -> Option<State> {
    let key = |v: &Vote| (v.since_ms, v.state != current, v.state.severity());
    let mut best: Option<&Vote> = None;
    for v in votes {
        if best.is_none_or(|b| key(v) > key(b)) {
            best = Some(v);
        }
    }
    best.map(|v| v.state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(state: State, since_ms: i64) -> Vote {
        Vote { state, since_ms }
    }

    #[test]
    fn quorum_with_two_of_three_zones_silent_changes_nothing() {
        let votes = [v(State::Critical, 5)];
        assert_eq!(
            combine(Consistency::Quorum, State::Ok, 3, &votes),
            State::Ok
        );
        let votes = [v(State::Critical, 5), v(State::Critical, 6)];
        assert_eq!(
            combine(Consistency::Quorum, State::Ok, 3, &votes),
            State::Critical
        );
        let votes = [v(State::Critical, 5), v(State::Ok, 6)];
        assert_eq!(
            combine(Consistency::Quorum, State::Unknown, 3, &votes),
            State::Unknown
        );
    }

    #[test]
    fn all_needs_every_voter_and_a_majority_voting() {
        let votes = [v(State::Warning, 1), v(State::Warning, 2)];
        assert_eq!(
            combine(Consistency::All, State::Ok, 3, &votes),
            State::Warning
        );
        assert_eq!(combine(Consistency::All, State::Ok, 5, &votes), State::Ok);
        let votes = [v(State::Warning, 1), v(State::Critical, 2)];
        assert_eq!(combine(Consistency::All, State::Ok, 2, &votes), State::Ok);
        assert_eq!(combine(Consistency::All, State::Ok, 2, &[]), State::Ok);
    }

    #[test]
    fn one_follows_the_newest_zone_state() {
        let votes = [v(State::Critical, 1), v(State::Ok, 2)];
        assert_eq!(
            combine(Consistency::One, State::Critical, 3, &votes),
            State::Ok
        );
        // The older disagreeing zone does not flip it back.
        assert_eq!(combine(Consistency::One, State::Ok, 3, &votes), State::Ok);
        let tie = [v(State::Ok, 2), v(State::Warning, 2), v(State::Critical, 2)];
        assert_eq!(
            combine(Consistency::One, State::Critical, 3, &tie),
            State::Warning
        );
        assert_eq!(
            combine(Consistency::One, State::Unknown, 3, &[]),
            State::Unknown
        );
    }
}
