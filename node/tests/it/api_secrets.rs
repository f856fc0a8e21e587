//! Secrets at rest and on the wire of the API (regression tests of "Secrets at rest and on the
//! wire of the API"): the data dir is private (directories 0700, files 0600) and made so again
//! at start with a warning; webhook secrets, PagerDuty routing keys, Slack URLs, URL passwords
//! and credential headers are write-only: every answer shows `********`, and an update that
//! sends the mask back or omits the secret keeps the stored value.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_util::{create, req};
use crate::harness::{TestCluster, WAIT, wait_for};

const MASK: &str = "********";
const HOOK_SECRET: &str = "whsec-0123456789-abcdef";
const URL_PASSWORD: &str = "pa55-in-url";
const ROUTING_KEY: &str = "R0utingKey0123456789abcdefABCDEF";
const BEARER: &str = "Bearer tok-in-header";

/// Every path under `root` (symbolic links excluded) with its permission bits.
fn modes(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        out.push((p.clone(), meta.permissions().mode() & 0o777));
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).expect("read dir") {
                stack.push(e.expect("entry").path());
            }
        }
    }
    out
}

fn assert_private(root: &Path) {
    for (p, m) in modes(root) {
        assert_eq!(m & 0o077, 0, "{} has mode {m:o}", p.display());
    }
}

/// Every byte of the files under `root`, as text (lossy), to look for a value.
fn all_bytes(root: &Path) -> String {
    modes(root)
        .into_iter()
        .filter(|(p, _)| p.is_file())
        .map(|(p, _)| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned())
        .collect()
}

fn assert_no_secret(v: &Value, what: &str) {
    let text = v.to_string();
    for s in [HOOK_SECRET, URL_PASSWORD, ROUTING_KEY, BEARER] {
        assert!(!text.contains(s), "{what} shows {s}: {text}");
    }
}

async fn secrets_are_write_only(c: &TestCluster, token: &str) -> String {
    let hook_url = format!("https://ops:{URL_PASSWORD}@hooks.example.com/in");
    let hook = json!({"label": "hook", "type": "webhook",
        "details": {"url": hook_url, "secret": HOOK_SECRET}});
    let r = req(c, 0, Method::POST, "/v1/notifications", token, Some(hook)).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_no_secret(&r.json, "create");
    assert_eq!(r.json["details"]["secret"], MASK);
    assert_eq!(
        r.json["details"]["url"],
        "https://ops:********@hooks.example.com/in"
    );
    let nt = r.json["id"].as_str().expect("id").to_string();
    let path = format!("/v1/notifications/{nt}");
    let pd = json!({"label": "pd", "type": "pagerduty", "details": {"routing_key": ROUTING_KEY}});
    let pd = create(c, 0, token, "/v1/notifications", pd).await;
    let en = create(c, 0, token, "/v1/entities", json!({"label": "web"})).await;
    let check = json!({"label": "h", "type": "remote.http", "monitoring_zones_poll": ["r1"],
        "target_hostname": "example.com",
        "details": {"url": "https://example.com/", "headers": {"Authorization": BEARER}}});
    let checks = format!("/v1/entities/{en}/checks");
    let r = req(c, 0, Method::POST, &checks, token, Some(check)).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["details"]["headers"]["Authorization"], MASK);

    // Reads: one object, lists, the overview.
    for p in [
        path.as_str(),
        "/v1/notifications",
        &checks,
        "/v1/views/overview",
    ] {
        let r = req(c, 0, Method::GET, p, token, None).await;
        assert_eq!(r.status, 200, "{p}: {}", r.json);
        assert_no_secret(&r.json, p);
    }

    // The shown object sent back with a new label keeps every secret; so does a PUT whose
    // details omit the routing key (otherwise required).
    let mut shown = req(c, 0, Method::GET, &path, token, None).await.json;
    shown["label"] = json!("hook2");
    let r = req(c, 0, Method::PUT, &path, token, Some(shown)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        (&r.json["label"], &r.json["details"]["secret"]),
        (&json!("hook2"), &json!(MASK))
    );
    let pd_path = format!("/v1/notifications/{pd}");
    let r = req(
        c,
        0,
        Method::PUT,
        &pd_path,
        token,
        Some(json!({"details": {}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["details"]["routing_key"], MASK);

    // The mask where there is nothing to keep is refused, naming the field.
    let bad = json!({"label": "x", "type": "webhook",
        "details": {"url": "https://ops:********@hooks.example.com/in"}});
    let r = req(c, 0, Method::POST, "/v1/notifications", token, Some(bad)).await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("details.url"),
        "{}",
        r.json
    );
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_write_only_and_the_data_dir_is_private() {
    let mut c = TestCluster::start(&["r1"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let data = c.nodes[0].data.clone();
    secrets_are_write_only(&c, &token).await;

    // At rest: private files; the replicated updates carried the stored values, never the mask.
    assert_private(&data);
    let disk = all_bytes(&data);
    assert!(
        disk.contains(HOOK_SECRET) && disk.contains(ROUTING_KEY),
        "stored"
    );
    assert!(
        !disk.contains(MASK),
        "the mask reached the replicated state"
    );

    // An older data dir left open to everyone is made private again at start, with a warning.
    c.kill9(0);
    for (p, _) in modes(&data) {
        let m = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).expect("chmod");
    }
    c.start_node(0);
    c.wait_http(0).await;
    wait_for("the restarted node to see its leader", WAIT, || async {
        c.leader(0).await.map(|_| ())
    })
    .await;
    assert_private(&data);
    assert!(c.log(0).contains("made it private"), "the start warns");
}
