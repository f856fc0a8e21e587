//! Per-key linearizability checking of register histories, with pruning and window shrinking.
//!
//! Each key is an independent register (linearizability is compositional), checked from the
//! empty (null) state. Before the search, operations that cannot matter are removed: failed
//! operations, reads without a result, and `info` writes whose value nobody ever observed
//! (removing one cannot change the answer: no read or compare could have depended on it).
//! When a key fails, the smallest failing window of consecutive operations is searched for.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::history::{Op, OpValue, Outcome as OpOutcome};
use crate::model::RegState;
use crate::wgl::{Outcome, SearchOp, search};

/// Default state budget per key search.
pub const MAX_STATES_DEFAULT: u64 = 2_000_000;
/// Budget for each probe while shrinking a failing key.
const SHRINK_PROBE_STATES: u64 = 200_000;

/// The verdict for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// Budget exhausted: neither proven nor refuted.
    Unknown,
}

/// A failing window: consecutive operations (by invocation time) that are non-linearizable
/// from any starting state, even allowing every concurrent operation outside it to happen.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// History indices (of invoke events) of the operations in the window.
    pub ops: Vec<usize>,
    /// Operations outside the window that overlap it (treated as optional).
    pub neighbours: Vec<usize>,
    /// The operation whose completion no valid order could precede.
    pub blocked: Option<usize>,
}

/// Result for one key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyResult {
    pub key: String,
    pub ops: usize,
    pub ops_searched: usize,
    pub verdict: Verdict,
    pub window: Option<Window>,
}

/// Checks every key of a paired history.
pub fn check(ops: &[Op], max_states: u64) -> Vec<KeyResult> {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    by_key
        .into_iter()
        .map(|(key, ops)| check_key(key, &ops, max_states))
        .collect()
}

fn check_key(key: &str, ops: &[&Op], max_states: u64) -> KeyResult {
    let kept = prune(ops);
    let search_ops: Vec<SearchOp> = kept.iter().map(|op| to_search(op, false)).collect();
    let verdict = match search(&search_ops, RegState::Val(None), max_states) {
        Outcome::Linearizable => Verdict::Linearizable,
        Outcome::Unknown { .. } => Verdict::Unknown,
        Outcome::NotLinearizable { .. } => Verdict::NotLinearizable,
    };
    let window = (verdict == Verdict::NotLinearizable).then(|| shrink(&kept));
    KeyResult {
        key: key.to_string(),
        ops: ops.len(),
        ops_searched: kept.len(),
        verdict,
        window,
    }
}

fn to_search(op: &Op, optional: bool) -> SearchOp {
    let ret_ns = if optional || op.outcome != OpOutcome::Ok {
        None
    } else {
        op.ret_ns
    };
    SearchOp {
        call_ns: op.call_ns,
        ret_ns,
        value: op.value,
    }
}

/// Removes operations that cannot affect the verdict; the result is sorted by call time.
pub fn prune<'a>(ops: &[&'a Op]) -> Vec<&'a Op> {
    let mut kept: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|op| op.outcome != OpOutcome::Fail)
        .filter(|op| !matches!(op.value, OpValue::Read(None)))
        .collect();
    // Fixpoint: dropping an info cas can make the value it expected unobserved.
    for _ in 0..kept.len() + 1 {
        let observed: HashSet<i64> = kept
            .iter()
            .filter_map(|op| match op.value {
                OpValue::Read(Some(v)) => v,
                OpValue::Cas(expected, _) => expected,
                _ => None,
            })
            .collect();
        let before = kept.len();
        kept.retain(|op| match (op.outcome, op.value) {
            (OpOutcome::Info, OpValue::Write(v) | OpValue::Cas(_, v)) => observed.contains(&v),
            _ => true,
        });
        if kept.len() == before {
            break;
        }
    }
    kept.sort_by_key(|op| (op.call_ns, op.index));
    kept
}

/// Builds the search input for window `[lo, hi)` of `ops` (sorted by call time).
fn window_input(ops: &[&Op], lo: usize, hi: usize) -> (Vec<SearchOp>, Vec<usize>) {
    let first_call = ops[lo].call_ns;
    let last_ok_ret = ops[lo..hi]
        .iter()
        .filter(|op| op.outcome == OpOutcome::Ok)
        .filter_map(|op| op.ret_ns)
        .max()
        .unwrap_or(first_call);
    let mut input: Vec<SearchOp> = ops[lo..hi].iter().map(|op| to_search(op, false)).collect();
    let mut neighbours = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let before = i < lo && op.ret_ns.is_none_or(|r| r >= first_call);
        let after = i >= hi && op.call_ns <= last_ok_ret;
        if before || after {
            input.push(to_search(op, true));
            neighbours.push(op.index);
        }
    }
    (input, neighbours)
}

fn window_fails(ops: &[&Op], lo: usize, hi: usize) -> Option<Option<usize>> {
    let (input, _) = window_input(ops, lo, hi);
    match search(&input, RegState::Any, SHRINK_PROBE_STATES) {
        Outcome::NotLinearizable { blocked, .. } => Some(blocked),
        _ => None,
    }
}

/// Finds a small window `[lo, hi)` that fails on its own: first the shortest failing prefix,
/// then the latest start that still fails. Falls back to the whole key if no probe fails.
fn shrink(ops: &[&Op]) -> Window {
    let n = ops.len();
    let (mut good, mut bad) = (0usize, n);
    if window_fails(ops, 0, n).is_some() {
        while bad - good > 1 {
            let mid = (good + bad) / 2;
            if window_fails(ops, 0, mid).is_some() {
                bad = mid
            } else {
                good = mid
            }
        }
    }
    let hi = bad;
    let (mut lo_bad, mut lo_good) = (0usize, hi);
    while lo_good - lo_bad > 1 {
        let mid = (lo_bad + lo_good) / 2;
        if window_fails(ops, mid, hi).is_some() {
            lo_bad = mid
        } else {
            lo_good = mid
        }
    }
    let lo = lo_bad;
    let blocked = window_fails(ops, lo, hi).flatten();
    let (input, neighbours) = window_input(ops, lo, hi);
    let blocked = blocked.filter(|b| *b < input.len()).map(|b| {
        if b < hi - lo {
            ops[lo + b].index
        } else {
            neighbours[b - (hi - lo)]
        }
    });
    Window {
        ops: ops[lo..hi].iter().map(|op| op.index).collect(),
        neighbours,
        blocked,
    }
}
