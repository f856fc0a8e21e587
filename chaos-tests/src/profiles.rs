//! Run profiles: `ci` (one run per fault class plus a combined one), `soak` (many long
//! combined runs), and the self-validation run (local reads must be caught as stale).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::config::{NetMode, ReadConsistency, RunConfig};
use crate::nemesis::FaultClass;
use crate::net::is_root;
use crate::report::Report;

/// Summary line of one run in a profile.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub name: String,
    pub seed: u64,
    pub passed: bool,
    pub ops: u64,
    pub faults: std::collections::BTreeMap<String, u64>,
    pub anomalies: Vec<String>,
    pub dir: PathBuf,
}

impl RunSummary {
    fn of(report: &Report, dir: PathBuf) -> RunSummary {
        RunSummary {
            name: report.name.clone(),
            seed: report.seed,
            passed: report.passed,
            ops: report.ops_total,
            faults: report.faults_by_class.clone(),
            anomalies: report.anomalies.clone(),
            dir,
        }
    }

    fn failed(name: &str, seed: u64, err: &anyhow::Error, dir: PathBuf) -> RunSummary {
        RunSummary {
            name: name.to_string(),
            seed,
            passed: false,
            ops: 0,
            faults: Default::default(),
            anomalies: vec![format!("run error: {err:#}")],
            dir,
        }
    }
}

/// Prints the loud notice for privileged profiles that could not run; they count as not passed.
pub fn refuse_unprivileged(what: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("==================================================================");
    eprintln!("!!! {what}: NOT RUN — needs root (network namespaces, nftables).");
    eprintln!("!!! Nothing was tested; this is NOT a pass. Run it as root.");
    eprintln!("==================================================================");
    true
}

/// The CI profile: one 60 s run per fault class, one combined run.
pub fn ci_configs(bin: &Path, out: &Path, duration_s: u64, seed: u64) -> Vec<RunConfig> {
    let mut sets: Vec<(String, Vec<FaultClass>)> = FaultClass::ALL
        .iter()
        .map(|c| (c.name().to_string(), vec![*c]))
        .collect();
    sets.push(("combined".into(), FaultClass::ALL.to_vec()));
    sets.into_iter()
        .enumerate()
        .map(|(i, (name, classes))| {
            let mut cfg = RunConfig::new(
                &format!("ci-{name}"),
                bin.into(),
                out.into(),
                NetMode::Netns,
            );
            cfg.seed = seed + i as u64;
            cfg.duration_s = duration_s;
            cfg.nemeses = classes;
            cfg
        })
        .collect()
}

/// The soak profile: `runs` combined runs of `duration_s` seconds with consecutive seeds.
pub fn soak_configs(
    bin: &Path,
    out: &Path,
    runs: u32,
    duration_s: u64,
    seed: u64,
) -> Vec<RunConfig> {
    (0..runs)
        .map(|i| {
            let mut cfg = RunConfig::new("soak", bin.into(), out.into(), NetMode::Netns);
            cfg.seed = seed + u64::from(i);
            cfg.duration_s = duration_s;
            cfg.nemeses = FaultClass::ALL.to_vec();
            cfg
        })
        .collect()
}

/// Self-validation: reads at `consistency=local` under partitions, expected non-linearizable.
pub fn self_validation_config(bin: &Path, out: &Path, duration_s: u64, seed: u64) -> RunConfig {
    let mut cfg = RunConfig::new(
        "selfcheck-local-reads",
        bin.into(),
        out.into(),
        NetMode::Netns,
    );
    cfg.seed = seed;
    cfg.duration_s = duration_s;
    cfg.nemeses = vec![FaultClass::Partition];
    cfg.read_consistency = ReadConsistency::Local;
    cfg.keys = 2;
    cfg.think_ms = 5;
    cfg
}

/// Runs configurations one after another, printing one line per run.
pub async fn run_all(configs: Vec<RunConfig>) -> Vec<RunSummary> {
    let mut out = Vec::new();
    for cfg in configs {
        let dir = crate::run::run_dir(&cfg);
        eprintln!(
            "=== run {} seed {} ({} s, nemeses {:?})",
            cfg.name, cfg.seed, cfg.duration_s, cfg.nemeses
        );
        let summary = match crate::run::run(cfg.clone()).await {
            Ok(report) => RunSummary::of(&report, dir),
            Err(e) => RunSummary::failed(&cfg.name, cfg.seed, &e, dir),
        };
        print_summary(&summary);
        out.push(summary);
    }
    out
}

pub fn print_summary(s: &RunSummary) {
    let verdict = if s.passed { "PASS" } else { "FAIL" };
    println!(
        "{verdict} {} seed {}: {} ops, faults {:?} -> {}",
        s.name,
        s.seed,
        s.ops,
        s.faults,
        s.dir.display()
    );
    for a in &s.anomalies {
        println!("    anomaly: {}", a.lines().next().unwrap_or(""));
    }
}

/// Writes `summary.json` and prints the closing `N passed, N failed` line.
pub fn finish(out: &Path, runs: &[RunSummary]) -> Result<bool> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("summary.json"), serde_json::to_vec_pretty(runs)?)?;
    let passed = runs.iter().filter(|r| r.passed).count();
    let ops: u64 = runs.iter().map(|r| r.ops).sum();
    let mut faults: std::collections::BTreeMap<String, u64> = Default::default();
    for r in runs {
        for (k, v) in &r.faults {
            *faults.entry(k.clone()).or_default() += v;
        }
    }
    println!(
        "chaos: {} runs, {ops} ops checked, faults {faults:?}",
        runs.len()
    );
    println!("{passed} passed, {} failed", runs.len() - passed);
    Ok(passed == runs.len() && !runs.is_empty())
}
