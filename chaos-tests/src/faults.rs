//! Carries out scheduled faults against a running cluster, verifies each took effect, and
//! heals it; every fault leaves a record so a checker can prove it happened.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::cluster::Cluster;
use crate::nemesis::{Fault, FaultClass, Scheduled, partition_blocks};
use crate::net::Network;

/// NFQUEUE number used by the latency nemesis.
const LATENCY_QUEUE: u16 = 7;

/// What happened to one scheduled fault.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    pub id: usize,
    pub class: FaultClass,
    pub fault: Fault,
    pub scheduled_start_ms: u64,
    pub scheduled_heal_ms: u64,
    /// Offset (from workload start) at which the fault was in place and verified.
    pub applied_ms: Option<u64>,
    pub healed_ms: Option<u64>,
    pub targets: Vec<u32>,
    pub detail: String,
    pub errors: Vec<String>,
}

/// Applies and heals faults; owns the helper processes some faults need.
pub struct Nemesis<'a> {
    cluster: &'a Cluster,
    rng: StdRng,
    epoch: Instant,
    delayers: Vec<(u32, Child, PathBuf)>,
    run_dir: PathBuf,
}

impl<'a> Nemesis<'a> {
    pub fn new(cluster: &'a Cluster, seed: u64, epoch: Instant, run_dir: PathBuf) -> Self {
        Nemesis {
            cluster,
            rng: StdRng::seed_from_u64(seed ^ 0xFA17),
            epoch,
            delayers: Vec::new(),
            run_dir,
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn net(&self) -> Result<&Network> {
        self.cluster
            .net
            .as_ref()
            .context("this fault needs network namespaces")
    }

    /// Applies `s.fault`; the returned record says whether it verifiably took effect.
    pub async fn apply(&mut self, s: &Scheduled) -> FaultRecord {
        let mut rec = FaultRecord {
            id: s.id,
            class: s.fault.class(),
            fault: s.fault,
            scheduled_start_ms: s.start_ms,
            scheduled_heal_ms: s.heal_ms,
            applied_ms: None,
            healed_ms: None,
            targets: Vec::new(),
            detail: String::new(),
            errors: Vec::new(),
        };
        let leader = self.cluster.leader().await;
        match self.apply_inner(s.fault, leader, &mut rec) {
            Ok(()) => rec.applied_ms = Some(self.now_ms()),
            Err(e) => rec.errors.push(format!("apply: {e:#}")),
        }
        rec
    }

    fn pick_node(&mut self, leader: bool, leader_id: Option<u32>) -> u32 {
        let ids = self.cluster.ids();
        match leader_id {
            Some(l) if leader => l,
            _ => ids[self.rng.random_range(0..ids.len())],
        }
    }

    fn apply_inner(
        &mut self,
        fault: Fault,
        leader: Option<u32>,
        rec: &mut FaultRecord,
    ) -> Result<()> {
        match fault {
            Fault::Partition { shape } => {
                let ids = self.cluster.ids();
                let info = &self.cluster.info;
                let region = |id: u32| -> u32 {
                    info[(id - 1) as usize]
                        .region
                        .trim_start_matches('r')
                        .parse()
                        .unwrap_or(0)
                };
                let blocks = partition_blocks(shape, &ids, leader, &region, &mut self.rng);
                let net = self.net()?;
                for (id, cut) in &blocks {
                    let addrs: Vec<Ipv4Addr> = cut.iter().map(|c| net.slot(*c).ip).collect();
                    net.set_blocked(*id, &addrs)?;
                }
                for (id, cut) in &blocks {
                    let blocked = crate::net::set_elements(&net.ruleset(*id)?, "blocked");
                    for c in cut {
                        let ip = net.slot(*c).ip;
                        if !blocked.contains(&ip) {
                            bail!("node {id}: block of {ip} not in the ruleset");
                        }
                    }
                }
                rec.targets = blocks
                    .iter()
                    .filter(|(_, c)| !c.is_empty())
                    .map(|(i, _)| *i)
                    .collect();
                rec.detail = format!("{shape:?} (leader {leader:?}): {blocks:?}");
            }
            Fault::Kill { leader: at_leader } => {
                let id = self.pick_node(at_leader, leader);
                let status = self.cluster.with_node(id, |n| n.kill9())?;
                if status.code().is_some() {
                    bail!("node {id} exited with {status} instead of being killed");
                }
                rec.targets = vec![id];
                rec.detail = format!("SIGKILL n{id} ({status})");
            }
            Fault::Pause { leader: at_leader } => {
                let id = self.pick_node(at_leader, leader);
                self.cluster.with_node(id, |n| n.set_paused(true))?;
                std::thread::sleep(Duration::from_millis(20));
                let state = self.cluster.with_node(id, |n| Ok(n.proc_state()))?;
                if state != Some('T') {
                    bail!("node {id} not stopped after SIGSTOP (state {state:?})");
                }
                rec.targets = vec![id];
                rec.detail = format!("SIGSTOP n{id}");
            }
            Fault::Clock { nodes, skew_s } => {
                let mut ids = self.cluster.ids();
                for i in (1..ids.len()).rev() {
                    ids.swap(i, self.rng.random_range(0..=i));
                }
                ids.truncate(nodes as usize);
                for id in &ids {
                    let file = self.clock_file(*id)?;
                    std::fs::write(&file, format!("{skew_s:+}\n"))?;
                    if std::fs::read_to_string(&file)?.trim() != format!("{skew_s:+}") {
                        bail!("clock file of node {id} not updated");
                    }
                }
                rec.targets = ids.clone();
                rec.detail = format!("clock {skew_s:+} s on {ids:?}");
            }
            Fault::Loss { percent } => {
                let net = self.net()?;
                for id in self.cluster.ids() {
                    net.set_loss(id, percent)?;
                    if !net.ruleset(id)?.contains(&format!("< {percent}")) {
                        bail!("loss rule missing on node {id}");
                    }
                }
                rec.targets = self.cluster.ids();
                rec.detail = format!("drop {percent}% of node-to-node packets");
            }
            Fault::Latency { delay_ms } => {
                self.start_latency(delay_ms)?;
                rec.targets = self.cluster.ids();
                rec.detail = format!("+{delay_ms} ms each way between regions");
            }
        }
        Ok(())
    }

    fn clock_file(&self, id: u32) -> Result<PathBuf> {
        let files = &self.cluster.clock_files;
        files
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, f)| f.clone())
            .context("clock files not set up")
    }

    /// Heals what `rec` applied (even a partly applied fault), recording the heal time.
    pub fn heal(&mut self, rec: &mut FaultRecord) {
        match self.heal_inner(rec) {
            Ok(()) => rec.healed_ms = Some(self.now_ms()),
            Err(e) => rec.errors.push(format!("heal: {e:#}")),
        }
    }

    fn heal_inner(&mut self, rec: &FaultRecord) -> Result<()> {
        match rec.fault {
            Fault::Partition { .. } => {
                let net = self.net()?;
                for id in self.cluster.ids() {
                    net.set_blocked(id, &[])?;
                }
            }
            Fault::Kill { .. } => {
                for id in &rec.targets {
                    self.cluster.with_node(*id, |n| n.start())?;
                }
            }
            Fault::Pause { .. } => {
                for id in &rec.targets {
                    self.cluster.with_node(*id, |n| n.set_paused(false))?;
                }
            }
            Fault::Clock { .. } => {
                for id in &rec.targets {
                    std::fs::write(self.clock_file(*id)?, "+0\n")?;
                }
            }
            Fault::Loss { .. } => {
                let net = self.net()?;
                for id in self.cluster.ids() {
                    net.set_loss(id, 0)?;
                }
            }
            Fault::Latency { .. } => self.stop_latency()?,
        }
        Ok(())
    }

    /// In every namespace: queue packets to other regions' ranges to a delayer process.
    fn start_latency(&mut self, delay_ms: u64) -> Result<()> {
        let exe = std::env::current_exe()?;
        let net = self
            .cluster
            .net
            .as_ref()
            .context("latency needs network namespaces")?;
        let mut started = Vec::new();
        for slot in &net.slots {
            let stop = self.run_dir.join(format!("delayer-n{}.stop", slot.id));
            let _ = std::fs::remove_file(&stop);
            let log =
                std::fs::File::create(self.run_dir.join(format!("logs/delayer-n{}.log", slot.id)))?;
            let child = Command::new("ip")
                .args(["netns", "exec", &slot.ns])
                .arg(&exe)
                .args(["delayer", "--queue", &LATENCY_QUEUE.to_string()])
                .args([
                    "--delay-ms",
                    &delay_ms.to_string(),
                    "--max-s",
                    "600",
                    "--stop-file",
                ])
                .arg(&stop)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?;
            started.push((slot.id, child, stop));
        }
        self.delayers = started;
        std::thread::sleep(Duration::from_millis(200));
        let regions: HashMap<u32, u32> = net.slots.iter().map(|s| (s.id, s.region)).collect();
        for slot in &net.slots {
            for region in regions
                .values()
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
            {
                if region == slot.region {
                    continue;
                }
                let range = format!("10.213.{region}.0/24");
                let args = [
                    "-A",
                    "OUTPUT",
                    "-d",
                    &range,
                    "-j",
                    "NFQUEUE",
                    "--queue-num",
                    "7",
                    "--queue-bypass",
                ];
                crate::net::run_in(&slot.ns, "iptables-nft", &args, "")?;
            }
        }
        for (id, child, _) in &mut self.delayers {
            if child.try_wait()?.is_some() {
                bail!("delayer of node {id} exited at start (see logs/delayer-n{id}.log)");
            }
        }
        Ok(())
    }

    fn stop_latency(&mut self) -> Result<()> {
        let net = self.net()?;
        for slot in &net.slots {
            crate::net::run_in(&slot.ns, "iptables-nft", &["-F", "OUTPUT"], "")?;
        }
        for (_, _, stop) in &self.delayers {
            std::fs::write(stop, "stop\n")?;
        }
        for (id, mut child, _) in std::mem::take(&mut self.delayers) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait()?.is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if child.try_wait()?.is_none() {
                crate::procs::signal(child.id() as i32, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                bail!("delayer of node {id} did not stop");
            }
        }
        Ok(())
    }
}

impl Drop for Nemesis<'_> {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.delayers {
            crate::procs::signal(child.id() as i32, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}
