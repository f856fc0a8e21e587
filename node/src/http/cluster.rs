//! `/v1/cluster*` (admin token): the node's view of the cluster, bootstrap, adding and removing
//! nodes, and an on-demand snapshot.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use openraft::async_runtime::WatchReceiver;
use serde::Deserialize;

use super::{Admin, ApiResult, AppState, JsonBody, ReadParams};
use crate::config::valid_region;
use crate::error::Error;
use crate::peer_msgs::{JoinAction, PeerError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/cluster", get(view))
        .route("/v1/cluster/init", post(init))
        .route("/v1/cluster/nodes", get(view).post(add_node))
        .route("/v1/cluster/nodes/{id}", delete(remove_node))
        .route("/v1/cluster/snapshot", post(snapshot))
        .route("/v1/node", get(whoami))
}

/// The cluster as this node sees it (its own applied state, never forwarded).
async fn view(
    State(node): State<AppState>,
    _: Admin,
    Query(p): Query<ReadParams>,
) -> ApiResult<Response> {
    node.consistent_read(p.linearizable(false)?).await?;
    Ok(axum::Json(cluster_json(&node)).into_response())
}

pub fn cluster_json(node: &AppState) -> serde_json::Value {
    let m = node.raft.metrics().borrow_watched().clone();
    let (voters, raft_nodes) = node.raft_membership();
    let assignment = node.assignment();
    let counts = assignment.counts();
    let (applied_index, state_digest) = node.state.digest();
    let (info, members) = node.state.read(|s| {
        (
            s.cluster_info().cloned(),
            s.members().cloned().collect::<Vec<_>>(),
        )
    });
    let nodes: Vec<serde_json::Value> = members
        .iter()
        .map(|mem| {
            let role = if voters.contains(&mem.id) {
                "voter"
            } else if raft_nodes.contains_key(&mem.id) {
                "learner"
            } else {
                "joining"
            };
            let c = counts.get(&mem.id).copied().unwrap_or_default();
            serde_json::json!({
                "id": mem.id, "region": mem.region, "addr": mem.addr, "role": role,
                "status": if mem.up { "up" } else { "down" },
                "shards": {"poller": c.poller, "series": c.series, "evaluator": c.evaluator},
            })
        })
        .collect();
    serde_json::json!({
        "cluster_id": info.as_ref().map(|i| i.cluster_id.clone()),
        "node_id": node.id,
        "leader_id": m.current_leader,
        "term": m.current_term,
        "placement_epoch": assignment.epoch,
        "placement_digest": assignment.digest(),
        "n_shards": assignment.n_shards,
        "applied_index": applied_index,
        "snapshot_index": m.snapshot.as_ref().map(|l| l.index),
        "purged_index": m.purged.as_ref().map(|l| l.index),
        "state_digest": state_digest,
        "quorum_contact": node.has_quorum_contact(),
        "nodes": nodes,
    })
}

/// This node's identity, whether or not it is a member yet (used by `cluster add`).
async fn whoami(State(node): State<AppState>, _: Admin) -> ApiResult<Response> {
    let member = node.raft_membership().1.contains_key(&node.id);
    let body = serde_json::json!({"id": node.id, "addr": node.advertise, "region": node.cfg.region, "member": member});
    Ok(axum::Json(body).into_response())
}

async fn init(State(node): State<AppState>, _: Admin) -> ApiResult<Response> {
    node.initialize().await?;
    Ok((StatusCode::CREATED, axum::Json(cluster_json(&node))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewNode {
    id: u64,
    addr: String,
    region: String,
    voter: Option<bool>,
}

fn peer_error(e: PeerError) -> Error {
    match e {
        PeerError::Refused(m) => Error::Conflict(m),
        PeerError::NotLeader { .. } => Error::Unavailable("leader changed; retry".into()),
        PeerError::Unavailable(m) => Error::Unavailable(m),
    }
}

async fn add_node(
    State(node): State<AppState>,
    _: Admin,
    JsonBody(n): JsonBody<NewNode>,
) -> ApiResult<Response> {
    if n.id == 0 {
        return Err(Error::BadRequest("id: must be at least 1".into()).into());
    }
    if !n
        .addr
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
    {
        return Err(Error::BadRequest(format!("addr: {:?} is not a host:port", n.addr)).into());
    }
    if !valid_region(&n.region) {
        return Err(Error::BadRequest(format!(
            "region: {:?} must be 1-64 letters, digits, '-' or '_'",
            n.region
        ))
        .into());
    }
    let voter = Some(n.voter.unwrap_or(false));
    let action = JoinAction::Join {
        id: n.id,
        addr: n.addr,
        region: n.region,
        voter,
        pristine: false,
    };
    node.membership(action).await.map_err(peer_error)?;
    Ok((StatusCode::CREATED, axum::Json(cluster_json(&node))).into_response())
}

async fn remove_node(
    State(node): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: u64 = id
        .parse()
        .map_err(|_| Error::BadRequest(format!("id: {id:?} is not a node id")))?;
    node.membership(JoinAction::Remove { id })
        .await
        .map_err(peer_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Builds a snapshot on this node now and purges the log behind it.
async fn snapshot(State(node): State<AppState>, _: Admin) -> ApiResult<Response> {
    let applied = node.state.applied_index();
    node.raft
        .trigger()
        .snapshot()
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    let built = node
        .raft
        .wait(Some(std::time::Duration::from_secs(30)))
        .metrics(
            |m| m.snapshot.as_ref().is_some_and(|s| s.index >= applied),
            "snapshot built",
        )
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    let index = built.snapshot.map_or(0, |s| s.index);
    node.raft
        .trigger()
        .purge_log(index)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    // Purging is asynchronous (openraft defers it while a replication still reads those
    // entries): answer once it happened, or say it is still pending.
    let purged = node
        .raft
        .wait(Some(std::time::Duration::from_secs(10)))
        .metrics(
            |m| m.purged.as_ref().is_some_and(|p| p.index >= index),
            "log purged",
        )
        .await
        .is_ok();
    let body = serde_json::json!({"snapshot_index": index, "purged": purged});
    Ok(axum::Json(body).into_response())
}
