//! Pollers in a real cluster: a check polled from every zone it asks for, its results visible
//! through every node, a dead poller's pairs re-homed to the other node of its region, the
//! address policy refusing a metadata address, and test-check run from each zone.

use std::sync::atomic::Ordering;
use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_util::{create, req};
use crate::harness::{TestCluster, WAIT, wait_for};

/// The results of `check` through node `i`, when every zone has an observation.
async fn results(c: &TestCluster, i: usize, token: &str, en: &str, ch: &str) -> Option<Vec<Value>> {
    let path = format!("/v1/entities/{en}/checks/{ch}/results");
    let r = c.call(i, Method::GET, &path, token, None, &[]).await?;
    if r.status != 200 {
        return None;
    }
    let values = r.json["values"].as_array()?.clone();
    values
        .iter()
        .all(|v| v["node_id"].is_u64())
        .then_some(values)
}

fn zone<'a>(values: &'a [Value], z: &str) -> &'a Value {
    values
        .iter()
        .find(|v| v["monitoring_zone_id"] == z)
        .unwrap_or_else(|| panic!("no value for zone {z}: {values:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_is_polled_from_every_zone_and_rehomed_when_its_poller_dies() {
    let target = crate::target::start().await;
    let (port, hits) = (target.port, target.hits.clone());
    let flags = [
        "--min-check-period-s",
        "2",
        "--allow-targets",
        "127.0.0.0/8",
    ];
    let mut c = TestCluster::start(&["r1", "r2", "r3", "r1"], &flags).await;
    let token = c.tenant(0, "acme").await;
    let en = create(&c, 1, &token, "/v1/entities", json!({"label": "web"})).await;
    let check = json!({
        "label": "home", "type": "remote.http", "period": 2, "timeout": 1,
        "details": {"url": format!("http://127.0.0.1:{port}/"), "body_regex": "ok"},
        "monitoring_zones_poll": ["r1", "r2", "r3"], "target_hostname": "127.0.0.1",
    });
    let ch = create(
        &c,
        2,
        &token,
        &format!("/v1/entities/{en}/checks"),
        check.clone(),
    )
    .await;

    // Every node shows one observation per zone, each from a node of that zone.
    let regions: Vec<String> = c.nodes.iter().map(|n| n.region.clone()).collect();
    for i in 0..c.nodes.len() {
        let values = wait_for("results from every zone", WAIT, || {
            results(&c, i, &token, &en, &ch)
        })
        .await;
        assert_eq!(values.len(), 3, "{values:?}");
        for z in ["r1", "r2", "r3"] {
            let v = zone(&values, z);
            assert_eq!(v["available"], true, "{v}");
            assert_eq!(v["metrics"]["code"]["value"], "200", "{v}");
            assert_eq!(v["metrics"]["body_match"]["value"], "ok", "{v}");
            let by = v["node_id"].as_u64().expect("node id");
            let node = c.nodes.iter().position(|n| n.id == by).expect("known node");
            assert_eq!(regions[node], z, "{v}");
        }
    }
    assert!(hits.load(Ordering::Relaxed) >= 3);

    // The address policy: a metadata address is refused, and says which rule refused it.
    let mut refused = check.clone();
    refused["details"]["url"] = json!("http://169.254.169.254/latest/meta-data/");
    let path = format!("/v1/entities/{en}/test-check");
    let r = req(&c, 3, Method::POST, &path, &token, Some(refused)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let values = r.json["values"].as_array().expect("values");
    assert_eq!(values.len(), 3);
    for v in values {
        assert_eq!(v["available"], false, "{v}");
        let status = v["status"].as_str().unwrap_or_default();
        assert!(status.contains("link-local"), "{v}");
    }
    // test-check against the live target answers from every zone and stores nothing.
    let r = req(&c, 0, Method::POST, &path, &token, Some(check)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let zones: Vec<&str> = r.json["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter(|v| v["available"] == true)
        .filter_map(|v| v["monitoring_zone_id"].as_str())
        .collect();
    assert_eq!(zones, ["r1", "r2", "r3"], "{}", r.json);

    // Kill the r1 poller: the other r1 node takes the check over.
    let values = results(&c, 1, &token, &en, &ch).await.expect("results");
    let owner = zone(&values, "r1")["node_id"].as_u64().expect("owner");
    let dead = c.nodes.iter().position(|n| n.id == owner).expect("owner");
    let heir = (0..c.nodes.len())
        .find(|&i| i != dead && c.nodes[i].region == "r1")
        .expect("other r1 node");
    let heir_id = c.nodes[heir].id;
    let asker = (0..c.nodes.len())
        .find(|&i| i != dead && i != heir)
        .expect("a third node");
    let killed_at_ms = now_ms();
    let t0 = Instant::now();
    c.kill9(dead);
    let v = wait_for("the other r1 node to poll the check", WAIT, || async {
        let values = results(&c, asker, &token, &en, &ch).await?;
        let v = zone(&values, "r1").clone();
        (v["node_id"] == heir_id && v["timestamp"].as_i64()? > killed_at_ms).then_some(v)
    })
    .await;
    assert_eq!(v["available"], true, "{v}");
    println!(
        "re-homed: r1 poll by node {heir_id} {:.1} s after kill -9 of node {owner}",
        t0.elapsed().as_secs_f64()
    );

    // The dead node comes back: the pairs it owned are its own again.
    c.start_node(dead);
    let back_at_ms = now_ms();
    let t1 = Instant::now();
    wait_for(
        "the returning node to poll its check again",
        WAIT,
        || async {
            let values = results(&c, asker, &token, &en, &ch).await?;
            let v = zone(&values, "r1").clone();
            (v["node_id"] == owner && v["timestamp"].as_i64()? > back_at_ms).then_some(())
        },
    )
    .await;
    println!(
        "returned: r1 poll by node {owner} again {:.1} s after its restart",
        t1.elapsed().as_secs_f64()
    );

    // /metrics counts the polls by type and outcome.
    let url = format!("http://{}/metrics", c.nodes[heir].addr());
    let text = c
        .http
        .get(url)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("meridian_polls_total{type=\"remote.http\",outcome=\"available\"}"),
        "{text}"
    );
    assert!(text.contains("meridian_poll_schedule_lag_seconds_bucket"));
    assert!(text.contains("meridian_icmp_mode{mode="));
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
