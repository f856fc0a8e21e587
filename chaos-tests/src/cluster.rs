//! A real Meridian cluster for one run: node processes, their network, and bootstrap through
//! the operator commands (`meridian serve`, `meridian cluster init`, `serve --join`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::api::{Api, ClusterView};
use crate::config::{NetMode, RunConfig};
use crate::net::Network;
use crate::procs::{Launch, NodeProc, cli, find_libfaketime};

/// Port every node listens on inside its namespace.
const NETNS_PORT: u16 = 7070;
/// How long bootstrap may take before the run is abandoned.
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// Static facts about one node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeInfo {
    pub id: u32,
    pub name: String,
    pub region: String,
    pub addr: String,
}

/// The running cluster. Field order matters: processes are killed before the network goes.
pub struct Cluster {
    pub nodes: Mutex<Vec<NodeProc>>,
    pub net: Option<Network>,
    pub info: Vec<NodeInfo>,
    pub token: String,
    pub bin: PathBuf,
    /// Per-node clock offset files when the clock nemesis is on.
    pub clock_files: Vec<(u32, PathBuf)>,
}

impl Cluster {
    /// Creates the network (netns mode) and the node launch plans; starts nothing.
    pub fn prepare(cfg: &RunConfig, dir: &Path, clock: bool) -> Result<Cluster> {
        let layout: Vec<(u32, u32)> = (1..=cfg.nodes).map(|id| (id, cfg.region_of(id))).collect();
        let net = match cfg.mode {
            NetMode::Netns => Some(Network::create(&layout).context("creating namespaces")?),
            NetMode::Loopback => None,
        };
        let faketime = if clock {
            Some(find_libfaketime().context("clock nemesis needs libfaketime (faketime package)")?)
        } else {
            None
        };
        let base_port = free_port_base()?;
        let token = format!("chaos-admin-token-{:016}", cfg.seed);
        let (mut nodes, mut info, mut clock_files) = (Vec::new(), Vec::new(), Vec::new());
        for &(id, region) in &layout {
            let (ns, addr) = match &net {
                Some(n) => (
                    Some(n.slot(id).ns.clone()),
                    format!("{}:{NETNS_PORT}", n.slot(id).ip),
                ),
                None => (None, format!("127.0.0.1:{}", base_port + id as u16)),
            };
            let ft = faketime.as_ref().map(|lib| {
                let file = dir.join(format!("clock-n{id}"));
                (lib.clone(), file)
            });
            if let Some((_, file)) = &ft {
                std::fs::write(file, "+0\n")?;
                clock_files.push((id, file.clone()));
            }
            let launch = Launch {
                bin: cfg.bin.clone(),
                token: token.clone(),
                ns,
                listen: addr.clone(),
                region: cfg.region_name(region),
                data_dir: dir.join(format!("data/n{id}")),
                log: dir.join(format!("logs/n{id}.log")),
                join: None,
                faketime: ft,
            };
            info.push(NodeInfo {
                id,
                name: format!("n{id}"),
                region: launch.region.clone(),
                addr,
            });
            nodes.push(NodeProc::new(id, launch));
        }
        let first = info[0].addr.clone();
        for node in nodes.iter_mut().skip(1) {
            node.launch.join = Some(first.clone());
        }
        std::fs::create_dir_all(dir.join("logs"))?;
        Ok(Cluster {
            nodes: Mutex::new(nodes),
            net,
            info,
            token,
            bin: cfg.bin.clone(),
            clock_files,
        })
    }

    pub fn api(&self, id: u32, timeout: Duration) -> Result<Api> {
        Api::new(&self.info[(id - 1) as usize].addr, timeout)
    }

    pub fn ids(&self) -> Vec<u32> {
        self.info.iter().map(|n| n.id).collect()
    }

    /// Starts node 1, runs `meridian cluster init` against it, then starts the others with
    /// `--join` and waits until every node answers `/readyz`.
    pub async fn bootstrap(&self) -> Result<()> {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        self.with_node(1, |n| n.start())?;
        let first = self.info[0].addr.clone();
        let init_args = ["cluster", "init", "--node", &first, "--token", &self.token];
        loop {
            match cli(&self.bin, &init_args) {
                Ok(_) => break,
                Err(e) if Instant::now() > deadline => return Err(e.context("cluster init")),
                Err(e) if !self.with_node(1, |n| Ok(n.is_running()))? => {
                    return Err(e.context("node 1 exited during start (see logs/n1.log)"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
        self.wait_ready(&[1], deadline).await?;
        for id in self.ids().into_iter().skip(1) {
            self.with_node(id, |n| n.start())?;
        }
        self.wait_ready(&self.ids(), deadline).await
    }

    /// Waits until every listed node answers `/readyz`.
    pub async fn wait_ready(&self, ids: &[u32], deadline: Instant) -> Result<()> {
        for &id in ids {
            let api = self.api(id, Duration::from_secs(2))?;
            while !api.ready().await {
                if Instant::now() > deadline {
                    bail!("node {id} not ready in time (see logs/n{id}.log)");
                }
                if !self.with_node(id, |n| Ok(n.is_running()))? {
                    bail!("node {id} exited during start (see logs/n{id}.log)");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// Runs `f` on node `id` under the lock (never held across an await).
    pub fn with_node<T>(&self, id: u32, f: impl FnOnce(&mut NodeProc) -> Result<T>) -> Result<T> {
        let mut nodes = self.nodes.lock().expect("nodes lock");
        let node = nodes
            .iter_mut()
            .find(|n| n.id == id)
            .context("unknown node")?;
        f(node)
    }

    /// The leader as seen by the first node that answers.
    pub async fn leader(&self) -> Option<u32> {
        for id in self.ids() {
            let Ok(api) = self.api(id, Duration::from_millis(800)) else {
                continue;
            };
            if let Ok(ClusterView {
                leader_id: Some(l), ..
            }) = api.cluster(&self.token).await
            {
                return Some(l as u32);
            }
        }
        None
    }

    /// Every node's view, `None` for nodes that do not answer.
    pub async fn views(&self) -> Vec<(u32, Option<ClusterView>)> {
        let mut out = Vec::new();
        for id in self.ids() {
            let view = match self.api(id, Duration::from_secs(2)) {
                Ok(api) => api.cluster(&self.token).await.ok(),
                Err(_) => None,
            };
            out.push((id, view));
        }
        out
    }

    /// SIGTERM every node (clean exit), SIGKILL after the grace period.
    pub fn stop_all(&self) {
        let mut nodes = self.nodes.lock().expect("nodes lock");
        for node in nodes.iter_mut() {
            node.stop();
        }
    }
}

/// A base port with nodes' ports free on 127.0.0.1 (loopback mode).
fn free_port_base() -> Result<u16> {
    for _ in 0..50 {
        // Below the ephemeral range (32768+), so client sockets never take a node's port.
        let base = rand::random_range(20_000..32_000u16);
        let all_free =
            (1..=10).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return Ok(base);
        }
    }
    bail!("no free port range on 127.0.0.1")
}
