//! The notifier's place in the node: the evaluator's queued deliveries become `Delivery`s with
//! their notification's spec and the objects as the API shows them; every finished delivery
//! becomes a delivery record through Raft, so a new evaluator re-sends only what has none.

use std::sync::Arc;
use std::time::Duration;

use meridian_raft::model::{ConfigState, DeliveryFacts, ObjectKind, ObjectRecord, Op};
use tokio::sync::{mpsc, watch};

use super::delivery::{Delivery, DeliveryOutcome, Facts, Subject};
use super::error::SubmitError;
use super::{Notifier, Outcomes};
use crate::evaluator::{Cluster, DeliveryJob, Evaluators};
use crate::placement_view::PlacementView;
use crate::spec::NotificationSpec;

/// Most jobs taken from the evaluator's outbox per round.
pub const PUMP_BATCH_MAX: usize = 256;
/// Finished deliveries waiting to be recorded; the notifier waits when it is full.
pub const OUTCOMES_QUEUED_MAX: usize = 1024;
/// How long a full notifier is left alone before jobs are offered again.
const FULL_BACKOFF: Duration = Duration::from_millis(500);
/// Attempts to commit one delivery record.
const RECORD_ATTEMPTS_MAX: u32 = 5;

/// The outcomes channel: the notifier's end and the recorder's end.
pub fn outcomes() -> (Arc<dyn Outcomes>, mpsc::Receiver<DeliveryOutcome>) {
    let (tx, rx) = mpsc::channel(OUTCOMES_QUEUED_MAX);
    (Arc::new(tx), rx)
}

/// Moves jobs from the evaluator's outbox to the notifier until `stop`.
pub async fn run(
    view: PlacementView,
    evaluators: Arc<Evaluators>,
    notifier: Notifier,
    outcomes: Arc<dyn Outcomes>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = evaluators.outbox_ready.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            notifier.shutdown();
            return;
        }
        let jobs = evaluators.take_deliveries(PUMP_BATCH_MAX);
        let mut full = false;
        for job in jobs {
            if full {
                evaluators.deliver(job);
                continue;
            }
            let a = view.assignment();
            let Some(d) = view.state().read(|s| delivery_of(s, &a, &job)) else {
                continue;
            };
            if job.delivery.suppressed {
                let kind = d.notification.kind();
                let o = DeliveryOutcome::suppressed(&job.delivery, kind, crate::node::now_ms());
                outcomes.done(o).await;
                continue;
            }
            if let Err(SubmitError::Full(_) | SubmitError::Closed) = notifier.submit(d) {
                full = true;
                evaluators.deliver(job);
            }
        }
        if full {
            tokio::time::sleep(FULL_BACKOFF).await;
        }
    }
}

/// The delivery of `job`, unless it is already recorded or its notification is gone.
fn delivery_of(
    s: &ConfigState,
    a: &meridian_placement::Assignment,
    job: &DeliveryJob,
) -> Option<Delivery> {
    let d = &job.delivery;
    if s.delivery(&d.event_id, &d.notification_id).is_some() {
        return None;
    }
    let rec = s.object(&job.tenant, ObjectKind::Notification, &d.notification_id)?;
    let spec = NotificationSpec::from_record(rec).ok()?;
    let mut facts = Facts::from_job(job);
    let subject = |kind: ObjectKind, id: &str| -> Option<Subject> {
        let o: &ObjectRecord = s.object(&job.tenant, kind, id)?;
        let view = crate::http::shown(s, a, o);
        let label = view.get("label").and_then(|l| l.as_str()).unwrap_or(id);
        Some(Subject {
            id: id.to_string(),
            label: label.to_string(),
            view,
        })
    };
    if let Some(e) = subject(ObjectKind::Entity, &job.entity_id) {
        facts.entity = e;
    }
    if let Some(c) = subject(ObjectKind::Check, &job.check_id) {
        facts.check = c;
    }
    if let Some(a) = subject(ObjectKind::Alarm, &job.alarm_id) {
        facts.alarm = a;
    }
    Some(Delivery::from_alarm(d, spec, Arc::new(facts), false))
}

/// Commits each finished delivery as a delivery record until `stop`.
pub async fn record(
    mut rx: mpsc::Receiver<DeliveryOutcome>,
    cluster: Arc<dyn Cluster>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let o = tokio::select! {
            o = rx.recv() => match o { Some(o) => o, None => return },
            _ = stop.changed() => return,
        };
        // The event id starts with the tenant (`<tenant>:<entity>:<alarm>:...`).
        let tenant = o.event_id.split(':').next().unwrap_or_default().to_string();
        let op = Op::RecordDelivery {
            tenant,
            event_id: o.event_id.clone(),
            notification_id: o.notification_id.clone(),
            status: o.status.as_str().to_string(),
            facts: DeliveryFacts {
                entity_id: o.event_id.split(':').nth(1).unwrap_or_default().to_string(),
                alarm_id: o.event_id.split(':').nth(2).unwrap_or_default().to_string(),
                kind: o.kind.to_string(),
                state: o.state.as_str().to_string(),
                attempts: o.attempts,
                last_error: o.last_error.clone().unwrap_or_default(),
                first_attempt_at_ms: o.first_attempt_at_ms,
                done_at_ms: o.done_at_ms,
            },
        };
        for attempt in 1..=RECORD_ATTEMPTS_MAX {
            match cluster.propose(op.clone()).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(event_id = %o.event_id, attempt, error = %e, "delivery record not committed yet");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
    }
}
