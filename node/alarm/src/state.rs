//! The state of an alarm or of one zone, and the committed state an evaluator resumes from.

use std::fmt;

use meridian_criteria::AlarmState;
use serde::{Deserialize, Serialize};

/// State of an alarm (all four) or of one zone (never `Unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    /// Nothing is wrong.
    Ok,
    /// Something needs attention.
    Warning,
    /// Something is broken.
    Critical,
    /// Not evaluated yet, or a threshold alarm with insufficient data.
    Unknown,
}

impl State {
    /// Every state, in a fixed order.
    pub const ALL: [State; 4] = [State::Ok, State::Warning, State::Critical, State::Unknown];

    /// The name used on the API and in event ids: `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }

    /// The state named `name` (as [`State::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// How bad the state is, for tie-breaks: OK < UNKNOWN < WARNING < CRITICAL.
    pub fn severity(self) -> u8 {
        match self {
            State::Ok => 0,
            State::Unknown => 1,
            State::Warning => 2,
            State::Critical => 3,
        }
    }
}

impl From<AlarmState> for State {
    fn from(s: AlarmState) -> Self {
        match s {
            AlarmState::Ok => State::Ok,
            AlarmState::Warning => State::Warning,
            AlarmState::Critical => State::Critical,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The alarm's last committed transition: where an evaluator starts and what it proposes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// Transitions committed so far (0 before the first).
    pub seq: u64,
    /// The committed state (`Unknown` before the first transition).
    pub state: State,
}

impl Committed {
    /// A new alarm: no transition yet, state `Unknown`.
    pub fn initial() -> Self {
        Committed {
            seq: 0,
            state: State::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in State::ALL {
            assert_eq!(State::from_name(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).expect("serializes");
            assert_eq!(json, format!("\"{s}\""));
        }
        assert_eq!(State::from_name("ok"), None);
        assert_eq!(State::from(AlarmState::Warning), State::Warning);
    }

    #[test]
    fn severity_orders_critical_highest() {
        let mut states = State::ALL;
        states.sort_by_key(|s| s.severity());
        assert_eq!(
            states,
            [State::Ok, State::Unknown, State::Warning, State::Critical]
        );
    }
}
