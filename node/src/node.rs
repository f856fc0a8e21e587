//! The running node: Raft handle, state view, peers, and the write and read paths every API
//! call goes through.

use std::sync::Arc;
use std::time::{Duration, Instant};

use meridian_proto::Envelope;
use meridian_raft::model::{Command, CommandResult, Op};
use meridian_raft::network::{Peers, decode, encode};
use meridian_raft::types::NodeAddr;
use meridian_raft::{Raft, StateView};
use openraft::ReadPolicy;
use openraft::async_runtime::WatchReceiver;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::liveness::Liveness;
use crate::metrics::Metrics;
use crate::peer_msgs::{PeerError, PeerResult, WriteOk};

/// How long a write may take end to end before the client gets 503.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a linearizable read may wait for a leader and a read index.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Most attempts (leader changes, forwards) for one write or read.
pub const ATTEMPTS_MAX: u32 = 20;
/// Deadline of one peer RPC.
pub const PEER_RPC_TIMEOUT: Duration = Duration::from_secs(3);

/// Where this node should send a leader-only request.
pub enum LeaderRoute {
    Local,
    Remote { id: u64, addr: String },
    Unknown,
}

pub struct Node {
    pub id: u64,
    pub cfg: Config,
    pub advertise: String,
    pub raft: Raft,
    pub state: StateView,
    pub peers: Peers,
    pub admin_token_hash: [u8; 32],
    pub metrics: Metrics,
    pub liveness: Liveness,
    pub placement: crate::placement_view::PlacementView,
    /// The pollers' shared parts: newest observations, the outbound stream, counters.
    pub pollers: std::sync::Arc<crate::poller::Pollers>,
    /// The alarm evaluator's intake, outbox and counters.
    pub evaluators: std::sync::Arc<crate::evaluator::Evaluators>,
    /// Sends alarm notifications (and test sends).
    pub notifier: crate::notifier::Notifier,
    /// The local series engine and its counters (see `series`).
    pub series: std::sync::Arc<crate::series::Series>,
    /// Test checks per tenant (`TEST_CHECKS_PER_MINUTE`).
    pub test_check_limiter: crate::http::rate_limit::RateLimiter,
    /// Serialises membership changes on the leader (openraft allows one at a time).
    pub membership_lock: tokio::sync::Mutex<()>,
    /// Batches this node's writes (see `proposer`).
    pub proposer: crate::proposer::Proposer,
    pub wal_stats: std::sync::Arc<meridian_raft::log_store::WalStats>,
    pub started: Instant,
}

pub type NodeRef = Arc<Node>;

pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    d.map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A random id with a prefix, roughly ordered by creation time (ms, then random bits).
pub fn new_id(prefix: &str) -> String {
    let r: u32 = rand::random();
    format!(
        "{prefix}{:011x}{r:08x}",
        now_ms().max(0) as u64 & 0xfff_ffff_ffff
    )
}

impl Node {
    pub fn node_addr(&self) -> NodeAddr {
        NodeAddr {
            addr: self.advertise.clone(),
            region: self.cfg.region.clone(),
        }
    }

    pub fn leader_route(&self) -> LeaderRoute {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        match m.current_leader {
            Some(id) if id == self.id => LeaderRoute::Local,
            Some(id) => match m.membership_config.membership().get_node(&id) {
                Some(n) => LeaderRoute::Remote {
                    id,
                    addr: n.addr.clone(),
                },
                None => LeaderRoute::Unknown,
            },
            None => LeaderRoute::Unknown,
        }
    }

    /// Proposes `op`, waits until it is applied on this node, and returns its result.
    /// A retry with the same `request_id` applies once and returns the first result.
    pub async fn write(&self, op: Op, request_id: Option<String>) -> Result<CommandResult> {
        self.write_keyed(op, request_id, None).await
    }

    /// `write` for a client's request: `fingerprint` identifies the request the id came with,
    /// and `apply` refuses (`KeyReused`) the id when it comes back with another request.
    pub async fn write_keyed(
        &self,
        op: Op,
        request_id: Option<String>,
        fingerprint: Option<String>,
    ) -> Result<CommandResult> {
        let cmd = Command {
            request_id: Some(request_id.unwrap_or_else(|| new_id("rq"))),
            fingerprint,
            at_ms: now_ms(),
            op,
        };
        let deadline = Instant::now() + WRITE_TIMEOUT;
        let ok = self.commit(cmd, deadline).await?;
        self.wait_applied(ok.index, deadline).await?;
        self.metrics.writes.inc();
        Ok(ok.result)
    }

    async fn commit(&self, cmd: Command, deadline: Instant) -> Result<WriteOk> {
        let mut last = String::from("no leader");
        for attempt in 0..ATTEMPTS_MAX {
            if Instant::now() >= deadline {
                break;
            }
            match self.proposer.propose(cmd.clone(), deadline, false).await {
                Ok(ok) => return Ok(ok),
                Err(PeerError::Refused(m)) => return Err(Error::Conflict(m)),
                Err(e) => last = e.to_string(),
            }
            backoff(attempt, deadline).await;
        }
        Err(Error::Unavailable(format!(
            "write not confirmed by a quorum in time ({last})"
        )))
    }

    /// Waits until this node applied `index`.
    pub async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.raft
            .wait(Some(left))
            .applied_index_at_least(Some(index), "write applied locally")
            .await
            .map(|_| ())
            .map_err(|_| Error::Unavailable("this node is behind the leader; retry".into()))
    }

    /// Makes the next local read linearizable: obtains a read index from the leader (this node
    /// or another) and waits until this node applied it.
    pub async fn read_barrier(&self) -> Result<()> {
        let deadline = Instant::now() + READ_TIMEOUT;
        self.metrics.linearizable_reads.inc();
        for attempt in 0..ATTEMPTS_MAX {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let index = match self.leader_route() {
                LeaderRoute::Local => self.read_index_local(left).await.ok(),
                LeaderRoute::Remote { id, addr } => self.read_index_remote(id, &addr, left).await,
                LeaderRoute::Unknown => None,
            };
            if let Some(index) = index {
                return self.wait_applied(index, deadline).await;
            }
            backoff(attempt, deadline).await;
        }
        Err(Error::Unavailable(
            "no leader confirmed a read index in time".into(),
        ))
    }

    /// Leader side: confirms leadership with a quorum and returns the read index.
    pub async fn read_index_local(&self, left: Duration) -> PeerResult<u64> {
        let r =
            tokio::time::timeout(left, self.raft.get_read_linearizer(ReadPolicy::ReadIndex)).await;
        match r {
            Err(_) => Err(PeerError::Unavailable(
                "leadership not confirmed in time".into(),
            )),
            Ok(Ok(lin)) => Ok(lin.read_log_id().index()),
            Ok(Err(e)) => Err(PeerError::Unavailable(e.to_string())),
        }
    }

    async fn read_index_remote(&self, leader: u64, addr: &str, left: Duration) -> Option<u64> {
        let env = Envelope {
            target_node_id: leader,
            payload: encode(&()),
        };
        let mut client = self.peers.client(addr).ok()?;
        let req = self.peers.request(env, left.min(PEER_RPC_TIMEOUT));
        let reply = client.read_index(req).await.ok()?;
        let r: PeerResult<u64> = decode(&reply.into_inner().payload).ok()?;
        r.ok()
    }

    /// Reads `consistency` and runs the barrier when linearizable.
    pub async fn consistent_read(&self, linearizable: bool) -> Result<()> {
        if linearizable {
            self.read_barrier().await
        } else {
            Ok(())
        }
    }
}

/// Short growing pause between attempts, never past the deadline.
async fn backoff(attempt: u32, deadline: Instant) {
    let pause = Duration::from_millis(20 * u64::from(attempt + 1).min(10));
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::time::sleep(pause.min(left)).await;
}

impl Node {
    /// The routed series paths (writes, queries, listings) through this node.
    pub fn series_route(&self) -> crate::series::SeriesRoute<'_> {
        crate::series::SeriesRoute {
            node_id: self.id,
            series: &self.series,
            peers: &self.peers,
            placement: &self.placement,
        }
    }
}
