//! Configuration of one chaos run: cluster shape, workload, nemeses, thresholds.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::nemesis::{FaultClass, ScheduleSpec};

/// Where the nodes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum NetMode {
    /// One network namespace per node on a bridge (root only); every nemesis available.
    Netns,
    /// Processes on 127.0.0.1 with distinct ports (no root); only process and clock nemeses.
    Loopback,
}

/// Read consistency requested by the workload's reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ReadConsistency {
    Linearizable,
    /// Deliberately weak: used to prove the checker sees stale reads.
    Local,
}

impl ReadConsistency {
    pub fn as_query(self) -> &'static str {
        match self {
            ReadConsistency::Linearizable => "linearizable",
            ReadConsistency::Local => "local",
        }
    }
}

/// Everything one run needs; written to the run folder as `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    pub name: String,
    pub seed: u64,
    pub bin: PathBuf,
    pub out_dir: PathBuf,
    pub mode: NetMode,
    pub nodes: u32,
    pub regions: u32,
    pub clients: u32,
    pub keys: u32,
    pub duration_s: u64,
    /// Seconds of fault-free load before the first fault.
    pub warmup_s: u64,
    /// Mean seconds between fault starts.
    pub fault_interval_s: u64,
    /// Seconds of fault-free load (final reads) after the last heal.
    pub cooldown_s: u64,
    pub nemeses: Vec<FaultClass>,
    pub read_consistency: ReadConsistency,
    /// Per-request timeout; a timed-out request is recorded as `info`.
    pub request_timeout_ms: u64,
    /// Pause of each client between operations.
    pub think_ms: u64,
    /// Upper bound on operations per client, whatever the duration.
    pub max_ops_per_client: u64,
    /// Minimum rate of successful operations per second while faults were active.
    pub min_ok_rate: f64,
    /// Linearizability search budget per key.
    pub max_states: u64,
    /// Added one-way delay for the latency nemesis.
    pub latency_ms: u64,
}

impl RunConfig {
    /// The fault schedule this run's settings describe, for `seed`.
    pub fn schedule_spec(&self, seed: u64) -> ScheduleSpec {
        ScheduleSpec {
            seed,
            classes: self.nemeses.clone(),
            duration_ms: self.duration_s * 1000,
            warmup_ms: self.warmup_s * 1000,
            cooldown_ms: self.cooldown_s * 1000,
            interval_ms: self.fault_interval_s * 1000,
            latency_ms: self.latency_ms,
        }
    }

    /// Defaults for a run of `duration_s` seconds against `bin`, written under `out_dir`.
    pub fn new(name: &str, bin: PathBuf, out_dir: PathBuf, mode: NetMode) -> RunConfig {
        RunConfig {
            name: name.to_string(),
            seed: 1,
            bin,
            out_dir,
            mode,
            nodes: 5,
            regions: 3,
            clients: 10,
            keys: 5,
            duration_s: 60,
            warmup_s: 5,
            fault_interval_s: 10,
            cooldown_s: 8,
            nemeses: vec![FaultClass::Partition],
            read_consistency: ReadConsistency::Linearizable,
            request_timeout_ms: 2_000,
            think_ms: 20,
            max_ops_per_client: 20_000,
            min_ok_rate: 1.0,
            max_states: crate::linearizability::MAX_STATES_DEFAULT,
            latency_ms: 50,
        }
    }

    /// Region (1-based) of node `id` (1-based): round robin, so 5 nodes in 3 regions are 2/2/1.
    pub fn region_of(&self, id: u32) -> u32 {
        (id - 1) % self.regions + 1
    }

    /// Region name used on the command line and in reports.
    pub fn region_name(&self, region: u32) -> String {
        format!("r{region}")
    }

    /// Fault classes that need network namespaces.
    pub fn needs_netns(&self) -> bool {
        self.nemeses.iter().any(|c| c.needs_netns())
    }
}

/// Validates a configuration before anything is started.
pub fn validate(cfg: &RunConfig) -> anyhow::Result<()> {
    anyhow::ensure!((1..=9).contains(&cfg.nodes), "nodes must be 1..=9");
    anyhow::ensure!(
        (1..=cfg.nodes).contains(&cfg.regions),
        "regions must be 1..=nodes"
    );
    anyhow::ensure!(cfg.clients >= 1 && cfg.keys >= 1, "need clients and keys");
    anyhow::ensure!(
        cfg.duration_s > cfg.warmup_s + cfg.cooldown_s,
        "duration too short"
    );
    anyhow::ensure!(
        cfg.fault_interval_s >= 2,
        "fault interval must be at least 2 s"
    );
    if cfg.mode == NetMode::Loopback && cfg.needs_netns() {
        anyhow::bail!("nemeses {:?} need --mode netns (root)", cfg.nemeses);
    }
    Ok(())
}
