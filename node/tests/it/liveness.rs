//! Liveness and placement: every node derives the same assignment; a killed node is marked
//! down and owns nothing; restarted, it comes back and takes shards again.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::harness::{TestCluster, WAIT, wait_for};

/// (epoch, digest, down node ids, shards held by `id`) from node `i`'s view.
async fn view(c: &TestCluster, i: usize) -> Option<(u64, String, BTreeSet<u64>, u64)> {
    let v = c.cluster(i).await?;
    let nodes = v["nodes"].as_array()?;
    let down = nodes
        .iter()
        .filter(|n| n["status"] == "down")
        .filter_map(|n| n["id"].as_u64())
        .collect();
    let total: u64 = nodes
        .iter()
        .map(|n| {
            ["poller", "series", "evaluator"]
                .iter()
                .map(|r| n["shards"][r].as_u64().unwrap_or(0))
                .sum::<u64>()
        })
        .sum();
    Some((
        v["placement_epoch"].as_u64()?,
        v["placement_digest"].as_str()?.to_string(),
        down,
        total,
    ))
}

fn shards_of(v: &Value, id: u64) -> u64 {
    v["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["id"] == id)
        .map(|n| {
            ["poller", "series", "evaluator"]
                .iter()
                .map(|r| n["shards"][r].as_u64().unwrap_or(0))
                .sum::<u64>()
        })
        .sum()
}

/// Waits until every live node reports the same epoch and digest with `down` down.
async fn agree(c: &TestCluster, down: &BTreeSet<u64>) -> (u64, String) {
    wait_for("all live nodes to agree on the placement", WAIT, || async {
        let mut seen: Option<(u64, String)> = None;
        for (i, n) in c.nodes.iter().enumerate() {
            if n.child.is_none() {
                continue;
            }
            let (epoch, digest, d, _) = view(c, i).await?;
            if &d != down || seen.as_ref().is_some_and(|s| s != &(epoch, digest.clone())) {
                return None;
            }
            seen = Some((epoch, digest));
        }
        seen
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn five_nodes_agree_on_placement_and_heal_after_a_kill() {
    let mut c = TestCluster::start(&["a", "a", "b", "b", "c"], &[]).await;
    let (epoch0, digest0) = agree(&c, &BTreeSet::new()).await;

    c.kill9(3);
    let killed = std::time::Instant::now();
    let (epoch1, digest1) = agree(&c, &BTreeSet::from([4])).await;
    eprintln!(
        "every live node agreed node 4 is down {:?} after kill -9",
        killed.elapsed()
    );
    assert!(epoch1 > epoch0 && digest1 != digest0);
    let v = c.cluster(0).await.expect("view");
    assert_eq!(shards_of(&v, 4), 0, "a down node owns nothing: {v}");

    c.start_node(3);
    let restarted = std::time::Instant::now();
    let (epoch2, digest2) = agree(&c, &BTreeSet::new()).await;
    eprintln!(
        "every live node agreed node 4 is up {:?} after restart",
        restarted.elapsed()
    );
    assert!(epoch2 > epoch1);
    assert_eq!(digest2, digest0, "same members up, same assignment");
    let v = c.cluster(3).await.expect("view");
    assert!(shards_of(&v, 4) > 0, "the node took shards again: {v}");
}
