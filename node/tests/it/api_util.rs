//! Helpers of the API tests: one request that must get an answer, and object creation.

use reqwest::Method;
use serde_json::Value;

use crate::harness::{Reply, TestCluster};

/// Sends a request to node `i`; panics if no answer arrives (the node is expected up).
pub async fn req(
    c: &TestCluster,
    i: usize,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    req_h(c, i, method, path, token, body, &[]).await
}

pub async fn req_h(
    c: &TestCluster,
    i: usize,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let what = format!("{method} {path}");
    c.call(i, method, path, token, body, headers)
        .await
        .unwrap_or_else(|| panic!("no answer to {what}"))
}

/// POSTs `body` to `path` through node `i`, asserts 201 and returns the new id.
pub async fn create(c: &TestCluster, i: usize, token: &str, path: &str, body: Value) -> String {
    let r = req(c, i, Method::POST, path, token, Some(body)).await;
    assert_eq!(r.status, 201, "POST {path}: {}", r.json);
    r.json["id"].as_str().expect("id").to_string()
}
