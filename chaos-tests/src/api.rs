//! HTTP client for the parts of Meridian's public API the suite uses (spec/api.md).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Outcome of one register request, in history terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Res<T> {
    Ok(T),
    /// Definitely did not happen (refused connection, 4xx, failed precondition).
    Fail(String),
    /// May or may not have happened (timeout, 5xx, connection lost mid-request).
    Info(String),
}

/// A node's view of the cluster (fields of `GET /v1/cluster` the suite needs).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClusterView {
    pub leader_id: Option<u64>,
    pub term: Option<u64>,
    pub applied_index: Option<u64>,
    pub state_digest: Option<String>,
}

/// Client bound to one node.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(addr: &str, timeout: Duration) -> Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .pool_max_idle_per_host(4)
            .no_proxy()
            .build()?;
        Ok(Api {
            http,
            base: format!("http://{addr}"),
        })
    }

    /// `GET /readyz` answered 200.
    pub async fn ready(&self) -> bool {
        let resp = self.http.get(format!("{}/readyz", self.base)).send().await;
        resp.is_ok_and(|r| r.status().is_success())
    }

    pub async fn cluster(&self, admin: &str) -> Result<ClusterView> {
        let resp = self
            .http
            .get(format!("{}/v1/cluster", self.base))
            .bearer_auth(admin)
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await.context("decoding /v1/cluster")?;
        if !status.is_success() {
            bail!("GET /v1/cluster: {status}: {body}");
        }
        let digest = match &body["state_digest"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        Ok(ClusterView {
            leader_id: body["leader_id"].as_u64(),
            term: body["term"].as_u64(),
            applied_index: body["applied_index"].as_u64(),
            state_digest: digest,
        })
    }

    /// `POST /v1/tenants`; returns the tenant token.
    pub async fn create_tenant(&self, admin: &str, name: &str) -> Result<String> {
        let resp = self
            .http
            .post(format!("{}/v1/tenants", self.base))
            .bearer_auth(admin)
            .json(&json!({ "name": name }))
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if status.as_u16() != 201 {
            bail!("POST /v1/tenants: {status}: {body}");
        }
        body["token"]
            .as_str()
            .map(str::to_string)
            .context("tenant token missing")
    }

    /// `POST /v1/entities` with no value; returns the entity id.
    pub async fn create_entity(&self, token: &str, label: &str) -> Result<String> {
        let resp = self
            .http
            .post(format!("{}/v1/entities", self.base))
            .bearer_auth(token)
            .header("Idempotency-Key", format!("chaos-create-{label}"))
            .json(&json!({ "label": label, "metadata": {} }))
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if status.as_u16() != 201 {
            bail!("POST /v1/entities: {status}: {body}");
        }
        body["id"]
            .as_str()
            .map(str::to_string)
            .context("entity id missing")
    }

    /// Reads the register: `(metadata.value, ETag)`.
    pub async fn read(
        &self,
        token: &str,
        id: &str,
        consistency: &str,
    ) -> Res<(Option<i64>, Option<String>)> {
        let url = format!("{}/v1/entities/{id}?consistency={consistency}", self.base);
        let resp = match self.http.get(url).bearer_auth(token).send().await {
            Ok(r) => r,
            Err(e) => return classify(&e),
        };
        let status = resp.status();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if !status.is_success() {
            return by_status(status.as_u16(), resp.text().await.unwrap_or_default());
        }
        let body: Value = match resp.json().await {
            Ok(b) => b,
            Err(e) => return Res::Info(format!("body: {e}")),
        };
        match &body["metadata"]["value"] {
            Value::Null => Res::Ok((None, etag)),
            Value::String(s) => match s.parse() {
                Ok(v) => Res::Ok((Some(v), etag)),
                Err(_) => Res::Fail(format!("value {s:?} is not an integer")),
            },
            Value::Number(n) => Res::Ok((n.as_i64(), etag)),
            other => Res::Fail(format!("unexpected value {other}")),
        }
    }

    /// Writes the register (full replacement), conditionally with `If-Match`.
    pub async fn write(
        &self,
        token: &str,
        id: &str,
        label: &str,
        value: i64,
        if_match: Option<&str>,
    ) -> Res<()> {
        let mut req = self
            .http
            .put(format!("{}/v1/entities/{id}", self.base))
            .bearer_auth(token)
            .header("Idempotency-Key", format!("chaos-{id}-{value}"))
            .json(&json!({ "label": label, "metadata": { "value": value.to_string() } }));
        if let Some(tag) = if_match {
            req = req.header("If-Match", tag);
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => Res::Ok(()),
            Ok(resp) => {
                let status = resp.status().as_u16();
                by_status(status, resp.text().await.unwrap_or_default())
            }
            Err(e) => classify(&e),
        }
    }
}

fn by_status<T>(status: u16, body: String) -> Res<T> {
    let msg = format!("{status}: {}", body.chars().take(200).collect::<String>());
    if status >= 500 {
        Res::Info(msg)
    } else {
        Res::Fail(msg)
    }
}

fn classify<T>(e: &reqwest::Error) -> Res<T> {
    if e.is_connect() && !e.is_timeout() {
        Res::Fail(format!("connect: {e}"))
    } else {
        Res::Info(format!("{e}"))
    }
}
