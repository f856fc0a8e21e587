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

/// Plain words for an answer (a 503 quotes it), never the type's debug form.
impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerError::NotLeader {
                leader: Some((id, _)),
            } => {
                write!(f, "not the leader; node {id} is")
            }
            PeerError::NotLeader { leader: None } => f.write_str("no leader known"),
            PeerError::Unavailable(m) | PeerError::Refused(m) => f.write_str(m),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_errors_read_as_words_not_as_debug_output() {
        let cases = [
            (PeerError::NotLeader { leader: None }, "no leader known"),
            (
                PeerError::NotLeader {
                    leader: Some((3, "127.0.0.1:1".into())),
                },
                "not the leader; node 3 is",
            ),
            (PeerError::Unavailable("no quorum".into()), "no quorum"),
        ];
        for (e, words) in cases {
            assert_eq!(e.to_string(), words);
        }
    }
}
