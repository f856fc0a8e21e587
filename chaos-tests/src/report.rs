//! `report.json`: everything a run found, in one serialisable value.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checks::{Check, Digest, Recovery};
use crate::cluster::NodeInfo;
use crate::config::RunConfig;
use crate::faults::FaultRecord;
use crate::history::{Event, EventType};
use crate::linearizability::{KeyResult, Verdict};

/// The report of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub name: String,
    pub seed: u64,
    pub passed: bool,
    pub config: RunConfig,
    pub nodes: Vec<NodeInfo>,
    pub bootstrap_ms: u64,
    pub workload_ms: u64,
    /// `f -> outcome -> count`.
    pub ops: BTreeMap<String, BTreeMap<String, u64>>,
    pub ops_total: u64,
    pub faults_by_class: BTreeMap<String, u64>,
    pub faults: Vec<FaultRecord>,
    pub linearizability: Verdict,
    pub keys: Vec<KeyResult>,
    pub digests: Vec<Digest>,
    pub recoveries: Vec<Recovery>,
    pub checks: Vec<Check>,
    /// One line per failed check (empty when the run passed).
    pub anomalies: Vec<String>,
}

/// Counts completed operations by function and outcome (invokes with no completion: `open`).
pub fn count_ops(events: &[Event]) -> (BTreeMap<String, BTreeMap<String, u64>>, u64) {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut open: BTreeMap<u64, String> = BTreeMap::new();
    let mut total = 0;
    for e in events {
        let f = format!("{:?}", e.f).to_lowercase();
        if e.kind == EventType::Invoke {
            total += 1;
            open.insert(e.process, f);
            continue;
        }
        open.remove(&e.process);
        let outcome = format!("{:?}", e.kind).to_lowercase();
        *counts.entry(f).or_default().entry(outcome).or_default() += 1;
    }
    for f in open.into_values() {
        *counts
            .entry(f)
            .or_default()
            .entry("open".into())
            .or_default() += 1;
    }
    (counts, total)
}

/// Faults per class.
pub fn faults_by_class(faults: &[FaultRecord]) -> BTreeMap<String, u64> {
    let mut by = BTreeMap::new();
    for f in faults {
        *by.entry(f.class.name().to_string()).or_default() += 1;
    }
    by
}
