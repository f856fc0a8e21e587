//! `meridian-chaos check`: re-checks a stored history and explains what failed.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::history::{Event, pair, read_events};
use crate::linearizability::{KeyResult, Verdict, check};

/// Summary of an offline check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckSummary {
    pub events: usize,
    pub ops: usize,
    pub keys: Vec<KeyResult>,
}

impl CheckSummary {
    /// Worst verdict over all keys.
    pub fn verdict(&self) -> Verdict {
        let verdicts = self.keys.iter().map(|k| k.verdict);
        if verdicts.clone().any(|v| v == Verdict::NotLinearizable) {
            Verdict::NotLinearizable
        } else if verdicts.clone().any(|v| v == Verdict::Unknown) {
            Verdict::Unknown
        } else {
            Verdict::Linearizable
        }
    }
}

/// Checks the events of one history.
pub fn check_events(events: &[Event], max_states: u64) -> Result<CheckSummary> {
    let ops = pair(events)?;
    let keys = check(&ops, max_states);
    Ok(CheckSummary {
        events: events.len(),
        ops: ops.len(),
        keys,
    })
}

/// Reads and checks a history file.
pub fn check_file(path: &Path, max_states: u64) -> Result<(Vec<Event>, CheckSummary)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let events = read_events(std::io::BufReader::new(file))?;
    let summary = check_events(&events, max_states)?;
    Ok((events, summary))
}

/// Human-readable explanation: one line per key, then each failing window as history lines.
pub fn explain(events: &[Event], summary: &CheckSummary) -> String {
    let ops = pair(events).unwrap_or_default();
    let by_index: std::collections::HashMap<usize, &crate::history::Op> =
        ops.iter().map(|op| (op.index, op)).collect();
    let mut out = String::new();
    for key in &summary.keys {
        let verdict = match key.verdict {
            Verdict::Linearizable => "ok",
            Verdict::NotLinearizable => "NOT LINEARIZABLE",
            Verdict::Unknown => "UNKNOWN (search budget exhausted)",
        };
        let _ = writeln!(
            out,
            "key {:?}: {} ops ({} searched): {verdict}",
            key.key, key.ops, key.ops_searched
        );
        let Some(window) = &key.window else { continue };
        let _ = writeln!(
            out,
            "  smallest failing window: {} ops (+{} overlapping ops allowed to happen or not), \
             from any starting value:",
            window.ops.len(),
            window.neighbours.len()
        );
        for index in &window.ops {
            let Some(op) = by_index.get(index) else {
                continue;
            };
            let mark = if window.blocked == Some(*index) {
                "  <- cannot be placed"
            } else {
                ""
            };
            let _ = writeln!(out, "    {}{mark}", line_of(&events[op.index]));
            if let Some(done) = op.done_index {
                let _ = writeln!(out, "    {}", line_of(&events[done]));
            }
        }
    }
    out
}

fn line_of(event: &Event) -> String {
    serde_json::to_string(event).unwrap_or_else(|_| format!("{event:?}"))
}
