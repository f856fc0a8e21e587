//! The notifier: delivers each (transition, notification) at least once. A bounded queue of
//! deliveries; each is tried, and retried with exponential backoff and jitter (1 s to 5 min)
//! until it is sent, refused for good (4xx other than 408/429), or `--delivery-give-up-s` has
//! passed; attempts are bounded per node and per receiver host. The final outcome goes to the
//! node's `Outcomes`, which commits it as the delivery record.
//!
//! Architecture invariant: every HTTP notification leaves through the node's one dial path
//! (`Dial`), so endpoints pass the address policy like check targets; redirects are not
//! followed and no environment proxy is used.
//!
//! Architecture invariant: an outcome is reported only when a delivery is finished. A delivery
//! cut short by shutdown reports nothing, so the evaluator that resumes the alarm sends it
//! again (at least once; receivers drop repeats by `event_id`).

pub mod channels;
pub mod delivery;
pub mod error;
pub mod http;
pub mod metrics;
pub mod pump;
pub mod queue;
pub mod retry;
pub mod signing;
pub mod test_send;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, warn};

pub use channels::Outgoing;
pub use channels::email::SmtpRelay;
pub use delivery::{Delivery, DeliveryOutcome, Facts, OutcomeStatus, Subject, ZoneFact};
pub use error::{SendError, SubmitError};
pub use http::{Attempt, Dial, HttpSender, Io};
pub use metrics::NotifierMetrics;
pub use queue::Limits;
pub use retry::{Next, RetryPolicy};
pub use test_send::TestReport;

/// Where finished deliveries go: the node commits each as a delivery record. `done` may wait
/// (the delivery keeps its queue place until it returns), which bounds outcomes not yet taken.
pub trait Outcomes: Send + Sync + 'static {
    fn done(&self, outcome: DeliveryOutcome) -> BoxFuture<'_, ()>;
}

/// Outcomes into a bounded channel; a closed channel drops them (the node is stopping).
impl Outcomes for mpsc::Sender<DeliveryOutcome> {
    fn done(&self, outcome: DeliveryOutcome) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.send(outcome).await;
        })
    }
}

/// The wall clock, ms since the epoch, for the outcome's timestamps (retry timing uses tokio's
/// clock, which tests pause).
pub type WallClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system wall clock.
pub fn system_clock() -> WallClock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    })
}

/// The notifier's settings.
#[derive(Debug, Clone, Copy)]
pub struct NotifierConfig {
    /// When to stop retrying (`--delivery-give-up-s`).
    pub retry: RetryPolicy,
    /// Attempts at once on the node (`--deliveries-in-flight-max`).
    pub in_flight_max: usize,
    /// Attempts at once to one host.
    pub host_in_flight_max: usize,
    /// Deliveries pending at once.
    pub queued_max: usize,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            retry: RetryPolicy::default(),
            in_flight_max: queue::DELIVERIES_IN_FLIGHT_DEFAULT,
            host_in_flight_max: queue::HOST_IN_FLIGHT_MAX,
            queued_max: queue::DELIVERIES_QUEUED_MAX,
        }
    }
}

/// How requests leave: HTTP through the dial path, e-mail through the relay (none configured:
/// e-mail deliveries fail, naming the missing setting).
#[derive(Clone)]
pub struct Channels {
    pub http: HttpSender,
    pub smtp: Option<SmtpRelay>,
}

impl Channels {
    /// The channels of a node: HTTP through `dial` (the node's `Dialer`), e-mail through the
    /// relay of `--smtp-url`/`--smtp-from` when set; errors name the setting.
    pub fn from_config(
        config: &crate::config::Config,
        dial: Arc<dyn Dial>,
    ) -> crate::error::Result<Channels> {
        let smtp = match (&config.smtp_url, &config.smtp_from) {
            (Some(url), Some(from)) => Some(
                SmtpRelay::new(url, from, http::ATTEMPT_TIMEOUT_DEFAULT)
                    .map_err(crate::error::Error::Config)?,
            ),
            _ => None,
        };
        Ok(Channels {
            http: HttpSender::new(dial, http::ATTEMPT_TIMEOUT_DEFAULT),
            smtp,
        })
    }

    /// One attempt to send `out`.
    pub async fn send(&self, out: &Outgoing) -> Attempt {
        match out {
            Outgoing::Post(p) => self.http.post(p).await,
            Outgoing::Mail(m) => match &self.smtp {
                Some(relay) => Attempt {
                    result: relay.send(m).await,
                    http_status: None,
                },
                None => Attempt::failed(SendError::Permanent(
                    "email: no relay configured (--smtp-url, --smtp-from)".into(),
                )),
            },
        }
    }
}

/// The key deliveries are limited by: the receiver's host, or the relay for e-mail.
fn host_key(d: &Delivery) -> String {
    use crate::spec::NotificationSpec as N;
    match &d.notification {
        N::Webhook { url, .. } | N::Slack { url } | N::PagerDuty { endpoint: url, .. } => {
            url.host_str().unwrap_or_default().to_string()
        }
        N::Email { .. } => "smtp relay".to_string(),
    }
}

struct Inner {
    config: NotifierConfig,
    channels: Channels,
    outcomes: Arc<dyn Outcomes>,
    limits: Arc<Limits>,
    metrics: Arc<NotifierMetrics>,
    clock: WallClock,
    shutdown: watch::Receiver<bool>,
}

/// The handle the evaluator submits deliveries to. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
    stop: Arc<watch::Sender<bool>>,
}

impl Notifier {
    pub fn new(
        config: NotifierConfig,
        channels: Channels,
        outcomes: Arc<dyn Outcomes>,
        clock: WallClock,
    ) -> Notifier {
        let (stop, shutdown) = watch::channel(false);
        let limits = Limits::new(
            config.queued_max,
            config.in_flight_max,
            config.host_in_flight_max,
        );
        let inner = Inner {
            config,
            channels,
            outcomes,
            limits,
            metrics: Arc::new(NotifierMetrics::default()),
            clock,
            shutdown,
        };
        Notifier {
            inner: Arc::new(inner),
            stop: Arc::new(stop),
        }
    }

    /// Takes `d` for delivery, or refuses it when the queue is full or the notifier stopped
    /// (the caller tries again later; nothing was recorded).
    pub fn submit(&self, d: Delivery) -> Result<(), SubmitError> {
        if *self.stop.borrow() {
            return Err(SubmitError::Closed);
        }
        let slot = self.inner.limits.admit().inspect_err(|_| {
            self.inner.metrics.rejected_full.inc();
        })?;
        self.inner.metrics.queued.inc();
        let inner = self.inner.clone();
        tokio::spawn(async move {
            inner.deliver(d).await;
            inner.metrics.queued.dec();
            drop(slot);
        });
        Ok(())
    }

    /// Sends one test notification now (one attempt, no retry) and reports how it went.
    pub async fn test(
        &self,
        notification: crate::spec::NotificationSpec,
        tenant: &str,
    ) -> TestReport {
        let now_ms = (self.inner.clock)();
        test_send::send(&self.inner.channels, notification, tenant, now_ms).await
    }

    /// Deliveries pending now.
    pub fn queued(&self) -> usize {
        self.inner.limits.queued()
    }

    pub fn metrics(&self) -> &Arc<NotifierMetrics> {
        &self.inner.metrics
    }

    /// Stops taking deliveries and abandons pending ones without reporting them.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Inner {
    async fn deliver(&self, d: Delivery) {
        let accepted = Instant::now();
        let mut shutdown = self.shutdown.clone();
        let host = host_key(&d);
        let first_attempt_at_ms = (self.clock)();
        let first = Instant::now();
        let mut attempts = 0u32;
        let last = loop {
            attempts += 1;
            let attempt = tokio::select! {
                a = self.attempt(&d, &host) => a,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let retry_after = match &attempt.result {
                Ok(()) | Err(SendError::Permanent(_)) => break attempt,
                Err(SendError::Transient { retry_after, .. }) => *retry_after,
            };
            let elapsed = first.elapsed().as_millis() as u64;
            let jitter = rand::rng().random::<f64>();
            let after_ms = retry_after.map(|d| d.as_millis() as u64);
            let wait = match retry::next(self.config.retry, attempts, elapsed, jitter, after_ms) {
                Next::GiveUp => break attempt,
                Next::RetryIn(ms) => Duration::from_millis(ms),
            };
            debug!(
                event_id = d.event_id,
                attempts,
                wait_ms = wait.as_millis() as u64,
                "retrying"
            );
            self.metrics.retry_waiting.inc();
            let stopped = tokio::select! {
                _ = tokio::time::sleep(wait) => false,
                _ = shutdown.wait_for(|s| *s) => true,
            };
            self.metrics.retry_waiting.dec();
            if stopped {
                return;
            }
        };
        let sent = last.result.is_ok();
        if let Err(e) = &last.result {
            warn!(event_id = d.event_id, attempts, error = %e, "delivery failed");
        }
        self.metrics.done(d.notification.kind(), sent);
        self.metrics.latency.observe(accepted.elapsed());
        let outcome = DeliveryOutcome {
            event_id: d.event_id.clone(),
            notification_id: d.notification_id.clone(),
            kind: d.notification.kind(),
            state: d.facts.state,
            status: if sent {
                OutcomeStatus::Sent
            } else {
                OutcomeStatus::Failed
            },
            attempts,
            last_error: last.result.err().map(|e| e.to_string()),
            http_status: last.http_status,
            first_attempt_at_ms,
            done_at_ms: (self.clock)(),
        };
        self.outcomes.done(outcome).await;
    }

    async fn attempt(&self, d: &Delivery, host: &str) -> Attempt {
        let _permit = self.limits.acquire(host).await;
        self.metrics.attempts.inc();
        let _in_flight = InFlight::new(&self.metrics.in_flight);
        let now_s = (self.clock)().div_euclid(1000);
        self.channels.send(&channels::render(d, now_s)).await
    }
}

/// Counts an attempt in flight until dropped, also when shutdown drops the attempt.
struct InFlight<'a>(&'a metrics::Gauge);

impl<'a> InFlight<'a> {
    fn new(g: &'a metrics::Gauge) -> Self {
        g.inc();
        InFlight(g)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
