//! The Raft transport: openraft's network traits over the `Peer` gRPC service.
//!
//! Every RPC has a deadline; channels use HTTP/2 keepalive so a connection that died during a
//! partition is noticed and re-dialled. Each message names the node it is for and each reply
//! names the node that answered, so a message never lands on the wrong node after an address
//! changed hands. A node never dials itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Future;
use meridian_proto::{Envelope, PeerClient, SnapshotChunk};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use serde::{Serialize, de::DeserializeOwned};
use tonic::transport::{Channel, Endpoint};

use crate::types::{LogId, NodeAddr, Snapshot, TypeConfig, Vote};

/// Bytes of snapshot data per streamed chunk (tonic's default message limit is 4 MiB).
pub const SNAPSHOT_CHUNK_BYTES: usize = 1024 * 1024;
/// Deadline for dialling a peer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// HTTP/2 keepalive ping interval and the time to wait for its answer.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(500);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Largest peer message a node accepts or reads back. A single entry is bounded by the API's
/// body limit, far below this.
pub const PEER_MESSAGE_MAX: usize = 64 * 1024 * 1024;
/// Most encoded bytes of entries (or forwarded writes) put in one peer message; a longer run
/// is sent in several messages.
pub const BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;
/// The slowest link a long AppendEntries is given time for: its deadline (openraft's, based on
/// the heartbeat interval) grows by one second per this many bytes.
pub const APPEND_BYTES_PER_SEC_MIN: usize = 4 * 1024 * 1024;
/// Most channels cached (one per peer address).
pub const CHANNELS_MAX: usize = 256;

/// gRPC metadata key carrying the cluster's peer key on every node-to-node call.
pub const PEER_KEY_HEADER: &str = "x-meridian-peer-key";

/// A cache of gRPC channels to peers, shared by Raft and the node's own peer calls. Every
/// request made through it carries the cluster's peer key.
#[derive(Clone, Default)]
pub struct Peers {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    peer_key: Arc<String>,
}

impl Peers {
    /// `peer_key` is derived from the cluster's admin token, so only nodes that hold it are
    /// accepted as peers.
    pub fn new(peer_key: String) -> Self {
        Self {
            channels: Arc::default(),
            peer_key: Arc::new(peer_key),
        }
    }

    /// Wraps `msg` in a request that carries the peer key and a deadline.
    pub fn request<T>(&self, msg: T, deadline: Duration) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(deadline);
        if let Ok(v) = self.peer_key.parse() {
            req.metadata_mut().insert(PEER_KEY_HEADER, v);
        }
        req
    }

    /// Whether `got` is this cluster's peer key (constant-time compare).
    pub fn key_matches(&self, got: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        got.ct_eq(self.peer_key.as_bytes()).into()
    }

    /// A client for `addr` (host:port). Dialling is lazy; the channel reconnects by itself.
    pub fn client(&self, addr: &str) -> Result<PeerClient<Channel>, tonic::transport::Error> {
        let mut map = self.channels.lock().expect("channel cache lock");
        if let Some(ch) = map.get(addr) {
            return Ok(limited(ch.clone()));
        }
        let ch = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .tcp_nodelay(true)
            .connect_lazy();
        if map.len() >= CHANNELS_MAX {
            map.clear();
        }
        map.insert(addr.to_string(), ch.clone());
        Ok(limited(ch))
    }
}

/// A client that reads answers up to `PEER_MESSAGE_MAX`, whether its channel is new or cached.
fn limited(ch: Channel) -> PeerClient<Channel> {
    PeerClient::new(ch).max_decoding_message_size(PEER_MESSAGE_MAX)
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Raft messages are plain data; serialising them cannot fail.
    serde_json::to_vec(v).expect("raft messages serialise")
}

/// How many of the leading items with these encoded sizes fit in `limit` bytes together; at
/// least one, so an oversized item still travels (alone).
pub fn fitting(sizes: impl IntoIterator<Item = usize>, limit: usize) -> usize {
    let mut total = 0usize;
    let mut n = 0;
    for size in sizes {
        total = total.saturating_add(size);
        if n > 0 && total > limit {
            break;
        }
        n += 1;
    }
    n
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("undecodable peer message: {e}"))
}

/// Creates connections for openraft.
#[derive(Clone)]
pub struct Network {
    self_id: u64,
    peers: Peers,
}

impl Network {
    pub fn new(self_id: u64, peers: Peers) -> Self {
        Self { self_id, peers }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, node: &NodeAddr) -> Connection {
        if target == self.self_id {
            tracing::error!(
                target,
                "refusing to open a raft connection to this node itself"
            );
        }
        Connection {
            self_id: self.self_id,
            target,
            addr: node.addr.clone(),
            peers: self.peers.clone(),
        }
    }
}

/// A connection to one peer.
pub struct Connection {
    self_id: u64,
    target: u64,
    addr: String,
    peers: Peers,
}

#[derive(Serialize, serde::Deserialize)]
pub struct VoteMessage {
    pub pre_vote: bool,
    pub request: VoteRequest<TypeConfig>,
}

impl Connection {
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        rpc: Rpc,
        req: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        self.call_encoded(rpc, encode(req), ttl).await
    }

    async fn call_encoded<Resp: DeserializeOwned>(
        &self,
        rpc: Rpc,
        payload: Vec<u8>,
        ttl: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        if self.target == self.self_id {
            return Err(Unreachable::from_string("a node never dials itself").into());
        }
        let mut client = self
            .peers
            .client(&self.addr)
            .map_err(|e| Unreachable::new(&e))?;
        let env = Envelope {
            target_node_id: self.target,
            payload,
        };
        let request = self.peers.request(env, ttl);
        let fut = async {
            match rpc {
                Rpc::Append => client.append_entries(request).await,
                Rpc::Vote => client.vote(request).await,
            }
        };
        let reply = tokio::time::timeout(ttl, fut)
            .await
            .map_err(|_| {
                NetworkError::from_string(format!("rpc to node {} timed out", self.target))
            })?
            .map_err(|s| status_error(self.target, &s))?
            .into_inner();
        self.check_replier(reply.node_id)?;
        let result: Result<Resp, String> =
            decode(&reply.payload).map_err(NetworkError::from_string)?;
        result.map_err(|e| NetworkError::from_string(e).into())
    }

    fn check_replier(&self, node_id: u64) -> Result<(), RPCError<TypeConfig>> {
        if node_id != self.target {
            let msg = format!(
                "addressed node {} at {} but node {node_id} answered",
                self.target, self.addr
            );
            return Err(Unreachable::from_string(msg).into());
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Rpc {
    Append,
    Vote,
}

fn status_error(target: u64, s: &tonic::Status) -> RPCError<TypeConfig> {
    let msg = format!("node {target}: {}: {}", s.code(), s.message());
    match s.code() {
        tonic::Code::Unavailable | tonic::Code::FailedPrecondition => {
            Unreachable::from_string(msg).into()
        }
        _ => NetworkError::from_string(msg).into(),
    }
}

impl RaftNetworkV2<TypeConfig> for Connection {
    type SnapshotData = crate::types::SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let payload = encode(&rpc);
        if payload.len() <= BATCH_BYTES_MAX || rpc.entries.len() <= 1 {
            let ttl = append_ttl(option.hard_ttl(), payload.len());
            return self.call_encoded(Rpc::Append, payload, ttl).await;
        }
        // Too long for one message: send the entries that fit and report a partial success;
        // openraft sends the rest next.
        let (part, last) = leading_part(rpc, BATCH_BYTES_MAX);
        let payload = encode(&part);
        let ttl = append_ttl(option.hard_ttl(), payload.len());
        let resp = self.call_encoded(Rpc::Append, payload, ttl).await?;
        Ok(match resp {
            AppendEntriesResponse::Success => AppendEntriesResponse::PartialSuccess(last),
            other => other,
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let msg = VoteMessage {
            pre_vote: false,
            request: rpc,
        };
        self.call(Rpc::Vote, &msg, option.hard_ttl()).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let msg = VoteMessage {
            pre_vote: true,
            request: rpc,
        };
        self.call(Rpc::Vote, &msg, option.hard_ttl()).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        if self.target == self.self_id {
            return Err(Unreachable::from_string("a node never dials itself").into());
        }
        let mut client = self
            .peers
            .client(&self.addr)
            .map_err(|e| Unreachable::new(&e))?;
        let chunks = snapshot_chunks(self.target, &vote, snapshot);
        let ttl = option.hard_ttl().max(Duration::from_secs(30));
        let request = self.peers.request(futures::stream::iter(chunks), ttl);
        let reply = tokio::select! {
            closed = cancel => return Err(closed.into()),
            r = client.install_snapshot(request) => r,
        };
        let reply = reply
            .map_err(|s| match status_error(self.target, &s) {
                RPCError::Unreachable(u) => StreamingError::Unreachable(u),
                _ => NetworkError::from_string(s.to_string()).into(),
            })?
            .into_inner();
        if reply.node_id != self.target {
            return Err(Unreachable::from_string("snapshot answered by another node").into());
        }
        let result: Result<SnapshotResponse<TypeConfig>, String> =
            decode(&reply.payload).map_err(NetworkError::from_string)?;
        result.map_err(|e| NetworkError::from_string(e).into())
    }
}

/// The deadline of an AppendEntries of `bytes`: openraft's, plus time to move the bytes over a
/// slow link.
pub fn append_ttl(base: Duration, bytes: usize) -> Duration {
    base + Duration::from_secs_f64(bytes as f64 / APPEND_BYTES_PER_SEC_MIN as f64)
}

/// The leading entries of `rpc` that fit in `limit` encoded bytes (at least one), and the log
/// id of the last of them.
pub fn leading_part(
    mut rpc: AppendEntriesRequest<TypeConfig>,
    limit: usize,
) -> (AppendEntriesRequest<TypeConfig>, Option<LogId>) {
    let n = fitting(rpc.entries.iter().map(|e| encode(e).len()), limit);
    rpc.entries.truncate(n);
    let last = rpc.entries.last().map(|e| e.log_id);
    (rpc, last)
}

/// Splits a snapshot into bounded chunks; the first carries vote and meta, the last is `done`.
fn snapshot_chunks(target: u64, vote: &Vote, snapshot: Snapshot) -> Vec<SnapshotChunk> {
    let data = snapshot.snapshot.into_inner();
    let meta = encode(&snapshot.meta);
    let vote = encode(vote);
    let pieces: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(SNAPSHOT_CHUNK_BYTES).collect()
    };
    let n = pieces.len();
    let mut offset = 0u64;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let chunk = SnapshotChunk {
                target_node_id: target,
                vote: if i == 0 { vote.clone() } else { Vec::new() },
                meta: if i == 0 { meta.clone() } else { Vec::new() },
                offset,
                data: piece.to_vec(),
                done: i + 1 == n,
            };
            offset += piece.len() as u64;
            chunk
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use openraft::entry::RaftEntry;
    use openraft::raft::AppendEntriesRequest;

    use std::time::Duration;

    use super::{APPEND_BYTES_PER_SEC_MIN, append_ttl, encode, fitting, leading_part};
    use crate::model::{Command, Op};
    use crate::types::{Entry, LogId, TypeConfig};

    #[test]
    fn fitting_takes_the_longest_prefix_within_the_limit_and_never_none() {
        assert_eq!(fitting([3, 3, 3], 10), 3);
        assert_eq!(fitting([3, 3, 3], 6), 2);
        assert_eq!(fitting([3, 3, 3], 5), 1);
        assert_eq!(
            fitting([30, 1], 10),
            1,
            "an oversized first item travels alone"
        );
        assert_eq!(fitting(Vec::<usize>::new(), 10), 0);
        assert_eq!(fitting([usize::MAX, usize::MAX], 10), 1);
    }

    fn lid(index: u64) -> LogId {
        openraft::testing::log_id::<TypeConfig>(1, 1, index)
    }

    /// An entry that encodes to a bit more than `bytes`.
    fn bulky(index: u64, bytes: usize) -> Entry {
        let op = Op::CreateTenant {
            id: format!("t{index}"),
            name: "x".repeat(bytes),
            token_hash: "h".into(),
        };
        let cmd = Command {
            request_id: None,
            fingerprint: None,
            at_ms: 1,
            op,
        };
        Entry::new_normal(lid(index), cmd)
    }

    #[test]
    fn a_long_append_is_cut_after_the_entries_that_fit() {
        let entries: Vec<Entry> = (1..=10).map(|i| bulky(i, 1000)).collect();
        let one = encode(&entries[0]).len();
        let rpc = AppendEntriesRequest::<TypeConfig> {
            vote: openraft::impls::Vote::new(1, 1),
            prev_log_id: None,
            leader_commit: Some(lid(3)),
            entries,
        };
        let (part, last) = leading_part(rpc.clone(), one * 4 + one / 2);
        assert_eq!(part.entries.len(), 4);
        assert_eq!(last, Some(lid(4)));
        assert_eq!(part.prev_log_id, rpc.prev_log_id);
        assert_eq!(part.leader_commit, rpc.leader_commit);

        let (part, last) = leading_part(rpc, 10);
        assert_eq!(
            part.entries.len(),
            1,
            "one entry larger than the limit goes alone"
        );
        assert_eq!(last, Some(lid(1)));
    }

    #[test]
    fn a_long_append_gets_time_to_cross_a_slow_link() {
        let base = Duration::from_millis(150);
        assert_eq!(append_ttl(base, 0), base);
        let ttl = append_ttl(base, 2 * APPEND_BYTES_PER_SEC_MIN);
        assert_eq!(ttl, base + Duration::from_secs(2));
    }
}
