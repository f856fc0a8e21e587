//! Cluster membership: bootstrap, admission of new nodes, removal, and the voter policy, all
//! carried out by the leader so every change goes through Raft.

pub mod voters;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use meridian_proto::Envelope;
use meridian_raft::model::{CommandResult, Op};
use meridian_raft::network::{decode, encode};
use openraft::ChangeMembers;
use openraft::async_runtime::WatchReceiver;

use crate::error::{Error, Result};
use crate::node::{LeaderRoute, Node, PEER_RPC_TIMEOUT, new_id};
use crate::peer_msgs::{JoinAction, JoinOk, PeerError, PeerResult};
use voters::{Candidate, choose_voters};

/// How long a new node may take to catch up as a learner before admission gives up.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a joining node keeps asking to be admitted (attempts are 1 s apart).
pub const JOIN_ATTEMPTS_MAX: u32 = 600;

impl Node {
    /// `cluster init`: makes this pristine node a one-voter cluster.
    pub async fn initialize(&self) -> Result<()> {
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        if initialized {
            return Err(Error::Conflict(
                "this node already belongs to a cluster".into(),
            ));
        }
        let members = BTreeMap::from([(self.id, self.node_addr())]);
        self.raft
            .initialize(members)
            .await
            .map_err(|e| Error::Conflict(e.to_string()))?;
        let op = Op::InitCluster {
            cluster_id: new_id("cl"),
            n_shards: self.cfg.n_shards,
        };
        self.write(op, Some(format!("init-{}", self.id))).await?;
        self.write(self.self_member_op(true), None).await?;
        tracing::info!(node_id = self.id, "cluster initialised");
        Ok(())
    }

    fn self_member_op(&self, voter: bool) -> Op {
        Op::UpsertMember {
            id: self.id,
            region: self.cfg.region.clone(),
            addr: self.advertise.clone(),
            voter,
        }
    }

    /// Runs a membership action on the leader, forwarding it there when this node is not.
    pub async fn membership(&self, action: JoinAction) -> PeerResult<JoinOk> {
        match self.leader_route() {
            LeaderRoute::Local => self.membership_local(action).await,
            LeaderRoute::Remote { id, addr } => {
                send_join(self, &addr, id, &action, CATCH_UP_TIMEOUT).await
            }
            LeaderRoute::Unknown => Err(PeerError::Unavailable("no leader known".into())),
        }
    }

    async fn membership_local(&self, action: JoinAction) -> PeerResult<JoinOk> {
        let _one_at_a_time = self.membership_lock.lock().await;
        let unavailable = |e: Error| match e {
            Error::Conflict(m) | Error::NotFound(m) | Error::BadRequest(m) => PeerError::Refused(m),
            other => PeerError::Unavailable(other.to_string()),
        };
        match action {
            JoinAction::ReserveId => match self.write(Op::ReserveNodeId, None).await {
                Ok(CommandResult::NodeId(id)) => Ok(JoinOk { node_id: id }),
                Ok(other) => Err(PeerError::Unavailable(format!(
                    "unexpected result {other:?}"
                ))),
                Err(e) => Err(unavailable(e)),
            },
            JoinAction::Join {
                id,
                addr,
                region,
                voter,
                pristine,
            } => {
                if pristine && self.raft_membership().0.contains(&id) {
                    return Err(PeerError::Refused(format!(
                        "node {id} is a voter but joined with empty data: it lost its vote and log; \
                         remove node {id} and join under a new id"
                    )));
                }
                self.admit(id, addr, region, voter)
                    .await
                    .map_err(unavailable)?;
                Ok(JoinOk { node_id: id })
            }
            JoinAction::Remove { id } => {
                self.remove_member(id).await.map_err(unavailable)?;
                Ok(JoinOk { node_id: id })
            }
        }
    }

    /// Leader: records the member, adds it as a learner (waiting until it caught up), then lets
    /// the voter policy decide whether it votes.
    async fn admit(
        &self,
        id: u64,
        addr: String,
        region: String,
        voter: Option<bool>,
    ) -> Result<()> {
        if self.state.read(|s| s.is_removed(id)) {
            return Err(Error::Conflict(format!(
                "node id {id} was removed and is never reused"
            )));
        }
        let eligible = voter.unwrap_or(true);
        let op = Op::UpsertMember {
            id,
            region: region.clone(),
            addr: addr.clone(),
            voter: eligible,
        };
        if let CommandResult::Refused(e) = self.write(op, None).await? {
            return Err(e.into());
        }
        let in_raft = self.raft_membership().1.contains_key(&id);
        if !in_raft {
            let node = meridian_raft::NodeAddr { addr, region };
            let add = self.raft.add_learner(id, node, true);
            match tokio::time::timeout(CATCH_UP_TIMEOUT, add).await {
                Err(_) => {
                    return Err(Error::Unavailable(format!(
                        "node {id} did not catch up in time"
                    )));
                }
                Ok(Err(e)) => return Err(Error::Unavailable(e.to_string())),
                Ok(Ok(_)) => {}
            }
        }
        self.reconcile_voters((voter == Some(true)).then_some(id))
            .await
    }

    /// Leader: removes a member for good (its id is never accepted again).
    pub async fn remove_member(&self, id: u64) -> Result<()> {
        let known = self.state.read(|s| s.member(id).is_some())
            || self.raft_membership().1.contains_key(&id);
        if !known {
            return Err(Error::NotFound(format!("node {id} is not a member")));
        }
        let (voters, _) = self.raft_membership();
        if voters.contains(&id) {
            let mut rest: BTreeSet<u64> = voters.clone();
            rest.remove(&id);
            if rest.is_empty() {
                return Err(Error::Conflict("cannot remove the last voter".into()));
            }
            let change = ChangeMembers::ReplaceAllVoters(rest);
            self.raft
                .change_membership(change, false)
                .await
                .map_err(|e| Error::Unavailable(e.to_string()))?;
        }
        if self.raft_membership().1.contains_key(&id) {
            let change = ChangeMembers::RemoveNodes(BTreeSet::from([id]));
            self.raft
                .change_membership(change, false)
                .await
                .map_err(|e| Error::Unavailable(e.to_string()))?;
        }
        self.write(Op::RemoveMember { id }, None).await?;
        self.reconcile_voters(None).await
    }

    /// (voter ids, all nodes) of the current Raft membership.
    pub fn raft_membership(&self) -> (BTreeSet<u64>, BTreeMap<u64, meridian_raft::NodeAddr>) {
        let m = self
            .raft
            .metrics()
            .borrow_watched()
            .membership_config
            .clone();
        let voters = m.membership().voter_ids().collect();
        let nodes = m
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.clone()))
            .collect();
        (voters, nodes)
    }

    /// Leader: changes the voters to what the policy wants, if that differs.
    pub async fn reconcile_voters(&self, must_include: Option<u64>) -> Result<()> {
        let (current, nodes) = self.raft_membership();
        let members: Vec<Candidate> = self.state.read(|s| {
            s.members()
                .filter(|m| nodes.contains_key(&m.id))
                .map(|m| Candidate {
                    id: m.id,
                    region: m.region.clone(),
                    eligible: m.voter || Some(m.id) == must_include,
                })
                .collect()
        });
        let mut desired = choose_voters(&members, &current, self.cfg.max_voters);
        if desired.is_empty() {
            desired = current.clone();
        }
        if desired != current {
            tracing::info!(?current, ?desired, "changing voters");
            let change = ChangeMembers::ReplaceAllVoters(desired);
            self.raft
                .change_membership(change, true)
                .await
                .map_err(|e| Error::Unavailable(e.to_string()))?;
        }
        Ok(())
    }

    /// A new node: asks the `--join` addresses to admit it until one does (bounded).
    pub async fn join_cluster(&self, seeds: &[String], voter: Option<bool>) -> Result<()> {
        for attempt in 0..JOIN_ATTEMPTS_MAX {
            // Pristine means no Raft state yet; an earlier attempt may have been admitted (and
            // replicated to) even though its answer was an error, so ask every time.
            let initialized = self.raft.is_initialized().await.unwrap_or(true);
            let action = JoinAction::Join {
                id: self.id,
                addr: self.advertise.clone(),
                region: self.cfg.region.clone(),
                voter,
                pristine: !initialized,
            };
            for seed in seeds {
                match send_join(self, seed, 0, &action, CATCH_UP_TIMEOUT).await {
                    Ok(_) => {
                        tracing::info!(node_id = self.id, %seed, "joined the cluster");
                        return Ok(());
                    }
                    Err(PeerError::Refused(m)) => return Err(Error::Conflict(m)),
                    Err(e) => tracing::info!(%seed, attempt, error = ?e, "join not accepted yet"),
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(Error::Unavailable("no member admitted this node".into()))
    }
}

/// Sends a membership action to `addr` (target 0 = whichever node answers there).
pub async fn send_join(
    node: &Node,
    addr: &str,
    target: u64,
    action: &JoinAction,
    deadline: Duration,
) -> PeerResult<JoinOk> {
    let env = Envelope {
        target_node_id: target,
        payload: encode(action),
    };
    let mut client = node
        .peers
        .client(addr)
        .map_err(|e| PeerError::Unavailable(e.to_string()))?;
    let reply = client
        .join(node.peers.request(env, deadline))
        .await
        .map_err(|s| PeerError::Unavailable(format!("{}: {}", s.code(), s.message())))?;
    decode::<PeerResult<JoinOk>>(&reply.into_inner().payload).map_err(PeerError::Unavailable)?
}

/// Before Raft starts: a node without an id asks the seeds to reserve one (bounded attempts).
pub async fn reserve_node_id(
    peers: &meridian_raft::network::Peers,
    seeds: &[String],
) -> Result<u64> {
    let env = Envelope {
        target_node_id: 0,
        payload: encode(&JoinAction::ReserveId),
    };
    for attempt in 0..JOIN_ATTEMPTS_MAX {
        for seed in seeds {
            let Ok(mut client) = peers.client(seed) else {
                continue;
            };
            match client
                .join(peers.request(env.clone(), PEER_RPC_TIMEOUT))
                .await
            {
                Ok(reply) => match decode::<PeerResult<JoinOk>>(&reply.into_inner().payload) {
                    Ok(Ok(ok)) => return Ok(ok.node_id),
                    other => {
                        tracing::info!(%seed, attempt, result = ?other, "node id not reserved yet")
                    }
                },
                Err(s) => tracing::info!(%seed, attempt, status = %s, "node id not reserved yet"),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(Error::Unavailable(
        "no member reserved a node id for this node".into(),
    ))
}
