//! Benchmark: series ingest and queries, Meridian (one node) side by side with Debian's
//! `victoria-metrics` (single node), both fed the same remote_write bodies by the same client
//! with the same concurrency. Data: TSBS cpu-only shape (200 hosts x 10 metrics at 10 s over
//! `MERIDIAN_BENCH_HOURS`, default 24: the full 17.28 M samples), plus a 1-host case.
//! Reports samples per CPU-second of the server process (/proc utime+stime), wall throughput,
//! bytes on disk per sample after the final flush/merge, and p50/p99 of a 24 h average at
//! 1-minute steps on one series. CPU is counted during ingest only (background seals and
//! merges after it are not in the figure, for either system).
//!
//! Run: `cargo bench -p meridian --bench series` (needs `apt-get install -y victoria-metrics`).
//! Every process it starts is stopped by its PID; all traffic stays on 127.0.0.1.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use meridian::series::remote_write::{NAMESPACE, encode};
use meridian_tsdb::{SeriesKey, SeriesPoints};

const MERIDIAN: &str = env!("CARGO_BIN_EXE_meridian");
const VM: &str = "victoria-metrics";
const TOKEN: &str = "bench-admin-token-0123456789";
const METRICS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];
/// Samples of one series per request (10 metrics x this = samples per request).
const STEPS_PER_REQUEST: usize = 200;
/// Requests in flight, for both systems.
const IN_FLIGHT: usize = 4;
/// Queries timed per system and case.
const QUERIES: usize = 50;
/// Longest wall time of one ingest run.
const RUN_TIME_MAX: Duration = Duration::from_secs(900);
const SETUP_WAIT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    if Command::new(VM).arg("-version").output().is_err() {
        eprintln!(
            "series bench: `{VM}` not found; install it: apt-get install -y victoria-metrics"
        );
        return ExitCode::FAILURE;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let hours: i64 = std::env::var("MERIDIAN_BENCH_HOURS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(24);
    let cases = [("1 host", 1usize, hours), ("200 hosts", 200, hours)];
    for (name, hosts, hours) in cases {
        match rt.block_on(case(name, hosts, hours)) {
            Ok(()) => {}
            Err(e) => {
                eprintln!("series bench ({name}): {e:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A child process stopped (SIGTERM, then SIGKILL) by its PID when dropped.
struct Proc(Child);

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }
    /// utime + stime in seconds, from /proc.
    fn cpu_s(&self) -> Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        let after = stat.rsplit_once(')').context("stat")?.1;
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
        Ok(ticks / 100.0)
    }
    /// SIGTERM and wait (bounded) for a clean exit.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.stop();
        }
    }
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The bodies: for each time chunk, one request per host with its 10 metrics.
fn bodies(hosts: usize, hours: i64, end_ms: i64) -> (Vec<Vec<u8>>, u64) {
    let steps = (hours * 360) as usize;
    let start = end_ms - steps as i64 * 10_000;
    let mut out = Vec::new();
    let mut samples = 0;
    for chunk in (0..steps).step_by(STEPS_PER_REQUEST) {
        for h in 0..hosts {
            let series: Vec<SeriesPoints> = METRICS
                .iter()
                .enumerate()
                .map(|(m, name)| {
                    let key =
                        SeriesKey::new("t", NAMESPACE, name).with("hostname", &format!("host_{h}"));
                    let points = (chunk..(chunk + STEPS_PER_REQUEST).min(steps))
                        .map(|s| {
                            let x = (s as f64 * 0.01 + h as f64 + m as f64).sin();
                            (
                                start + s as i64 * 10_000,
                                ((50.0 + 40.0 * x) * 100.0).round() / 100.0,
                            )
                        })
                        .collect::<Vec<_>>();
                    samples += points.len() as u64;
                    SeriesPoints { key, points }
                })
                .collect();
            out.push(encode(&series));
        }
    }
    (out, samples)
}

async fn wait_up(http: &reqwest::Client, url: &str) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < SETUP_WAIT {
        if http.get(url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} did not answer within {SETUP_WAIT:?}")
}

/// Sends every body to `url` with `IN_FLIGHT` requests at once; returns wall seconds.
async fn ingest(http: &reqwest::Client, url: &str, token: &str, bodies: &[Vec<u8>]) -> Result<f64> {
    let start = Instant::now();
    let sends = bodies.iter().map(|b| {
        let req = http.post(url).bearer_auth(token).body(b.clone());
        async move { req.send().await.map(|r| r.status()) }
    });
    let mut done = futures::stream::iter(sends).buffer_unordered(IN_FLIGHT);
    while let Some(r) = done.next().await {
        let s = r?;
        if !s.is_success() {
            bail!("{url} answered {s}");
        }
        if start.elapsed() > RUN_TIME_MAX {
            bail!("ingest took longer than {RUN_TIME_MAX:?}");
        }
    }
    Ok(start.elapsed().as_secs_f64())
}

async fn latencies(http: &reqwest::Client, url: &str, token: &str) -> Result<(f64, f64)> {
    let mut ms = Vec::with_capacity(QUERIES);
    for _ in 0..QUERIES {
        let t = Instant::now();
        let r = http.get(url).bearer_auth(token).send().await?;
        let status = r.status();
        let body = r.text().await?;
        if !status.is_success() || body.len() < 100 {
            bail!("{url}: {status} {body}");
        }
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    Ok((at(0.5), at(0.99)))
}

struct Figures {
    samples: u64,
    cpu_s: f64,
    wall_s: f64,
    bytes: u64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Figures {
    fn row(&self, who: &str) -> String {
        format!(
            "{who:<10} {:>12.0} {:>12.0} {:>8.3} {:>8.1} {:>8.1}",
            self.samples as f64 / self.cpu_s.max(0.01),
            self.samples as f64 / self.wall_s,
            self.bytes as f64 / self.samples as f64,
            self.p50_ms,
            self.p99_ms
        )
    }
}

async fn meridian(dir: &Path, bodies: &[Vec<u8>], samples: u64, q: (i64, i64)) -> Result<Figures> {
    let http = reqwest::Client::new();
    let addr = format!("127.0.0.1:{}", free_port());
    let data = dir.join("meridian");
    let log = std::fs::File::create(dir.join("meridian.log"))?;
    let mut p = Proc(
        Command::new(MERIDIAN)
            .args([
                "serve",
                "--node-id",
                "1",
                "--region",
                "r1",
                "--listen",
                &addr,
            ])
            .args([
                "--admin-token",
                TOKEN,
                "--rate-limit-per-sec",
                "1000000",
                "--rate-limit-burst",
                "1000000",
            ])
            .arg("--data-dir")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?,
    );
    wait_up(&http, &format!("http://{addr}/healthz")).await?;
    let out = Command::new(MERIDIAN)
        .args(["cluster", "init", "--node", &addr, "--token", TOKEN])
        .output()?;
    if !out.status.success() {
        bail!("cluster init: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut token = None;
    let start = Instant::now();
    while token.is_none() && start.elapsed() < SETUP_WAIT {
        let r = http
            .post(format!("http://{addr}/v1/tenants"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"name": "bench"}))
            .send()
            .await?;
        if r.status().as_u16() == 201 {
            let v: serde_json::Value = r.json().await?;
            token = v["token"].as_str().map(str::to_string);
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let token = token.context("no tenant token")?;
    let cpu0 = p.cpu_s()?;
    let wall_s = ingest(
        &http,
        &format!("http://{addr}/api/v1/write"),
        &token,
        bodies,
    )
    .await?;
    let cpu_s = p.cpu_s()? - cpu0;
    let url = format!(
        "http://{addr}/v1/metrics/query?namespace={NAMESPACE}&name=usage_user&dimension.hostname=host_0&from={}&to={}&period=60&statistics=average",
        q.0, q.1
    );
    let (p50_ms, p99_ms) = latencies(&http, &url, &token).await?;
    p.stop();
    let bytes = dir_bytes(&data.join("series"));
    Ok(Figures {
        samples,
        cpu_s,
        wall_s,
        bytes,
        p50_ms,
        p99_ms,
    })
}

async fn victoria(dir: &Path, bodies: &[Vec<u8>], samples: u64, q: (i64, i64)) -> Result<Figures> {
    let http = reqwest::Client::new();
    let addr = format!("127.0.0.1:{}", free_port());
    let data: PathBuf = dir.join("vm");
    let log = std::fs::File::create(dir.join("vm.log"))?;
    let mut p = Proc(
        Command::new(VM)
            .arg(format!("-storageDataPath={}", data.display()))
            .arg(format!("-httpListenAddr={addr}"))
            .arg("-retentionPeriod=100y")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?,
    );
    wait_up(&http, &format!("http://{addr}/health")).await?;
    let cpu0 = p.cpu_s()?;
    let wall_s = ingest(
        &http,
        &format!("http://{addr}/api/v1/write"),
        "unused",
        bodies,
    )
    .await?;
    let cpu_s = p.cpu_s()? - cpu0;
    http.get(format!("http://{addr}/internal/force_flush"))
        .send()
        .await?;
    let url = format!(
        "http://{addr}/api/v1/query_range?query=avg_over_time(usage_user%7Bhostname%3D%22host_0%22%7D%5B1m%5D)&start={}&end={}&step=60",
        q.0 / 1000,
        q.1 / 1000
    );
    let (p50_ms, p99_ms) = latencies(&http, &url, "unused").await?;
    http.get(format!("http://{addr}/internal/force_merge"))
        .send()
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    p.stop();
    let bytes = dir_bytes(&data);
    Ok(Figures {
        samples,
        cpu_s,
        wall_s,
        bytes,
        p50_ms,
        p99_ms,
    })
}

async fn case(name: &str, hosts: usize, hours: i64) -> Result<()> {
    let end = (SystemClock::now_ms() / 60_000) * 60_000;
    let (bodies, samples) = bodies(hosts, hours, end);
    let q = (end - 86_400_000, end);
    let dir = tempfile::tempdir()?;
    let m = meridian(dir.path(), &bodies, samples, q).await?;
    let v = victoria(dir.path(), &bodies, samples, q).await?;
    println!(
        "\n== {name} x 10 metrics x {hours} h at 10 s: {samples} samples, {} requests, {IN_FLIGHT} in flight",
        bodies.len()
    );
    println!(
        "{:<10} {:>12} {:>12} {:>8} {:>8} {:>8}",
        "system", "samples/cpu-s", "samples/s", "B/sample", "q p50ms", "q p99ms"
    );
    println!("{}", m.row("meridian"));
    println!("{}", v.row("victoria"));
    println!(
        "ratios meridian/victoria: cpu-efficiency {:.2}, wall {:.2}, bytes {:.2}, p50 {:.2}, p99 {:.2}",
        (m.samples as f64 / m.cpu_s.max(0.01)) / (v.samples as f64 / v.cpu_s.max(0.01)),
        v.wall_s / m.wall_s,
        m.bytes as f64 / v.bytes.max(1) as f64,
        m.p50_ms / v.p50_ms,
        m.p99_ms / v.p99_ms
    );
    Ok(())
}

struct SystemClock;

impl SystemClock {
    fn now_ms() -> i64 {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        d.map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}
