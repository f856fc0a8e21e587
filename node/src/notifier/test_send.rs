//! `POST /v1/notifications/{nt}/test`: one attempt now, through the same channels, with event
//! id `test:<random uuid>`, answered as `{status, http_status?, error?, duration_ms}`.

use std::sync::Arc;

use meridian_alarm::State;
use rand::Rng;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::Channels;
use super::channels::render;
use super::delivery::{Delivery, Facts, OutcomeStatus, Subject};
use crate::spec::NotificationSpec;

/// The answer of a test send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    pub event_id: String,
    pub status: OutcomeStatus,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl TestReport {
    /// The API's JSON answer (absent fields left out).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), json!(self.status.as_str()));
        if let Some(s) = self.http_status {
            m.insert("http_status".into(), json!(s));
        }
        if let Some(e) = &self.error {
            m.insert("error".into(), json!(e));
        }
        m.insert("duration_ms".into(), json!(self.duration_ms));
        Value::Object(m)
    }
}

/// A random version-4 UUID in its usual text form.
pub fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The facts of a test notification: a WARNING of a made-up alarm, at `now_ms`.
pub fn test_facts(tenant: &str, now_ms: i64) -> Facts {
    Facts {
        tenant: tenant.to_string(),
        entity: Subject::new("test", "test entity"),
        check: Subject::new("test", "test check"),
        alarm: Subject::new("test", "test alarm"),
        state: State::Warning,
        previous_state: State::Ok,
        timestamp_ms: now_ms,
        message: "test notification from Meridian".into(),
        metrics: Map::new(),
        observations: Vec::new(),
    }
}

/// Sends one test notification through `channels` now.
pub async fn send(
    channels: &Channels,
    notification: NotificationSpec,
    tenant: &str,
    now_ms: i64,
) -> TestReport {
    let d = Delivery {
        event_id: format!("test:{}", random_uuid()),
        notification_id: String::new(),
        notification,
        facts: Arc::new(test_facts(tenant, now_ms)),
        after_suppression: false,
    };
    let started = Instant::now();
    let attempt = channels.send(&render(&d, now_ms.div_euclid(1000))).await;
    TestReport {
        event_id: d.event_id,
        status: if attempt.result.is_ok() {
            OutcomeStatus::Sent
        } else {
            OutcomeStatus::Failed
        },
        http_status: attempt.http_status,
        error: attempt.result.err().map(|e| e.to_string()),
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_differ() {
        let a = random_uuid();
        let b = random_uuid();
        assert_ne!(a, b);
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn the_answer_leaves_out_absent_fields() {
        let r = TestReport {
            event_id: "test:x".into(),
            status: OutcomeStatus::Sent,
            http_status: Some(200),
            error: None,
            duration_ms: 12,
        };
        assert_eq!(
            r.to_json(),
            json!({"status": "sent", "http_status": 200, "duration_ms": 12})
        );
        let f = TestReport {
            status: OutcomeStatus::Failed,
            http_status: None,
            error: Some("refused".into()),
            ..r
        };
        assert_eq!(
            f.to_json(),
            json!({"status": "failed", "error": "refused", "duration_ms": 12})
        );
    }
}
