//! Tenant lifecycle through a three-node cluster (regression tests of "Tenant lifecycle"):
//! tokens issued and revoked through one node take effect on every node, a tenant holds at
//! most five, and a deleted tenant's tokens and objects are gone everywhere.

use reqwest::Method;
use serde_json::json;

use crate::harness::{TOKEN, TestCluster, WAIT, wait_for};

/// Waits until `token` gets `status` for a list of entities on every node.
async fn everywhere(c: &TestCluster, token: &str, status: u16, what: &str) {
    for i in 0..c.nodes.len() {
        wait_for(what, WAIT, || async {
            let r = c
                .call(i, Method::GET, "/v1/entities", token, None, &[])
                .await?;
            (r.status == status).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_rotate_and_a_deleted_tenant_is_gone_on_every_node() {
    let c = TestCluster::start(&["r1", "r2", "r3"], &[]).await;
    let body = json!({"name": "acme"});
    let created = c
        .call(0, Method::POST, "/v1/tenants", TOKEN, Some(body), &[])
        .await;
    let created = created.expect("reply");
    assert_eq!(created.status, 201, "{}", created.json);
    let tenant = created.json["id"].as_str().expect("id").to_string();
    let first = created.json["token"].as_str().expect("token").to_string();
    let first_id = created.json["token_id"]
        .as_str()
        .expect("token_id")
        .to_string();
    let entity = json!({"label": "web"});
    let r = c
        .call(1, Method::POST, "/v1/entities", &first, Some(entity), &[])
        .await;
    assert_eq!(r.expect("reply").status, 201);

    // Issue tokens through node 2 up to the bound of five.
    let tokens_path = format!("/v1/tenants/{tenant}/tokens");
    let mut issued = Vec::new();
    for _ in 0..4 {
        let r = c
            .call(2, Method::POST, &tokens_path, TOKEN, None, &[])
            .await;
        let r = r.expect("reply");
        assert_eq!(r.status, 201, "{}", r.json);
        let token = r.json["token"].as_str().expect("shown once").to_string();
        assert!(r.json["id"].as_str().expect("id").starts_with("tk"));
        issued.push(token);
    }
    let sixth = c
        .call(2, Method::POST, &tokens_path, TOKEN, None, &[])
        .await;
    assert_eq!(sixth.expect("reply").status, 409, "a sixth token");
    everywhere(&c, &issued[0], 200, "a new token to work on every node").await;
    let listed = c
        .call(0, Method::GET, "/v1/tenants", TOKEN, None, &[])
        .await;
    let listed = listed.expect("reply").json;
    assert_eq!(
        listed["values"][0]["tokens"].as_array().map(Vec::len),
        Some(5)
    );
    assert!(
        !listed.to_string().contains(&first),
        "no token is ever shown again"
    );

    // Revoke the first token through node 1: 401 there at once, then on every node.
    let revoke = format!("{tokens_path}/{first_id}");
    let r = c.call(1, Method::DELETE, &revoke, TOKEN, None, &[]).await;
    assert_eq!(r.expect("reply").status, 204);
    let at_once = c
        .call(1, Method::GET, "/v1/entities", &first, None, &[])
        .await;
    assert_eq!(at_once.expect("reply").status, 401);
    everywhere(&c, &first, 401, "a revoked token to fail on every node").await;
    let again = c.call(0, Method::DELETE, &revoke, TOKEN, None, &[]).await;
    assert_eq!(again.expect("reply").status, 404);
    let r = c
        .call(0, Method::GET, "/v1/entities", &issued[1], None, &[])
        .await;
    assert_eq!(
        r.expect("reply").json["values"].as_array().map(Vec::len),
        Some(1)
    );

    // Delete the tenant through node 2: every token fails everywhere; the name is free.
    let tenant_path = format!("/v1/tenants/{tenant}");
    let gone = c
        .call(2, Method::DELETE, &tenant_path, TOKEN, None, &[])
        .await;
    assert_eq!(gone.expect("reply").status, 204);
    for t in &issued {
        everywhere(&c, t, 401, "a deleted tenant's token to fail on every node").await;
    }
    let listed = c
        .call(0, Method::GET, "/v1/tenants", TOKEN, None, &[])
        .await;
    assert_eq!(listed.expect("reply").json["values"], json!([]));
    let twice = c
        .call(0, Method::DELETE, &tenant_path, TOKEN, None, &[])
        .await;
    assert_eq!(twice.expect("reply").status, 404);
    let body = json!({"name": "acme"});
    let again = c
        .call(1, Method::POST, "/v1/tenants", TOKEN, Some(body), &[])
        .await;
    let again = again.expect("reply");
    assert_eq!(again.status, 201, "{}", again.json);
    let token = again.json["token"].as_str().expect("token").to_string();
    let r = c
        .call(0, Method::GET, "/v1/entities", &token, None, &[])
        .await;
    let r = r.expect("reply");
    assert_eq!(
        r.json["values"],
        json!([]),
        "the new tenant sees nothing of the old one"
    );
}

/// A tenant token cannot manage tenants; unknown ids answer 404.
#[tokio::test(flavor = "multi_thread")]
async fn only_the_admin_manages_tenants_and_unknown_ids_are_404() {
    let c = TestCluster::start(&["r1"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let listed = c
        .call(0, Method::GET, "/v1/tenants", TOKEN, None, &[])
        .await;
    let id = listed.expect("reply").json["values"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    for (m, p) in [
        (Method::DELETE, format!("/v1/tenants/{id}")),
        (Method::POST, format!("/v1/tenants/{id}/tokens")),
    ] {
        let r = c.call(0, m, &p, &token, None, &[]).await.expect("reply");
        assert_eq!(r.status, 403, "{p}");
    }
    for (m, p) in [
        (Method::DELETE, "/v1/tenants/tn0000".to_string()),
        (Method::POST, "/v1/tenants/tn0000/tokens".to_string()),
        (Method::DELETE, format!("/v1/tenants/{id}/tokens/tk00")),
        (Method::DELETE, format!("/v1/tenants/{id}/tokens/x..y")),
    ] {
        let r = c.call(0, m, &p, TOKEN, None, &[]).await.expect("reply");
        assert_eq!(r.status, 404, "{p}: {}", r.json);
    }
}
