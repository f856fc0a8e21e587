//! One chaos run end to end: cluster up, workload + nemesis schedule, heal, converge, check,
//! report. Every resource is owned by a value whose `Drop` tears it down, so an error, a
//! panic or an interrupted future leaves nothing behind.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::checks::{self, Digest};
use crate::cluster::Cluster;
use crate::config::{RunConfig, validate};
use crate::faults::{FaultRecord, Nemesis};
use crate::history::{Event, write_events};
use crate::linearizability::Verdict;
use crate::nemesis::{FaultClass, schedule};
use crate::report::{Report, count_ops, faults_by_class};
use crate::workload::{Recorder, Shared, client, setup};
use crate::{html, offline};

/// How long nodes get to agree on one applied index after the workload.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(30);

/// The folder of a run.
pub fn run_dir(cfg: &RunConfig) -> PathBuf {
    cfg.out_dir.join(format!("{}-seed{}", cfg.name, cfg.seed))
}

/// Runs one configuration and writes its folder; `Ok` even when checks fail (see `passed`).
pub async fn run(cfg: RunConfig) -> Result<Report> {
    validate(&cfg)?;
    let dir = run_dir(&cfg);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("logs"))?;
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&cfg)?)?;
    std::fs::write(dir.join("seed"), format!("{}\n", cfg.seed))?;
    let cluster = Cluster::prepare(&cfg, &dir, cfg.nemeses.contains(&FaultClass::Clock))?;
    let boot = Instant::now();
    cluster
        .bootstrap()
        .await
        .context("bootstrapping the cluster")?;
    let bootstrap_ms = boot.elapsed().as_millis() as u64;
    let timeout = Duration::from_millis(cfg.request_timeout_ms);
    let (token, keys) = setup(&cluster.api(1, timeout)?, &cluster.token, cfg.keys).await?;
    let epoch = Instant::now();
    let shared = Arc::new(Shared {
        recorder: Recorder::new(epoch),
        token,
        keys,
        consistency: cfg.read_consistency.as_query(),
        next_value: AtomicI64::new(1),
        deadline: epoch + Duration::from_secs(cfg.duration_s),
        max_ops: cfg.max_ops_per_client,
        think: Duration::from_millis(cfg.think_ms),
        clients: u64::from(cfg.clients),
    });
    let mut tasks = Vec::new();
    for c in 0..cfg.clients {
        let id = c % cfg.nodes + 1;
        let api = cluster.api(id, timeout)?;
        tasks.push(tokio::spawn(client(
            shared.clone(),
            u64::from(c),
            format!("n{id}"),
            api,
            cfg.seed,
        )));
    }
    let plan = schedule(&cfg.schedule_spec(cfg.seed));
    let faults = run_schedule(&cluster, &plan, cfg.seed, epoch, &dir).await;
    for task in tasks {
        let _ = task.await;
    }
    let workload_ms = epoch.elapsed().as_millis() as u64;
    let events = shared.recorder.take();
    write_events(
        std::io::BufWriter::new(std::fs::File::create(dir.join("history.jsonl"))?),
        &events,
    )?;
    let digests = converge(&cluster).await;
    let unexpected = node_exits(&cluster);
    cluster.stop_all();
    let report = judge(
        &cfg,
        &cluster,
        &events,
        faults,
        plan.len(),
        digests,
        unexpected,
        (bootstrap_ms, workload_ms),
    )?;
    std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(&report)?)?;
    std::fs::write(dir.join("report.html"), html::render(&report, &events))?;
    Ok(report)
}

async fn sleep_until(epoch: Instant, ms: u64) {
    let at = epoch + Duration::from_millis(ms);
    tokio::time::sleep_until(at.into()).await;
}

/// Applies and heals every scheduled fault at its time.
async fn run_schedule(
    cluster: &Cluster,
    plan: &[crate::nemesis::Scheduled],
    seed: u64,
    epoch: Instant,
    dir: &std::path::Path,
) -> Vec<FaultRecord> {
    let mut nemesis = Nemesis::new(cluster, seed, epoch, dir.to_path_buf());
    let mut records = Vec::new();
    for s in plan {
        sleep_until(epoch, s.start_ms).await;
        let mut rec = nemesis.apply(s).await;
        eprintln!(
            "[{:>6} ms] fault #{} {}: {}",
            s.start_ms,
            s.id,
            rec.class.name(),
            rec.detail
        );
        sleep_until(epoch, s.heal_ms).await;
        nemesis.heal(&mut rec);
        if !rec.errors.is_empty() {
            eprintln!(
                "             fault #{} errors: {}",
                s.id,
                rec.errors.join("; ")
            );
        }
        records.push(rec);
    }
    records
}

/// Waits until every node reports the same applied index, then returns each node's digest.
async fn converge(cluster: &Cluster) -> Vec<Digest> {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let views = cluster.views().await;
        let digests: Vec<Digest> = views
            .into_iter()
            .map(|(node, v)| Digest {
                node,
                applied_index: v.as_ref().and_then(|v| v.applied_index),
                state_digest: v.and_then(|v| v.state_digest),
            })
            .collect();
        let first = digests[0].applied_index;
        let settled = first.is_some() && digests.iter().all(|d| d.applied_index == first);
        if settled || Instant::now() > deadline {
            return digests;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Nodes that exited without being killed by the nemesis.
fn node_exits(cluster: &Cluster) -> Vec<String> {
    let mut nodes = cluster.nodes.lock().expect("nodes lock");
    let mut out = Vec::new();
    for node in nodes.iter_mut() {
        node.is_running();
        for exit in node
            .exits
            .iter()
            .filter(|e| e.starts_with("exited unexpectedly"))
        {
            out.push(format!("n{}: {exit}", node.id));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn judge(
    cfg: &RunConfig,
    cluster: &Cluster,
    events: &[Event],
    faults: Vec<FaultRecord>,
    scheduled: usize,
    digests: Vec<Digest>,
    unexpected: Vec<String>,
    (bootstrap_ms, workload_ms): (u64, u64),
) -> Result<Report> {
    let dir = run_dir(cfg);
    let lin = offline::check_events(events, cfg.max_states)?;
    let verdict = lin.verdict();
    let recoveries = checks::recoveries(events, &faults);
    let lin_detail = format!("{} ops on {} keys: {:?}", lin.ops, lin.keys.len(), verdict);
    let list = vec![
        checks::Check {
            name: "linearizable (per key)".into(),
            passed: verdict == Verdict::Linearizable,
            detail: lin_detail,
        },
        checks::digests_equal(&digests),
        checks::ok_rate_under_faults(events, &faults, cfg.min_ok_rate),
        checks::faults_happened(scheduled, &faults),
        checks::no_panics(&dir.join("logs")),
        checks::recovered(&recoveries),
        checks::Check {
            name: "no node exited on its own".into(),
            passed: unexpected.is_empty(),
            detail: if unexpected.is_empty() {
                "all exits were the nemesis' or the final stop".into()
            } else {
                unexpected.join("; ")
            },
        },
    ];
    let mut anomalies: Vec<String> = list
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    if verdict == Verdict::NotLinearizable {
        anomalies.push(offline::explain(events, &lin));
    }
    let (ops, ops_total) = count_ops(events);
    Ok(Report {
        name: cfg.name.clone(),
        seed: cfg.seed,
        passed: list.iter().all(|c| c.passed),
        config: cfg.clone(),
        nodes: cluster.info.clone(),
        bootstrap_ms,
        workload_ms,
        ops,
        ops_total,
        faults_by_class: faults_by_class(&faults),
        faults,
        linearizability: verdict,
        keys: lin.keys,
        digests,
        recoveries,
        checks: list,
        anomalies,
    })
}
