//! Wing–Gong–Lowe linearizability search for one register (pure, bounded).
//!
//! Calls and returns form a time-ordered linked list. The search repeatedly linearizes a
//! pending call that precedes the first remaining return, backtracking when a return is reached
//! with no candidate left. Visited `(linearized set, state)` pairs are memoised, so no
//! configuration is explored twice. Operations with no return (info) are optional: the search
//! succeeds once every completed operation is linearized.

use std::collections::HashSet;

use crate::history::OpValue;
use crate::model::{RegState, step};

const NIL: usize = usize::MAX;

/// One operation as the search sees it.
#[derive(Debug, Clone, Copy)]
pub struct SearchOp {
    pub call_ns: u64,
    /// `None` = open-ended and optional (may or may not have happened).
    pub ret_ns: Option<u64>,
    pub value: OpValue,
}

/// Result of one search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Linearizable,
    /// No linearization exists. `longest` is the deepest linearized prefix found (op indices)
    /// and `blocked` the operation whose return could not be preceded by a valid order.
    NotLinearizable {
        longest: Vec<usize>,
        blocked: Option<usize>,
    },
    /// The state budget ran out before an answer: never to be read as linearizable.
    Unknown {
        states: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    ret: usize,
    prev: usize,
    next: usize,
}

struct List {
    e: Vec<Entry>,
}

impl List {
    /// Builds the list: calls before returns at equal times (the permissive reading of a tie).
    fn build(ops: &[SearchOp]) -> List {
        let mut points: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            points.push((op.call_ns, 0, i));
            if let Some(r) = op.ret_ns {
                points.push((r, 1, i));
            }
        }
        points.sort_unstable();
        let head = Entry {
            op: NIL,
            is_call: false,
            ret: NIL,
            prev: NIL,
            next: NIL,
        };
        let mut e = vec![head];
        let mut ret_of = vec![NIL; ops.len()];
        let mut call_of = vec![NIL; ops.len()];
        for (_, kind, op) in &points {
            let idx = e.len();
            e.push(Entry {
                op: *op,
                is_call: *kind == 0,
                ret: NIL,
                prev: idx - 1,
                next: NIL,
            });
            e[idx - 1].next = idx;
            if *kind == 0 {
                call_of[*op] = idx
            } else {
                ret_of[*op] = idx
            }
        }
        for op in 0..ops.len() {
            e[call_of[op]].ret = ret_of[op];
        }
        List { e }
    }

    fn unlink(&mut self, i: usize) {
        let Entry { prev, next, .. } = self.e[i];
        self.e[prev].next = next;
        if next != NIL {
            self.e[next].prev = prev;
        }
    }

    fn relink(&mut self, i: usize) {
        let Entry { prev, next, .. } = self.e[i];
        self.e[prev].next = i;
        if next != NIL {
            self.e[next].prev = i;
        }
    }

    fn lift(&mut self, call: usize) {
        self.unlink(call);
        let ret = self.e[call].ret;
        if ret != NIL {
            self.unlink(ret);
        }
    }

    fn unlift(&mut self, call: usize) {
        let ret = self.e[call].ret;
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(call);
    }
}

/// Deterministic 64-bit mixer (splitmix64) for the set fingerprints.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Searches for a linearization of `ops` from `init`, exploring at most `max_states` states.
///
/// The memo stores a 128-bit fingerprint of the linearized set: a collision could only skip an
/// unexplored state (a spurious anomaly, re-checked by shrinking), never invent a linearization.
pub fn search(ops: &[SearchOp], init: RegState, max_states: u64) -> Outcome {
    let mut list = List::build(ops);
    let keys: Vec<(u64, u64)> = (0..ops.len() as u64)
        .map(|i| (mix(i * 2 + 1), mix(i * 2 + 2) ^ 0x5555))
        .collect();
    let mut remaining = ops.iter().filter(|o| o.ret_ns.is_some()).count();
    let mut memo: HashSet<(u64, u64, RegState)> = HashSet::new();
    let mut stack: Vec<(usize, RegState)> = Vec::new();
    let (mut fp, mut state) = ((0u64, 0u64), init);
    let mut longest: Vec<usize> = Vec::new();
    let mut blocked = None;
    let mut blocked_depth = usize::MAX;
    let max_steps = max_states.saturating_mul(16);
    let mut steps = 0u64;
    let mut cur = list.e[0].next;
    while remaining > 0 {
        steps += 1;
        if memo.len() as u64 > max_states || steps > max_steps {
            return Outcome::Unknown {
                states: memo.len() as u64,
            };
        }
        assert!(
            cur != NIL,
            "a pending return always precedes the end of the list"
        );
        let entry = list.e[cur];
        if entry.is_call {
            let next_state = step(state, ops[entry.op].value);
            let next_fp = (fp.0 ^ keys[entry.op].0, fp.1 ^ keys[entry.op].1);
            match next_state {
                Some(s) if memo.insert((next_fp.0, next_fp.1, s)) => {
                    stack.push((cur, state));
                    (fp, state) = (next_fp, s);
                    list.lift(cur);
                    if entry.ret != NIL {
                        remaining -= 1;
                    }
                    if stack.len() > longest.len() {
                        longest = stack.iter().map(|(c, _)| list.e[*c].op).collect();
                    }
                    cur = list.e[0].next;
                }
                _ => cur = entry.next,
            }
            continue;
        }
        // A return with no candidate left before it: undo the last choice.
        if stack.len() == longest.len() && blocked_depth != stack.len() {
            (blocked, blocked_depth) = (Some(entry.op), stack.len());
        }
        let Some((call, prev_state)) = stack.pop() else {
            return Outcome::NotLinearizable { longest, blocked };
        };
        let op = list.e[call].op;
        list.unlift(call);
        if list.e[call].ret != NIL {
            remaining += 1;
        }
        fp = (fp.0 ^ keys[op].0, fp.1 ^ keys[op].1);
        state = prev_state;
        cur = list.e[call].next;
    }
    Outcome::Linearizable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: u64, ret: Option<u64>, value: OpValue) -> SearchOp {
        SearchOp {
            call_ns: call,
            ret_ns: ret,
            value,
        }
    }

    fn check(ops: &[SearchOp]) -> Outcome {
        search(ops, RegState::Val(None), 100_000)
    }

    #[test]
    fn sequential_history() {
        let ops = [
            op(0, Some(1), OpValue::Write(1)),
            op(2, Some(3), OpValue::Read(Some(Some(1)))),
            op(4, Some(5), OpValue::Cas(Some(1), 2)),
            op(6, Some(7), OpValue::Read(Some(Some(2)))),
        ];
        assert_eq!(check(&ops), Outcome::Linearizable);
    }

    #[test]
    fn stale_read_rejected() {
        let ops = [
            op(0, Some(1), OpValue::Write(1)),
            op(2, Some(3), OpValue::Write(2)),
            op(4, Some(5), OpValue::Read(Some(Some(1)))),
        ];
        assert!(matches!(check(&ops), Outcome::NotLinearizable { .. }));
    }

    #[test]
    fn concurrent_read_may_see_either() {
        let ops = [
            op(0, Some(1), OpValue::Write(1)),
            op(2, Some(10), OpValue::Write(2)),
            op(3, Some(4), OpValue::Read(Some(Some(2)))),
            op(5, Some(6), OpValue::Read(Some(Some(2)))),
        ];
        assert_eq!(check(&ops), Outcome::Linearizable);
    }

    #[test]
    fn info_write_is_optional() {
        let ops = [
            op(0, None, OpValue::Write(9)),
            op(2, Some(3), OpValue::Read(Some(None))),
            op(4, Some(5), OpValue::Read(Some(Some(9)))),
        ];
        assert_eq!(check(&ops), Outcome::Linearizable);
        let never_read = [
            op(0, None, OpValue::Write(9)),
            op(2, Some(3), OpValue::Read(Some(None))),
        ];
        assert_eq!(check(&never_read), Outcome::Linearizable);
    }

    #[test]
    fn budget_exhaustion_is_unknown() {
        let ops: Vec<SearchOp> = (0..40)
            .map(|i| op(i, None, OpValue::Write(i as i64)))
            .chain([op(100, Some(101), OpValue::Read(Some(Some(1000))))])
            .collect();
        assert!(matches!(
            search(&ops, RegState::Val(None), 50),
            Outcome::Unknown { .. }
        ));
    }
}
