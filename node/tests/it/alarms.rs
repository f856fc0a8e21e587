//! Alarms in a real cluster: a check polled from three zones, an alarm on it, a target that
//! breaks and recovers. Every change is committed once; killing the evaluating node mid-outage
//! neither resets the alarm nor records a second transition.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api_util::create;
use crate::harness::{TestCluster, WAIT, wait_for};

/// A loopback HTTP target answering 200 while `healthy`, 500 otherwise.
async fn toggled_target() -> (u16, Arc<AtomicBool>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    let healthy = Arc::new(AtomicBool::new(true));
    let h = healthy.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let h = h.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                if s.read(&mut buf).await.is_ok() {
                    let status = if h.load(Ordering::Relaxed) {
                        "200 OK"
                    } else {
                        "500 Internal Server Error"
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                }
            });
        }
    });
    (port, healthy)
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
    let (port, healthy) = toggled_target().await;
    let flags = [
        "--min-check-period-s",
        "2",
        "--allow-targets",
        "127.0.0.0/8",
    ];
    let mut c = TestCluster::start(&["r1", "r2", "r3"], &flags).await;
    let token = c.tenant(0, "acme").await;
    let en = create(&c, 0, &token, "/v1/entities", json!({"label": "web"})).await;
    let check = json!({
        "label": "home", "type": "remote.http", "period": 2, "timeout": 1,
        "details": {"url": format!("http://127.0.0.1:{port}/")},
        "monitoring_zones_poll": ["r1", "r2", "r3"], "target_hostname": "127.0.0.1",
    });
    let ch = create(&c, 1, &token, &format!("/v1/entities/{en}/checks"), check).await;
    let np = create(
        &c,
        2,
        &token,
        "/v1/notification_plans",
        json!({"label": "p"}),
    )
    .await;
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
}
