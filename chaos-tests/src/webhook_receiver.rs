//! The suite's webhook receiver: an HTTP server recording every delivery (receive time on the
//! history clock, `event_id` from `webhook-id`, alarm, seq and state from the JSON body) and
//! whether its Standard Webhooks signature verified. Bounded in deliveries and body size.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::monitoring_history::{AlarmState, Delivery};
use crate::webhook_signature::WebhookSecret;

/// At most this many deliveries are recorded; later ones are answered 503 and counted.
pub const RECEIVER_DELIVERIES_MAX: usize = 100_000;
/// Largest accepted request body in bytes; larger ones are answered 413.
pub const RECEIVER_BODY_MAX: usize = 256 * 1024;

/// One request as received; fields the request did not carry are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedDelivery {
    /// Nanoseconds since the suite's epoch (the history clock).
    pub time_ns: u64,
    pub event_id: Option<String>,
    pub alarm: Option<String>,
    pub seq: Option<u64>,
    pub state: Option<AlarmState>,
    pub signature_ok: bool,
}

impl ReceivedDelivery {
    /// The history record, when the request carried everything it needs.
    pub fn to_record(&self) -> Option<Delivery> {
        Some(Delivery {
            event_id: self.event_id.clone()?,
            alarm: self.alarm.clone()?,
            seq: self.seq?,
            state: self.state?,
            signature_ok: self.signature_ok,
            time_ns: self.time_ns,
        })
    }
}

struct Shared {
    secret: WebhookSecret,
    epoch: Instant,
    capacity: usize,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    deliveries: Vec<ReceivedDelivery>,
    refused: u64,
}

/// A running receiver; dropping it without `stop` aborts the server task.
pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl WebhookReceiver {
    /// Listens on `bind` (port 0 picks one) and records up to `capacity` deliveries.
    pub async fn start(
        bind: SocketAddr,
        secret: WebhookSecret,
        epoch: Instant,
        capacity: usize,
    ) -> Result<WebhookReceiver> {
        if capacity == 0 || capacity > RECEIVER_DELIVERIES_MAX {
            bail!("field `capacity`: must lie in 1..={RECEIVER_DELIVERIES_MAX}");
        }
        let shared = Arc::new(Shared {
            secret,
            epoch,
            capacity,
            log: Mutex::new(Log::default()),
        });
        let app = Router::new()
            .fallback(receive)
            .layer(DefaultBodyLimit::max(RECEIVER_BODY_MAX))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding the webhook receiver to {bind}"))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                eprintln!("webhook receiver stopped: {e}");
            }
        });
        Ok(WebhookReceiver {
            addr,
            shared,
            shutdown: Some(tx),
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every delivery recorded so far, in arrival order.
    pub fn deliveries(&self) -> Vec<ReceivedDelivery> {
        self.shared
            .log
            .lock()
            .expect("receiver log")
            .deliveries
            .clone()
    }

    /// Requests refused because the log was full.
    pub fn refused(&self) -> u64 {
        self.shared.log.lock().expect("receiver log").refused
    }

    /// Stops accepting and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let time_ns = shared.epoch.elapsed().as_nanos() as u64;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let event_id = header("webhook-id").map(str::to_string);
    let signature_ok = match (
        &event_id,
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) {
        (Some(id), Some(ts), Some(sig)) => shared.secret.verify(id, ts, &body, sig),
        _ => false,
    };
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let delivery = ReceivedDelivery {
        time_ns,
        alarm: alarm_of(&json),
        seq: seq_of(&json, event_id.as_deref()),
        state: json["state"].as_str().and_then(AlarmState::parse),
        event_id,
        signature_ok,
    };
    let mut log = shared.log.lock().expect("receiver log");
    if log.deliveries.len() >= shared.capacity {
        log.refused += 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    log.deliveries.push(delivery);
    StatusCode::NO_CONTENT
}

/// `alarm.id` of the body (the alarm object), or `alarm` itself when it is a string.
fn alarm_of(json: &Value) -> Option<String> {
    let alarm = &json["alarm"];
    alarm["id"].as_str().or(alarm.as_str()).map(str::to_string)
}

/// `seq` of the body, else `alarm.seq`, else the fifth field of the `event_id`
/// (`<tenant>:<entity>:<alarm>:<check>:<seq>:<STATE>`).
fn seq_of(json: &Value, event_id: Option<&str>) -> Option<u64> {
    json["seq"]
        .as_u64()
        .or(json["alarm"]["seq"].as_u64())
        .or_else(|| event_id?.split(':').nth(4)?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_from_the_body_and_the_event_id() {
        let body = json!({"alarm": {"id": "al1", "seq": 4}, "state": "CRITICAL"});
        assert_eq!(alarm_of(&body).as_deref(), Some("al1"));
        assert_eq!(seq_of(&body, None), Some(4));
        let flat = json!({"alarm": "al2", "seq": 7});
        assert_eq!(
            (alarm_of(&flat).as_deref(), seq_of(&flat, None)),
            (Some("al2"), Some(7))
        );
        let bare = json!({"alarm": {"id": "al3"}});
        assert_eq!(seq_of(&bare, Some("t:e:al3:c:12:OK")), Some(12));
        assert_eq!(seq_of(&bare, Some("t:e:al3")), None);
        assert_eq!(alarm_of(&Value::Null), None);
    }
}
