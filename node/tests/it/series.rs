//! The series store in a real 3-node cluster: every endpoint answered through nodes that do not
//! own the series, bad input refused naming the field, the size and point limits, refused
//! timestamps, a remote_write body encoded here, a check's duration plotted after the pollers
//! ran, and a kill -9 of an owner during ingest losing no acknowledged point.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_util::{create, req};
use crate::harness::{TestCluster, WAIT, wait_for};

fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    d.expect("clock after 1970").as_millis() as i64
}

/// A metric of namespace `app`, name `latency`, dimension host=`host`, with `points`.
fn metric(host: &str, points: &[(i64, f64)]) -> Value {
    json!({"namespace": "app", "name": "latency", "dimensions": {"host": host}, "points": points})
}

/// A counter of node `i`'s `/metrics`, summed over its label sets.
async fn counter(c: &TestCluster, i: usize, name: &str) -> u64 {
    let url = format!("http://{}/metrics", c.nodes[i].addr());
    let text = c.http.get(url).send().await.expect("metrics").text().await;
    text.expect("metrics text")
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Encodes a remote_write 1.0 body: protobuf `WriteRequest`, snappy block format.
mod prom {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }

    pub fn body(name: &str, job: &str, samples: &[(i64, f64)]) -> Vec<u8> {
        let label = |n: &str, v: &str| Label {
            name: n.into(),
            value: v.into(),
        };
        let w = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![label("__name__", name), label("job", job)],
                samples: samples
                    .iter()
                    .map(|(t, v)| Sample {
                        value: *v,
                        timestamp: *t,
                    })
                    .collect(),
            }],
        };
        snap::raw::Encoder::new()
            .compress_vec(&prost::Message::encode_to_vec(&w))
            .expect("snappy")
    }
}

async fn post_raw(c: &TestCluster, i: usize, path: &str, token: &str, body: Vec<u8>) -> u16 {
    let url = format!("http://{}{path}", c.nodes[i].addr());
    let r = c.http.post(url).bearer_auth(token).body(body);
    r.send().await.expect("answer").status().as_u16()
}

async fn query(c: &TestCluster, i: usize, token: &str, qs: &str) -> Value {
    let r = req(
        c,
        i,
        Method::GET,
        &format!("/v1/metrics/query?{qs}"),
        token,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{qs}: {}", r.json);
    r.json
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_written_listed_and_queried_through_any_node() {
    let c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let other = c.tenant(0, "globex").await;
    let now = now_ms() / 60_000 * 60_000 - 60_000;
    let pts: Vec<(i64, f64)> = (0..6).map(|k| (now + k * 10_000, k as f64)).collect();
    let metrics: Vec<Value> = (0..20).map(|h| metric(&format!("h{h}"), &pts)).collect();
    let mut body = json!({"metrics": metrics});
    // One point too old and one too far ahead: refused per point, the rest kept.
    body["metrics"][3]["points"]
        .as_array_mut()
        .unwrap()
        .extend([
            json!([now - 15 * 86_400_000, 1.0]),
            json!([now + 3 * 3_600_000, 2.0]),
        ]);
    let r = req(&c, 0, Method::POST, "/v1/metrics", &token, Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["accepted"], 120, "{}", r.json);
    let rejected = r.json["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 2, "{}", r.json);
    assert!(
        rejected
            .iter()
            .all(|x| x["index"] == 3 && x["reason"].is_string())
    );
    assert_eq!(rejected[1]["point"][1], 2.0);
    // Routed: node 0 sent points to the other owners, and they stored them.
    assert!(counter(&c, 0, "meridian_series_points_forwarded_total").await > 0);
    let received = counter(&c, 1, "meridian_series_points_received_total").await
        + counter(&c, 2, "meridian_series_points_received_total").await;
    assert!(received > 0);
    assert!(counter(&c, 1, "meridian_series_wal_fsyncs_total").await > 0);

    // The listing, paged, through node 1: all 20 series once.
    let mut seen = BTreeSet::new();
    let mut marker: Option<String> = None;
    for _page in 0..5 {
        let mut path = "/v1/metrics?namespace=app&limit=7".to_string();
        if let Some(m) = &marker {
            path.push_str(&format!("&marker={m}"));
        }
        let r = req(&c, 1, Method::GET, &path, &token, None).await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["partial"], false);
        for v in r.json["values"].as_array().unwrap() {
            assert!(seen.insert(v["dimensions"]["host"].as_str().unwrap().to_string()));
        }
        marker = r.json["metadata"]["next_marker"]
            .as_str()
            .map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 20);

    // Statistics through node 2, for every series (each owned by one of the three nodes).
    for h in 0..20 {
        let qs = format!(
            "namespace=app&name=latency&dimension.host=h{h}&from={now}&to={}&period=60&statistics=count,sum,average,max,min,variance,p50,p99.9",
            now + 60_000
        );
        let j = query(&c, 2, &token, &qs).await;
        let v = &j["values"][0];
        assert_eq!(v["series"]["dimensions"]["host"], format!("h{h}"), "{j}");
        let dp = &v["datapoints"][0];
        assert_eq!(dp["timestamp"], now);
        assert_eq!(dp["count"], 6.0, "{j}");
        assert_eq!(dp["sum"], 15.0);
        assert_eq!(dp["average"], 2.5);
        assert_eq!(dp["max"], 5.0);
        assert_eq!(dp["min"], 0.0);
        assert!(dp["p50"].as_f64().unwrap() > 1.9 && dp["p50"].as_f64().unwrap() < 3.1);
    }
    let body = json!({"namespace": "app", "name": "latency", "dimensions": {},
        "from": now, "to": now + 60_000, "period": 30, "statistics": ["count"]});
    let r = req(&c, 1, Method::POST, "/v1/metrics/query", &token, Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let values = r.json["values"].as_array().unwrap();
    assert_eq!(values.len(), 20);
    assert!(
        values
            .iter()
            .all(|v| v["datapoints"].as_array().unwrap().len() == 2)
    );

    // Another tenant sees none of it.
    let j = query(&c, 0, &other, "namespace=app&name=latency").await;
    assert_eq!(j["values"], json!([]));

    // Bad input names the field; the limits answer 400 and 413.
    let mut long = metric("h1", &pts);
    long["name"] = json!("x".repeat(256));
    let r = req(
        &c,
        0,
        Method::POST,
        "/v1/metrics",
        &token,
        Some(json!({"metrics": [long]})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .starts_with("metrics[0].name"),
        "{}",
        r.json
    );
    let r = req(
        &c,
        0,
        Method::POST,
        "/v1/metrics",
        &token,
        Some(json!({"metrics": [{"name": "a"}]})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["message"].as_str().unwrap().contains("namespace"),
        "{}",
        r.json
    );
    let many: Vec<(i64, f64)> = (0..10_001).map(|k| (now - k, 1.0)).collect();
    let r = req(
        &c,
        0,
        Method::POST,
        "/v1/metrics",
        &token,
        Some(json!({"metrics": [metric("h1", &many)]})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert!(r.json["message"].as_str().unwrap().starts_with("metrics:"));
    let huge = format!("{{\"metrics\": [], \"pad\": \"{}\"}}", "x".repeat(1 << 20));
    assert_eq!(
        post_raw(&c, 0, "/v1/metrics", &token, huge.into_bytes()).await,
        413
    );
    let r = req(
        &c,
        2,
        Method::GET,
        "/v1/metrics/query?namespace=app&name=latency&period=0",
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["message"].as_str().unwrap().starts_with("period"),
        "{}",
        r.json
    );
    let r = req(
        &c,
        2,
        Method::GET,
        "/v1/metrics/query?namespace=app&name=latency&statistics=p200",
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["message"].as_str().unwrap().contains("statistics"),
        "{}",
        r.json
    );

    // remote_write through node 1, a stale marker stored as it is.
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let samples = [(now, 1.0), (now + 10_000, 2.0), (now + 20_000, stale)];
    let body = prom::body("up", "node", &samples);
    assert_eq!(post_raw(&c, 1, "/api/v1/write", &token, body).await, 204);
    assert_eq!(
        post_raw(&c, 1, "/api/v1/write", &token, b"not snappy".to_vec()).await,
        400
    );
    let qs = format!(
        "namespace=prometheus&name=up&dimension.job=node&from={now}&to={}&period=10&statistics=count,max",
        now + 60_000
    );
    let j = query(&c, 0, &token, &qs).await;
    // Aggregates skip non-finite values, so the stale marker's 10 s bucket is there with
    // count 0: the point was stored.
    let dps = j["values"][0]["datapoints"].as_array().expect("datapoints");
    assert_eq!(dps.len(), 3, "{j}");
    assert_eq!(dps[1]["max"], 2.0, "{j}");
    assert_eq!(dps[2]["timestamp"], now + 20_000, "{j}");
    assert_eq!(dps[2]["count"], 0.0, "{j}");
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_points_survive_a_kill_of_their_owner_during_ingest() {
    let mut c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let start = now_ms() / 1000 * 1000 - 600_000;
    let hosts: Vec<String> = (0..12).map(|h| format!("k{h}")).collect();
    let mut acked: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut refused = 0;
    const BATCHES: i64 = 60;
    for b in 0..BATCHES {
        if b == 20 {
            c.kill9(1);
        }
        if b == 40 {
            c.start_node(1);
            c.wait_http(1).await;
        }
        let ts = start + b * 1000;
        let metrics: Vec<Value> = hosts.iter().map(|h| metric(h, &[(ts, b as f64)])).collect();
        let r = c
            .call(
                0,
                Method::POST,
                "/v1/metrics",
                &token,
                Some(json!({"metrics": metrics})),
                &[],
            )
            .await
            .expect("node 0 answers");
        if r.status == 200 {
            for h in &hosts {
                acked.entry(h.clone()).or_default().push(ts);
            }
        } else {
            assert_eq!(r.status, 503, "{}", r.json);
            refused += 1;
        }
    }
    // While node 1 was down some batches were refused (it owns some of the 12 series).
    assert!(refused > 0, "no write touched node 1's series");
    let to = start + BATCHES * 1000;
    for h in &hosts {
        let qs = format!(
            "namespace=app&name=latency&dimension.host={h}&from={start}&to={to}&period=1&statistics=count"
        );
        let j = wait_for("a complete answer", WAIT, || async {
            let j = query(&c, 2, &token, &qs).await;
            (j["partial"] == false).then_some(j)
        })
        .await;
        let got: BTreeSet<i64> = j["values"][0]["datapoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["timestamp"].as_i64().unwrap())
            .collect();
        for ts in &acked[h] {
            assert!(got.contains(ts), "{h}: acknowledged point at {ts} lost");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checks_duration_is_plotted_after_the_pollers_ran() {
    let port = crate::target::start().await.port;
    let flags = [
        "--min-check-period-s",
        "2",
        "--allow-targets",
        "127.0.0.0/8",
    ];
    let c = TestCluster::start(&["r1", "r2", "r3"], &flags).await;
    let token = c.tenant(0, "acme").await;
    let other = c.tenant(0, "globex").await;
    let en = create(&c, 0, &token, "/v1/entities", json!({"label": "web"})).await;
    let check = json!({
        "label": "home", "type": "remote.http", "period": 2, "timeout": 1,
        "details": {"url": format!("http://127.0.0.1:{port}/")},
        "monitoring_zones_poll": ["r1", "r2", "r3"], "target_hostname": "127.0.0.1",
    });
    let ch = create(&c, 1, &token, &format!("/v1/entities/{en}/checks"), check).await;
    let names = format!("/v1/entities/{en}/checks/{ch}/metrics");
    let listed = wait_for("duration listed for every zone", WAIT, || async {
        let r = req(&c, 2, Method::GET, &names, &token, None).await;
        let values = r.json["values"].as_array()?.clone();
        let all = values.len() == 3
            && values.iter().all(|v| {
                v["metrics"]
                    .as_array()
                    .is_some_and(|m| m.contains(&json!("duration")))
            });
        all.then_some(values)
    })
    .await;
    assert!(listed.iter().any(|v| v["monitoring_zone_id"] == "r2"));
    let from = now_ms() - 600_000;
    let to = now_ms() + 60_000;
    let plot = format!(
        "/v1/entities/{en}/checks/{ch}/metrics/duration/plot?from={from}&to={to}&resolution=FULL&select=average,max&zone=r2"
    );
    let values = wait_for("three polls from r2 plotted", WAIT, || async {
        let r = req(&c, 0, Method::GET, &plot, &token, None).await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["metadata"]["resolution"], "FULL");
        let v = r.json["values"].as_array()?.clone();
        (v.len() >= 3).then_some(v)
    })
    .await;
    assert!(
        values
            .iter()
            .all(|v| v["average"].as_f64().is_some_and(|d| d >= 0.0))
    );
    let by_points = format!(
        "/v1/entities/{en}/checks/{ch}/metrics/duration/plot?from={from}&to={to}&points=2&select=count"
    );
    let r = req(&c, 1, Method::GET, &by_points, &token, None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["metadata"]["resolution"], "MIN5", "{}", r.json);
    let bad = format!("/v1/entities/{en}/checks/{ch}/metrics/duration/plot?resolution=MIN7");
    let r = req(&c, 1, Method::GET, &bad, &token, None).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .starts_with("resolution")
    );
    // Another tenant's check is not found.
    let r = req(&c, 1, Method::GET, &plot, &other, None).await;
    assert_eq!(r.status, 404);
    let r = req(&c, 1, Method::GET, &names, &other, None).await;
    assert_eq!(r.status, 404);
}
