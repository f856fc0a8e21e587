//! The OpenAPI document against the running server: it parses, every documented operation is
//! served, and every other method of a documented path answers 405. (Rate limiting is tested on
//! the middleware itself, in `http::rate_limit`, without flooding a node.)

use reqwest::Method;
use serde_json::Value;

use crate::api_util::req;
use crate::harness::{TOKEN, TestCluster};

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

async fn served(
    c: &TestCluster,
    token: &str,
    path: &str,
    method: &str,
    auth: &str,
) -> (u16, Value) {
    let concrete = path.replace("{entity_id}", "en0").replace("{id}", "x0");
    let token = match auth {
        "admin" => TOKEN,
        "tenant" => token,
        _ => "",
    };
    let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
    let body = matches!(method, "post" | "put").then(|| serde_json::json!({}));
    let r = req(c, 0, m, &concrete, token, body).await;
    (r.status, r.json)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_matches_the_served_routes() {
    let c = TestCluster::start(&["r1"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let doc = req(&c, 0, Method::GET, "/v1/openapi.json", "", None).await;
    assert_eq!(doc.status, 200);
    assert!(
        doc.json["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc.json
    );
    let paths = doc.json["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for method in METHODS {
            match item.get(method) {
                Some(op) => {
                    operations += 1;
                    let auth = op["x-meridian-auth"].as_str().unwrap_or("none");
                    let (status, json) = served(&c, &token, path, method, auth).await;
                    let unrouted = status == 404 && json["message"] == "no such route";
                    assert!(
                        status != 405 && !unrouted,
                        "{method} {path} is documented but not served: {status} {json}"
                    );
                    assert!(
                        status != 401 && status != 403,
                        "{method} {path} with the documented auth: {status} {json}"
                    );
                }
                None => {
                    let (status, _) = served(&c, &token, path, method, "tenant").await;
                    assert_eq!(status, 405, "{method} {path} is served but not documented");
                }
            }
        }
    }
    assert!(operations >= 45, "only {operations} operations documented");
    for resource in [
        "/v1/entities/{entity_id}/checks/{id}",
        "/v1/suppressions",
        "/v1/views/overview",
        "/v1/monitoring_zones",
    ] {
        assert!(paths.contains_key(resource), "{resource} documented");
    }
}
