//! The register model the linearizability search runs operations against (pure).

use crate::history::OpValue;

/// State of one register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegState {
    /// Not known yet: a window cut out of the middle of a history starts from any state;
    /// the first operation that observes the register fixes it.
    Any,
    /// A known value; `None` is absent/null.
    Val(Option<i64>),
}

/// Applies one operation; `None` means the operation cannot take effect in this state.
///
/// Reads carry the value they returned (`Read(Some(v))`); a read without a result constrains
/// nothing and is expected to have been removed before the search.
pub fn step(state: RegState, op: OpValue) -> Option<RegState> {
    match op {
        OpValue::Read(None) => Some(state),
        OpValue::Read(Some(out)) => match state {
            RegState::Any => Some(RegState::Val(out)),
            RegState::Val(s) if s == out => Some(state),
            RegState::Val(_) => None,
        },
        OpValue::Write(v) => Some(RegState::Val(Some(v))),
        OpValue::Cas(expected, new) => match state {
            RegState::Any => Some(RegState::Val(Some(new))),
            RegState::Val(s) if s == expected => Some(RegState::Val(Some(new))),
            RegState::Val(_) => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_semantics() {
        let empty = RegState::Val(None);
        assert_eq!(step(empty, OpValue::Read(Some(None))), Some(empty));
        assert_eq!(step(empty, OpValue::Read(Some(Some(1)))), None);
        assert_eq!(step(empty, OpValue::Write(2)), Some(RegState::Val(Some(2))));
        assert_eq!(
            step(empty, OpValue::Cas(None, 3)),
            Some(RegState::Val(Some(3)))
        );
        assert_eq!(step(RegState::Val(Some(1)), OpValue::Cas(Some(2), 3)), None);
        assert_eq!(
            step(RegState::Any, OpValue::Read(Some(Some(7)))),
            Some(RegState::Val(Some(7)))
        );
        assert_eq!(
            step(RegState::Any, OpValue::Cas(Some(1), 5)),
            Some(RegState::Val(Some(5)))
        );
    }
}
