//! The receiving side of the Raft transport: decodes peer messages and hands them to openraft.

use std::io::Cursor;

use futures::StreamExt;
use meridian_proto::{Envelope, Reply, SnapshotChunk};
use tonic::{Status, Streaming};

use crate::network::{VoteMessage, decode, encode};
use crate::types::{Raft, Snapshot, SnapshotMeta, Vote};

/// Largest snapshot a node accepts from a peer.
pub const SNAPSHOT_MAX_BYTES: u64 = 1024 * 1024 * 1024;

/// Handles the Raft RPCs addressed to this node.
#[derive(Clone)]
pub struct RaftRpc {
    raft: Raft,
    self_id: u64,
}

impl RaftRpc {
    pub fn new(raft: Raft, self_id: u64) -> Self {
        Self { raft, self_id }
    }

    /// Refuses a message meant for another node (an address that changed hands).
    pub fn check_target(&self, target: u64) -> Result<(), Status> {
        if target != self.self_id {
            return Err(Status::failed_precondition(format!(
                "message for node {target} reached node {}",
                self.self_id
            )));
        }
        Ok(())
    }

    /// Wraps a result as a reply that names this node.
    pub fn reply<T: serde::Serialize>(&self, result: &Result<T, String>) -> Reply {
        Reply {
            node_id: self.self_id,
            payload: encode(result),
        }
    }

    pub async fn append_entries(&self, env: Envelope) -> Result<Reply, Status> {
        self.check_target(env.target_node_id)?;
        let req = decode(&env.payload).map_err(Status::invalid_argument)?;
        let result = self
            .raft
            .append_entries(req)
            .await
            .map_err(|e| e.to_string());
        Ok(self.reply(&result))
    }

    pub async fn vote(&self, env: Envelope) -> Result<Reply, Status> {
        self.check_target(env.target_node_id)?;
        let msg: VoteMessage = decode(&env.payload).map_err(Status::invalid_argument)?;
        let result = if msg.pre_vote {
            self.raft.pre_vote(msg.request).await
        } else {
            self.raft.vote(msg.request).await
        };
        Ok(self.reply(&result.map_err(|e| e.to_string())))
    }

    pub async fn install_snapshot(
        &self,
        mut chunks: Streaming<SnapshotChunk>,
    ) -> Result<Reply, Status> {
        let mut head: Option<(Vote, SnapshotMeta)> = None;
        let mut data = Vec::new();
        let mut done = false;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            self.check_target(chunk.target_node_id)?;
            if head.is_none() {
                let vote = decode(&chunk.vote).map_err(Status::invalid_argument)?;
                let meta = decode(&chunk.meta).map_err(Status::invalid_argument)?;
                head = Some((vote, meta));
            }
            if chunk.offset != data.len() as u64 {
                return Err(Status::invalid_argument("snapshot chunk out of order"));
            }
            if data.len() as u64 + chunk.data.len() as u64 > SNAPSHOT_MAX_BYTES {
                return Err(Status::resource_exhausted(
                    "snapshot larger than this node accepts",
                ));
            }
            data.extend_from_slice(&chunk.data);
            if chunk.done {
                done = true;
                break;
            }
        }
        let (vote, meta) = head.ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?;
        if !done {
            return Err(Status::aborted(
                "snapshot stream ended before its last chunk",
            ));
        }
        let snapshot = Snapshot {
            meta,
            snapshot: Cursor::new(data),
        };
        let result = self
            .raft
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| e.to_string());
        Ok(self.reply(&result))
    }
}
