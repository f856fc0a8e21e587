//! The configuration API end to end on a 3-node cluster: every resource written through a
//! follower and read back through another node, ETag / If-Match and Idempotency-Key on each,
//! referential integrity, monitoring zones and the overview, tenant isolation on every route,
//! and the tenant CLI.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_util::{create, req, req_h};
use crate::harness::{TestCluster, WAIT, wait_for};

/// The objects of one tenant, by item path.
struct Objects {
    entity: String,
    paths: Vec<String>,
}

async fn create_all(c: &TestCluster, w: usize, token: &str) -> Objects {
    let en = create(
        c,
        w,
        token,
        "/v1/entities",
        json!({"label": "web", "ip_addresses": {"web": "127.0.0.1"}}),
    )
    .await;
    let check = json!({
        "label": "tcp", "type": "remote.tcp", "details": {"port": 80}, "period": 30,
        "monitoring_zones_poll": ["r1", "r2", "r3"], "target_alias": "web",
        // Not polled, so its alarm stays UNKNOWN whatever the test's timing.
        "disabled": true,
    });
    let ch = create(c, w, token, &format!("/v1/entities/{en}/checks"), check).await;
    let hook = json!({"label": "hook", "type": "webhook", "details": {"url": "http://hooks.example.com/x", "secret": "0123456789abcdef"}});
    let nt = create(c, w, token, "/v1/notifications", hook).await;
    let np = create(
        c,
        w,
        token,
        "/v1/notification_plans",
        json!({"label": "ops", "critical_state": [nt]}),
    )
    .await;
    let alarm = json!({
        "label": "down", "check_id": ch, "notification_plan_id": np,
        "criteria": "if (metric['code'] != '200') { return new AlarmStatus(CRITICAL); }",
    });
    let al = create(c, w, token, &format!("/v1/entities/{en}/alarms"), alarm).await;
    let window =
        json!({"label": "deploy", "entities": [en], "start_time": 1_000, "end_time": 2_000});
    let sp = create(c, w, token, "/v1/suppressions", window).await;
    let paths = vec![
        format!("/v1/entities/{en}"),
        format!("/v1/entities/{en}/checks/{ch}"),
        format!("/v1/entities/{en}/alarms/{al}"),
        format!("/v1/notifications/{nt}"),
        format!("/v1/notification_plans/{np}"),
        format!("/v1/suppressions/{sp}"),
    ];
    Objects { entity: en, paths }
}

/// Reads every object back through node `r`, then updates it with its ETag through `w`; a stale
/// ETag is refused afterwards.
async fn read_back_and_update(c: &TestCluster, w: usize, r: usize, token: &str, objects: &Objects) {
    for path in &objects.paths {
        let got = req(c, r, Method::GET, path, token, None).await;
        assert_eq!(
            got.status, 200,
            "GET {path} through another node: {}",
            got.json
        );
        let tag = got.etag.clone().expect("etag");
        let body = json!({"label": "renamed"});
        let put = req_h(
            c,
            w,
            Method::PUT,
            path,
            token,
            Some(body.clone()),
            &[("If-Match", &tag)],
        )
        .await;
        assert_eq!(put.status, 200, "PUT {path}: {}", put.json);
        assert_eq!(put.json["label"], "renamed");
        let stale = req_h(
            c,
            r,
            Method::PUT,
            path,
            token,
            Some(body),
            &[("If-Match", &tag)],
        )
        .await;
        assert_eq!(
            stale.status, 412,
            "stale If-Match on {path}: {}",
            stale.json
        );
    }
    let alarm = req(c, r, Method::GET, &objects.paths[2], token, None).await;
    assert_eq!(alarm.json["state"], "UNKNOWN", "{}", alarm.json);
    assert_eq!(alarm.json["seq"], 0, "{}", alarm.json);
    assert!(
        alarm.json.get("_criteria_ast").is_none(),
        "internal fields stay internal"
    );
    let check = req(c, r, Method::GET, &objects.paths[1], token, None).await;
    assert_eq!(
        check.json["timeout"], 29,
        "default timeout fits the period: {}",
        check.json
    );
}

/// A second tenant gets 404 for every object and every nested collection of the first.
async fn isolated(c: &TestCluster, i: usize, other: &str, objects: &Objects) {
    for path in &objects.paths {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let body = (method == Method::PUT).then(|| json!({"label": "mine"}));
            let r = req(c, i, method.clone(), path, other, body).await;
            assert_eq!(
                r.status, 404,
                "{method} {path} with another tenant's token: {}",
                r.json
            );
        }
    }
    for what in ["checks", "alarms"] {
        let path = format!("/v1/entities/{}/{what}", objects.entity);
        let r = req(c, i, Method::GET, &path, other, None).await;
        assert_eq!(r.status, 404, "list {path} with another tenant's token");
        let r = req(
            c,
            i,
            Method::POST,
            &path,
            other,
            Some(json!({"label": "x"})),
        )
        .await;
        assert_eq!(
            r.status, 404,
            "create under {path} with another tenant's token"
        );
    }
    for list in [
        "/v1/entities",
        "/v1/notifications",
        "/v1/notification_plans",
        "/v1/suppressions",
        "/v1/views/overview",
    ] {
        let r = req(c, i, Method::GET, list, other, None).await;
        assert_eq!(r.json["values"], json!([]), "{list} of another tenant");
    }
}

async fn integrity(c: &TestCluster, w: usize, token: &str, o: &Objects) {
    let refused = [(3, "plan"), (4, "alarm"), (1, "alarm")];
    for (i, referrer) in refused {
        let r = req(c, w, Method::DELETE, &o.paths[i], token, None).await;
        assert_eq!(r.status, 409, "DELETE {}: {}", o.paths[i], r.json);
        let msg = r.json["message"].as_str().unwrap_or_default();
        assert!(msg.contains(referrer), "the 409 names the referrer: {msg}");
    }
    // Deleting the entity takes its checks and alarms; then the plan and notification may go.
    let key = [("Idempotency-Key", "del-entity")];
    let del = req_h(c, w, Method::DELETE, &o.paths[0], token, None, &key).await;
    assert_eq!(del.status, 204, "{}", del.json);
    let again = req_h(
        c,
        (w + 1) % 3,
        Method::DELETE,
        &o.paths[0],
        token,
        None,
        &key,
    )
    .await;
    assert_eq!(again.status, 204, "a retried delete answers as the first");
    for p in &o.paths[..3] {
        assert_eq!(
            req(c, (w + 2) % 3, Method::GET, p, token, None)
                .await
                .status,
            404,
            "{p} is gone"
        );
    }
    for p in [&o.paths[4], &o.paths[3]] {
        assert_eq!(
            req(c, w, Method::DELETE, p, token, None).await.status,
            204,
            "{p}"
        );
    }
}

async fn zones_and_overview(c: &TestCluster, r: usize, token: &str, o: &Objects) {
    let z = req(c, r, Method::GET, "/v1/monitoring_zones", token, None).await;
    assert_eq!(z.status, 200, "{}", z.json);
    let ids: Vec<&str> = z.json["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(|z| z["id"].as_str())
        .collect();
    assert_eq!(ids, ["r1", "r2", "r3"]);
    assert!(
        z.json["values"]
            .as_array()
            .expect("values")
            .iter()
            .all(|z| z["nodes"] == 1 && z["nodes_up"] == 1)
    );
    let one = req(c, r, Method::GET, "/v1/monitoring_zones/r2", token, None).await;
    assert_eq!(one.json["id"], "r2");
    let ov = req(
        c,
        r,
        Method::GET,
        "/v1/views/overview?consistency=linearizable",
        token,
        None,
    )
    .await;
    let first = &ov.json["values"][0];
    assert_eq!(first["entity"]["id"], o.entity.as_str(), "{}", ov.json);
    assert_eq!(first["checks"].as_array().map(Vec::len), Some(1));
    assert_eq!(first["alarms"].as_array().map(Vec::len), Some(1));
}

async fn idempotent_creates(c: &TestCluster, token: &str) {
    let bodies = [
        ("/v1/entities", json!({"label": "idem"})),
        (
            "/v1/notifications",
            json!({"label": "idem", "type": "email", "details": {"address": "ops@example.com"}}),
        ),
        ("/v1/notification_plans", json!({"label": "idem"})),
    ];
    // A key belongs to one request, so each route's create has its own.
    for (path, body) in bodies {
        let key_value = format!("same-key{}", path.replace('/', "-"));
        let key = [("Idempotency-Key", key_value.as_str())];
        let a = req_h(c, 0, Method::POST, path, token, Some(body.clone()), &key).await;
        let b = req_h(c, 2, Method::POST, path, token, Some(body), &key).await;
        assert_eq!((a.status, b.status), (201, 201), "{path}");
        assert_eq!(
            a.json["id"], b.json["id"],
            "{path}: the retry returned the first result"
        );
    }
}

fn cli_tenant(c: &TestCluster, i: usize, token: &str, args: &[&str]) -> String {
    let node = c.nodes[i].addr();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--node", &node, "--token", token]);
    c.cli(&all)
}

fn cli_round_trip(c: &TestCluster, token: &str) {
    let out = cli_tenant(
        c,
        1,
        token,
        &[
            "entities",
            "create",
            "--data",
            r#"{"label": "from-cli"}"#,
            "-o",
            "json",
        ],
    );
    let created: Value = serde_json::from_str(&out).expect("json");
    let en = created["id"].as_str().expect("id");
    let table = cli_tenant(c, 2, token, &["entities", "list"]);
    assert!(
        table.starts_with("ID") && table.contains(en) && table.contains("from-cli"),
        "{table}"
    );
    let check = r#"{"label": "ping", "type": "remote.ping", "monitoring_zones_poll": ["r1"], "target_hostname": "example.com"}"#;
    let out = cli_tenant(
        c,
        0,
        token,
        &[
            "checks", "--entity", en, "create", "--data", check, "-o", "json",
        ],
    );
    let ch: Value = serde_json::from_str(&out).expect("json");
    let ch = ch["id"].as_str().expect("id");
    let got = cli_tenant(c, 1, token, &["checks", "get", ch, "--entity", en]);
    assert!(got.contains("remote.ping"), "{got}");
    let upd = cli_tenant(
        c,
        2,
        token,
        &[
            "entities",
            "update",
            en,
            "--data",
            r#"{"label": "renamed"}"#,
            "-o",
            "json",
        ],
    );
    assert!(upd.contains("renamed"), "{upd}");
    assert!(cli_tenant(c, 0, token, &["entities", "delete", en]).contains("deleted"));
    let node = c.nodes[0].addr();
    let failed = std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["plans", "get", "npnope", "--node", &node])
        .env("MERIDIAN_TOKEN", token)
        .output()
        .expect("run cli");
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("404"),
        "the server's answer is shown"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_resource_works_through_a_follower_and_is_isolated_per_tenant() {
    let c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    let leader = c.agreed_leader().await;
    let (w, r) = ((leader + 1) % 3, (leader + 2) % 3);
    let token = c.tenant(leader, "acme").await;
    let other = c.tenant(w, "globex").await;
    // Every node must have applied the member list before checks name its regions.
    wait_for("three monitoring zones on the writer", WAIT, || async {
        let z = c
            .call(w, Method::GET, "/v1/monitoring_zones", &token, None, &[])
            .await?;
        (z.json["values"].as_array()?.len() == 3).then_some(())
    })
    .await;

    let objects = create_all(&c, w, &token).await;
    read_back_and_update(&c, w, r, &token, &objects).await;
    zones_and_overview(&c, r, &token, &objects).await;
    isolated(&c, r, &other, &objects).await;
    idempotent_creates(&c, &token).await;
    cli_round_trip(&c, &token);
    integrity(&c, w, &token, &objects).await;
}
