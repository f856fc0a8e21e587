//! What the notifier is asked to deliver (`Delivery` with its transition `Facts`) and what it
//! reports back when done (`DeliveryOutcome`).

use std::sync::Arc;

use meridian_alarm::State;
use serde_json::{Map, Value};

use crate::spec::NotificationSpec;

/// An object the alarm concerns (entity, check or alarm) as the notification shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subject {
    pub id: String,
    pub label: String,
    /// The object's API form (secrets already masked by the caller); `id` and `label` are
    /// written over it in payloads.
    pub view: Map<String, Value>,
}

impl Subject {
    pub fn new(id: impl Into<String>, label: impl Into<String>) -> Subject {
        Subject {
            id: id.into(),
            label: label.into(),
            view: Map::new(),
        }
    }

    /// The JSON object of a payload: the view with `id` and `label`.
    pub fn to_json(&self) -> Value {
        let mut m = self.view.clone();
        m.insert("id".into(), Value::String(self.id.clone()));
        m.insert("label".into(), Value::String(self.label.clone()));
        Value::Object(m)
    }
}

/// One zone's view at the transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFact {
    pub monitoring_zone_id: String,
    pub state: State,
    /// The poll's status line, e.g. `code=200,rt=0.257s`.
    pub status: String,
    /// When the zone's observation was made, ms since the epoch.
    pub timestamp_ms: i64,
}

/// The facts of one committed transition, shared by all its deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub tenant: String,
    pub entity: Subject,
    pub check: Subject,
    pub alarm: Subject,
    pub state: State,
    pub previous_state: State,
    /// When the transition was committed, ms since the epoch.
    pub timestamp_ms: i64,
    pub message: String,
    /// The deciding observation's metrics, `{name: {type, data, unit?}}`.
    pub metrics: Map<String, Value>,
    pub observations: Vec<ZoneFact>,
}

impl Facts {
    /// The facts of an evaluator's delivery job. Subjects carry their ids as labels until the
    /// caller fills in the objects' labels and views; a zone's status is empty and its time the
    /// transition's.
    pub fn from_job(job: &crate::evaluator::DeliveryJob) -> Facts {
        let state_of = |s: &str| State::from_name(s).unwrap_or(State::Unknown);
        Facts {
            tenant: job.tenant.clone(),
            entity: Subject::new(job.entity_id.clone(), job.entity_id.clone()),
            check: Subject::new(job.check_id.clone(), job.check_id.clone()),
            alarm: Subject::new(job.alarm_id.clone(), job.alarm_id.clone()),
            state: job.delivery.state,
            previous_state: state_of(&job.previous_state),
            timestamp_ms: job.timestamp,
            message: job.message.clone(),
            metrics: Map::new(),
            observations: job
                .zone_states
                .iter()
                .map(|(zone, s)| ZoneFact {
                    monitoring_zone_id: zone.clone(),
                    state: state_of(s),
                    status: String::new(),
                    timestamp_ms: job.timestamp,
                })
                .collect(),
        }
    }
}

/// One (transition, notification) to deliver at least once.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `meridian_alarm::event_id`, or `test:<random>` for a test send: the same on every retry.
    pub event_id: String,
    pub notification_id: String,
    pub notification: NotificationSpec,
    pub facts: Arc<Facts>,
    /// Sent because a suppression ended with the state changed (`"after_suppression": true`).
    pub after_suppression: bool,
}

impl Delivery {
    /// The delivery of `d` (from `meridian_alarm::deliveries`) through `notification`, whose
    /// id is `d.notification_id`. A suppressed `d` is not sent: see [`DeliveryOutcome::suppressed`].
    pub fn from_alarm(
        d: &meridian_alarm::Delivery,
        notification: NotificationSpec,
        facts: Arc<Facts>,
        after_suppression: bool,
    ) -> Delivery {
        debug_assert_eq!(d.state, facts.state);
        Delivery {
            event_id: d.event_id.clone(),
            notification_id: d.notification_id.clone(),
            notification,
            facts,
            after_suppression,
        }
    }
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeStatus {
    Sent,
    Failed,
    /// Not sent: a suppression matched the transition.
    Suppressed,
}

impl OutcomeStatus {
    /// The notification history's `status`: `sent` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Sent => "sent",
            OutcomeStatus::Failed => "failed",
            OutcomeStatus::Suppressed => "suppressed",
        }
    }
}

/// The final outcome of one delivery, to be committed as its delivery record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    pub event_id: String,
    pub notification_id: String,
    /// The notification type, e.g. `webhook`.
    pub kind: &'static str,
    pub state: State,
    pub status: OutcomeStatus,
    /// Attempts made, at least 1.
    pub attempts: u32,
    /// Why the last attempt failed; `None` when it succeeded.
    pub last_error: Option<String>,
    /// The HTTP status of the last attempt, when one was answered.
    pub http_status: Option<u16>,
    /// ms since the epoch.
    pub first_attempt_at_ms: i64,
    /// ms since the epoch.
    pub done_at_ms: i64,
}

impl DeliveryOutcome {
    /// The record of a delivery a suppression stopped: nothing sent, no attempt, done `now_ms`.
    pub fn suppressed(d: &meridian_alarm::Delivery, kind: &'static str, now_ms: i64) -> Self {
        debug_assert!(d.suppressed);
        DeliveryOutcome {
            event_id: d.event_id.clone(),
            notification_id: d.notification_id.clone(),
            kind,
            state: d.state,
            status: OutcomeStatus::Suppressed,
            attempts: 0,
            last_error: None,
            http_status: None,
            first_attempt_at_ms: now_ms,
            done_at_ms: now_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use meridian_alarm::{AlarmRef, Plan, deliveries};

    use super::*;
    use crate::notifier::channels::tests::facts;

    #[test]
    fn alarm_deliveries_keep_their_event_id_and_suppressed_ones_are_recorded_unsent() {
        let alarm = AlarmRef {
            tenant: "t1".into(),
            entity: "enA".into(),
            alarm: "alB".into(),
            check: "chC".into(),
        };
        let plan = Plan {
            critical_state: vec!["nt1".into()],
            ..Plan::default()
        };
        let spec = NotificationSpec::Email {
            address: "ops@example.com".into(),
        };
        let d = deliveries(&alarm, 7, State::Critical, &plan, false).expect("plan");
        let ours = Delivery::from_alarm(&d[0], spec, Arc::new(facts()), false);
        assert_eq!(ours.event_id, "t1:enA:alB:chC:7:CRITICAL");
        assert_eq!(ours.notification_id, "nt1");
        let job = crate::evaluator::DeliveryJob {
            delivery: d[0].clone(),
            tenant: "t1".into(),
            entity_id: "enA".into(),
            check_id: "chC".into(),
            alarm_id: "alB".into(),
            previous_state: "WARNING".into(),
            message: "down".into(),
            zone_states: [("mzdfw".to_string(), "CRITICAL".to_string())].into(),
            timestamp: 99,
        };
        let f = Facts::from_job(&job);
        assert_eq!(
            (f.state, f.previous_state),
            (State::Critical, State::Warning)
        );
        assert_eq!((f.alarm.id.as_str(), f.timestamp_ms), ("alB", 99));
        assert_eq!(f.observations[0].state, State::Critical);
        let s = deliveries(&alarm, 8, State::Critical, &plan, true).expect("plan");
        let o = DeliveryOutcome::suppressed(&s[0], "email", 42);
        assert_eq!(
            (o.status.as_str(), o.attempts, o.done_at_ms),
            ("suppressed", 0, 42)
        );
        assert_eq!(o.event_id, "t1:enA:alB:chC:8:CRITICAL");
    }
}
