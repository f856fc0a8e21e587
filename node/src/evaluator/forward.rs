//! Carries every observation from the pollers of this node to the evaluator of its check's
//! shard: into this node's intake when it evaluates that shard, otherwise over the peer
//! connection in batches. Bounded all along: the pollers' sink drops its oldest entries when
//! this falls behind, and a batch a peer does not take is dropped and counted (the next poll
//! brings a fresher observation).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use meridian_proto::ObservationBatch;
use meridian_raft::network::Peers;
use tokio::sync::watch;

use super::Evaluators;
use crate::placement_view::PlacementView;
use crate::poller::Observation;
use crate::poller::schedule::check_shard;
use crate::poller::sink::Subscription;

/// Most observations taken from the sink at once (and so in one peer batch).
pub const FORWARD_BATCH_MAX: usize = 1024;
/// How long a peer has to take a batch.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs until `stop` turns true.
pub async fn run(
    node_id: u64,
    placement: PlacementView,
    peers: Peers,
    source: Subscription,
    evaluators: Arc<Evaluators>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let batch = tokio::select! {
            b = source.next_batch(FORWARD_BATCH_MAX) => b,
            _ = stop.changed() => return,
        };
        let a = placement.assignment();
        let addrs: BTreeMap<u64, String> = placement
            .state()
            .read(|s| s.members().map(|m| (m.id, m.addr.clone())).collect());
        let mut remote: BTreeMap<u64, Vec<meridian_proto::Observation>> = BTreeMap::new();
        for o in batch {
            let shard = check_shard(&o.tenant_id, &o.check_id, a.n_shards);
            match a.evaluator(shard) {
                Some(ev) if ev == node_id => evaluators.intake.publish(Observation::clone(&o)),
                Some(ev) => remote.entry(ev).or_default().push((&*o).into()),
                None => evaluators.metrics.unrouted.inc(),
            }
        }
        let sends = remote.into_iter().map(|(ev, values)| {
            let addr = addrs.get(&ev).cloned().unwrap_or_default();
            let peers = &peers;
            let evaluators = &evaluators;
            async move {
                let n = values.len() as u64;
                let batch = ObservationBatch {
                    target_node_id: ev,
                    values,
                };
                let sent = match peers.client(&addr) {
                    Ok(mut c) => c
                        .push_observations(peers.request(batch, PUSH_TIMEOUT))
                        .await
                        .is_ok(),
                    Err(_) => false,
                };
                if sent {
                    evaluators.metrics.forwarded.add(n);
                } else {
                    evaluators.metrics.forward_dropped.add(n);
                }
            }
        });
        futures::future::join_all(sends).await;
    }
}
