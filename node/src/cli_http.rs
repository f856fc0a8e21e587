//! The HTTP client both command-line front ends use: one node, one token, JSON in and out, and
//! the server's error message on failure.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl ApiClient {
    /// A client of the node at `node` (host:port) that waits at most `timeout` per call.
    pub fn new(node: &str, token: String, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self {
            http,
            base: format!("http://{node}"),
            token,
        })
    }

    /// Calls `path` (starting with `/`); a non-2xx answer becomes an error with its message.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(tag) = if_match {
            req = req.header("If-Match", tag);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = json["message"].as_str().map(str::to_string).unwrap_or(text);
            bail!("{status}: {msg}");
        }
        Ok(json)
    }
}
