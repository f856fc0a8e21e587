//! Table-driven: bad inputs across every resource, each answered with the right status and a
//! message that names the offending field.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_util::{create, req, req_h};
use crate::harness::{TOKEN, TestCluster};

/// One bad request: method, path (`{en}`, `{en2}`, `{ch}`, `{ch2}`, `{nt}`, `{np}` filled in),
/// body, expected status and a word the message must contain.
type Case = (Method, &'static str, Value, u16, &'static str);

fn check(patch: Value) -> Value {
    let mut base = json!({
        "label": "c", "type": "remote.tcp", "details": {"port": 80},
        "monitoring_zones_poll": ["r1"], "target_hostname": "example.com",
    });
    for (k, v) in patch.as_object().cloned().unwrap_or_default() {
        if v.is_null() {
            base.as_object_mut().map(|m| m.remove(&k));
        } else {
            base[k] = v;
        }
    }
    base
}

fn http(details: Value) -> Value {
    check(json!({"type": "remote.http", "details": details}))
}

fn alarm(patch: Value) -> Value {
    let mut base = json!({"label": "a", "check_id": "{ch}", "notification_plan_id": "{np}"});
    for (k, v) in patch.as_object().cloned().unwrap_or_default() {
        if v.is_null() {
            base.as_object_mut().map(|m| m.remove(&k));
        } else {
            base[k] = v;
        }
    }
    base
}

fn threshold(patch: Value) -> Value {
    let mut t = json!({"metric": "duration", "comparison": ">", "threshold": 1});
    for (k, v) in patch.as_object().cloned().unwrap_or_default() {
        t[k] = v;
    }
    alarm(json!({"threshold": t}))
}

fn hook(details: Value) -> Value {
    json!({"label": "n", "type": "webhook", "details": details})
}

fn recurring(patch: Value) -> Value {
    let mut r = json!({"days": ["mon"], "start": "01:00", "duration_minutes": 60, "time_zone": "Europe/Paris"});
    for (k, v) in patch.as_object().cloned().unwrap_or_default() {
        r[k] = v;
    }
    json!({"label": "s", "entities": ["{en}"], "recurrence": r})
}

#[rustfmt::skip]
fn entity_cases() -> Vec<Case> {
    let p = "/v1/entities";
    vec![
        (Method::POST, p, json!({}), 400, "label"),
        (Method::POST, p, json!({"label": ""}), 400, "label"),
        (Method::POST, p, json!({"label": "x".repeat(256)}), 400, "label"),
        (Method::POST, p, json!({"label": 5}), 400, "label"),
        (Method::POST, p, json!({"label": "a", "ip_addresses": {"web": "nope"}}), 400, "ip_addresses.web"),
        (Method::POST, p, json!({"label": "a", "ip_addresses": "x"}), 400, "ip_addresses"),
        (Method::POST, p, json!({"label": "a", "metadata": {"k": 1}}), 400, "metadata.k"),
        (Method::POST, p, json!({"label": "a", "metadata": {"": "v"}}), 400, "metadata"),
        (Method::POST, p, json!({"label": "a", "bogus": 1}), 400, "bogus"),
        (Method::POST, p, json!([1]), 400, "body"),
        (Method::PUT, "/v1/entities/{en}", json!({"label": " "}), 400, "label"),
    ]
}

#[rustfmt::skip]
fn check_cases() -> Vec<Case> {
    let p = "/v1/entities/{en}/checks";
    vec![
        (Method::POST, p, check(json!({"type": null})), 400, "type"),
        (Method::POST, p, check(json!({"type": "remote.smtp"})), 400, "type"),
        (Method::POST, p, check(json!({"period": 29})), 400, "period"),
        (Method::POST, p, check(json!({"period": 1801})), 400, "period"),
        (Method::POST, p, check(json!({"period": "60"})), 400, "period"),
        (Method::POST, p, check(json!({"timeout": 60})), 400, "timeout"),
        (Method::POST, p, check(json!({"timeout": 0})), 400, "timeout"),
        (Method::POST, p, check(json!({"monitoring_zones_poll": []})), 400, "monitoring_zones_poll"),
        (Method::POST, p, check(json!({"monitoring_zones_poll": ["mars"]})), 400, "monitoring_zones_poll"),
        (Method::POST, p, check(json!({"monitoring_zones_poll": ["r1", "r1"]})), 400, "monitoring_zones_poll"),
        (Method::POST, p, check(json!({"monitoring_zones_poll": null})), 400, "monitoring_zones_poll"),
        (Method::POST, p, check(json!({"target_hostname": null})), 400, "target_hostname"),
        (Method::POST, p, check(json!({"target_alias": "web"})), 400, "target_hostname"),
        (Method::POST, p, check(json!({"target_hostname": "bad host"})), 400, "target_hostname"),
        (Method::POST, p, check(json!({"target_hostname": null, "target_alias": "db"})), 400, "target_alias"),
        (Method::POST, p, check(json!({"details": {"port": 0}})), 400, "details.port"),
        (Method::POST, p, check(json!({"details": {"port": 70000}})), 400, "details.port"),
        (Method::POST, p, check(json!({"details": {}})), 400, "details.port"),
        (Method::POST, p, check(json!({"details": {"port": 80, "banner_regex": "("}})), 400, "details.banner_regex"),
        (Method::POST, p, http(json!({})), 400, "details.url"),
        (Method::POST, p, http(json!({"url": "ftp://example.com"})), 400, "details.url"),
        (Method::POST, p, http(json!({"url": "https://example.com", "method": "BREW"})), 400, "details.method"),
        (Method::POST, p, http(json!({"url": "https://example.com", "expected_codes": [99]})), 400, "details.expected_codes"),
        (Method::POST, p, http(json!({"url": "https://example.com", "body_regex": "["})), 400, "details.body_regex"),
        (Method::POST, p, http(json!({"url": "https://example.com", "headers": {"bad header": "x"}})), 400, "details.headers"),
        (Method::POST, p, http(json!({"url": "https://example.com", "foo": 1})), 400, "foo"),
        (Method::POST, p, check(json!({"type": "remote.dns", "details": {}})), 400, "details.query"),
        (Method::POST, p, check(json!({"type": "remote.dns", "details": {"query": "x.io", "record_type": "ZZ"}})), 400, "details.record_type"),
        (Method::POST, p, check(json!({"type": "remote.ping", "details": {"count": 16}})), 400, "details.count"),
        (Method::POST, p, check(json!({"type": "remote.tls", "details": {"server_name": "a b"}})), 400, "details.server_name"),
        (Method::POST, p, check(json!({"disabled": "yes"})), 400, "disabled"),
        (Method::PUT, "/v1/entities/{en}/checks/{ch}", json!({"period": 10}), 400, "period"),
    ]
}

#[rustfmt::skip]
fn alarm_cases() -> Vec<Case> {
    let p = "/v1/entities/{en}/alarms";
    vec![
        (Method::POST, p, alarm(json!({"check_id": null})), 400, "check_id"),
        (Method::POST, p, alarm(json!({"check_id": "chnope"})), 400, "check_id"),
        (Method::POST, p, alarm(json!({"check_id": "{ch2}"})), 400, "check_id"),
        (Method::POST, p, alarm(json!({"notification_plan_id": null})), 400, "notification_plan_id"),
        (Method::POST, p, alarm(json!({"notification_plan_id": "npnope"})), 400, "notification_plan_id"),
        (Method::POST, p, alarm(json!({"criteria": 5})), 400, "criteria"),
        (Method::POST, p, alarm(json!({"criteria": "return new AlarmStatus(OK);", "threshold": {}})), 400, "criteria"),
        (Method::POST, p, threshold(json!({"metric": null})), 400, "threshold.metric"),
        (Method::POST, p, threshold(json!({"comparison": "~"})), 400, "threshold.comparison"),
        (Method::POST, p, threshold(json!({"statistic": "p42"})), 400, "threshold.statistic"),
        (Method::POST, p, threshold(json!({"threshold": "high"})), 400, "threshold.threshold"),
        (Method::POST, p, threshold(json!({"evaluation_periods": 2, "datapoints_to_alarm": 5})), 400, "threshold.datapoints_to_alarm"),
        (Method::POST, p, threshold(json!({"treat_missing_data": "panic"})), 400, "threshold.treat_missing_data"),
    ]
}

#[rustfmt::skip]
fn notification_cases() -> Vec<Case> {
    let (n, p) = ("/v1/notifications", "/v1/notification_plans");
    vec![
        (Method::POST, n, json!({"type": "email", "details": {"address": "a@b.io"}}), 400, "label"),
        (Method::POST, n, json!({"label": "n"}), 400, "type"),
        (Method::POST, n, json!({"label": "n", "type": "sms"}), 400, "type"),
        (Method::POST, n, hook(json!({})), 400, "details.url"),
        (Method::POST, n, hook(json!({"url": "not a url"})), 400, "details.url"),
        (Method::POST, n, hook(json!({"url": "http://x.io", "secret": "short"})), 400, "details.secret"),
        (Method::POST, n, json!({"label": "n", "type": "email", "details": {"address": "nobody"}}), 400, "details.address"),
        (Method::POST, n, json!({"label": "n", "type": "pagerduty", "details": {"routing_key": "short"}}), 400, "details.routing_key"),
        (Method::POST, n, json!({"label": "n", "type": "slack", "details": {"url": "http://hooks.slack.com/x"}}), 400, "details.url"),
        (Method::POST, p, json!({"critical_state": []}), 400, "label"),
        (Method::POST, p, json!({"label": "p", "critical_state": ["ntnope"]}), 400, "critical_state"),
        (Method::POST, p, json!({"label": "p", "warning_state": ["{nt}", "{nt}"]}), 400, "warning_state"),
        (Method::POST, p, json!({"label": "p", "ok_state": "x"}), 400, "ok_state"),
    ]
}

#[rustfmt::skip]
fn suppression_cases() -> Vec<Case> {
    let s = "/v1/suppressions";
    vec![
        (Method::POST, s, json!({"label": "s", "start_time": 1, "end_time": 2}), 400, "entities"),
        (Method::POST, s, json!({"label": "s", "entities": ["ennope"], "start_time": 1, "end_time": 2}), 400, "entities"),
        (Method::POST, s, json!({"label": "s", "checks": ["chnope"], "start_time": 1, "end_time": 2}), 400, "checks"),
        (Method::POST, s, json!({"label": "s", "entities": ["{en}"], "start_time": 1}), 400, "end_time"),
        (Method::POST, s, json!({"label": "s", "entities": ["{en}"], "start_time": 5, "end_time": 2}), 400, "end_time"),
        (Method::POST, s, json!({"label": "s", "entities": ["{en}"]}), 400, "start_time"),
        (Method::POST, s, recurring(json!({"time_zone": "Mars/Olympus_Mons"})), 400, "recurrence.time_zone"),
        (Method::POST, s, recurring(json!({"days": ["funday"]})), 400, "recurrence.days"),
        (Method::POST, s, recurring(json!({"start": "24:00"})), 400, "recurrence.start"),
        (Method::POST, s, recurring(json!({"duration_minutes": 0})), 400, "recurrence.duration_minutes"),
    ]
}

#[rustfmt::skip]
fn request_cases() -> Vec<Case> {
    vec![
        (Method::GET, "/v1/entities?limit=0", Value::Null, 400, "limit"),
        (Method::GET, "/v1/notifications?limit=1001", Value::Null, 400, "limit"),
        (Method::GET, "/v1/entities/{en}?consistency=eventually", Value::Null, 400, "consistency"),
        (Method::GET, "/v1/entities/{en}/checks/{ch2}", Value::Null, 404, "check"),
        (Method::GET, "/v1/monitoring_zones/mars", Value::Null, 404, "mars"),
    ]
}

fn fill(s: &str, ids: &[(&str, &str)]) -> String {
    ids.iter().fold(s.to_string(), |s, (k, v)| s.replace(k, v))
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_are_refused_with_the_field_named() {
    let c = TestCluster::start(&["r1"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let en = create(
        &c,
        0,
        &token,
        "/v1/entities",
        json!({"label": "e", "ip_addresses": {"web": "10.0.0.1"}}),
    )
    .await;
    let en2 = create(&c, 0, &token, "/v1/entities", json!({"label": "e2"})).await;
    let ch = create(
        &c,
        0,
        &token,
        &format!("/v1/entities/{en}/checks"),
        check(json!({})),
    )
    .await;
    let ch2 = create(
        &c,
        0,
        &token,
        &format!("/v1/entities/{en2}/checks"),
        check(json!({})),
    )
    .await;
    let nt = create(
        &c,
        0,
        &token,
        "/v1/notifications",
        hook(json!({"url": "http://x.io"})),
    )
    .await;
    let np = create(
        &c,
        0,
        &token,
        "/v1/notification_plans",
        json!({"label": "p"}),
    )
    .await;
    let ids = [
        ("{en2}", en2.as_str()),
        ("{en}", en.as_str()),
        ("{ch2}", ch2.as_str()),
        ("{ch}", ch.as_str()),
        ("{nt}", nt.as_str()),
        ("{np}", np.as_str()),
    ];

    let cases: Vec<Case> = [
        entity_cases(),
        check_cases(),
        alarm_cases(),
        notification_cases(),
        suppression_cases(),
        request_cases(),
    ]
    .concat();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut distinct = std::collections::BTreeSet::new();
    for (method, path, body, status, field) in cases {
        let path = fill(path, &ids);
        let body = (!body.is_null())
            .then(|| serde_json::from_str(&fill(&body.to_string(), &ids)).expect("json"));
        assert!(
            distinct.insert(format!("{method} {path} {body:?}")),
            "case repeated: {path}"
        );
        let r = req(&c, 0, method.clone(), &path, &token, body.clone()).await;
        let msg = r.json["message"].as_str().unwrap_or_default();
        assert_eq!(r.status, status, "{method} {path} {body:?}: {}", r.json);
        assert!(
            msg.contains(field),
            "{method} {path}: message {msg:?} does not name {field:?}"
        );
        assert!(
            r.json["request_id"].is_string(),
            "error body has a request id: {}",
            r.json
        );
    }
    auth_and_headers(&c, &token, &en).await;
    parse_error_details(&c, &token, &en, &ch, &np).await;
    too_large(&c, &token).await;
}

/// Last, on its own connection: the server answers 413 before reading the whole body and then
/// closes the connection, which must not break a pooled connection of the other requests.
async fn too_large(c: &TestCluster, token: &str) {
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/entities", c.nodes[0].addr());
    let body = json!({"label": "x".repeat(2 << 20)});
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("reply");
    assert_eq!(r.status(), 413);
    let json: Value = r.json().await.expect("json");
    assert!(
        json["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("body:"),
        "{json}"
    );
}

async fn auth_and_headers(c: &TestCluster, token: &str, en: &str) {
    let r = req(c, 0, Method::GET, "/v1/entities", "", None).await;
    assert_eq!(r.status, 401, "{}", r.json);
    let r = req(c, 0, Method::GET, "/v1/entities", TOKEN, None).await;
    assert_eq!(
        (r.status, r.json["type"].as_str()),
        (403, Some("forbidden")),
        "admin token on a tenant route"
    );
    let r = req(c, 0, Method::GET, "/v1/tenants", token, None).await;
    assert_eq!(r.status, 403, "tenant token on an admin route");
    let path = format!("/v1/entities/{en}");
    let r = req_h(
        c,
        0,
        Method::PUT,
        &path,
        token,
        Some(json!({"label": "x"})),
        &[("If-Match", "garbage")],
    )
    .await;
    assert_eq!(r.status, 412, "{}", r.json);
    let long = "k".repeat(300);
    let r = req_h(
        c,
        0,
        Method::POST,
        "/v1/entities",
        token,
        Some(json!({"label": "x"})),
        &[("Idempotency-Key", &long)],
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Idempotency-Key")
    );
}

async fn parse_error_details(c: &TestCluster, token: &str, en: &str, ch: &str, np: &str) {
    let body = json!({"label": "a", "check_id": ch, "notification_plan_id": np,
        "criteria": "if (metric['code'] != '200') {\n  return new AlarmStatus(BROKEN);\n}"});
    let r = req(
        c,
        0,
        Method::POST,
        &format!("/v1/entities/{en}/alarms"),
        token,
        Some(body),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_eq!(r.json["type"], "alarmParseError");
    assert!(
        r.json["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("criteria:"),
        "{}",
        r.json
    );
    let d = &r.json["details"];
    assert_eq!(
        (d["error_line"].as_u64(), d["error_token"].as_str()),
        (Some(2), Some("BROKEN")),
        "{d}"
    );
    for f in ["error_column", "error_position", "message"] {
        assert!(!d[f].is_null(), "details.{f} present: {d}");
    }
}
