//! openraft type configuration and the node address carried in the membership.

use serde::{Deserialize, Serialize};

use crate::model::{Command, CommandResult};

/// What the membership records about a node: where to reach it and its region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    /// Address (host:port) serving both the node-to-node gRPC and the HTTP API.
    pub addr: String,
    /// Region (monitoring zone) the node runs in.
    pub region: String,
}

impl std::fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.addr, self.region)
    }
}

openraft::declare_raft_types!(
    /// Meridian's Raft types: commands in, command results out, u64 node ids.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = NodeAddr,
);

/// The snapshot payload: the whole configuration state serialised.
pub type SnapshotData = std::io::Cursor<Vec<u8>>;
/// The Raft handle used throughout the node.
pub type Raft = openraft::Raft<TypeConfig, crate::state_machine::StateMachine>;
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;
