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

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeStatus {
    Sent,
    Failed,
}

impl OutcomeStatus {
    /// The notification history's `status`: `sent` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Sent => "sent",
            OutcomeStatus::Failed => "failed",
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
