//! Input hygiene (regression tests of "Input hygiene"): every refusal (400, 401, 405, 412, 414,
//! 415, 431; 413 is in `operations`) comes in the JSON error format; bodies must be JSON
//! without repeated keys; markers and query parameters are checked; `Authorization` takes the
//! scheme in any case; `If-Match` follows RFC 9110; labels and names are plain text.

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::api_util::{create, req};
use crate::harness::{TOKEN, TestCluster};

/// Sends `r`; asserts the status and, for an error, the `{type, code, message, details,
/// request_id}` body. Returns the body and the `WWW-Authenticate` header.
async fn expect(r: RequestBuilder, status: u16, what: &str) -> (Value, Option<String>) {
    let resp = r.send().await.expect("answer");
    assert_eq!(resp.status().as_u16(), status, "{what}");
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(body["code"], status, "{what}: {body}");
        for field in ["type", "message", "request_id"] {
            assert!(body[field].is_string(), "{what}: no {field} in {body}");
        }
        assert!(body.get("details").is_some(), "{what}: {body}");
    }
    (body, challenge)
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_in_the_json_error_format() {
    let c = TestCluster::start(&["r1"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let base = format!("http://{}", c.nodes[0].addr());
    let url = |p: &str| format!("{base}{p}");
    let http = &c.http;
    let post = |body: &str, ct: &str| {
        http.post(url("/v1/entities"))
            .bearer_auth(&token)
            .header("content-type", ct)
            .body(body.to_string())
    };

    let (b, _) = expect(post(r#"{"label": "x"}"#, "text/plain"), 415, "text body").await;
    assert_eq!(b["type"], "unsupportedMediaType");
    let (b, _) = expect(
        post(r#"{"label": "a", "label": "b"}"#, "application/json"),
        400,
        "dup",
    )
    .await;
    assert!(
        b["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("body: duplicate key"),
        "{b}"
    );
    let (b, _) = expect(
        post("{\"label\": \"a\\u202Eb\"}", "application/json"),
        400,
        "bidi",
    )
    .await;
    assert!(
        b["message"].as_str().unwrap_or("").starts_with("label:"),
        "{b}"
    );
    let name = json!({"name": "evil\ntenant"});
    let r = http.post(url("/v1/tenants")).bearer_auth(TOKEN).json(&name);
    expect(r, 400, "tenant name with a newline").await;

    let get = |p: &str| http.get(url(p)).bearer_auth(&token);
    expect(
        get("/v1/entities?marker=zz%20top"),
        400,
        "a marker that is no id",
    )
    .await;
    let (b, _) = expect(get("/v1/entities?limit=1&limit=2"), 400, "repeated").await;
    assert!(
        b["message"].as_str().unwrap_or("").starts_with("limit:"),
        "{b}"
    );
    let long = format!("/v1/entities?x={}", "a".repeat(9000));
    expect(get(&long), 414, "long uri").await;
    let mut many = get("/v1/entities");
    for i in 0..70 {
        many = many.header(format!("x-h{i}"), "v");
    }
    expect(many, 431, "many headers").await;
    let (b, _) = expect(
        http.delete(url("/v1/entities")).bearer_auth(&token),
        405,
        "405",
    )
    .await;
    assert_eq!(b["type"], "methodNotAllowed");

    let (_, challenge) = expect(http.get(url("/v1/entities")), 401, "no token").await;
    assert!(
        challenge.is_some_and(|c| c.starts_with("Bearer")),
        "WWW-Authenticate"
    );
    let lower = http
        .get(url("/v1/entities"))
        .header("authorization", format!("bearer {token}"));
    expect(lower, 200, "the scheme in lower case").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn if_match_takes_star_lists_and_compares_strongly() {
    let c = TestCluster::start(&["r1"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let en = create(&c, 0, &token, "/v1/entities", json!({"label": "a"})).await;
    let path = format!("/v1/entities/{en}");
    let url = format!("http://{}{path}", c.nodes[0].addr());
    let put = |tag: &str, label: &str| {
        c.http
            .put(&url)
            .bearer_auth(&token)
            .header("if-match", tag)
            .json(&json!({"label": label}))
    };
    let tag = req(&c, 0, Method::GET, &path, &token, None)
        .await
        .etag
        .expect("etag");
    expect(
        put(&format!("W/{tag}"), "weak"),
        412,
        "a weak tag never matches",
    )
    .await;
    expect(
        put("\"1\", \"2\"", "stale"),
        412,
        "a list without the current tag",
    )
    .await;
    expect(
        put(&format!("\"1\", {tag}"), "listed"),
        200,
        "a list with it",
    )
    .await;
    expect(put("*", "any"), 200, "star").await;
    let now = req(&c, 0, Method::GET, &path, &token, None).await;
    assert_eq!(now.json["label"], "any");
    let del = |tag: &str| {
        c.http
            .delete(&url)
            .bearer_auth(&token)
            .header("if-match", tag)
    };
    expect(del(&tag), 412, "delete with a stale tag").await;
    let current = now.etag.expect("etag");
    expect(del(&format!("\"9\", {current}")), 204, "delete with a list").await;
}
