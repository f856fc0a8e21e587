//! JSON messages of the node-level peer RPCs (forwarded writes, read index, join, heartbeat).

use meridian_raft::model::CommandResult;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteOk {
    pub result: CommandResult,
    /// Log index the command was committed at: the caller waits until it applied it locally.
    pub index: u64,
}

/// Why a peer could not do what was asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PeerError {
    /// The receiver is not the leader; `leader` is (id, address) when it knows one.
    NotLeader { leader: Option<(u64, String)> },
    /// No quorum or another passing condition: retry later.
    Unavailable(String),
    /// Refused for good (e.g. a removed node id).
    Refused(String),
}

/// Membership operations, carried out by the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum JoinAction {
    /// Reserve a fresh node id for a node that has none.
    ReserveId,
    /// Add (or re-add) a node; `voter` None lets the voter policy decide. `pristine` says the
    /// node has no Raft state: such a node must not take the place of a voter with its id.
    Join {
        id: u64,
        addr: String,
        region: String,
        voter: Option<bool>,
        pristine: bool,
    },
    /// Remove a node for good.
    Remove { id: u64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinOk {
    pub node_id: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub from: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatOk {
    /// The leader heard from a quorum within its lease.
    pub leader_has_quorum: bool,
}

pub type PeerResult<T> = Result<T, PeerError>;
