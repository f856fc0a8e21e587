//! Operations endpoints: `/healthz`, `/readyz`, `/metrics`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use openraft::async_runtime::WatchReceiver;

use super::AppState;
use crate::metrics::{metric, sample};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Ready: a member with a known leader, its state machine caught up with its log, and in
/// contact with a quorum within its lease.
async fn readyz(State(node): State<AppState>) -> impl IntoResponse {
    let m = node.raft.metrics().borrow_watched().clone();
    let member = m
        .membership_config
        .membership()
        .get_node(&node.id)
        .is_some();
    let applied = m.last_applied.as_ref().map_or(0, |l| l.index);
    let caught_up = m.last_log_index.unwrap_or(0) <= applied + 1;
    let quorum = node.has_quorum_contact();
    let body = serde_json::json!({
        "member": member,
        "leader_id": m.current_leader,
        "applied_index": applied,
        "caught_up": caught_up,
        "quorum_contact": quorum,
    });
    let ready = member && m.current_leader.is_some() && caught_up && quorum;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}

async fn metrics(State(node): State<AppState>) -> impl IntoResponse {
    let m = node.raft.metrics().borrow_watched().clone();
    let mut out = String::new();
    let is_leader = u8::from(m.current_leader == Some(node.id));
    metric(
        &mut out,
        "meridian_raft_term",
        "gauge",
        "Current Raft term.",
        m.current_term,
    );
    metric(
        &mut out,
        "meridian_raft_is_leader",
        "gauge",
        "1 if this node leads.",
        is_leader,
    );
    let applied = m.last_applied.as_ref().map_or(0, |l| l.index);
    metric(
        &mut out,
        "meridian_raft_applied_index",
        "gauge",
        "Last applied log index.",
        applied,
    );
    metric(
        &mut out,
        "meridian_raft_last_log_index",
        "gauge",
        "Last log index.",
        m.last_log_index.unwrap_or(0),
    );
    let wal = node.wal_stats.as_ref();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    metric(
        &mut out,
        "meridian_wal_fsyncs_total",
        "counter",
        "fdatasync calls of the Raft log.",
        load(&wal.syncs),
    );
    metric(
        &mut out,
        "meridian_wal_records_total",
        "counter",
        "Records written to the Raft log.",
        load(&wal.records),
    );
    metric(
        &mut out,
        "meridian_wal_bytes_total",
        "counter",
        "Bytes written to the Raft log.",
        load(&wal.bytes),
    );
    metric(
        &mut out,
        "meridian_wal_compactions_total",
        "counter",
        "Raft log compactions.",
        load(&wal.compactions),
    );
    let sm = node.state.persist_stats();
    metric(
        &mut out,
        "meridian_sm_persist_batches_total",
        "counter",
        "Sled batches written by the state machine's persister.",
        load(&sm.batches),
    );
    metric(
        &mut out,
        "meridian_sm_persist_records_total",
        "counter",
        "Records written to sled by the state machine's persister.",
        load(&sm.records),
    );
    let c = &node.metrics;
    metric(
        &mut out,
        "meridian_writes_total",
        "counter",
        "Writes applied through this node.",
        c.writes.get(),
    );
    metric(
        &mut out,
        "meridian_writes_forwarded_total",
        "counter",
        "Writes forwarded to the leader.",
        c.writes_forwarded.get(),
    );
    metric(
        &mut out,
        "meridian_write_batches_total",
        "counter",
        "Batches of writes this node proposed to Raft as the leader.",
        c.write_batches.get(),
    );
    metric(
        &mut out,
        "meridian_linearizable_reads_total",
        "counter",
        "Read barriers run.",
        c.linearizable_reads.get(),
    );
    out.push_str("# HELP meridian_http_responses_total HTTP responses by status class.\n# TYPE meridian_http_responses_total counter\n");
    sample(
        &mut out,
        "meridian_http_responses_total",
        "class=\"2xx\"",
        c.http_2xx.get(),
    );
    sample(
        &mut out,
        "meridian_http_responses_total",
        "class=\"4xx\"",
        c.http_4xx.get(),
    );
    sample(
        &mut out,
        "meridian_http_responses_total",
        "class=\"5xx\"",
        c.http_5xx.get(),
    );
    metric(
        &mut out,
        "meridian_liveness_marked_down_total",
        "counter",
        "Nodes this node marked down as leader.",
        c.liveness_marked_down.get(),
    );
    metric(
        &mut out,
        "meridian_liveness_marked_up_total",
        "counter",
        "Nodes this node marked up as leader.",
        c.liveness_marked_up.get(),
    );
    metric(
        &mut out,
        "meridian_quorum_contact",
        "gauge",
        "1 if this node heard from a quorum within its lease.",
        u8::from(node.has_quorum_contact()),
    );
    node.pollers.render_metrics(&mut out);
    node.notifier.metrics().render(&mut out);
    node.series.render_metrics(&mut out);
    node.evaluators
        .metrics
        .render(&mut out, &node.evaluators.intake);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
}
