//! The monitoring suite's building blocks on loopback: the controllable target, the webhook
//! receiver and its signature check (against vectors computed by python3's hmac).

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Instant;

use meridian_chaos::monitoring_history::{AlarmState, Health};
use meridian_chaos::target_server::{TARGET_LOG_MAX, TargetServer};
use meridian_chaos::webhook_receiver::{
    RECEIVER_BODY_MAX, RECEIVER_DELIVERIES_MAX, WebhookReceiver,
};
use meridian_chaos::webhook_signature::WebhookSecret;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|x| format!("{x:02x}")).collect()
}

/// For each (key, message): the key in base64 and the base64 HMAC-SHA256 of the message, both
/// computed by python3 (an independent implementation), in one process for all of them.
fn python_vectors(cases: &[(Vec<u8>, Vec<u8>)]) -> Vec<(String, String)> {
    let script = "import base64, hashlib, hmac, sys\n\
        for line in sys.stdin:\n\
        \x20   k, m = (bytes.fromhex(x) for x in line.split())\n\
        \x20   s = hmac.new(k, m, hashlib.sha256).digest()\n\
        \x20   print(base64.b64encode(k).decode(), base64.b64encode(s).decode())";
    let input: String = cases
        .iter()
        .map(|(k, m)| format!("{} {}\n", hex(k), hex(m)))
        .collect();
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let vectors: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let (k, s) = l.split_once(' ').unwrap();
            (k.to_string(), s.to_string())
        })
        .collect();
    assert_eq!(vectors.len(), cases.len());
    vectors
}

#[test]
fn signatures_match_python_hmac_on_random_messages() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut cases = Vec::new();
    let mut parts = Vec::new();
    for round in 0..40 {
        let key: Vec<u8> = (0..rng.random_range(1..64)).map(|_| rng.random()).collect();
        let body: Vec<u8> = (0..rng.random_range(0..300))
            .map(|_| rng.random())
            .collect();
        let id = format!("ten1:en1:al1:ch1:{round}:OK");
        let ts = rng.random_range(0..2_000_000_000u64).to_string();
        let mut message = format!("{id}.{ts}.").into_bytes();
        message.extend_from_slice(&body);
        cases.push((key, message));
        parts.push((id, ts, body));
    }
    for ((b64_key, sig), (id, ts, body)) in python_vectors(&cases).into_iter().zip(parts) {
        let secret = WebhookSecret::parse(&format!("whsec_{b64_key}")).unwrap();
        let expected = format!("v1,{sig}");
        assert_eq!(secret.sign(&id, &ts, &body), expected, "{id}");
        assert!(secret.verify(&id, &ts, &body, &expected));
    }
}

#[tokio::test]
async fn target_health_switches_and_its_log_is_bounded() {
    let epoch = Instant::now();
    let target = TargetServer::start(loopback(), epoch, 3).await.unwrap();
    let url = format!("http://{}/health", target.addr());
    let http = client();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    target.set_health(Health::Down);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 503);
    let control = format!("http://{}/_control/health", target.addr());
    assert_eq!(
        http.put(&control).body("up").send().await.unwrap().status(),
        204
    );
    assert_eq!(target.health(), Health::Up);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(
        http.put(&control)
            .body("down\n")
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(http.get(&url).send().await.unwrap().status(), 503);
    assert_eq!(
        http.put(&control)
            .body("sideways")
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(target.health(), Health::Down);
    // four answered requests, a log of three: the oldest dropped and counted
    let (hits, dropped) = target.recent();
    assert_eq!((target.answered(), hits.len(), dropped), (4, 3, 1));
    assert_eq!(
        hits.iter().map(|h| h.answered_up).collect::<Vec<_>>(),
        vec![false, true, false]
    );
    assert!(hits.iter().all(|h| h.peer.ip().is_loopback()));
    assert!(hits.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
    target.stop().await;
    assert!(
        TargetServer::start(loopback(), epoch, TARGET_LOG_MAX + 1)
            .await
            .is_err()
    );
    assert!(TargetServer::start(loopback(), epoch, 0).await.is_err());
}

async fn post(
    http: &reqwest::Client,
    receiver: &WebhookReceiver,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> u16 {
    let mut req = http
        .post(format!("http://{}/hook", receiver.addr()))
        .body(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn receiver_records_deliveries_and_checks_signatures() {
    let key = b"a key of the chaos suite".to_vec();
    let http = client();
    let id = "ten1:en1:al1:ch1:2:CRITICAL";
    let body =
        br#"{"event_id":"ten1:en1:al1:ch1:2:CRITICAL","alarm":{"id":"al1"},"state":"CRITICAL"}"#;
    let message = [format!("{id}.1764561600.").as_bytes(), body].concat();
    let (b64_key, sig) = python_vectors(&[(key, message)]).remove(0);
    let signature = format!("v1,{sig}");
    let secret = WebhookSecret::parse(&format!("whsec_{b64_key}")).unwrap();
    let receiver = WebhookReceiver::start(loopback(), secret, Instant::now(), 4)
        .await
        .unwrap();
    let good = [
        ("webhook-id", id),
        ("webhook-timestamp", "1764561600"),
        ("webhook-signature", signature.as_str()),
    ];
    assert_eq!(post(&http, &receiver, &good, body.to_vec()).await, 204);
    let mut tampered = body.to_vec();
    let n = tampered.len();
    tampered[n - 3] = b'X';
    assert_eq!(post(&http, &receiver, &good, tampered).await, 204);
    assert_eq!(post(&http, &receiver, &good[..2], body.to_vec()).await, 204);
    let big = vec![b' '; RECEIVER_BODY_MAX + 1];
    assert_eq!(post(&http, &receiver, &good, big).await, 413);
    assert_eq!(
        post(&http, &receiver, &good, b"not json".to_vec()).await,
        204
    );
    // the log holds four: the fifth is refused and counted
    assert_eq!(post(&http, &receiver, &good, body.to_vec()).await, 503);
    assert_eq!(receiver.refused(), 1);
    let got = receiver.deliveries();
    assert_eq!(got.len(), 4);
    assert_eq!(
        got.iter().map(|d| d.signature_ok).collect::<Vec<_>>(),
        vec![true, false, false, false]
    );
    let record = got[0].to_record().unwrap();
    assert_eq!(
        (record.alarm.as_str(), record.seq, record.state),
        ("al1", 2, AlarmState::Critical)
    );
    assert_eq!(record.event_id, id);
    // the body that is not JSON still yields the seq from the event id, but no alarm
    assert_eq!((got[3].seq, got[3].alarm.as_deref()), (Some(2), None));
    assert!(got[3].to_record().is_none());
    assert!(got.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
    receiver.stop().await;
    let again = WebhookSecret::parse("plain").unwrap();
    let too_big = WebhookReceiver::start(
        loopback(),
        again,
        Instant::now(),
        RECEIVER_DELIVERIES_MAX + 1,
    );
    assert!(too_big.await.is_err());
}

/// The target as a process (as the suite runs it in a region's namespace): it prints its
/// address, obeys the control endpoint, and stops by itself after `--max-s`.
#[tokio::test]
async fn target_process_serves_and_stops_by_itself() {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian-chaos"))
        .args([
            "target",
            "--listen",
            "127.0.0.1:0",
            "--max-s",
            "3",
            "--log",
            "10",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .expect("address line")
        .to_string();
    let http = client();
    let url = format!("http://{addr}/");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let control = format!("http://{addr}/_control/health");
    assert_eq!(
        http.put(&control)
            .body("down")
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(http.get(&url).send().await.unwrap().status(), 503);
    // bounded: it exits on its own once --max-s has passed (waited for at most 30 s)
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "the target did not stop by itself"
    );
}

/// A schedule driven against a real target over its control endpoint: each change takes
/// effect (the target answers accordingly) and is stamped no earlier than it was due.
#[tokio::test]
async fn schedule_driven_over_http() {
    use meridian_chaos::monitoring_history::{Scope, TargetChange};
    use meridian_chaos::target_driver::{drive, set_over_http};
    let std_epoch = Instant::now();
    let target = TargetServer::start(loopback(), std_epoch, 16)
        .await
        .unwrap();
    let base = format!("http://{}", target.addr());
    let change = |ms: u64, state| TargetChange {
        target: "t1".into(),
        state,
        scope: Scope::All,
        time_ns: ms * 1_000_000,
    };
    let schedule = vec![
        change(10, Health::Down),
        change(60, Health::Up),
        change(110, Health::Down),
    ];
    let http = client();
    let epoch = tokio::time::Instant::from_std(std_epoch);
    let applied = drive(&schedule, epoch, std::time::Duration::from_secs(10), |c| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            set_over_http(&http, &base, c.state).await?;
            // the change is in effect once the control call returned
            let status = http.get(format!("{base}/")).send().await?.status().as_u16();
            anyhow::ensure!(status == if c.state == Health::Up { 200 } else { 503 });
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(applied.len(), 3);
    for (a, s) in applied.iter().zip(&schedule) {
        assert!(a.time_ns >= s.time_ns && a.state == s.state);
    }
    assert_eq!(target.health(), Health::Down);
    assert_eq!(target.answered(), 3);
    target.stop().await;
}
