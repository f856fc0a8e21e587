//! Check metrics: every observation's numeric metrics (ints, doubles, bools as 0/1) become
//! points of `namespace=check`, name = the metric name, dimensions {entity, check, zone},
//! written in batches through the routed write path.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use meridian_raft::network::Peers;
use meridian_tsdb::{SeriesKey, SeriesPoints};

use super::{Series, SeriesRoute};
use crate::placement_view::PlacementView;
use crate::poller::Observation;
use crate::poller::sink::Subscription;

/// The namespace of check metrics (spec/checks.md).
pub const NAMESPACE: &str = "check";
/// Observations the check-metrics queue holds before the oldest is dropped.
pub const CHECK_QUEUE_MAX: usize = 100_000;
/// Most observations written in one batch.
pub const CHECK_BATCH_MAX: usize = 1_000;
/// Tries of one batch before it is counted lost (the owner was unreachable all along).
pub const CHECK_WRITE_TRIES_MAX: u32 = 3;
/// Pause between tries of one batch.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// The series key of one check metric.
pub fn check_key(o: &Observation, metric: &str) -> SeriesKey {
    SeriesKey::new(&o.tenant_id, NAMESPACE, metric)
        .with("entity", &o.entity_id)
        .with("check", &o.check_id)
        .with("zone", &o.monitoring_zone_id)
}

/// Points of a batch of observations, grouped per tenant; string metrics have none.
pub fn to_points(obs: &[Arc<Observation>]) -> BTreeMap<String, Vec<SeriesPoints>> {
    let mut out: BTreeMap<String, BTreeMap<SeriesKey, Vec<(i64, f64)>>> = BTreeMap::new();
    for o in obs {
        for (name, m) in &o.metrics {
            let Some(v) = m.value.as_f64() else { continue };
            let key = check_key(o, name);
            if key.validate().is_err() {
                continue; // an id or name past the series limits cannot be stored
            }
            out.entry(o.tenant_id.clone())
                .or_default()
                .entry(key)
                .or_default()
                .push((o.timestamp, v));
        }
    }
    out.into_iter()
        .map(|(t, series)| {
            let batch = series
                .into_iter()
                .map(|(key, points)| SeriesPoints { key, points })
                .collect();
            (t, batch)
        })
        .collect()
}

/// Subscribes to the pollers' stream and starts the writer until `stop` turns true.
pub fn spawn(
    node: &Arc<crate::node::Node>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let sub = node.pollers.sink.subscribe("series", CHECK_QUEUE_MAX);
    let writer = CheckWriter {
        node_id: node.id,
        series: node.series.clone(),
        peers: node.peers.clone(),
        placement: node.placement.clone(),
    };
    tokio::spawn(writer.run(sub, stop))
}

/// What the writer needs: the store and the routing handles.
pub struct CheckWriter {
    pub node_id: u64,
    pub series: Arc<Series>,
    pub peers: Peers,
    pub placement: PlacementView,
}

impl CheckWriter {
    /// Writes check metrics from `sub` until `stop` turns true.
    pub async fn run(self, sub: Subscription, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let batch = tokio::select! {
                b = sub.next_batch(CHECK_BATCH_MAX) => b,
                _ = stop.wait_for(|s| *s) => return,
            };
            for (tenant, points) in to_points(&batch) {
                self.write(&tenant, points).await;
            }
        }
    }

    async fn write(&self, tenant: &str, points: Vec<SeriesPoints>) {
        let n: usize = points.iter().map(|s| s.points.len()).sum();
        let route = SeriesRoute {
            node_id: self.node_id,
            series: &self.series,
            peers: &self.peers,
            placement: &self.placement,
        };
        for attempt in 1..=CHECK_WRITE_TRIES_MAX {
            match route.write(tenant, points.clone()).await {
                Ok(_) => {
                    self.series.metrics.check_points.add(n as u64);
                    return;
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "check metrics write failed");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
        self.series.metrics.check_batches_lost.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::observation::Metric;

    fn obs(tenant: &str, ts: i64) -> Arc<Observation> {
        let mut metrics = BTreeMap::new();
        metrics.insert("duration".to_string(), Metric::ms(12.5));
        metrics.insert("tls".to_string(), Metric::bool(true));
        metrics.insert("body".to_string(), Metric::string("x"));
        Arc::new(Observation {
            check_id: "ch1".into(),
            entity_id: "en1".into(),
            tenant_id: tenant.into(),
            monitoring_zone_id: "eu".into(),
            node_id: 1,
            timestamp: ts,
            available: true,
            status: "ok".into(),
            metrics,
        })
    }

    #[test]
    fn numeric_metrics_become_points_per_tenant_and_strings_are_skipped() {
        let got = to_points(&[obs("t1", 1_000), obs("t1", 2_000), obs("t2", 3_000)]);
        let t1 = &got["t1"];
        assert_eq!(t1.len(), 2);
        let d = t1.iter().find(|s| s.key.name == "duration").unwrap();
        assert_eq!(d.points, vec![(1_000, 12.5), (2_000, 12.5)]);
        assert_eq!(d.key.dimensions["zone"], "eu");
        assert_eq!(d.key.dimensions["check"], "ch1");
        assert_eq!(d.key.namespace, NAMESPACE);
        let tls = t1.iter().find(|s| s.key.name == "tls").unwrap();
        assert_eq!(tls.points, vec![(1_000, 1.0), (2_000, 1.0)]);
        assert_eq!(got["t2"].len(), 2);
    }
}
