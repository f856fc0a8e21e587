//! Pollers: the (check, zone) pairs this node owns for its region, polled on a fixed cadence
//! through one dial path that enforces the address policy.
//!
//! `schedule` is the pure schedule math; `runner` the poll loop; `policy` the address policy;
//! the probes turn a check into an outcome; `store` keeps the newest observation per check for
//! the results API; `sink` is the bounded outbound stream later subsystems subscribe to.

pub mod certs;
pub mod dial;
pub mod metrics;
pub mod observation;
pub mod policy;
pub mod probes;
pub mod remote;
pub mod runner;
pub mod schedule;
pub mod sink;
pub mod store;
pub mod tls;
pub mod wire;

use futures::future::BoxFuture;

pub use observation::{Metric, MetricValue, Observation, ProbeOutcome};

use crate::spec::CheckSpec;

/// Runs one check once: the probes behind the dial path.
pub trait Probe: Send + Sync + 'static {
    /// Polls `spec` at `host` (the resolved alias or host name; `None` when an alias is gone).
    fn probe<'a>(
        &'a self,
        spec: &'a CheckSpec,
        host: Option<&'a str>,
    ) -> BoxFuture<'a, ProbeOutcome>;
    /// How this node sends pings: "datagram", "raw" or "none".
    fn icmp_mode(&self) -> &'static str;
}

impl Probe for probes::ProbeContext {
    fn probe<'a>(
        &'a self,
        spec: &'a CheckSpec,
        host: Option<&'a str>,
    ) -> BoxFuture<'a, ProbeOutcome> {
        Box::pin(probes::run(self, spec, host))
    }

    fn icmp_mode(&self) -> &'static str {
        self.icmp.as_str()
    }
}

/// The node's dial path for other tenant-given endpoints (notifications): the same policy and
/// resolver as the probes.
pub fn node_dialer(cfg: &crate::config::Config) -> dial::Dialer {
    let policy = policy::AddressPolicy::new(cfg.allow_private_targets, &cfg.allow_targets);
    dial::Dialer::new(policy, std::sync::Arc::new(dial::SystemResolver))
}

/// The node's probes: the operator's address policy, the system resolver, the ICMP mode found
/// at start.
pub fn node_probes(cfg: &crate::config::Config) -> Box<dyn Probe> {
    let policy = policy::AddressPolicy::new(cfg.allow_private_targets, &cfg.allow_targets);
    Box::new(probes::ProbeContext::new(policy))
}

/// What the pollers of one node share with the rest of it: the probes, the newest observations,
/// the outbound stream and the counters.
pub struct Pollers {
    pub latest: store::LatestStore,
    pub sink: sink::ObservationSink,
    pub metrics: metrics::PollerMetrics,
    probe: Box<dyn Probe>,
    /// Checks an evaluator asked to poll now, taken by the poll loop.
    rechecks: std::sync::Mutex<Vec<(String, String)>>,
    pub(crate) recheck_ready: tokio::sync::Notify,
}

/// Most re-check requests waiting for the poll loop; more are dropped (the next regular poll
/// comes within a period anyway).
pub const RECHECKS_MAX: usize = 10_000;

impl Pollers {
    pub fn new(probe: Box<dyn Probe>) -> Pollers {
        Pollers {
            latest: Default::default(),
            sink: Default::default(),
            metrics: Default::default(),
            probe,
            rechecks: Default::default(),
            recheck_ready: Default::default(),
        }
    }

    /// Asks the poll loop to poll `checks` of `tenant` now (those this node polls).
    pub fn request_recheck(&self, tenant: &str, checks: &[String]) {
        let mut q = self.rechecks.lock().expect("recheck lock");
        for c in checks {
            if q.len() >= RECHECKS_MAX {
                break;
            }
            q.push((tenant.to_string(), c.clone()));
        }
        drop(q);
        self.recheck_ready.notify_one();
    }

    /// The waiting re-check requests, emptied.
    pub(crate) fn take_rechecks(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.rechecks.lock().expect("recheck lock"))
    }

    /// Runs `spec` once, cancelled (as a timeout) past its timeout.
    pub async fn poll(&self, spec: &CheckSpec, host: Option<&str>) -> ProbeOutcome {
        runner::with_timeout(spec.timeout_s, self.probe.probe(spec, host)).await
    }

    /// Counts a finished poll.
    pub fn record(&self, check_type: &'static str, outcome: &ProbeOutcome) {
        self.metrics.count(check_type, runner::outcome_of(outcome));
    }

    /// Keeps `o` as its check's newest and offers it to the subscribers.
    pub fn publish(&self, o: Observation) {
        if !self.latest.put(&o) {
            self.metrics.latest_dropped.inc();
        }
        self.sink.publish(o);
    }

    pub fn icmp_mode(&self) -> &'static str {
        self.probe.icmp_mode()
    }

    /// Appends the pollers' metrics in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        self.metrics
            .render(out, self.icmp_mode(), &self.sink.queues());
    }
}
