//! Run-level checkers besides linearizability: digests, load under faults, faults happened,
//! panics in node logs, recovery after each heal (all pure over collected data, except logs).

use std::path::Path;

use serde::Serialize;

use crate::faults::FaultRecord;
use crate::history::{Event, EventType, Fun};

/// One checker's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

fn check(name: &str, passed: bool, detail: String) -> Check {
    Check {
        name: name.to_string(),
        passed,
        detail,
    }
}

/// A node's final state-machine position.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    pub node: u32,
    pub applied_index: Option<u64>,
    pub state_digest: Option<String>,
}

/// All nodes answered with the same applied index and digest.
pub fn digests_equal(digests: &[Digest]) -> Check {
    let first = digests.first();
    let same = digests.iter().all(|d| {
        d.state_digest.is_some()
            && first.is_some_and(|f| {
                f.state_digest == d.state_digest && f.applied_index == d.applied_index
            })
    });
    let detail = digests
        .iter()
        .map(|d| {
            let index = d.applied_index.map_or("?".to_string(), |i| i.to_string());
            let digest = d.state_digest.as_deref().unwrap_or("none");
            format!(
                "n{} at {index}: {}",
                d.node,
                digest.chars().take(16).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    check("state digests equal", same && !digests.is_empty(), detail)
}

/// Successful operations per second while any fault was in place.
pub fn ok_rate_under_faults(events: &[Event], faults: &[FaultRecord], min_rate: f64) -> Check {
    let windows: Vec<(u64, u64)> = faults
        .iter()
        .filter_map(|f| Some((f.applied_ms? * 1_000_000, f.healed_ms? * 1_000_000)))
        .collect();
    let active_ns: u64 = windows.iter().map(|(a, b)| b.saturating_sub(*a)).sum();
    if active_ns == 0 {
        return check(
            "load while faults active",
            true,
            "no fault was active".into(),
        );
    }
    let ok = events
        .iter()
        .filter(|e| e.kind == EventType::Ok)
        .filter(|e| windows.iter().any(|(a, b)| (*a..=*b).contains(&e.time_ns)))
        .count();
    let rate = ok as f64 / (active_ns as f64 / 1e9);
    check(
        "load while faults active",
        rate >= min_rate,
        format!(
            "{ok} ok ops in {:.1} s of faults = {rate:.1}/s (minimum {min_rate}/s)",
            active_ns as f64 / 1e9
        ),
    )
}

/// Every scheduled fault was applied, verified and healed.
pub fn faults_happened(scheduled: usize, faults: &[FaultRecord]) -> Check {
    let bad: Vec<String> = faults
        .iter()
        .filter(|f| f.applied_ms.is_none() || f.healed_ms.is_none() || !f.errors.is_empty())
        .map(|f| format!("#{} {}: {}", f.id, f.class.name(), f.errors.join("; ")))
        .collect();
    let passed = bad.is_empty() && faults.len() == scheduled;
    let detail = if passed {
        format!("{scheduled} of {scheduled} scheduled faults applied, verified and healed")
    } else {
        format!(
            "{} records for {scheduled} scheduled; failed: {}",
            faults.len(),
            bad.join(" | ")
        )
    };
    check("every scheduled fault happened", passed, detail)
}

/// No node log contains a panic.
pub fn no_panics(log_dir: &Path) -> Check {
    const SHOWN_MAX: usize = 5;
    let mut hits = Vec::new();
    let entries = std::fs::read_dir(log_dir).map(|d| d.flatten().collect::<Vec<_>>());
    for entry in entries.unwrap_or_default() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read(entry.path()).unwrap_or_default();
        for line in String::from_utf8_lossy(&text)
            .lines()
            .filter(|l| l.contains("panicked at"))
        {
            hits.push(format!(
                "{name}: {}",
                line.chars().take(300).collect::<String>()
            ));
        }
    }
    let detail = if hits.is_empty() {
        "no \"panicked at\" in any node log".to_string()
    } else {
        format!(
            "{} panics: {}",
            hits.len(),
            hits[..hits.len().min(SHOWN_MAX)].join(" | ")
        )
    };
    check("no panics in node logs", hits.is_empty(), detail)
}

/// Time from a heal to the first successful write or cas invoked after it.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    pub fault: usize,
    pub class: String,
    pub healed_ms: u64,
    pub recovery_ms: Option<u64>,
}

pub fn recoveries(events: &[Event], faults: &[FaultRecord]) -> Vec<Recovery> {
    let mut invoked: std::collections::HashMap<u64, u64> = Default::default();
    let mut writes_ok: Vec<(u64, u64)> = Vec::new();
    for e in events {
        match e.kind {
            EventType::Invoke => {
                invoked.insert(e.process, e.time_ns);
            }
            EventType::Ok if e.f != Fun::Read => {
                if let Some(call) = invoked.get(&e.process) {
                    writes_ok.push((*call, e.time_ns));
                }
            }
            _ => {}
        }
    }
    faults
        .iter()
        .filter_map(|f| {
            let healed_ns = f.healed_ms? * 1_000_000;
            let first = writes_ok
                .iter()
                .filter(|(call, _)| *call >= healed_ns)
                .map(|(_, r)| *r)
                .min();
            Some(Recovery {
                fault: f.id,
                class: f.class.name().to_string(),
                healed_ms: f.healed_ms?,
                recovery_ms: first.map(|r| (r - healed_ns) / 1_000_000),
            })
        })
        .collect()
}

/// The cluster took writes again after every heal.
pub fn recovered(recoveries: &[Recovery]) -> Check {
    let missing: Vec<String> = recoveries
        .iter()
        .filter(|r| r.recovery_ms.is_none())
        .map(|r| format!("#{} {}", r.fault, r.class))
        .collect();
    let worst = recoveries.iter().filter_map(|r| r.recovery_ms).max();
    let detail = if missing.is_empty() {
        let worst = worst.map_or("n/a".to_string(), |w| format!("{w} ms"));
        format!("{} heals, slowest recovery {worst}", recoveries.len())
    } else {
        format!("no successful write after heal of {}", missing.join(", "))
    };
    check(
        "writes recover after every heal",
        missing.is_empty(),
        detail,
    )
}
