//! Alarms in a real cluster: a check polled from three zones, an alarm on it, a target that
//! breaks and recovers. Every change is committed once; killing the evaluating node mid-outage
//! neither resets the alarm nor records a second transition.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api_util::create;
use crate::harness::{TestCluster, WAIT, wait_for};

/// One request the webhook receiver got: Standard Webhooks headers and the JSON body.
#[derive(Clone, Debug)]
struct Hook {
    id: String,
    signature_ok: bool,
    body: Value,
}

/// The secret the receiver verifies with (`whsec_` + base64 of the key bytes).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Whether `sig` (`v1,<base64>` entries, space separated) holds the HMAC of `id.ts.body`.
fn verify(id: &str, ts: &str, body: &[u8], sig: &str) -> bool {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let Ok(key) = b64.decode(SECRET.trim_start_matches("whsec_")) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return false;
    };
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let want = b64.encode(mac.finalize().into_bytes());
    sig.split(' ')
        .any(|s| s.strip_prefix("v1,").is_some_and(|v| v == want))
}

/// A loopback webhook receiver recording every request; answers 200.
async fn receiver() -> (u16, Arc<std::sync::Mutex<Vec<Hook>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let g = g.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                // Read the head, then as much body as content-length says.
                let (head, body) = loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_string();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0usize);
                        while buf.len() < i + 4 + len {
                            let Ok(n) = s.read(&mut chunk).await else {
                                return;
                            };
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break (head, buf[i + 4..i + 4 + len].to_vec());
                    }
                };
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                        })
                        .unwrap_or_default()
                };
                let id = header("webhook-id");
                let ok = verify(
                    &id,
                    &header("webhook-timestamp"),
                    &body,
                    &header("webhook-signature"),
                );
                let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                g.lock().expect("hooks").push(Hook {
                    id,
                    signature_ok: ok,
                    body: json,
                });
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (port, got)
}

/// The alarm as node `i` shows it.
async fn alarm(c: &TestCluster, i: usize, token: &str, en: &str, al: &str) -> Option<Value> {
    let path = format!("/v1/entities/{en}/alarms/{al}");
    let r = c.call(i, Method::GET, &path, token, None, &[]).await?;
    (r.status == 200).then_some(r.json)
}

/// The alarm's changelog entries (newest first) through node `i`.
async fn changes(c: &TestCluster, i: usize, token: &str, al: &str) -> Option<Vec<Value>> {
    let path = format!("/v1/changelogs/alarms?alarm_id={al}");
    let r = c.call(i, Method::GET, &path, token, None, &[]).await?;
    (r.status == 200).then(|| r.json["values"].as_array().cloned())?
}

async fn wait_state(c: &TestCluster, i: usize, token: &str, en: &str, al: &str, s: &str) -> Value {
    wait_for(&format!("alarm to be {s}"), WAIT, || async {
        let a = alarm(c, i, token, en, al).await?;
        (a["state"] == s).then_some(a)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_is_recorded_once_and_survives_the_evaluator_dying() {
    let target = crate::target::start().await;
    let (port, healthy) = (target.port, target.healthy.clone());
    let flags = [
        "--min-check-period-s",
        "2",
        "--allow-targets",
        "127.0.0.0/8",
    ];
    let mut c = TestCluster::start(&["r1", "r2", "r3"], &flags).await;
    let r = c
        .call(
            0,
            Method::POST,
            "/v1/tenants",
            crate::harness::TOKEN,
            Some(json!({"name": "acme"})),
            &[],
        )
        .await
        .expect("tenant");
    let token = r.json["token"].as_str().expect("token").to_string();
    let tenant_id = r.json["id"].as_str().expect("tenant id").to_string();
    let en = create(&c, 0, &token, "/v1/entities", json!({"label": "web"})).await;
    let check = json!({
        "label": "home", "type": "remote.http", "period": 2, "timeout": 1,
        "details": {"url": format!("http://127.0.0.1:{port}/")},
        "monitoring_zones_poll": ["r1", "r2", "r3"], "target_hostname": "127.0.0.1",
    });
    let ch = create(&c, 1, &token, &format!("/v1/entities/{en}/checks"), check).await;
    let (hook_port, hooks) = receiver().await;
    let hook = json!({"label": "hook", "type": "webhook",
        "details": {"url": format!("http://127.0.0.1:{hook_port}/hook"), "secret": SECRET}});
    let nt = create(&c, 2, &token, "/v1/notifications", hook).await;
    let plan = json!({"label": "p", "critical_state": [nt], "ok_state": [nt]});
    let np = create(&c, 2, &token, "/v1/notification_plans", plan).await;
    // A test send reaches the receiver, signed.
    let test = format!("/v1/notifications/{nt}/test");
    let r = crate::api_util::req(&c, 1, Method::POST, &test, &token, None).await;
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (200, Some("sent")),
        "{}",
        r.json
    );
    let criteria = "if (metric['code'] != '200') { return new AlarmStatus(CRITICAL, 'code #{code}'); }\nreturn new AlarmStatus(OK);";
    let body =
        json!({"label": "up", "check_id": ch, "criteria": criteria, "notification_plan_id": np});
    let al = create(&c, 0, &token, &format!("/v1/entities/{en}/alarms"), body).await;

    // First evaluation: UNKNOWN -> OK.
    let a = wait_state(&c, 1, &token, &en, &al, "OK").await;
    assert_eq!(a["seq"], 1, "{a}");
    assert!(a["evaluated_by"].is_u64(), "{a}");

    // The target breaks: one CRITICAL transition, decided by the zones.
    let broke = Instant::now();
    healthy.store(false, Ordering::Relaxed);
    let a = wait_state(&c, 2, &token, &en, &al, "CRITICAL").await;
    println!(
        "CRITICAL committed {:.1} s after the target broke",
        broke.elapsed().as_secs_f64()
    );
    assert_eq!(a["seq"], 2, "{a}");
    let message = a["state_message"].as_str().unwrap_or_default();
    assert!(message.ends_with("code 500"), "{a}");
    let zones = a["zone_states"].as_object().expect("zone states");
    assert!(
        zones.values().filter(|s| *s == "CRITICAL").count() >= 2,
        "{a}"
    );
    let log = changes(&c, 0, &token, &al).await.expect("changelog");
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["state"], "CRITICAL");
    assert_eq!(log[0]["previous_state"], "OK");
    assert_eq!(log[0]["check_id"], ch.as_str());
    assert_eq!(log[0]["entity_id"], en.as_str());

    // Kill the evaluating node mid-outage: another node takes the alarm over from the committed
    // state, so nothing is reset and nothing is recorded twice.
    let evaluator = a["evaluated_by"].as_u64().expect("evaluator");
    let dead = c
        .nodes
        .iter()
        .position(|n| n.id == evaluator)
        .expect("node");
    c.kill9(dead);
    let alive = (0..3).find(|&i| i != dead).expect("survivor");
    wait_for("another node to evaluate the alarm", WAIT, || async {
        let a = alarm(&c, alive, &token, &en, &al).await?;
        (a["evaluated_by"].as_u64()? != evaluator).then_some(())
    })
    .await;
    // Watch several check periods under the new evaluator: the state stays as committed.
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(8) {
        let a = alarm(&c, alive, &token, &en, &al).await.expect("alarm");
        assert_eq!(
            (a["state"].as_str(), a["seq"].as_u64()),
            (Some("CRITICAL"), Some(2)),
            "{a}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The target recovers: exactly one OK transition.
    healthy.store(true, Ordering::Relaxed);
    let a = wait_state(&c, alive, &token, &en, &al, "OK").await;
    assert_eq!(a["seq"], 3, "{a}");
    let log = changes(&c, alive, &token, &al).await.expect("changelog");
    let states: Vec<&str> = log.iter().filter_map(|e| e["state"].as_str()).collect();
    assert_eq!(states, ["OK", "CRITICAL", "OK"], "{log:?}");
    let seqs: Vec<u64> = log.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, [3, 2, 1]);

    // Every transition was delivered, signed, with its stable event id; a failover may repeat
    // one delivery (same event id) but never invents another.
    let want: Vec<String> = [(1, "OK"), (2, "CRITICAL"), (3, "OK")]
        .iter()
        .map(|(seq, st)| format!("{tenant_id}:{en}:{al}:{ch}:{seq}:{st}"))
        .collect();
    let got = wait_for("every transition delivered", WAIT, || async {
        let hooks = hooks.lock().expect("hooks").clone();
        want.iter()
            .all(|w| hooks.iter().any(|h| h.id == *w))
            .then_some(hooks)
    })
    .await;
    let alarm_hooks: Vec<&Hook> = got.iter().filter(|h| !h.id.starts_with("test:")).collect();
    assert!(
        alarm_hooks.iter().all(|h| h.signature_ok),
        "{alarm_hooks:?}"
    );
    assert!(
        alarm_hooks.iter().all(|h| want.contains(&h.id)),
        "{alarm_hooks:?}"
    );
    assert!(
        alarm_hooks.len() <= want.len() + 1,
        "at most one repeat per failover: {alarm_hooks:?}"
    );
    let crit = alarm_hooks
        .iter()
        .find(|h| h.id.ends_with(":2:CRITICAL"))
        .expect("critical");
    assert_eq!(crit.body["state"], "CRITICAL", "{:?}", crit.body);
    assert_eq!(crit.body["previous_state"], "OK", "{:?}", crit.body);
    assert!(
        got.iter()
            .any(|h| h.id.starts_with("test:") && h.signature_ok),
        "test send"
    );
    // The notification history shows them as sent.
    let path = format!("/v1/entities/{en}/alarms/{al}/notification_history");
    let sent = wait_for("delivery records", WAIT, || async {
        let r = c.call(alive, Method::GET, &path, &token, None, &[]).await?;
        let v = r.json["values"].as_array()?.clone();
        (v.len() >= 3 && v.iter().all(|d| d["status"] == "sent")).then_some(v)
    })
    .await;
    assert!(
        sent.iter()
            .all(|d| d["type"] == "webhook" && d["attempts"].as_u64() >= Some(1)),
        "{sent:?}"
    );
}
