//! The schedule part of the pollers bench: one node polling `POLLERS_BENCH_CHECKS` (default
//! 10,000) HTTP checks at a 60 s period against a loopback target, and what it costs: schedule
//! lag p50/p99 (from the node's own `meridian_poll_schedule_lag_seconds` histogram, read before
//! and after a measuring window, so start-up is not counted) and the node's CPU share (utime +
//! stime from /proc over the window). The checks are created first, then the node restarts, so
//! the window sees the steady grid rather than the first polls of freshly created checks.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Most checks the schedule phase creates.
pub const CHECKS_MAX: usize = 50_000;
/// Creates in flight at once.
const CREATES_IN_FLIGHT: usize = 32;
/// The measuring window, seconds (two periods).
const WINDOW_S: u64 = 120;
/// Warm-up after the restart before the window opens, seconds.
const WARMUP_S: u64 = 10;
const TOKEN: &str = "bench-admin-token-0123456789";

struct NodeProc {
    child: Child,
    addr: String,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(dir: &std::path::Path, port: u16) -> Result<NodeProc> {
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args([
            "serve",
            "--bootstrap",
            "--node-id",
            "1",
            "--region",
            "local",
        ])
        .args([
            "--listen",
            &addr,
            "--admin-token",
            TOKEN,
            "--allow-private-targets",
        ])
        .arg("--data-dir")
        .arg(dir)
        .args(["--polls-in-flight-max", "512"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting meridian")?;
    Ok(NodeProc { child, addr })
}

async fn wait_ready(http: &reqwest::Client, addr: &str) -> Result<()> {
    for _ in 0..600 {
        let r = http.get(format!("http://{addr}/readyz")).send().await;
        if r.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("node at {addr} not ready")
}

/// The lag histogram's cumulative bucket counts (upper bound in s, count) and the total.
async fn lag_buckets(http: &reqwest::Client, addr: &str) -> Result<Vec<(f64, f64)>> {
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("meridian_poll_schedule_lag_seconds_bucket{le=\"")
        else {
            continue;
        };
        let (le, count) = rest.split_once("\"} ").context("bucket line")?;
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse()?
        };
        out.push((le, count.trim().parse()?));
    }
    Ok(out)
}

/// The bucket bound under which `q` of the window's polls started.
fn quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> (f64, f64) {
    let diff: Vec<(f64, f64)> = after
        .iter()
        .zip(before)
        .map(|((le, a), (_, b))| (*le, a - b))
        .collect();
    let total = diff.last().map_or(0.0, |d| d.1);
    let bound = diff
        .iter()
        .find(|(_, c)| *c >= q * total)
        .map_or(f64::INFINITY, |d| d.0);
    (bound, total)
}

async fn create_checks(http: &reqwest::Client, addr: &str, url: &str, n: usize) -> Result<()> {
    let r: Value = http
        .post(format!("http://{addr}/v1/tenants"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let token = r["token"].as_str().context("tenant token")?.to_string();
    let r: Value = http
        .post(format!("http://{addr}/v1/entities"))
        .bearer_auth(&token)
        .json(&json!({"label": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let en = r["id"].as_str().context("entity id")?.to_string();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(CREATES_IN_FLIGHT));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let (http, addr, token, en) = (http.clone(), addr.to_string(), token.clone(), en.clone());
        let body = json!({
            "label": format!("c{i}"), "type": "remote.http", "period": 60, "timeout": 10,
            "details": {"url": url}, "monitoring_zones_poll": ["local"],
            "target_hostname": "127.0.0.1",
        });
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("http://{addr}/v1/entities/{en}/checks"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await;
            drop(permit);
            r.map(|r| r.status().as_u16()).unwrap_or(0)
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += usize::from(t.await? == 201);
    }
    if created != n {
        bail!("created {created} of {n} checks");
    }
    Ok(())
}

/// Runs the phase: returns after printing its figures.
pub async fn run(url: &str, n: usize, ticks: f64) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    println!("schedule: {n} HTTP checks at a 60 s period on one node");
    let node = start_node(dir.path(), port)?;
    wait_ready(&http, &node.addr).await?;
    let t = Instant::now();
    create_checks(&http, &node.addr, url, n).await?;
    println!(
        "schedule: created in {:.1} s; restarting the node",
        t.elapsed().as_secs_f64()
    );
    drop(node);
    let node = start_node(dir.path(), port)?;
    wait_ready(&http, &node.addr).await?;
    tokio::time::sleep(Duration::from_secs(WARMUP_S)).await;
    let pid = node.child.id().to_string();
    let (cpu0, lag0, t0) = (
        super::cpu_ticks(&pid)?,
        lag_buckets(&http, &node.addr).await?,
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(WINDOW_S)).await;
    let (cpu1, lag1) = (
        super::cpu_ticks(&pid)?,
        lag_buckets(&http, &node.addr).await?,
    );
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (cpu1 - cpu0) / ticks;
    let (p50, polls) = quantile(&lag0, &lag1, 0.50);
    let (p99, _) = quantile(&lag0, &lag1, 0.99);
    println!(
        "schedule: {polls:.0} polls in {wall:.0} s ({:.0}/s); lag p50 <= {:.0} ms, p99 <= {:.0} ms \
         (histogram bucket bounds; goal p99 <= 100 ms); node CPU {cpu:.1} s = {:.1}% of one core",
        polls / wall,
        p50 * 1000.0,
        p99 * 1000.0,
        100.0 * cpu / wall
    );
    Ok(())
}
