//! Operator paths: adding a waiting node with `cluster add`, clean exit on SIGTERM, quorum loss
//! reported by `/readyz` and `/v1/cluster`, and the API's basic refusals.

use reqwest::Method;
use serde_json::json;

use crate::api_util::req_h;
use crate::harness::{TOKEN, TestCluster, WAIT, wait_for};

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_add_admits_a_waiting_node_and_sigterm_exits_cleanly() {
    let mut c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    let waiting = c.spawn_new("r2", None, &[]);
    c.wait_http(waiting).await;
    let before = req_h(&c, waiting, Method::GET, "/readyz", TOKEN, None, &[]).await;
    assert_eq!(
        before.status, 503,
        "a node that is not a member is not ready"
    );
    let new = c.nodes[waiting].addr();
    let out = c.cli(&[
        "cluster",
        "add",
        "--node",
        &c.nodes[1].addr(),
        "--new",
        &new,
        "--token",
        TOKEN,
    ]);
    assert!(out.contains("as learner"), "{out}");
    wait_for("the added node to be ready", WAIT, || async {
        let r = c
            .call(waiting, Method::GET, "/readyz", TOKEN, None, &[])
            .await?;
        (r.status == 200).then_some(())
    })
    .await;
    let v = c.cluster(0).await.expect("view");
    let role = v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["id"] == 4)
        .map(|n| n["role"].clone());
    assert_eq!(role, Some(json!("learner")), "{v}");

    let mut child = c.nodes[waiting].child.take().expect("child");
    signal(child.id(), "-TERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "SIGTERM exits 0, got {status}");
    assert!(c.log(waiting).contains("shutting down"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_cut_off_from_its_quorum_says_so() {
    let c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    let leader = c.agreed_leader().await;
    wait_for("the leader to report quorum contact", WAIT, || async {
        let v = c.cluster(leader).await?;
        (v["quorum_contact"] == true).then_some(())
    })
    .await;
    let others: Vec<u32> = (0..3)
        .filter(|i| *i != leader)
        .map(|i| c.nodes[i].child.as_ref().expect("child").id())
        .collect();
    for pid in &others {
        signal(*pid, "-STOP");
    }
    let lost = wait_quorum_contact(&c, leader, false).await;
    for pid in &others {
        signal(*pid, "-CONT");
    }
    assert!(lost, "the isolated node reported losing its quorum");
    wait_quorum_contact(&c, leader, true).await;
}

/// Waits until node `i` reports `quorum_contact == want` in both `/v1/cluster` and `/readyz`.
async fn wait_quorum_contact(c: &TestCluster, i: usize, want: bool) -> bool {
    wait_for("quorum contact to change", WAIT, || async {
        let v = c.cluster(i).await?;
        let r = c.call(i, Method::GET, "/readyz", TOKEN, None, &[]).await?;
        let ready_says = r.json["quorum_contact"] == want && (r.status == 200) == want;
        (v["quorum_contact"] == want && ready_says).then_some(true)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_refuses_what_it_must() {
    let c = TestCluster::start(&["r1"], &[]).await;
    let a = c.tenant(0, "a").await;
    let b = c.tenant(0, "b").await;
    let r = req_h(
        &c,
        0,
        Method::POST,
        "/v1/entities",
        &a,
        Some(json!({"label": "mine"})),
        &[],
    )
    .await;
    let path = format!("/v1/entities/{}", r.json["id"].as_str().expect("id"));

    /// (method, path, token, body, expected status, text the error must contain)
    type Case<'a> = (
        Method,
        String,
        &'a str,
        Option<serde_json::Value>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (Method::GET, path.clone(), b.as_str(), None, 404, "notFound"),
        (
            Method::PUT,
            path.clone(),
            b.as_str(),
            Some(json!({"label": "x"})),
            404,
            "notFound",
        ),
        (
            Method::DELETE,
            path.clone(),
            b.as_str(),
            None,
            404,
            "notFound",
        ),
        (
            Method::GET,
            path.clone(),
            "wrong-token",
            None,
            401,
            "unauthorized",
        ),
        (
            Method::GET,
            "/v1/cluster".into(),
            a.as_str(),
            None,
            403,
            "forbidden",
        ),
        (
            Method::GET,
            "/v1/entities".into(),
            TOKEN,
            None,
            403,
            "forbidden",
        ),
        (
            Method::GET,
            format!("{path}?consistency=eventual"),
            a.as_str(),
            None,
            400,
            "consistency",
        ),
        (
            Method::GET,
            "/v1/entities?limit=0".into(),
            a.as_str(),
            None,
            400,
            "limit",
        ),
        (
            Method::POST,
            "/v1/entities".into(),
            a.as_str(),
            Some(json!({})),
            400,
            "label",
        ),
        (
            Method::POST,
            "/v1/entities".into(),
            a.as_str(),
            Some(json!({"label": 7})),
            400,
            "label",
        ),
        (
            Method::POST,
            "/v1/tenants".into(),
            TOKEN,
            Some(json!({"name": ""})),
            400,
            "name",
        ),
        (
            Method::POST,
            "/v1/cluster/nodes".into(),
            TOKEN,
            Some(json!({"id": 9, "addr": "x", "region": "r"})),
            400,
            "addr",
        ),
    ];
    for (method, p, token, body, status, needle) in cases {
        let r = req_h(&c, 0, method.clone(), &p, token, body, &[]).await;
        assert_eq!(r.status, status, "{method} {p}: {}", r.json);
        assert!(
            r.json.to_string().contains(needle),
            "{method} {p}: {} should mention {needle}",
            r.json
        );
        assert!(r.json["request_id"].is_string());
    }

    let big = "x".repeat(2 * 1024 * 1024);
    let r = req_h(
        &c,
        0,
        Method::POST,
        "/v1/entities",
        &a,
        Some(json!({"label": big})),
        &[],
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.json);
}

/// A node-to-node call without the cluster's peer key is refused before its body is read: a
/// client that reaches the public port cannot make a node take in a large message.
#[tokio::test(flavor = "multi_thread")]
async fn a_peer_call_without_the_peer_key_is_refused_before_its_body_is_read() {
    let c = TestCluster::start(&["r1"], &[]).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    // One gRPC frame (flag, length, message) of 6 MiB of bytes that are no valid message.
    let len: u32 = 6 * 1024 * 1024;
    let mut body = vec![0u8];
    body.extend_from_slice(&len.to_be_bytes());
    body.resize(5 + len as usize, 0xff);
    let url = format!(
        "http://{}/meridian.peer.v1.Peer/ForwardWrite",
        c.nodes[0].addr()
    );
    for key in [None, Some("not-the-key")] {
        let mut req = h2
            .post(&url)
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(k) = key {
            req = req.header("x-meridian-peer-key", k);
        }
        let reply = req.body(body.clone()).send().await.expect("reply");
        let status = reply.headers().get("grpc-status").cloned();
        let status = status.map(|v| v.to_str().unwrap_or_default().to_string());
        // 16 is UNAUTHENTICATED; a body that was read would fail to decode first (13 or 3).
        assert_eq!(status.as_deref(), Some("16"), "key {key:?}: {reply:?}");
    }
}
