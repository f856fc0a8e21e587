//! The notifier against real receivers started here on loopback: a webhook receiver that
//! verifies the Standard Webhooks signature itself, Slack and PagerDuty receivers checking the
//! payloads, failing, refusing and slow receivers, and (in `email`) a hand-written SMTP server.

mod email;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use meridian::notifier::{
    Channels, Delivery, DeliveryOutcome, Facts, HttpSender, Notifier, NotifierConfig,
    OutcomeStatus, SmtpRelay, Subject, ZoneFact, system_clock,
};
use meridian::poller::dial::{Dialer, SystemResolver};
use meridian::poller::policy::AddressPolicy;
use meridian::spec::{NotificationSpec, Secret};
use meridian_alarm::State;
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

use url::Url;

/// How long a test waits for a condition before failing.
const WAIT: Duration = Duration::from_secs(30);

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: HeaderMap,
    body: Bytes,
}

/// A receiver: answers each request with the next status of `script` (the last one repeats),
/// holding each answer until `gate` has a permit when a gate is set.
#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    script: Arc<Vec<u16>>,
    gate: Option<Arc<Semaphore>>,
}

async fn receive(AxState(r): AxState<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = {
        let mut got = r.got.lock().expect("lock");
        got.push(Got { headers, body });
        got.len()
    };
    if let Some(gate) = &r.gate {
        let _ = gate.acquire().await;
    }
    let status = r
        .script
        .get(n - 1)
        .or(r.script.last())
        .copied()
        .unwrap_or(200);
    StatusCode::from_u16(status).expect("status")
}

/// Starts a receiver on `ip` answering `script`; returns its URL and what it got.
async fn receiver(ip: &str, script: &[u16], gate: Option<Arc<Semaphore>>) -> (Url, Receiver) {
    let r = Receiver {
        got: Arc::default(),
        script: Arc::new(script.to_vec()),
        gate,
    };
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = Url::parse(&format!("http://{addr}/hook")).expect("url");
    (url, r)
}

fn loopback_dialer() -> Arc<Dialer> {
    let policy = AddressPolicy::new(false, &["127.0.0.0/8".to_string()]);
    Arc::new(Dialer::new(policy, Arc::new(SystemResolver)))
}

fn channels(smtp: Option<SmtpRelay>) -> Channels {
    Channels {
        http: HttpSender::new(loopback_dialer(), Duration::from_secs(10)),
        smtp,
    }
}

fn notifier(
    config: NotifierConfig,
    smtp: Option<SmtpRelay>,
) -> (Notifier, mpsc::Receiver<DeliveryOutcome>) {
    let (tx, rx) = mpsc::channel(64);
    let n = Notifier::new(config, channels(smtp), Arc::new(tx), system_clock());
    (n, rx)
}

fn facts() -> Facts {
    Facts {
        tenant: "t1".into(),
        entity: Subject::new("enA", "web-1"),
        check: Subject::new("chC", "homepage"),
        alarm: Subject::new("alB", "site down"),
        state: State::Critical,
        previous_state: State::Ok,
        timestamp_ms: 1_700_000_000_000,
        message: "status 503".into(),
        metrics: serde_json::Map::new(),
        observations: vec![ZoneFact {
            monitoring_zone_id: "mzdfw".into(),
            state: State::Critical,
            status: "code=503".into(),
            timestamp_ms: 1_700_000_000_000,
        }],
    }
}

fn delivery(id: &str, notification: NotificationSpec) -> Delivery {
    Delivery {
        event_id: format!("t1:enA:alB:chC:{id}:CRITICAL"),
        notification_id: format!("nt{id}"),
        notification,
        facts: Arc::new(facts()),
        after_suppression: false,
    }
}

fn webhook(url: &Url, secret: Option<&str>) -> NotificationSpec {
    NotificationSpec::Webhook {
        url: url.clone(),
        secret: secret.map(Secret::new),
    }
}

async fn outcome(rx: &mut mpsc::Receiver<DeliveryOutcome>) -> DeliveryOutcome {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an outcome in time")
        .expect("notifier alive")
}

fn header<'a>(g: &'a Got, name: &str) -> &'a str {
    g.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Verifies a Standard Webhooks signature as a receiver would, with its own HMAC.
fn verify(secret_b64: &str, g: &Got) -> bool {
    let key = STANDARD.decode(secret_b64).expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    let signed = format!(
        "{}.{}.",
        header(g, "webhook-id"),
        header(g, "webhook-timestamp")
    );
    mac.update(signed.as_bytes());
    mac.update(&g.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header(g, "webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

#[tokio::test]
async fn webhook_is_signed_so_a_receiver_can_verify_it() {
    let (url, r) = receiver("127.0.0.1", &[200], None).await;
    let (n, mut rx) = notifier(NotifierConfig::default(), None);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    n.submit(delivery("1", webhook(&url, Some(secret))))
        .expect("queued");
    let o = outcome(&mut rx).await;
    assert_eq!(
        (o.status, o.attempts, o.http_status),
        (OutcomeStatus::Sent, 1, Some(200))
    );
    assert!(o.first_attempt_at_ms <= o.done_at_ms);
    let got = r.got.lock().expect("lock")[0].clone();
    assert!(
        verify(&secret["whsec_".len()..], &got),
        "signature does not verify"
    );
    assert_eq!(header(&got, "webhook-id"), "t1:enA:alB:chC:1:CRITICAL");
    assert_eq!(
        header(&got, "x-meridian-event-id"),
        "t1:enA:alB:chC:1:CRITICAL"
    );
    assert_eq!(header(&got, "content-type"), "application/json");
    let body: Value = serde_json::from_slice(&got.body).expect("json");
    assert_eq!(body["event_id"], "t1:enA:alB:chC:1:CRITICAL");
    assert_eq!(body["state"], "CRITICAL");
    assert_eq!(
        body["details"]["observations"][0]["monitoring_zone_id"],
        "mzdfw"
    );
    // A receiver holding another key refuses it.
    assert!(!verify(&STANDARD.encode(b"another key entirely"), &got));
    assert_eq!(n.metrics().count("webhook", true), 1);
}

#[tokio::test]
async fn slack_and_pagerduty_receivers_get_their_shapes() {
    let (slack_url, slack) = receiver("127.0.0.1", &[200], None).await;
    let (pd_url, pd) = receiver("127.0.0.1", &[202], None).await;
    let (n, mut rx) = notifier(NotifierConfig::default(), None);
    n.submit(delivery("1", NotificationSpec::Slack { url: slack_url }))
        .expect("queued");
    let pd_spec = NotificationSpec::PagerDuty {
        routing_key: "r".repeat(32),
        endpoint: pd_url,
    };
    n.submit(delivery("2", pd_spec)).expect("queued");
    for _ in 0..2 {
        assert_eq!(outcome(&mut rx).await.status, OutcomeStatus::Sent);
    }
    let s: Value = serde_json::from_slice(&slack.got.lock().expect("lock")[0].body).expect("json");
    assert_eq!(s["text"], "[CRITICAL] web-1 / site down: status 503");
    assert!(s["blocks"].as_array().is_some_and(|b| !b.is_empty()));
    let p: Value = serde_json::from_slice(&pd.got.lock().expect("lock")[0].body).expect("json");
    assert_eq!(p["routing_key"], "r".repeat(32));
    assert_eq!(p["event_action"], "trigger");
    assert_eq!(p["dedup_key"], "t1:alB");
    for field in [
        "summary",
        "source",
        "severity",
        "timestamp",
        "custom_details",
    ] {
        assert!(
            !p["payload"][field].is_null(),
            "payload.{field} missing: {p}"
        );
    }
    assert_eq!(p["payload"]["severity"], "critical");
}

#[tokio::test(start_paused = true)]
async fn a_503_is_retried_with_backoff_and_the_same_event_id() {
    let (url, r) = receiver("127.0.0.1", &[503, 503, 200], None).await;
    let (n, mut rx) = notifier(NotifierConfig::default(), None);
    let started = tokio::time::Instant::now();
    n.submit(delivery("7", webhook(&url, None)))
        .expect("queued");
    let o = outcome(&mut rx).await;
    assert_eq!((o.status, o.attempts), (OutcomeStatus::Sent, 3));
    assert_eq!(o.last_error, None);
    // Two waits: 1 to 1.25 s, then 2 to 2.5 s (paused time: nothing really slept).
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited <= Duration::from_millis(3_750),
        "{waited:?}"
    );
    let got = r.got.lock().expect("lock").clone();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|g| header(g, "webhook-id") == "t1:enA:alB:chC:7:CRITICAL")
    );
    assert_eq!(n.metrics().attempts.get(), 3);
    assert_eq!(n.metrics().retry_waiting.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn retrying_stops_at_the_give_up_time() {
    let (url, r) = receiver("127.0.0.1", &[500], None).await;
    let config = NotifierConfig {
        retry: meridian::notifier::RetryPolicy::new(10),
        ..NotifierConfig::default()
    };
    let (n, mut rx) = notifier(config, None);
    n.submit(delivery("8", webhook(&url, None)))
        .expect("queued");
    let o = outcome(&mut rx).await;
    // Waits of 1, 2 and 4 s fit in 10 s; the next (8 s) would start past it.
    assert_eq!(
        (o.status, o.attempts, o.http_status),
        (OutcomeStatus::Failed, 4, Some(500))
    );
    assert_eq!(o.last_error.as_deref(), Some("http status 500"));
    assert_eq!(r.got.lock().expect("lock").len(), 4);
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let (url, r) = receiver("127.0.0.1", &[400, 200], None).await;
    let (n, mut rx) = notifier(NotifierConfig::default(), None);
    n.submit(delivery("9", webhook(&url, None)))
        .expect("queued");
    let o = outcome(&mut rx).await;
    assert_eq!(
        (o.status, o.attempts, o.http_status),
        (OutcomeStatus::Failed, 1, Some(400))
    );
    assert_eq!(r.got.lock().expect("lock").len(), 1);
    assert_eq!(n.metrics().count("webhook", false), 1);
}

/// Waits until `cond` holds, failing after `WAIT`.
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_slow_receiver_does_not_hold_up_a_fast_one() {
    let gate = Arc::new(Semaphore::new(0));
    let (slow_url, slow) = receiver("127.0.0.1", &[200], Some(gate.clone())).await;
    let (fast_url, _fast) = receiver("127.0.0.2", &[200], None).await;
    let config = NotifierConfig {
        in_flight_max: 3,
        host_in_flight_max: 2,
        ..NotifierConfig::default()
    };
    let (n, mut rx) = notifier(config, None);
    for i in 0..5 {
        n.submit(delivery(&format!("s{i}"), webhook(&slow_url, None)))
            .expect("queued");
    }
    wait_until("two slow requests", || {
        slow.got.lock().expect("lock").len() == 2
    })
    .await;
    n.submit(delivery("f", webhook(&fast_url, None)))
        .expect("queued");
    // The fast receiver's delivery finishes while the slow one holds its requests...
    let o = outcome(&mut rx).await;
    assert_eq!(o.event_id, "t1:enA:alB:chC:f:CRITICAL");
    assert_eq!(o.status, OutcomeStatus::Sent);
    // ...and the slow host never had more than its share in flight.
    assert_eq!(slow.got.lock().expect("lock").len(), 2);
    assert_eq!(n.queued(), 5);
    gate.add_permits(Semaphore::MAX_PERMITS / 2);
    for _ in 0..5 {
        assert_eq!(outcome(&mut rx).await.status, OutcomeStatus::Sent);
    }
    assert_eq!(slow.got.lock().expect("lock").len(), 5);
}

#[tokio::test]
async fn a_full_queue_refuses_deliveries() {
    let gate = Arc::new(Semaphore::new(0));
    let (url, _r) = receiver("127.0.0.1", &[200], Some(gate)).await;
    let config = NotifierConfig {
        queued_max: 2,
        ..NotifierConfig::default()
    };
    let (n, _rx) = notifier(config, None);
    n.submit(delivery("1", webhook(&url, None)))
        .expect("queued");
    n.submit(delivery("2", webhook(&url, None)))
        .expect("queued");
    let e = n
        .submit(delivery("3", webhook(&url, None)))
        .expect_err("full");
    assert_eq!(e, meridian::notifier::SubmitError::Full(2));
    assert_eq!(n.metrics().rejected_full.get(), 1);
    n.shutdown();
}

#[tokio::test]
async fn a_link_local_endpoint_is_refused_by_the_address_policy() {
    let (n, mut rx) = notifier(NotifierConfig::default(), None);
    let url = Url::parse("http://169.254.169.254/latest/meta-data").expect("url");
    n.submit(delivery("m", webhook(&url, None)))
        .expect("queued");
    let o = outcome(&mut rx).await;
    assert_eq!(
        (o.status, o.attempts, o.http_status),
        (OutcomeStatus::Failed, 1, None)
    );
    let e = o.last_error.unwrap_or_default();
    assert!(
        e.contains("refused by policy") && e.contains("link-local"),
        "{e}"
    );
}

#[tokio::test]
async fn test_send_reports_status_and_a_test_event_id() {
    let (url, r) = receiver("127.0.0.1", &[204], None).await;
    let (n, _rx) = notifier(NotifierConfig::default(), None);
    let report = n.test(webhook(&url, None), "t1").await;
    assert_eq!(
        (report.status, report.http_status),
        (OutcomeStatus::Sent, Some(204))
    );
    assert!(report.event_id.starts_with("test:"), "{}", report.event_id);
    let got = r.got.lock().expect("lock")[0].clone();
    assert_eq!(header(&got, "webhook-id"), report.event_id);
    let refused = Url::parse("http://169.254.169.254/").expect("url");
    let report = n.test(webhook(&refused, None), "t1").await;
    assert_eq!(report.status, OutcomeStatus::Failed);
    assert!(
        report.to_json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("link-local"))
    );
}

#[tokio::test]
async fn an_endless_answer_is_read_only_up_to_its_bound() {
    let endless = || async {
        let chunk = Bytes::from_static(&[b'x'; 8192]);
        let stream = futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
        axum::body::Body::from_stream(stream)
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().route("/hook", post(endless));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = Url::parse(&format!("http://{addr}/hook")).expect("url");
    let (n, mut rx) = notifier(NotifierConfig::default(), None);
    n.submit(delivery("big", webhook(&url, None)))
        .expect("queued");
    // Unbounded, the read would run into the attempt's timeout and be retried.
    let o = outcome(&mut rx).await;
    assert_eq!((o.status, o.attempts), (OutcomeStatus::Sent, 1));
}
