//! The operator commands as HTTP clients of a node; errors print the server's message.

use std::time::Duration;

use anyhow::Context;

use crate::cli_http::ApiClient;
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

fn token(given: Option<String>) -> anyhow::Result<String> {
    if let Some(t) = given.or_else(|| std::env::var("MERIDIAN_ADMIN_TOKEN").ok()) {
        return Ok(t);
    }
    let path = std::path::Path::new("meridian-data").join(crate::datadir::ADMIN_TOKEN_FILE);
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_string())
        .context("no token: pass --token or set MERIDIAN_TOKEN (or MERIDIAN_ADMIN_TOKEN)")
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
            let c = ApiClient::new(&node, token(tok)?, CLI_TIMEOUT)?;
            let v = c.call(Method::POST, "/v1/cluster/init", None, None).await?;
            let id = v["cluster_id"].as_str().unwrap_or("?");
            out!("initialised cluster {id} with node {}", v["node_id"]);
        }
        ClusterOp::Status((node, tok), output) => {
            let c = ApiClient::new(&node, token(tok)?, CLI_TIMEOUT)?;
            let v = c.call(Method::GET, "/v1/cluster", None, None).await?;
            if output == "json" {
                out!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_status(&v);
            }
        }
        ClusterOp::Add((node, tok), new, voter) => {
            let token = token(tok)?;
            let newcomer = ApiClient::new(&new, token.clone(), CLI_TIMEOUT)?;
            let me = newcomer.call(Method::GET, "/v1/node", None, None).await?;
            let body = serde_json::json!({
                "id": me["id"], "addr": me["addr"], "region": me["region"], "voter": voter,
            });
            let c = ApiClient::new(&node, token, CLI_TIMEOUT)?;
            c.call(Method::POST, "/v1/cluster/nodes", Some(body), None)
                .await?;
            let role = if voter { "voter" } else { "learner" };
            out!("added node {} ({new}) as {role}", me["id"]);
        }
        ClusterOp::Remove((node, tok), id) => {
            let c = ApiClient::new(&node, token(tok)?, CLI_TIMEOUT)?;
            let path = format!("/v1/cluster/nodes/{id}");
            c.call(Method::DELETE, &path, None, None).await?;
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
