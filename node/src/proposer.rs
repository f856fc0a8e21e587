//! Write batching. Concurrent writes on a node travel together: on the leader a batch goes to
//! Raft as one message, so it lands in the log as one append covered by one fdatasync; on a
//! follower a batch goes to the leader in one peer call. At most `BATCHES_IN_FLIGHT` batches
//! are out to one leader at a time, and writes that arrive meanwhile gather into the next one,
//! so batches grow with the load and a lone write still leaves at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use meridian_proto::Envelope;
use meridian_raft::model::Command;
use meridian_raft::network::{BATCH_BYTES_MAX, decode, fitting};
use openraft::errors::ClientWriteError;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::node::{LeaderRoute, Node, NodeRef, WRITE_TIMEOUT};
use crate::peer_msgs::{PeerError, PeerResult, WriteOk};

/// Writes waiting for a batch; a writer waits (up to its deadline) when the queue is full.
pub const QUEUE_MAX: usize = 4096;
/// Most writes in one batch.
pub const BATCH_MAX: usize = 256;
/// Batches proposed or forwarded to one leader and not yet answered, per node.
pub const BATCHES_IN_FLIGHT: usize = 1;
/// How often a write waiting for a batch slot looks again where the leader is.
const ROUTE_RECHECK: Duration = Duration::from_millis(10);

struct Pending {
    cmd: Command,
    waiter: Waiter,
}

impl Pending {
    /// Someone still waits for this write.
    fn wanted(&self) -> bool {
        !self.waiter.reply.is_closed() && Instant::now() < self.waiter.deadline
    }
}

/// Who waits for a write's result, and until when.
struct Waiter {
    deadline: Instant,
    /// Forwarded by a follower: commit it here or answer NotLeader, never forward it again.
    local_only: bool,
    reply: oneshot::Sender<PeerResult<WriteOk>>,
}

impl Waiter {
    fn answer(self, r: PeerResult<WriteOk>) {
        // The writer may have given up (deadline); then nobody waits for the answer.
        let _ = self.reply.send(r);
    }
}

/// The node's write queue. `run` drains it while the node serves.
pub struct Proposer {
    tx: mpsc::Sender<Pending>,
    rx: Mutex<Option<mpsc::Receiver<Pending>>>,
}

impl Default for Proposer {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_MAX);
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

fn unavailable(msg: &str) -> PeerError {
    PeerError::Unavailable(msg.to_string())
}

const TIMED_OUT: &str = "no quorum acknowledged the write in time";

impl Proposer {
    /// Queues `cmd` for the next batch and waits for its result until `deadline`.
    pub async fn propose(
        &self,
        cmd: Command,
        deadline: Instant,
        local_only: bool,
    ) -> PeerResult<WriteOk> {
        let (reply, rx) = oneshot::channel();
        let waiter = Waiter {
            deadline,
            local_only,
            reply,
        };
        let pending = Pending { cmd, waiter };
        let queued = tokio::time::timeout_at(deadline.into(), self.tx.send(pending)).await;
        match queued {
            Err(_) => return Err(unavailable("too many writes queued on this node")),
            Ok(Err(_)) => return Err(unavailable("this node is shutting down")),
            Ok(Ok(())) => {}
        }
        match tokio::time::timeout_at(deadline.into(), rx).await {
            Err(_) => Err(unavailable(TIMED_OUT)),
            Ok(Err(_)) => Err(unavailable("this node is shutting down")),
            Ok(Ok(r)) => r,
        }
    }

    /// Leader side of a forwarded batch: every command joins this node's batches, and the
    /// results come back in order.
    pub async fn propose_forwarded(&self, cmds: Vec<Command>) -> Vec<PeerResult<WriteOk>> {
        let deadline = Instant::now() + WRITE_TIMEOUT;
        let all = cmds.into_iter().map(|c| self.propose(c, deadline, true));
        futures::future::join_all(all).await
    }
}

/// Batches out to each leader, so a batch stuck at a leader that is gone does not hold back
/// writes to the next one.
#[derive(Default)]
struct Slots {
    busy: Mutex<HashMap<u64, usize>>,
    freed: Notify,
}

/// One batch out to `leader`; frees its slot when dropped.
struct Slot {
    slots: Arc<Slots>,
    leader: u64,
}

impl Slots {
    fn take(self: &Arc<Self>, leader: u64) -> Option<Slot> {
        let mut busy = self.busy.lock().expect("slots lock");
        let n = busy.entry(leader).or_default();
        if *n >= BATCHES_IN_FLIGHT {
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: self.clone(),
            leader,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut busy = self.slots.busy.lock().expect("slots lock");
        if let Some(n) = busy.get_mut(&self.leader) {
            *n -= 1;
            if *n == 0 {
                busy.remove(&self.leader);
            }
        }
        self.slots.freed.notify_one();
    }
}

/// Drains the queue until `stop` fires: whenever fewer than `BATCHES_IN_FLIGHT` batches are
/// out to the current leader, takes what is queued (up to `BATCH_MAX`) and sends it there.
pub async fn run(node: NodeRef, mut stop: tokio::sync::watch::Receiver<bool>) {
    let taken = node.proposer.rx.lock().expect("proposer lock").take();
    let Some(mut rx) = taken else {
        return;
    };
    let slots = Arc::new(Slots::default());
    let mut out = tokio::task::JoinSet::new();
    'serve: loop {
        let first = tokio::select! {
            p = rx.recv() => p,
            _ = stop.changed() => break,
        };
        let Some(first) = first else { break };
        let (route, slot) = loop {
            let route = node.leader_route();
            let leader = match &route {
                LeaderRoute::Local => node.id,
                LeaderRoute::Remote { id, .. } => *id,
                LeaderRoute::Unknown => break (route, None),
            };
            if let Some(slot) = slots.take(leader) {
                break (route, Some(slot));
            }
            tokio::select! {
                _ = slots.freed.notified() => {}
                _ = tokio::time::sleep(ROUTE_RECHECK) => {}
                _ = stop.changed() => break 'serve,
            }
        };
        // Writes whose writer has given up (deadline, disconnect) are dropped, not proposed.
        let mut batch: Vec<Pending> = Some(first).into_iter().filter(Pending::wanted).collect();
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(p) if p.wanted() => batch.push(p),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        while out.try_join_next().is_some() {}
        let node = node.clone();
        out.spawn(async move {
            dispatch(&node, route, batch).await;
            drop(slot);
        });
    }
    // Writers still waiting get "shutting down" when their answer channels drop.
    out.shutdown().await;
}

async fn dispatch(node: &Node, route: LeaderRoute, batch: Vec<Pending>) {
    match route {
        LeaderRoute::Local => commit(node, batch).await,
        LeaderRoute::Remote { id, addr } => {
            let (local, forward): (Vec<_>, Vec<_>) =
                batch.into_iter().partition(|p| p.waiter.local_only);
            for p in local {
                let leader = Some((id, addr.clone()));
                p.waiter.answer(Err(PeerError::NotLeader { leader }));
            }
            node.metrics.writes_forwarded.add(forward.len() as u64);
            self::forward(node, id, &addr, forward).await;
        }
        LeaderRoute::Unknown => {
            for p in batch {
                p.waiter.answer(Err(unavailable("no leader is known")));
            }
        }
    }
}

/// Leader: proposes the batch as one Raft message and answers each write as it is applied.
async fn commit(node: &Node, batch: Vec<Pending>) {
    node.metrics.write_batches.inc();
    let (cmds, waiters): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.cmd, p.waiter)).unzip();
    let mut results = match node.raft.client_write_many(cmds).await {
        Ok(stream) => stream,
        Err(fatal) => {
            let msg = fatal.to_string();
            for w in waiters {
                w.answer(Err(PeerError::Unavailable(msg.clone())));
            }
            return;
        }
    };
    // Results come in batch order; wait for them as long as any writer of the batch waits.
    let deadline = waiters.iter().map(|w| w.deadline).max();
    let deadline = deadline.unwrap_or_else(Instant::now);
    let mut rest = TIMED_OUT.to_string();
    let mut waiters = waiters.into_iter();
    for w in waiters.by_ref() {
        let next = tokio::time::timeout_at(deadline.into(), results.next()).await;
        let r = match next {
            Err(_) => {
                w.answer(Err(unavailable(TIMED_OUT)));
                break;
            }
            // The stream ends after its first error: answer the rest without reading it again.
            Ok(None) => {
                rest = "raft stopped".into();
                w.answer(Err(unavailable(&rest)));
                break;
            }
            Ok(Some(Err(fatal))) => {
                rest = fatal.to_string();
                w.answer(Err(unavailable(&rest)));
                break;
            }
            Ok(Some(Ok(Ok(resp)))) => Ok(WriteOk {
                result: resp.response,
                index: resp.log_id.index,
            }),
            Ok(Some(Ok(Err(ClientWriteError::ForwardToLeader(f))))) => {
                let leader = f.leader_id.zip(f.leader_node.map(|n| n.addr));
                Err(PeerError::NotLeader { leader })
            }
            Ok(Some(Ok(Err(e)))) => Err(PeerError::Unavailable(e.to_string())),
        };
        w.answer(r);
    }
    for w in waiters {
        w.answer(Err(unavailable(&rest)));
    }
}

/// Follower: sends the batch to the leader in peer calls of at most `BATCH_BYTES_MAX` bytes
/// (concurrently) and hands each write its answer.
async fn forward(node: &Node, leader: u64, addr: &str, batch: Vec<Pending>) {
    let encoded: Vec<Vec<u8>> = batch
        .iter()
        .map(|p| serde_json::to_vec(&p.cmd).expect("commands serialise"))
        .collect();
    let mut calls = Vec::new();
    let (mut batch, mut encoded) = (batch.into_iter(), encoded.as_slice());
    while !encoded.is_empty() {
        let n = fitting(encoded.iter().map(Vec::len), BATCH_BYTES_MAX);
        let (chunk, rest) = encoded.split_at(n);
        encoded = rest;
        let waiters: Vec<Waiter> = batch.by_ref().take(n).map(|p| p.waiter).collect();
        calls.push(forward_call(node, leader, addr, chunk, waiters));
    }
    futures::future::join_all(calls).await;
}

async fn forward_call(
    node: &Node,
    leader: u64,
    addr: &str,
    encoded: &[Vec<u8>],
    waiters: Vec<Waiter>,
) {
    let deadline = waiters.iter().map(|p| p.deadline).max();
    let left = deadline.map_or(Duration::ZERO, |d| {
        d.saturating_duration_since(Instant::now())
    });
    let mut payload = Vec::with_capacity(encoded.iter().map(|e| e.len() + 1).sum::<usize>() + 2);
    payload.push(b'[');
    for (i, e) in encoded.iter().enumerate() {
        if i > 0 {
            payload.push(b',');
        }
        payload.extend_from_slice(e);
    }
    payload.push(b']');
    let env = Envelope {
        target_node_id: leader,
        payload,
    };
    let results = async {
        let mut client = node.peers.client(addr).map_err(|e| e.to_string())?;
        let req = node.peers.request(env, left.min(WRITE_TIMEOUT));
        let reply = client
            .forward_write(req)
            .await
            .map_err(|s| s.message().to_string())?;
        let r: PeerResult<Vec<PeerResult<WriteOk>>> = decode(&reply.into_inner().payload)?;
        Ok::<_, String>(r)
    };
    match results.await {
        Ok(Ok(results)) if results.len() == waiters.len() => {
            for (w, r) in waiters.into_iter().zip(results) {
                w.answer(r);
            }
        }
        Ok(Ok(results)) => {
            let msg = format!(
                "the leader answered {} of {} forwarded writes",
                results.len(),
                waiters.len()
            );
            for w in waiters {
                w.answer(Err(PeerError::Unavailable(msg.clone())));
            }
        }
        Ok(Err(e)) => {
            for w in waiters {
                w.answer(Err(e.clone()));
            }
        }
        Err(msg) => {
            for w in waiters {
                w.answer(Err(PeerError::Unavailable(msg.clone())));
            }
        }
    }
}
