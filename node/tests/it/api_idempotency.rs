//! `Idempotency-Key` belongs to (caller, method, path, body): a retry of the same request gets
//! the first answer through any node; the key sent with another request answers 422
//! `idempotencyKeyReused` and changes nothing, even when the requests race through different
//! nodes (regression tests of "Idempotency-Key is not tied to the request").

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_util::{create, req, req_h};
use crate::harness::{TOKEN, TestCluster};

const NOTIFICATION: &str =
    r#"{"label": "n", "type": "email", "details": {"address": "ops@example.com"}}"#;

fn assert_reused(r: &crate::harness::Reply, what: &str) {
    assert_eq!(r.status, 422, "{what}: {}", r.json);
    assert_eq!(r.json["type"], "idempotencyKeyReused", "{what}");
    assert_eq!(r.json["code"], 422, "{what}");
    let msg = r.json["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("Idempotency-Key"), "{what}: {msg}");
    assert!(r.json["request_id"].is_string(), "{what}");
}

/// Labels of the tenant's entities, read linearizably through node `i`.
async fn entity_labels(c: &TestCluster, i: usize, token: &str) -> Vec<String> {
    let path = "/v1/entities?consistency=linearizable";
    let r = req(c, i, Method::GET, path, token, None).await;
    r.json["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(|e| e["label"].as_str().map(str::to_string))
        .collect()
}

/// The key of a POST reused for another route, another body, a PUT and a DELETE.
async fn a_create_key_is_not_reusable(c: &TestCluster, token: &str) {
    let key = [("Idempotency-Key", "k-create")];
    let body = json!({"label": "first"});
    let first = req_h(
        c,
        0,
        Method::POST,
        "/v1/entities",
        token,
        Some(body.clone()),
        &key,
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.json);
    let en = first.json["id"].as_str().expect("id").to_string();
    let other = create(c, 0, token, "/v1/entities", json!({"label": "other"})).await;

    let note: Value = serde_json::from_str(NOTIFICATION).expect("json");
    let r = req_h(
        c,
        1,
        Method::POST,
        "/v1/notifications",
        token,
        Some(note),
        &key,
    )
    .await;
    assert_reused(&r, "POST to another route");
    // Known to be reused before the body is looked at: an invalid body gets 422 too.
    let invalid = Some(json!({"label": "n", "type": "sms"}));
    let r = req_h(
        c,
        0,
        Method::POST,
        "/v1/notifications",
        token,
        invalid,
        &key,
    )
    .await;
    assert_reused(&r, "POST of an invalid body");
    let notes = req(c, 1, Method::GET, "/v1/notifications", token, None).await;
    assert_eq!(notes.json["values"], json!([]), "no notification was made");

    let r = req_h(
        c,
        2,
        Method::POST,
        "/v1/entities",
        token,
        Some(json!({"label": "second"})),
        &key,
    )
    .await;
    assert_reused(&r, "POST with another body");

    let put = Some(json!({"label": "renamed"}));
    let r = req_h(
        c,
        1,
        Method::PUT,
        &format!("/v1/entities/{other}"),
        token,
        put,
        &key,
    )
    .await;
    assert_reused(&r, "PUT on another entity");

    let r = req_h(
        c,
        2,
        Method::DELETE,
        &format!("/v1/entities/{en}"),
        token,
        None,
        &key,
    )
    .await;
    assert_reused(&r, "DELETE");
    assert!(!r.json.to_string().contains("Object("), "{}", r.json);

    let mut labels = entity_labels(c, 0, token).await;
    labels.sort();
    assert_eq!(labels, ["first", "other"], "nothing changed");

    // The same request again, through another node, gets the first answer.
    let again = req_h(c, 2, Method::POST, "/v1/entities", token, Some(body), &key).await;
    assert_eq!((again.status, &again.json["id"]), (201, &first.json["id"]));
}

/// The key of a PUT reused on another entity, and of a DELETE reused on another object.
async fn update_and_delete_keys_are_not_reusable(c: &TestCluster, token: &str) {
    let a = create(c, 0, token, "/v1/entities", json!({"label": "a"})).await;
    let b = create(c, 0, token, "/v1/entities", json!({"label": "b"})).await;
    let key = [("Idempotency-Key", "k-put")];
    let body = Some(json!({"label": "a2"}));
    let (pa, pb) = (format!("/v1/entities/{a}"), format!("/v1/entities/{b}"));
    let first = req_h(c, 0, Method::PUT, &pa, token, body.clone(), &key).await;
    assert_eq!(first.status, 200, "{}", first.json);
    let r = req_h(c, 1, Method::PUT, &pb, token, body.clone(), &key).await;
    assert_reused(&r, "PUT of the same body on another entity");
    let got = req(c, 1, Method::GET, &pb, token, None).await;
    assert_eq!(got.json["label"], "b", "the other entity was not changed");
    let again = req_h(c, 2, Method::PUT, &pa, token, body, &key).await;
    assert_eq!((again.status, &again.etag), (200, &first.etag), "a retry");

    let key = [("Idempotency-Key", "k-del")];
    assert_eq!(
        req_h(c, 0, Method::DELETE, &pa, token, None, &key)
            .await
            .status,
        204
    );
    let r = req_h(c, 1, Method::DELETE, &pb, token, None, &key).await;
    assert_reused(&r, "DELETE of another entity");
    assert_eq!(req(c, 2, Method::GET, &pb, token, None).await.status, 200);
    let again = req_h(c, 2, Method::DELETE, &pa, token, None, &key).await;
    assert_eq!(again.status, 204, "a retried delete answers as the first");
}

/// One key, three bodies (two equal) sent at once through three nodes: one request wins, its
/// twin gets its answer, and any other body gets 422; one entity is made.
async fn racing_requests_through_different_nodes(c: &TestCluster, token: &str) {
    for round in 0..3 {
        let key_value = format!("k-race-{round}");
        let key = [("Idempotency-Key", key_value.as_str())];
        let label = |x: &str| Some(json!({"label": format!("race{round}-{x}")}));
        let (r0, r1, r2) = tokio::join!(
            req_h(c, 0, Method::POST, "/v1/entities", token, label("x"), &key),
            req_h(c, 1, Method::POST, "/v1/entities", token, label("y"), &key),
            req_h(c, 2, Method::POST, "/v1/entities", token, label("x"), &key),
        );
        let won: Vec<_> = [&r0, &r1, &r2]
            .into_iter()
            .filter(|r| r.status == 201)
            .collect();
        assert!(
            !won.is_empty(),
            "round {round}: {} {} {}",
            r0.json,
            r1.json,
            r2.json
        );
        assert!(
            won.iter().all(|r| r.json["id"] == won[0].json["id"]),
            "one object"
        );
        for r in [&r0, &r1, &r2] {
            if r.status != 201 {
                assert_reused(r, "the losing body");
            }
        }
        let made = entity_labels(c, 1, token)
            .await
            .into_iter()
            .filter(|l| l.starts_with(&format!("race{round}-")))
            .count();
        assert_eq!(made, 1, "round {round}: applied once");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_belongs_to_one_request() {
    let c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    let token = c.tenant(0, "acme").await;
    a_create_key_is_not_reusable(&c, &token).await;
    update_and_delete_keys_are_not_reusable(&c, &token).await;
    racing_requests_through_different_nodes(&c, &token).await;

    // Admin writes too: the key of one tenant's creation cannot create another.
    let key = [("Idempotency-Key", "k-tenant")];
    let a = req_h(
        &c,
        0,
        Method::POST,
        "/v1/tenants",
        TOKEN,
        Some(json!({"name": "t-a"})),
        &key,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let b = req_h(
        &c,
        1,
        Method::POST,
        "/v1/tenants",
        TOKEN,
        Some(json!({"name": "t-b"})),
        &key,
    )
    .await;
    assert_reused(&b, "POST /v1/tenants with another name");
    let list = req(
        &c,
        2,
        Method::GET,
        "/v1/tenants?consistency=linearizable",
        TOKEN,
        None,
    )
    .await;
    let names: Vec<&str> = list.json["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"t-a") && !names.contains(&"t-b"),
        "{names:?}"
    );
}
