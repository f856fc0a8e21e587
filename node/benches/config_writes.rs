//! Benchmark: config writes through Meridian's HTTP API on a 3-node loopback cluster, side by
//! side with a 3-member etcd 3.4 cluster (fsync on), with 1 and with 64 requests in flight.
//!
//! Run: `cargo bench -p meridian --bench config_writes` (needs Debian `etcd-server`).
//! Prints a table and writes `target/bench-config-writes.json`. Every process it starts is
//! killed by its PID when it exits (a Drop guard); all traffic stays on 127.0.0.1.

use std::fs::File;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use reqwest::Client;
use serde::Serialize;
use serde_json::{Value, json};

const MERIDIAN: &str = env!("CARGO_BIN_EXE_meridian");
const TOKEN: &str = "bench-admin-token-0123456789";
/// Longest wait for a cluster condition (start, election, joins) on a busy 2-core machine.
const SETUP_WAIT: Duration = Duration::from_secs(60);
/// Deadline of one HTTP request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Upper bound on the wall time of one measured run.
const RUN_TIME_MAX: Duration = Duration::from_secs(60);
/// Upper bound on the wall time of one warm-up.
const WARMUP_TIME_MAX: Duration = Duration::from_secs(15);
/// Members per cluster, for both systems.
const MEMBERS: usize = 3;
/// Load levels: (requests in flight, measured writes, warm-up writes).
const PHASES: [(usize, u64, u64); 2] = [(1, 2_000, 200), (64, 20_000, 2_000)];
/// Meridian tenants writing, one per request slot (each slot acts as one client), so that the
/// per-token rate limit (200/s per node) and entity cap (10,000 per tenant) stay out of the way.
const TENANTS: usize = 64;
/// The writes: Meridian creates an entity, etcd puts a new key (v3 JSON gateway).
const CREATE: &str = "/v1/entities";
const ETCD_PUT: &str = "/v3/kv/put";

fn main() -> ExitCode {
    if let Err(e) = etcd_version() {
        eprintln!("\n{}\n!!! {e:#}", "!".repeat(72));
        eprintln!("!!! this benchmark runs etcd 3.4 beside Meridian; install it with:");
        eprintln!("!!!     apt-get install -y etcd-server etcd-client");
        eprintln!("{}\n", "!".repeat(72));
        return ExitCode::FAILURE;
    }
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("config_writes: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn etcd_version() -> Result<String> {
    let out = Command::new("etcd").arg("--version").output();
    let out = out.context("`etcd` is not installed (not found on PATH)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or_default().trim().to_string())
}

/// Runs the benchmark; the processes it started are gone when it returns, however it returns.
fn bench() -> Result<()> {
    let mut procs = Procs::new()?;
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(async {
        tokio::select! {
            r = run(&mut procs) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        }
    });
    if result.is_err() {
        procs.print_log_tails();
    }
    result
}

async fn run(procs: &mut Procs) -> Result<()> {
    // One client and connection pool for both systems; never through a proxy.
    let http = Client::builder().no_proxy();
    let http = http.timeout(REQUEST_TIMEOUT).build()?;
    eprintln!("starting the clusters in {}", procs.path("").display());
    let meridian = Arc::new(start_meridian(procs, &http).await?);
    let etcd = Arc::new(start_etcd(procs, &http).await?);
    let mut results = Vec::new();
    for (in_flight, writes, warmup) in PHASES {
        procs.check_alive()?;
        load(&meridian, in_flight, warmup, WARMUP_TIME_MAX).await;
        let before = wal_counters(&meridian).await?;
        let mut run = measure(&meridian, in_flight, writes).await;
        run.wal = wal_growth(&before, &wal_counters(&meridian).await?);
        results.push(run);
        load(&etcd, in_flight, warmup, WARMUP_TIME_MAX).await;
        results.push(measure(&etcd, in_flight, writes).await);
    }
    let (ratios, etcd_version) = (ratios(&results), etcd_version()?);
    print_table(&results, &ratios, &etcd_version);
    let ratios_json: Vec<Value> = ratios
        .iter()
        .map(|(n, t, p)| json!({"in_flight": n, "throughput": t, "p99": p}))
        .collect();
    let report = json!({
        "benchmark": "config_writes", "members": MEMBERS, "etcd_version": etcd_version,
        "runs": results, "ratios_meridian_over_etcd": ratios_json, "goal_met": goal_met(&results),
    });
    let path = results_path();
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("results written to {}", path.display());
    Ok(())
}

/// Processes started by this benchmark and their temp dir. Drop kills each child by its PID,
/// reaps it, then removes the dir.
struct Procs {
    children: Vec<(String, Child)>,
    dir: tempfile::TempDir,
}

impl Procs {
    fn new() -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("meridian-bench-").tempdir();
        let dir = dir?;
        let children = Vec::new();
        Ok(Self { children, dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn spawn(&mut self, name: &str, cmd: &mut Command) -> Result<()> {
        let log = File::create(self.path(&format!("{name}.log")))?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        self.children.push((name.to_string(), child));
        Ok(())
    }

    /// Fails if a child has exited (so a crash is reported at once, not after a timeout).
    fn check_alive(&mut self) -> Result<()> {
        for (name, child) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited early ({status})");
            }
        }
        Ok(())
    }

    fn print_log_tails(&self) {
        for (name, _) in &self.children {
            let text = std::fs::read_to_string(self.path(&format!("{name}.log")));
            let text = text.unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(10).collect();
            eprintln!("--- {name} log, newest first ---\n{}", tail.join("\n"));
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `n` distinct free addresses on 127.0.0.1 (all listeners are held until every port is chosen).
fn free_addrs(n: usize) -> Result<Vec<String>> {
    let bind = |_| TcpListener::bind("127.0.0.1:0");
    let listeners = (0..n).map(bind).collect::<std::io::Result<Vec<_>>>()?;
    let addr = |l: &TcpListener| l.local_addr().map(|a| a.to_string());
    Ok(listeners.iter().map(addr).collect::<std::io::Result<_>>()?)
}

/// Polls `ready` every 100 ms until it holds, a child dies, or `SETUP_WAIT` passes.
async fn wait_until<F, Fut>(procs: &mut Procs, what: &str, mut ready: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < SETUP_WAIT {
        if ready().await {
            return Ok(());
        }
        procs.check_alive()?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("timed out after {SETUP_WAIT:?} waiting for {what}")
}

/// One HTTP call that must succeed (GET without a body, else POST); returns the JSON answer.
async fn call(http: &Client, url: &str, token: Option<&str>, body: Value) -> Result<Value> {
    let mut req = if body.is_null() {
        http.get(url)
    } else {
        http.post(url).json(&body)
    };
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await;
    let resp = resp.with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("{url}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Whether `GET /v1/cluster` on `addr` shows `n` nodes, all admitted (all voters if `voters`).
async fn sees_members(http: &Client, addr: &str, n: usize, voters: bool) -> bool {
    let url = format!("http://{addr}/v1/cluster");
    let v = call(http, &url, Some(TOKEN), Value::Null).await;
    let v = v.unwrap_or_default();
    let nodes = v["nodes"].as_array().map(Vec::as_slice).unwrap_or_default();
    let admitted = |m: &Value| m["role"] == "voter" || (!voters && m["role"] == "learner");
    nodes.len() == n && nodes.iter().all(admitted)
}

async fn start_meridian(procs: &mut Procs, http: &Client) -> Result<Target> {
    let addrs = free_addrs(MEMBERS)?;
    for (i, addr) in addrs.iter().enumerate() {
        let (id, data) = (i + 1, procs.path(&format!("meridian{}", i + 1)));
        let args =
            format!("serve --node-id {id} --region r{id} --listen {addr} --admin-token {TOKEN}");
        let mut cmd = Command::new(MERIDIAN);
        cmd.args(args.split(' ')).arg("--data-dir").arg(&data);
        if i > 0 {
            cmd.args(["--join", &addrs[0]]);
        }
        procs.spawn(&format!("meridian{id}"), &mut cmd)?;
        if i == 0 {
            let url = format!("http://{addr}/healthz");
            let up = || async { http.get(&url).send().await.is_ok() };
            wait_until(procs, "meridian node 1 to serve /healthz", up).await?;
            cluster_init(addr)?;
        }
        // One join at a time, as an operator would (concurrent joins can collide).
        let what = format!("node 1 to see {id} members");
        wait_until(procs, &what, || sees_members(http, &addrs[0], id, false)).await?;
    }
    for addr in &addrs {
        let what = format!("{addr} to see {MEMBERS} voters");
        wait_until(procs, &what, || sees_members(http, addr, MEMBERS, true)).await?;
    }
    let tokens = create_tenants(http, &addrs).await?;
    let url = format!("http://{}{CREATE}", addrs[1]);
    let entity = call(http, &url, Some(&tokens[0]), json!({"label": "b"})).await?;
    entity["id"].as_str().context("no entity id")?;
    Ok(Target::new("meridian", http, tokens, addrs))
}

/// Creates `TENANTS` tenants through each node in turn; returns their tokens.
async fn create_tenants(http: &Client, addrs: &[String]) -> Result<Vec<String>> {
    let mut tokens = Vec::new();
    for i in 0..TENANTS {
        let url = format!("http://{}/v1/tenants", addrs[i % MEMBERS]);
        let body = json!({ "name": format!("bench{i}") });
        let tenant = call(http, &url, Some(TOKEN), body).await?;
        let token = tenant["token"].as_str().context("no tenant token")?;
        tokens.push(token.to_string());
    }
    Ok(tokens)
}

fn cluster_init(addr: &str) -> Result<()> {
    let mut cmd = Command::new(MERIDIAN);
    cmd.args(["cluster", "init", "--node", addr, "--token", TOKEN]);
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("cluster init: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

async fn start_etcd(procs: &mut Procs, http: &Client) -> Result<Target> {
    let (clients, peers) = (free_addrs(MEMBERS)?, free_addrs(MEMBERS)?);
    let name = |(i, p): (usize, &String)| format!("e{i}=http://{p}");
    let named = peers.iter().enumerate().map(name);
    let all = named.collect::<Vec<_>>().join(",");
    for (i, (c, p)) in clients.iter().zip(&peers).enumerate() {
        // Default settings otherwise: etcd fsyncs its WAL on every commit.
        let args = format!(
            "--name e{i} --listen-client-urls http://{c} --advertise-client-urls http://{c} \
             --listen-peer-urls http://{p} --initial-advertise-peer-urls http://{p} \
             --initial-cluster {all} --initial-cluster-state new --initial-cluster-token bench"
        );
        let mut cmd = Command::new("etcd");
        let data = procs.path(&format!("etcd{i}"));
        cmd.args(args.split_whitespace());
        cmd.arg("--data-dir").arg(data);
        procs.spawn(&format!("etcd{i}"), &mut cmd)?;
    }
    for addr in &clients {
        let health = format!("http://{addr}/health");
        let healthy = || async {
            let v = call(http, &health, None, Value::Null).await;
            v.is_ok_and(|v| v["health"] == "true")
        };
        wait_until(procs, &format!("etcd at {addr} to be healthy"), healthy).await?;
    }
    let target = Target::new("etcd", http, Vec::new(), clients);
    let first = target.write(u64::MAX, 0).await;
    first.map_err(|e| anyhow!("a first etcd put: {e}"))?;
    Ok(target)
}

/// A cluster under test: where to send writes, round robin, and how to shape them.
struct Target {
    name: &'static str,
    http: Client,
    /// Meridian's tenant tokens, one per request slot; etcd runs without auth (none).
    tokens: Vec<String>,
    addrs: Vec<String>,
    urls: Vec<String>,
    /// Sequence number of the next write (distinct keys and labels across warm-up and runs).
    next: AtomicU64,
}

impl Target {
    fn new(name: &'static str, http: &Client, tokens: Vec<String>, addrs: Vec<String>) -> Self {
        let path = if name == "etcd" { ETCD_PUT } else { CREATE };
        let urls = addrs.iter().map(|a| format!("http://{a}{path}")).collect();
        let (http, next) = (http.clone(), AtomicU64::new(0));
        Self {
            name,
            http,
            tokens,
            addrs,
            urls,
            next,
        }
    }

    /// The URL and body of write `n`: a new entity, or an etcd put of a new key with a value
    /// shaped like the entity body.
    fn request(&self, n: u64) -> (&str, Value) {
        let url = &self.urls[(n % self.urls.len() as u64) as usize];
        let entity = json!({ "label": format!("e{n}") });
        if self.name != "etcd" {
            return (url, entity);
        }
        let key = base64(format!("bench/e{n}").as_bytes());
        let value = base64(entity.to_string().as_bytes());
        (url, json!({ "key": key, "value": value }))
    }

    /// Write `n`, sent by request slot `slot`.
    async fn write(&self, n: u64, slot: usize) -> Result<(), String> {
        let (url, body) = self.request(n);
        let token = self.tokens.get(slot % self.tokens.len().max(1));
        let reply = call(&self.http, url, token.map(String::as_str), body).await;
        reply.map(drop).map_err(|e| format!("{e:#}"))
    }
}

/// Standard base64 with padding (etcd's JSON gateway takes bytes this way).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
        for _ in chunk.len()..3 {
            out.push('=');
        }
    }
    out
}

/// Latencies (µs) of successful writes, the error count and the first error, and the wall time.
#[derive(Default)]
struct Sample {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
}

/// Sends up to `count` writes with `in_flight` workers, for at most `max`.
async fn load(target: &Arc<Target>, in_flight: usize, count: u64, max: Duration) -> Sample {
    let (issued, start) = (Arc::new(AtomicU64::new(0)), Instant::now());
    let mut workers = tokio::task::JoinSet::new();
    for slot in 0..in_flight {
        let (target, issued) = (target.clone(), issued.clone());
        workers.spawn(async move {
            let mut s = Sample::default();
            while start.elapsed() < max && issued.fetch_add(1, Ordering::Relaxed) < count {
                let (n, t0) = (target.next.fetch_add(1, Ordering::Relaxed), Instant::now());
                match target.write(n, slot).await {
                    Ok(()) => s.latencies_us.push(t0.elapsed().as_micros() as u64),
                    Err(e) => {
                        s.errors += 1;
                        s.first_error.get_or_insert(e);
                    }
                }
            }
            s
        });
    }
    let mut all = Sample::default();
    while let Some(done) = workers.join_next().await {
        let Ok(s) = done else {
            all.errors += 1;
            continue;
        };
        all.latencies_us.extend(s.latencies_us);
        all.errors += s.errors;
        all.first_error = all.first_error.or(s.first_error);
    }
    all.elapsed = start.elapsed();
    all
}

/// One measured run, summarised.
#[derive(Serialize)]
struct RunResult {
    system: &'static str,
    in_flight: usize,
    writes: usize,
    errors: u64,
    writes_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Meridian only: growth of each node's Raft log counters during the run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    wal: Vec<Value>,
}

async fn measure(target: &Arc<Target>, in_flight: usize, count: u64) -> RunResult {
    let system = target.name;
    eprintln!("{system}: {in_flight} in flight: up to {count} writes");
    let mut s = load(target, in_flight, count, RUN_TIME_MAX).await;
    if let Some(e) = &s.first_error {
        eprintln!("{system}: {} writes failed, first: {e}", s.errors);
    }
    s.latencies_us.sort_unstable();
    let writes = s.latencies_us.len();
    RunResult {
        system,
        in_flight,
        writes,
        errors: s.errors,
        writes_per_sec: writes as f64 / s.elapsed.as_secs_f64(),
        p50_ms: percentile_ms(&s.latencies_us, 0.50),
        p99_ms: percentile_ms(&s.latencies_us, 0.99),
        wal: Vec::new(),
    }
}

/// Nearest-rank percentile of sorted µs latencies, in ms (NaN when empty).
fn percentile_ms(sorted_us: &[u64], q: f64) -> f64 {
    let rank = (q * sorted_us.len() as f64).ceil() as usize;
    let at = rank.clamp(1, sorted_us.len().max(1)) - 1;
    sorted_us.get(at).map_or(f64::NAN, |&us| us as f64 / 1000.0)
}

/// Per node: is it the leader (1/0), Raft log fsyncs, Raft log records, from `/metrics`.
async fn wal_counters(target: &Target) -> Result<Vec<[u64; 3]>> {
    let mut out = Vec::new();
    for addr in &target.addrs {
        let url = format!("http://{addr}/metrics");
        let text = target.http.get(url).send().await?.text().await?;
        let get = |name: &str| {
            let line = text.lines().find(|l| l.split(' ').next() == Some(name));
            let value = line.and_then(|l| l.rsplit(' ').next()?.parse().ok());
            value.unwrap_or(0)
        };
        let names = ["raft_is_leader", "wal_fsyncs_total", "wal_records_total"];
        out.push(names.map(|m| get(&format!("meridian_{m}"))));
    }
    Ok(out)
}

fn wal_growth(before: &[[u64; 3]], after: &[[u64; 3]]) -> Vec<Value> {
    let grown = |(b, a): (&[u64; 3], &[u64; 3])| {
        let role = if a[0] == 1 { "leader" } else { "follower" };
        json!({ "role": role, "wal_fsyncs": a[1] - b[1], "wal_records": a[2] - b[2] })
    };
    before.iter().zip(after).map(grown).collect()
}

/// Meridian over etcd at each load level: (in flight, throughput ratio, p99 ratio).
fn ratios(results: &[RunResult]) -> Vec<(usize, f64, f64)> {
    let ratio = |p: &[RunResult]| {
        let (m, e) = (&p[0], &p[1]);
        let throughput = m.writes_per_sec / e.writes_per_sec;
        (m.in_flight, throughput, m.p99_ms / e.p99_ms)
    };
    // `results` alternate meridian, etcd.
    results.chunks_exact(2).map(ratio).collect()
}

/// At 64 in flight, no failed write, at least etcd's throughput and a p99 no worse.
fn goal_met(results: &[RunResult]) -> bool {
    let [.., m, e] = results else { return false };
    m.errors == 0 && m.writes_per_sec >= e.writes_per_sec && m.p99_ms <= e.p99_ms
}

fn print_table(results: &[RunResult], ratios: &[(usize, f64, f64)], etcd: &str) {
    println!("\nconfig writes, {MEMBERS}-member clusters on 127.0.0.1 (etcd: {etcd})");
    println!("system    in-flight  writes errors  writes/s   p50 ms   p99 ms");
    for r in results {
        let (s, n, w, e) = (r.system, r.in_flight, r.writes, r.errors);
        let (t, p50, p99) = (r.writes_per_sec, r.p50_ms, r.p99_ms);
        println!("{s:<9} {n:>9} {w:>7} {e:>6} {t:>9.0} {p50:>8.2} {p99:>8.2}");
    }
    for (n, t, p) in ratios {
        println!("ratio meridian/etcd at {n:>2} in flight: throughput {t:.2}x, p99 {p:.2}x");
    }
    for r in results.iter().filter(|r| !r.wal.is_empty()) {
        let per_node = r.wal.iter().enumerate().map(|(i, w)| {
            let role = w["role"].as_str().unwrap_or_default();
            let (rec, syncs) = (&w["wal_records"], &w["wal_fsyncs"]);
            format!("node {} {role}: {rec} records, {syncs} fsyncs", i + 1)
        });
        let (n, per_node) = (r.in_flight, per_node.collect::<Vec<_>>().join("; "));
        println!("meridian Raft log at {n:>2} in flight: {per_node}");
    }
    let verdict = if goal_met(results) { "MET" } else { "NOT MET" };
    println!("goal (64 in flight: writes/s >= etcd's, p99 <= etcd's): {verdict}\n");
}

/// `<target dir>/bench-config-writes.json`, beside the release directory holding the binary.
fn results_path() -> PathBuf {
    let dir = Path::new(MERIDIAN).parent().and_then(Path::parent);
    let dir = dir.unwrap_or(Path::new("target"));
    dir.join("bench-config-writes.json")
}
