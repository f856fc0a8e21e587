//! Cluster core: formation, cross-node reads, failover, durability, snapshot catch-up, ETag and
//! idempotency, node id reuse and data-dir format checks.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::api_util::{create, req_h};
use crate::harness::{TOKEN, TestCluster, WAIT, wait_for};

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_form_one_cluster_and_read_back_through_any_node() {
    let c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    let status = c.cli(&[
        "cluster",
        "status",
        "--node",
        &c.nodes[2].addr(),
        "--token",
        TOKEN,
        "--output",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&status).expect("json");
    let voters = v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["role"] == "voter")
        .count();
    assert_eq!(voters, 3, "{v}");
    let leader = c.agreed_leader().await;
    assert!(leader < 3);

    let token = c.tenant(0, "acme").await;
    let created = req_h(
        &c,
        1,
        Method::POST,
        "/v1/entities",
        &token,
        Some(json!({"label": "web"})),
        &[],
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let id = created.json["id"].as_str().expect("id");
    let path = format!("/v1/entities/{id}?consistency=linearizable");
    let read = req_h(&c, 2, Method::GET, &path, &token, None, &[]).await;
    assert_eq!(read.status, 200, "{}", read.json);
    assert_eq!(read.json["label"], "web");
    assert_eq!(read.etag, created.etag);
}

async fn write_value(c: &TestCluster, i: usize, token: &str, id: &str, value: &str) -> Option<u16> {
    let body = json!({"metadata": {"value": value}});
    let r = c
        .call(
            i,
            Method::PUT,
            &format!("/v1/entities/{id}"),
            token,
            Some(body),
            &[],
        )
        .await?;
    Some(r.status)
}

async fn new_entity(c: &TestCluster, i: usize, token: &str, label: &str) -> String {
    create(c, i, token, "/v1/entities", json!({"label": label})).await
}

#[tokio::test(flavor = "multi_thread")]
async fn leader_kill9_writes_resume_and_the_old_leader_catches_up() {
    let mut c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let id = new_entity(&c, 0, &token, "reg").await;
    let leader = c.agreed_leader().await;
    let survivor = (leader + 1) % 3;
    c.kill9(leader);
    let killed_at = Instant::now();
    wait_for(
        "a write through a survivor after the leader died",
        WAIT,
        || async {
            (write_value(&c, survivor, &token, &id, "after").await == Some(200)).then_some(())
        },
    )
    .await;
    eprintln!(
        "writes resumed {:?} after kill -9 of the leader",
        killed_at.elapsed()
    );

    c.start_node(leader);
    let path = format!("/v1/entities/{id}?consistency=local");
    wait_for("the restarted old leader to catch up", WAIT, || async {
        let r = c
            .call(leader, Method::GET, &path, &token, None, &[])
            .await?;
        (r.json["metadata"]["value"] == "after").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_write_survives_kill9_of_every_node() {
    let mut c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let id = new_entity(&c, 1, &token, "durable").await;
    for i in 0..3 {
        c.kill9(i);
    }
    for i in 0..3 {
        c.start_node(i);
    }
    let path = format!("/v1/entities/{id}");
    let r = wait_for(
        "the acknowledged entity after a full restart",
        WAIT,
        || async {
            let r = c.call(2, Method::GET, &path, &token, None, &[]).await?;
            (r.status == 200).then_some(r)
        },
    )
    .await;
    assert_eq!(r.json["label"], "durable");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_joining_after_the_log_was_purged_catches_up_by_snapshot() {
    let mut c = TestCluster::start(&["r1", "r2", "r3"], &["--snapshot-every", "20"]).await;
    let token = c.tenant(0, "acme").await;
    for n in 0..40 {
        new_entity(&c, n % 3, &token, &format!("e{n}")).await;
    }
    let leader = c.agreed_leader().await;
    // Snapshots come by themselves once `--snapshot-every` entries were applied.
    wait_for("an automatic snapshot on every node", WAIT, || async {
        for i in 0..3 {
            let v = c.cluster(i).await?;
            (v["snapshot_index"].as_u64()? >= 20).then_some(())?;
        }
        Some(())
    })
    .await;
    let snap = req_h(
        &c,
        leader,
        Method::POST,
        "/v1/cluster/snapshot",
        TOKEN,
        None,
        &[],
    )
    .await;
    assert_eq!(snap.status, 200, "{}", snap.json);
    assert_eq!(
        snap.json["purged"], true,
        "leader purged its log: {}",
        snap.json
    );
    let purged = c.cluster(leader).await.expect("view")["purged_index"]
        .as_u64()
        .unwrap_or(0);
    assert!(purged > 0, "leader reports its purged index");

    let join = c.nodes[0].addr();
    let late = c.spawn_new("r1", Some(join), &["--snapshot-every", "20"]);
    let v = caught_up(&c, late, leader).await;
    assert!(
        v["snapshot_index"].as_u64().unwrap_or(0) >= purged,
        "late node installed a snapshot: {v}"
    );
    assert_eq!(entities_seen(&c, late, &token).await, Some(40));
}

/// Waits until node `i` applied as far as node `leader` with the same state; returns `i`'s view.
async fn caught_up(c: &TestCluster, i: usize, leader: usize) -> serde_json::Value {
    wait_for("a node to reach the leader's state", WAIT, || async {
        let v = c.cluster(i).await?;
        let l = c.cluster(leader).await?;
        let same =
            v["applied_index"] == l["applied_index"] && v["state_digest"] == l["state_digest"];
        same.then_some(v)
    })
    .await
}

/// How many entities node `i` lists for the tenant of `token`.
async fn entities_seen(c: &TestCluster, i: usize, token: &str) -> Option<usize> {
    let path = "/v1/entities?limit=1000";
    let list = req_h(c, i, Method::GET, path, token, None, &[]).await;
    list.json["values"].as_array().map(Vec::len)
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_if_match_is_refused_and_an_idempotency_key_applies_once() {
    let c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let id = new_entity(&c, 0, &token, "cas").await;
    let path = format!("/v1/entities/{id}");
    let first = req_h(&c, 1, Method::GET, &path, &token, None, &[]).await;
    let tag = first.etag.clone().expect("etag");
    let body = json!({"metadata": {"value": "1"}});
    let ok = req_h(
        &c,
        1,
        Method::PUT,
        &path,
        &token,
        Some(body.clone()),
        &[("If-Match", &tag)],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    let stale = req_h(
        &c,
        2,
        Method::PUT,
        &path,
        &token,
        Some(body),
        &[("If-Match", &tag)],
    )
    .await;
    assert_eq!(stale.status, 412, "{}", stale.json);
    assert_eq!(stale.json["type"], "preconditionFailed");

    let key = [("Idempotency-Key", "create-once")];
    let a = req_h(
        &c,
        0,
        Method::POST,
        "/v1/entities",
        &token,
        Some(json!({"label": "once"})),
        &key,
    )
    .await;
    let b = req_h(
        &c,
        2,
        Method::POST,
        "/v1/entities",
        &token,
        Some(json!({"label": "once"})),
        &key,
    )
    .await;
    assert_eq!(a.status, 201);
    assert_eq!(
        a.json["id"], b.json["id"],
        "the retry returned the first result"
    );
    let list = req_h(
        &c,
        1,
        Method::GET,
        "/v1/entities?consistency=linearizable",
        &token,
        None,
        &[],
    )
    .await;
    let labels: Vec<_> = list.json["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter(|e| e["label"] == "once")
        .collect();
    assert_eq!(labels.len(), 1, "applied once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_node_id_is_refused_when_it_tries_to_join_again() {
    let mut c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    c.cli(&[
        "cluster",
        "remove",
        "--node",
        &c.nodes[0].addr(),
        "--token",
        TOKEN,
        "--id",
        "3",
    ]);
    wait_for("node 3 to leave the membership", WAIT, || async {
        let v = c.cluster(0).await?;
        (v["nodes"].as_array()?.len() == 2).then_some(())
    })
    .await;
    c.kill9(2);
    std::fs::remove_dir_all(&c.nodes[2].data).expect("wipe node 3");
    c.nodes[2].extra = vec!["--join".into(), c.nodes[0].addr()];
    c.start_node(2);
    wait_for("the join of a removed id to be refused", WAIT, || async {
        c.log(2).contains("never reused").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_config_and_unknown_data_format_exit_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("FORMAT"), "meridian-data 99\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("format") && err.trim().lines().count() == 1,
        "{err}"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["serve", "--listen", "nowhere"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("meridian: listen:"), "{err}");
    let _ = Duration::ZERO;
}

/// Reads counter `name` from node `i`'s `/metrics`.
async fn counter(c: &TestCluster, i: usize, name: &str) -> u64 {
    let url = format!("http://{}/metrics", c.nodes[i].addr());
    let reply = c.http.get(url).send().await.expect("GET /metrics");
    let text = reply.text().await.expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics:\n{text}"))
}

/// Writes sent at once travel together (fewer Raft proposals than writes), and bulky writes
/// that add up to more than one peer message of gRPC's default size still reach every node:
/// through a follower to the leader, and to a follower that was down while they were made.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_bulky_writes_are_batched_and_reach_a_follower_that_was_down() {
    const WRITES: u64 = 64;
    let mut c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let leader = c.agreed_leader().await;
    let (follower, down) = ((leader + 1) % 3, (leader + 2) % 3);
    c.kill9(down);
    let before = counter(&c, leader, "meridian_write_batches_total").await;
    // About 100 KB each, 6.5 MB in all.
    let metadata: serde_json::Map<String, serde_json::Value> = (0..100)
        .map(|k| (format!("k{k:03}"), json!("x".repeat(1000))))
        .collect();
    let writes = (0..WRITES).map(|n| {
        let node = if n % 4 == 0 { leader } else { follower };
        let body = json!({"label": format!("bulk{n}"), "metadata": metadata});
        let (c, token) = (&c, &token);
        async move { create(c, node, token, "/v1/entities", body).await }
    });
    futures::future::join_all(writes).await;
    let batches = counter(&c, leader, "meridian_write_batches_total").await - before;
    eprintln!("{WRITES} concurrent writes were proposed in {batches} batches");
    assert!(batches < WRITES, "{batches} batches for {WRITES} writes");

    c.start_node(down);
    caught_up(&c, down, leader).await;
    assert_eq!(entities_seen(&c, down, &token).await, Some(WRITES as usize));
}
