//! The alarm evaluator: observations of the checks whose shard this node evaluates come in
//! (from this node's pollers and, over the peer connection, from every other node's); the pure
//! `meridian-alarm` decides; transitions are committed through Raft as a compare-and-set on the
//! alarm's `seq`; committed transitions become deliveries for the notifier.
//!
//! `forward` routes observations to evaluators; `runner` is the evaluation loop; `convert`
//! turns observations into the alarm crate's type.

pub mod convert;
pub mod forward;
pub mod runner;

use std::collections::VecDeque;
use std::sync::Mutex;

use futures::future::BoxFuture;
use meridian_raft::model::{CommandResult, Op};

use crate::metrics::{Counter, metric};
use crate::poller::sink::ObservationSink;

/// Most observations waiting in the evaluator's intake; the oldest are dropped past it.
pub const INTAKE_MAX: usize = 100_000;
/// Most deliveries waiting for the notifier; the oldest are dropped past it (a new evaluator
/// re-delivers what has no delivery record).
pub const OUTBOX_MAX: usize = 100_000;

/// What the evaluator needs of the cluster: propose a change, and know whether it still hears
/// from a quorum (its lease).
pub trait Cluster: Send + Sync + 'static {
    fn propose(&self, op: Op) -> BoxFuture<'_, crate::Result<CommandResult>>;
    fn has_quorum_contact(&self) -> bool;
}

impl Cluster for crate::node::Node {
    fn propose(&self, op: Op) -> BoxFuture<'_, crate::Result<CommandResult>> {
        Box::pin(self.write(op, None))
    }

    fn has_quorum_contact(&self) -> bool {
        crate::node::Node::has_quorum_contact(self)
    }
}

/// One (transition, notification) to deliver, with the facts the message shows.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryJob {
    pub delivery: meridian_alarm::Delivery,
    pub tenant: String,
    pub entity_id: String,
    pub check_id: String,
    pub alarm_id: String,
    pub previous_state: String,
    pub message: String,
    pub zone_states: std::collections::BTreeMap<String, String>,
    /// Commit time of the transition, ms.
    pub timestamp: i64,
}

/// The evaluator's shared parts: its intake, the deliveries it made out, its counters.
#[derive(Default)]
pub struct Evaluators {
    /// Observations for the alarms this node evaluates.
    pub intake: ObservationSink,
    outbox: Mutex<VecDeque<DeliveryJob>>,
    pub outbox_ready: tokio::sync::Notify,
    pub metrics: EvalMetrics,
}

impl Evaluators {
    /// Queues a delivery for the notifier, dropping the oldest past `OUTBOX_MAX`.
    pub fn deliver(&self, job: DeliveryJob) {
        let mut q = self.outbox.lock().expect("outbox lock");
        if q.len() >= OUTBOX_MAX {
            q.pop_front();
            self.metrics.deliveries_dropped.inc();
        }
        q.push_back(job);
        drop(q);
        self.outbox_ready.notify_one();
    }

    /// Takes up to `max` queued deliveries, oldest first.
    pub fn take_deliveries(&self, max: usize) -> Vec<DeliveryJob> {
        let mut q = self.outbox.lock().expect("outbox lock");
        let n = q.len().min(max);
        q.drain(..n).collect()
    }
}

#[derive(Debug, Default)]
pub struct EvalMetrics {
    pub evaluations: Counter,
    pub proposed: Counter,
    pub committed: Counter,
    pub lost_cas: Counter,
    pub propose_failed: Counter,
    pub forwarded: Counter,
    pub forward_dropped: Counter,
    pub unrouted: Counter,
    pub observations_refused: Counter,
    pub lease_paused: Counter,
    pub rechecks: Counter,
    pub deliveries_dropped: Counter,
    pub alarms: std::sync::atomic::AtomicI64,
}

impl EvalMetrics {
    /// Appends the evaluator's metrics in the Prometheus text format.
    pub fn render(&self, out: &mut String, intake: &ObservationSink) {
        let c = |out: &mut String, n: &str, h: &str, v: u64| metric(out, n, "counter", h, v);
        c(
            out,
            "meridian_evaluations_total",
            "Alarm evaluations.",
            self.evaluations.get(),
        );
        c(
            out,
            "meridian_transitions_proposed_total",
            "Alarm transitions proposed.",
            self.proposed.get(),
        );
        c(
            out,
            "meridian_transitions_committed_total",
            "Alarm transitions committed by this node.",
            self.committed.get(),
        );
        c(
            out,
            "meridian_transitions_lost_cas_total",
            "Proposed transitions another evaluator committed first.",
            self.lost_cas.get(),
        );
        c(
            out,
            "meridian_observations_forwarded_total",
            "Observations sent to another node's evaluator.",
            self.forwarded.get(),
        );
        c(
            out,
            "meridian_observations_forward_dropped_total",
            "Observations an evaluator on another node did not take.",
            self.forward_dropped.get(),
        );
        c(
            out,
            "meridian_evaluator_lease_paused_total",
            "Evaluation rounds skipped without quorum contact.",
            self.lease_paused.get(),
        );
        c(
            out,
            "meridian_rechecks_total",
            "Immediate re-checks asked for.",
            self.rechecks.get(),
        );
        let dropped = intake.queues().iter().map(|q| q.2).sum::<u64>();
        c(
            out,
            "meridian_evaluator_observations_dropped_total",
            "Observations the evaluator's full intake dropped.",
            dropped,
        );
        let alarms = self.alarms.load(std::sync::atomic::Ordering::Relaxed);
        metric(
            out,
            "meridian_alarms_evaluated",
            "gauge",
            "Alarms this node evaluates.",
            alarms,
        );
    }
}

/// Re-checks go to the zone's poller of the check: this node's pollers, or another node's over
/// the peer connection (best effort: a lost request costs at most one period).
pub struct PollerRechecks {
    pub node_id: u64,
    pub placement: crate::placement_view::PlacementView,
    pub peers: meridian_raft::network::Peers,
    pub pollers: std::sync::Arc<crate::poller::Pollers>,
}

impl runner::Rechecks for PollerRechecks {
    fn recheck(&self, tenant: &str, check_id: &str, zone: &str) {
        let a = self.placement.assignment();
        let shard = crate::poller::schedule::check_shard(tenant, check_id, a.n_shards);
        let Some(owner) = a.poller_owner(shard, zone) else {
            return;
        };
        let checks = vec![check_id.to_string()];
        if owner == self.node_id {
            self.pollers.request_recheck(tenant, &checks);
            return;
        }
        let Some(addr) = self
            .placement
            .state()
            .read(|s| s.member(owner).map(|m| m.addr.clone()))
        else {
            return;
        };
        let req = meridian_proto::RecheckRequest {
            target_node_id: owner,
            tenant_id: tenant.to_string(),
            check_ids: checks,
        };
        let peers = self.peers.clone();
        tokio::spawn(async move {
            if let Ok(mut c) = peers.client(&addr) {
                let _ = c.recheck(peers.request(req, forward::PUSH_TIMEOUT)).await;
            }
        });
    }
}

/// Starts the observation forwarder and the evaluation loop of `node`.
pub fn spawn(
    node: &std::sync::Arc<crate::node::Node>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>) {
    let source = node.pollers.sink.subscribe("evaluator-forward", INTAKE_MAX);
    let forward = tokio::spawn(forward::run(
        node.id,
        node.placement.clone(),
        node.peers.clone(),
        source,
        node.evaluators.clone(),
        stop.clone(),
    ));
    let intake = node.evaluators.intake.subscribe("evaluator", INTAKE_MAX);
    let rechecks = std::sync::Arc::new(PollerRechecks {
        node_id: node.id,
        placement: node.placement.clone(),
        peers: node.peers.clone(),
        pollers: node.pollers.clone(),
    });
    let cfg = runner::Config {
        node_id: node.id,
        region: node.cfg.region.clone(),
    };
    let cluster: std::sync::Arc<dyn Cluster> = node.clone();
    let evaluator = tokio::spawn(runner::run(
        cfg,
        node.placement.clone(),
        cluster,
        rechecks,
        node.evaluators.clone(),
        intake,
        stop.clone(),
    ));
    (forward, evaluator)
}
