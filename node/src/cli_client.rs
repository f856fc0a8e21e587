//! The operator commands as HTTP clients of a node; errors print the server's message.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// Prints a line to stdout; a closed pipe (e.g. `| head`) ends output quietly instead of
/// panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// (node address, admin token if given).
pub type Target = (String, Option<String>);

pub enum ClusterOp {
    Init(Target),
    Status(Target, String),
    Add(Target, String, bool),
    Remove(Target, u64),
}

/// Longest an operator command waits for an answer (admission waits for catch-up).
pub const CLI_TIMEOUT: Duration = Duration::from_secs(150);

struct Client {
    http: reqwest::Client,
    token: String,
}

fn token(given: Option<String>) -> anyhow::Result<String> {
    if let Some(t) = given.or_else(|| std::env::var("MERIDIAN_ADMIN_TOKEN").ok()) {
        return Ok(t);
    }
    let path = std::path::Path::new("meridian-data").join(crate::datadir::ADMIN_TOKEN_FILE);
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_string())
        .context("no token: pass --token or set MERIDIAN_TOKEN (or MERIDIAN_ADMIN_TOKEN)")
}

impl Client {
    fn new(token: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(CLI_TIMEOUT).build()?;
        Ok(Self { http, token })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
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

pub fn cluster(op: ClusterOp) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(op))
}

async fn run(op: ClusterOp) -> anyhow::Result<()> {
    use reqwest::Method;
    match op {
        ClusterOp::Init((node, tok)) => {
            let c = Client::new(token(tok)?)?;
            let v = c
                .call(Method::POST, format!("http://{node}/v1/cluster/init"), None)
                .await?;
            out!(
                "initialised cluster {} with node {}",
                v["cluster_id"].as_str().unwrap_or("?"),
                v["node_id"]
            );
        }
        ClusterOp::Status((node, tok), output) => {
            let c = Client::new(token(tok)?)?;
            let v = c
                .call(Method::GET, format!("http://{node}/v1/cluster"), None)
                .await?;
            if output == "json" {
                out!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_status(&v);
            }
        }
        ClusterOp::Add((node, tok), new, voter) => {
            let c = Client::new(token(tok)?)?;
            let me = c
                .call(Method::GET, format!("http://{new}/v1/node"), None)
                .await?;
            let body = serde_json::json!({"id": me["id"], "addr": me["addr"], "region": me["region"], "voter": voter});
            c.call(
                Method::POST,
                format!("http://{node}/v1/cluster/nodes"),
                Some(body),
            )
            .await?;
            out!(
                "added node {} ({}) as {}",
                me["id"],
                new,
                if voter { "voter" } else { "learner" }
            );
        }
        ClusterOp::Remove((node, tok), id) => {
            let c = Client::new(token(tok)?)?;
            c.call(
                Method::DELETE,
                format!("http://{node}/v1/cluster/nodes/{id}"),
                None,
            )
            .await?;
            out!("removed node {id}");
        }
    }
    Ok(())
}

fn print_status(v: &Value) {
    out!(
        "cluster {}  leader {}  term {}  placement epoch {} ({})",
        v["cluster_id"].as_str().unwrap_or("-"),
        v["leader_id"],
        v["term"],
        v["placement_epoch"],
        v["placement_digest"]
            .as_str()
            .unwrap_or("-")
            .get(..12)
            .unwrap_or("-"),
    );
    out!(
        "{:<5} {:<12} {:<22} {:<8} {:<6} {:>7} {:>7} {:>9}",
        "ID",
        "REGION",
        "ADDR",
        "ROLE",
        "STATUS",
        "POLLER",
        "SERIES",
        "EVALUATOR"
    );
    for n in v["nodes"].as_array().into_iter().flatten() {
        let leader = if n["id"] == v["leader_id"] { "*" } else { "" };
        out!(
            "{:<5} {:<12} {:<22} {:<8} {:<6} {:>7} {:>7} {:>9}",
            format!("{}{leader}", n["id"]),
            n["region"].as_str().unwrap_or(""),
            n["addr"].as_str().unwrap_or(""),
            n["role"].as_str().unwrap_or(""),
            n["status"].as_str().unwrap_or(""),
            n["shards"]["poller"].as_u64().unwrap_or(0),
            n["shards"]["series"].as_u64().unwrap_or(0),
            n["shards"]["evaluator"].as_u64().unwrap_or(0),
        );
    }
}
