//! The node-to-node gRPC service: Raft messages, forwarded writes, read index, membership and
//! liveness heartbeats. Every call must carry the cluster's peer key: `routes` checks it before
//! a call reaches the service.

use std::sync::Arc;
use std::time::Duration;

use meridian_proto::{
    Envelope, ObservationBatch, ObservationQuery, Observations, Peer, PeerServer, PushAck,
    RecheckRequest, Reply, SeriesAck, SeriesBatch, SeriesList, SeriesListQuery, SeriesQuery,
    SeriesQueryReply, SnapshotChunk, TestCheckRequest,
};
use meridian_raft::model::Command;
use meridian_raft::network::{PEER_KEY_HEADER, decode, encode};
use meridian_raft::server::RaftRpc;
use tonic::{Request, Response, Status, Streaming};

use crate::node::{LeaderRoute, Node};
use crate::peer_msgs::{Heartbeat, HeartbeatOk, JoinAction, PeerError, PeerResult};
use crate::proposer::BATCH_MAX;

pub struct PeerService {
    node: Arc<Node>,
    rpc: RaftRpc,
}

impl PeerService {
    pub fn new(node: Arc<Node>) -> Self {
        let rpc = RaftRpc::new(node.raft.clone(), node.id);
        Self { node, rpc }
    }

    /// Checks the addressee, returning the envelope (target 0 = any node).
    fn open(&self, req: Request<Envelope>, any: bool) -> Result<Envelope, Status> {
        let env = req.into_inner();
        if !(any && env.target_node_id == 0) {
            self.rpc.check_target(env.target_node_id)?;
        }
        Ok(env)
    }

    fn series_local(&self) -> crate::series::remote::Local {
        crate::series::remote::Local {
            node_id: self.node.id,
            series: self.node.series.clone(),
        }
    }

    fn not_leader(&self) -> PeerError {
        let leader = match self.node.leader_route() {
            LeaderRoute::Remote { id, addr } => Some((id, addr)),
            _ => None,
        };
        PeerError::NotLeader { leader }
    }

    fn reply<T: serde::Serialize>(&self, r: &PeerResult<T>) -> Response<Reply> {
        Response::new(Reply {
            node_id: self.node.id,
            payload: encode(r),
        })
    }
}

type ReplyResult = Result<Response<Reply>, Status>;

/// The service as routes for the node's one listener, behind the peer-key check.
pub fn routes(node: Arc<Node>) -> axum::Router {
    let peer = PeerServer::new(PeerService::new(node.clone()))
        .max_decoding_message_size(meridian_raft::network::PEER_MESSAGE_MAX);
    tonic::service::Routes::new(peer)
        .prepare()
        .into_axum_router()
        .layer(axum::middleware::from_fn_with_state(node, require_peer_key))
}

/// Refuses a peer call without this cluster's peer key before its body is read, so only peers
/// can make a node take in a large message (the service shares the public listener).
async fn require_peer_key(
    axum::extract::State(node): axum::extract::State<Arc<Node>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let got = req.headers().get(PEER_KEY_HEADER);
    if node
        .peers
        .key_matches(got.map(|v| v.as_bytes()).unwrap_or_default())
    {
        next.run(req).await
    } else {
        Status::unauthenticated("missing or wrong cluster peer key").into_http()
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn append_entries(&self, req: Request<Envelope>) -> ReplyResult {
        let env = self.open(req, false)?;
        self.rpc.append_entries(env).await.map(Response::new)
    }

    async fn vote(&self, req: Request<Envelope>) -> ReplyResult {
        let env = self.open(req, false)?;
        self.rpc.vote(env).await.map(Response::new)
    }

    async fn install_snapshot(&self, req: Request<Streaming<SnapshotChunk>>) -> ReplyResult {
        self.rpc
            .install_snapshot(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn forward_write(&self, req: Request<Envelope>) -> ReplyResult {
        let env = self.open(req, false)?;
        let cmds: Vec<Command> = decode(&env.payload).map_err(Status::invalid_argument)?;
        if cmds.len() > BATCH_MAX {
            let msg = format!("at most {BATCH_MAX} forwarded writes per call");
            return Err(Status::invalid_argument(msg));
        }
        let r = match self.node.leader_route() {
            LeaderRoute::Local => Ok(self.node.proposer.propose_forwarded(cmds).await),
            _ => Err(self.not_leader()),
        };
        Ok(self.reply(&r))
    }

    async fn read_index(&self, req: Request<Envelope>) -> ReplyResult {
        self.open(req, false)?;
        let r = match self.node.leader_route() {
            LeaderRoute::Local => self.node.read_index_local(Duration::from_secs(3)).await,
            _ => Err(self.not_leader()),
        };
        Ok(self.reply(&r))
    }

    async fn join(&self, req: Request<Envelope>) -> ReplyResult {
        let env = self.open(req, true)?;
        let action: JoinAction = decode(&env.payload).map_err(Status::invalid_argument)?;
        let r = self.node.membership(action).await;
        Ok(self.reply(&r))
    }

    async fn heartbeat(&self, req: Request<Envelope>) -> ReplyResult {
        let env = self.open(req, false)?;
        let hb: Heartbeat = decode(&env.payload).map_err(Status::invalid_argument)?;
        let r = match self.node.leader_route() {
            LeaderRoute::Local => {
                self.node.liveness.record_heartbeat(hb.from);
                Ok(HeartbeatOk {
                    leader_has_quorum: self.node.leader_has_quorum(),
                })
            }
            _ => Err(self.not_leader()),
        };
        Ok(self.reply(&r))
    }

    async fn latest_observations(
        &self,
        req: Request<ObservationQuery>,
    ) -> Result<Response<Observations>, Status> {
        let q = req.into_inner();
        self.rpc.check_target(q.target_node_id)?;
        self.node.poller_local().latest(q).map(Response::new)
    }

    async fn test_check(
        &self,
        req: Request<TestCheckRequest>,
    ) -> Result<Response<Observations>, Status> {
        let r = req.into_inner();
        self.rpc.check_target(r.target_node_id)?;
        let local = self.node.poller_local();
        local.test_check(r).await.map(Response::new)
    }

    async fn push_observations(
        &self,
        req: Request<ObservationBatch>,
    ) -> Result<Response<PushAck>, Status> {
        let b = req.into_inner();
        self.rpc.check_target(b.target_node_id)?;
        let n = b.values.len();
        if n > crate::evaluator::forward::FORWARD_BATCH_MAX {
            return Err(Status::invalid_argument(format!(
                "values: at most {}",
                crate::evaluator::forward::FORWARD_BATCH_MAX
            )));
        }
        for o in b.values {
            self.node
                .evaluators
                .intake
                .publish(crate::poller::Observation::from(o));
        }
        Ok(Response::new(PushAck {
            node_id: self.node.id,
            accepted: n as u32,
        }))
    }

    async fn recheck(&self, req: Request<RecheckRequest>) -> Result<Response<PushAck>, Status> {
        let r = req.into_inner();
        self.rpc.check_target(r.target_node_id)?;
        let n = r.check_ids.len().min(crate::poller::RECHECKS_MAX);
        self.node
            .pollers
            .request_recheck(&r.tenant_id, &r.check_ids[..n]);
        Ok(Response::new(PushAck {
            node_id: self.node.id,
            accepted: n as u32,
        }))
    }

    async fn write_series(&self, req: Request<SeriesBatch>) -> Result<Response<SeriesAck>, Status> {
        let b = req.into_inner();
        self.rpc.check_target(b.target_node_id)?;
        self.series_local().write(b).await.map(Response::new)
    }

    async fn query_series(
        &self,
        req: Request<SeriesQuery>,
    ) -> Result<Response<SeriesQueryReply>, Status> {
        let q = req.into_inner();
        self.rpc.check_target(q.target_node_id)?;
        self.series_local().query(q).await.map(Response::new)
    }

    async fn list_series(
        &self,
        req: Request<SeriesListQuery>,
    ) -> Result<Response<SeriesList>, Status> {
        let q = req.into_inner();
        self.rpc.check_target(q.target_node_id)?;
        self.series_local().list(q).await.map(Response::new)
    }
}
