//! Naive models, written from the words of spec/alarms.md and AWS's documentation rather than
//! from the crate's code: slow, obvious, and the yardstick of the property tests.

use meridian_alarm::{Consistency, MissingData, Outcome, Point, State};

/// The smallest k with 2k > total: a strict majority of `total`.
pub fn majority(total: usize) -> usize {
    (0..=total + 1).find(|k| 2 * k > total).expect("exists")
}

/// Zone combination by the spec's sentences. `votes` are (state, since) in zone order.
pub fn combine(level: Consistency, current: State, polled: usize, votes: &[(State, i64)]) -> State {
    match level {
        Consistency::One => {
            let Some(newest) = votes.iter().map(|v| v.1).max() else {
                return current;
            };
            let mut tied: Vec<State> = votes
                .iter()
                .filter(|v| v.1 == newest)
                .map(|v| v.0)
                .collect();
            if tied.iter().any(|s| *s != current) {
                tied.retain(|s| *s != current);
            }
            let worst = tied.iter().map(|s| s.severity()).max().expect("non-empty");
            *tied.iter().find(|s| s.severity() == worst).expect("found")
        }
        Consistency::Quorum => {
            // n counts the voting zones, but never less than a majority of the polled ones.
            let n = if votes.len() < majority(polled) {
                majority(polled)
            } else {
                votes.len()
            };
            for s in [State::Ok, State::Warning, State::Critical] {
                let held = votes.iter().filter(|v| v.0 == s).count();
                // "at least n/2+1": more than half.
                if 2 * held > n {
                    return s;
                }
            }
            current
        }
        Consistency::All => {
            if votes.len() < majority(polled) || votes.is_empty() {
                return current;
            }
            let s = votes[0].0;
            if votes.iter().all(|v| v.0 == s) {
                s
            } else {
                current
            }
        }
    }
}

/// A zone's settled state and since, from its whole history of (timestamp, verdict): the state
/// of the newest run of `k` agreeing verdicts, and when that state began to be the settled one.
pub fn settled(history: &[(i64, State)], k: usize) -> Option<(State, i64)> {
    let mut per_prefix: Vec<Option<State>> = Vec::new();
    for end in 0..history.len() {
        let mut state = None;
        for last in (0..=end).rev() {
            if last + 1 >= k
                && history[last + 1 - k..=last]
                    .iter()
                    .all(|h| h.1 == history[last].1)
            {
                state = Some(history[last].1);
                break;
            }
        }
        per_prefix.push(state);
    }
    let current = (*per_prefix.last()?)?;
    let mut began = per_prefix.len() - 1;
    while began > 0 && per_prefix[began - 1] == Some(current) {
        began -= 1;
    }
    Some((current, history[began].0))
}

/// CloudWatch's M of N with TreatMissingData, step by step as AWS describes it
/// (AlarmThatSendsEmail.md, "Configuring how CloudWatch alarms treat missing data" and
/// "Avoiding premature transitions to alarm state").
pub fn m_of_n(points: &[Point], n: usize, m: usize, mode: MissingData) -> Outcome {
    let real: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| *p != Point::Missing)
        .collect();
    let verdict = |evaluated: &[Point]| {
        let breaching = evaluated.iter().filter(|p| **p == Point::Breaching).count();
        if breaching >= m {
            Outcome::Alarm
        } else {
            Outcome::Ok
        }
    };
    // Enough real points: the most recent N real ones, whatever the mode.
    if real.len() >= n {
        return verdict(&real[real.len() - n..]);
    }
    // Otherwise fill the missing ones as few times as possible, keeping every real point.
    let fill = match mode {
        MissingData::Breaching => Some(Point::Breaching),
        MissingData::NotBreaching => Some(Point::NotBreaching),
        MissingData::Missing | MissingData::Ignore => None,
    };
    if let Some(fill) = fill {
        let mut evaluated = real.clone();
        evaluated.extend(std::iter::repeat_n(fill, n - real.len()));
        return verdict(&evaluated);
    }
    let no_decision = if mode == MissingData::Ignore {
        Outcome::Retain
    } else {
        Outcome::InsufficientData
    };
    if real.is_empty() {
        return no_decision;
    }
    if verdict(&real) == Outcome::Alarm {
        return Outcome::Alarm;
    }
    if real.contains(&Point::NotBreaching) {
        return Outcome::Ok;
    }
    // Only breaching points, fewer than M: premature alarm when the oldest is M periods old.
    if mode == MissingData::Missing {
        let oldest_index = points
            .iter()
            .position(|p| *p == Point::Breaching)
            .expect("one");
        let age = points.len() - oldest_index;
        if age >= m {
            return Outcome::Alarm;
        }
    }
    no_decision
}
