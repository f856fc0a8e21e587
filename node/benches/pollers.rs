//! HTTP probes per CPU-second: Meridian's probe code against Debian's blackbox_exporter, side
//! by side in one run, both probing one loopback target (a hyper server in this process) at
//! the same rate.
//!
//! Meridian's probes run in a child process (this bench re-executed with `--prober-child`), so
//! its CPU time (utime + stime from /proc/<pid>/stat, over the probe loop only) counts nothing
//! but probing. The exporter is started by the bench and its CPU time read the same way over its
//! probe phase; its `/probe?target=...&module=http_2xx` requests come from this process.
//!
//! Needs the exporter, which CI does not install:
//! `apt-get install -y prometheus-blackbox-exporter`; without it only Meridian's figure is shown.
//!
//! Then the schedule phase (`pollers_parts/schedule.rs`): one node polling 10,000 HTTP checks at a 60 s
//! period, its schedule lag and CPU (`POLLERS_BENCH_CHECKS`, 0 skips it).
//!
//! Run: `cargo bench -p meridian --bench pollers`. Knobs (bounded): `POLLERS_BENCH_PROBES`
//! (default 4000, at most `PROBES_MAX`), `POLLERS_BENCH_RATE` per second (default 400, at most
//! `RATE_MAX`). Each phase stops after `PHASE_S_MAX` seconds whatever the count.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

#[path = "pollers_parts/schedule.rs"]
mod poll_schedule;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use meridian::poller::dial::SystemResolver;
use meridian::poller::policy::AddressPolicy;
use meridian::poller::probes::{IcmpMode, ProbeContext, run_within};
use meridian::spec::Details;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Most probes per phase.
const PROBES_MAX: usize = 100_000;
/// Highest probe rate, per second.
const RATE_MAX: usize = 5_000;
/// Longest phase, seconds.
const PHASE_S_MAX: u64 = 60;
/// Most probes in flight at once, in either phase.
const IN_FLIGHT_MAX: usize = 64;
/// Attempts (50 ms apart) waiting for the exporter to listen.
const READY_TRIES_MAX: usize = 200;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--prober-child") {
        let url = args.get(i + 1).context("child: url")?.clone();
        let n: usize = args.get(i + 2).context("child: count")?.parse()?;
        let rate: usize = args.get(i + 3).context("child: rate")?.parse()?;
        return prober_child(&url, n, rate);
    }
    let n = knob("POLLERS_BENCH_PROBES", 4000, PROBES_MAX);
    let rate = knob("POLLERS_BENCH_RATE", 400, RATE_MAX);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let target = rt.block_on(target_server())?;
    let url = format!("http://127.0.0.1:{}/", target.port());
    println!("pollers bench: {n} HTTP probes at {rate}/s per side against {url}");
    let ticks = clock_ticks();

    let mut child = Command::new(std::env::current_exe()?)
        .args(["--prober-child", &url, &n.to_string(), &rate.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the prober child")?;
    let pid = child.id();
    let out = wait_output(&mut child)?;
    let line = out
        .lines()
        .find(|l| l.starts_with("child "))
        .context("child output")?;
    // "child <done> <ok> <cpu_ticks> <wall_s>"
    let f: Vec<f64> = line[6..]
        .split(' ')
        .filter_map(|x| x.parse().ok())
        .collect();
    if f.len() != 4 {
        bail!("child output {line:?}");
    }
    let m_cpu = f[2] / ticks;
    let m_rate = f[0] / m_cpu.max(1e-9);
    println!(
        "meridian : {} probes ({} ok) in {:.1} s wall, {:.2} s CPU (pid {pid}) -> {:.0} probes/CPU-s",
        f[0], f[1], f[3], m_cpu, m_rate
    );

    match which_exporter() {
        None => println!(
            "blackbox : not installed (apt-get install -y prometheus-blackbox-exporter); \
             no comparison"
        ),
        Some(bin) => {
            let (done, ok, cpu, wall) = rt.block_on(blackbox_phase(&bin, &url, n, rate, ticks))?;
            let b_rate = done as f64 / cpu.max(1e-9);
            println!(
                "blackbox : {done} probes ({ok} ok) in {wall:.1} s wall, {cpu:.2} s CPU \
                 -> {b_rate:.0} probes/CPU-s"
            );
            println!(
                "ratio meridian/blackbox: {:.2}x (goal >= 2x)",
                m_rate / b_rate
            );
        }
    }
    let checks = std::env::var("POLLERS_BENCH_CHECKS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(10_000)
        .min(poll_schedule::CHECKS_MAX);
    if checks > 0 {
        rt.block_on(poll_schedule::run(&url, checks, ticks))?;
    }
    Ok(())
}

fn knob(name: &str, default: usize, max: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .clamp(1, max)
}

/// Clock ticks per second of /proc/<pid>/stat times.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of `pid` ("self" for this process), in clock ticks.
fn cpu_ticks(pid: &str) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').context("stat format")? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    Ok(fields[11].parse::<f64>()? + fields[12].parse::<f64>()?)
}

fn wait_output(child: &mut Child) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(PHASE_S_MAX + 30);
    loop {
        if child.try_wait()?.is_some() {
            let mut out = String::new();
            if let Some(mut s) = child.stdout.take() {
                std::io::Read::read_to_string(&mut s, &mut out)?;
            }
            return Ok(out);
        }
        if Instant::now() > deadline {
            child.kill()?;
            bail!("prober child did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The loopback target: 200 and a small body to every request.
async fn target_server() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            b"<html><body>target ok</body></html>",
                        ))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// Runs `n` tasks at `rate` per second, at most `IN_FLIGHT_MAX` at once, for at most
/// `PHASE_S_MAX`; returns (started, succeeded).
async fn paced<F, Fut>(n: usize, rate: usize, task: F) -> (usize, usize)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(IN_FLIGHT_MAX));
    let ok = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let stop = start + Duration::from_secs(PHASE_S_MAX);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut started = 0;
    while started < n && Instant::now() < stop {
        tick.tick().await;
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let fut = task();
        let ok = ok.clone();
        tokio::spawn(async move {
            if fut.await {
                ok.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
        });
        started += 1;
    }
    // Wait for the ones in flight.
    let _ = slots.acquire_many(IN_FLIGHT_MAX as u32).await;
    (started, ok.load(Ordering::Relaxed))
}

/// The child: only the probe loop, then "child <done> <ok> <cpu_ticks> <wall_s>".
fn prober_child(url: &str, n: usize, rate: usize) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ctx = ProbeContext::with_parts(
        AddressPolicy::new(false, &["127.0.0.0/8".to_string()]),
        Arc::new(SystemResolver),
        IcmpMode::None,
        None,
    );
    let details = Details::parse("remote.http", serde_json::json!({ "url": url }))?;
    let (ctx, details) = (Arc::new(ctx), Arc::new(details));
    let cpu0 = cpu_ticks("self")?;
    let t0 = Instant::now();
    let (done, ok) = rt.block_on(paced(n, rate, || {
        let (ctx, details) = (ctx.clone(), details.clone());
        async move {
            let o = run_within(&ctx, &details, None, Duration::from_secs(5)).await;
            o.available && o.status.starts_with("code=200")
        }
    }));
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_ticks("self")? - cpu0;
    println!("child {done} {ok} {cpu} {wall}");
    Ok(())
}

fn which_exporter() -> Option<String> {
    [
        "/usr/bin/prometheus-blackbox-exporter",
        "/usr/bin/blackbox_exporter",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .map(str::to_string)
}

/// Starts the exporter, drives `n` probes through it at `rate`, stops it; returns (probes,
/// ok, CPU seconds of the exporter over the probe phase, wall seconds).
async fn blackbox_phase(
    bin: &str,
    url: &str,
    n: usize,
    rate: usize,
    ticks: f64,
) -> Result<(usize, usize, f64, f64)> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("blackbox.yml");
    std::fs::write(
        &config,
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      \
         preferred_ip_protocol: ip4\n",
    )?;
    let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let listen = format!("127.0.0.1:{port}");
    let mut exporter = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address={listen}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting blackbox_exporter")?;
    let result = drive_blackbox(&exporter, &listen, url, n, rate, ticks).await;
    exporter.kill()?;
    exporter.wait()?;
    result
}

async fn drive_blackbox(
    exporter: &Child,
    listen: &str,
    url: &str,
    n: usize,
    rate: usize,
    ticks: f64,
) -> Result<(usize, usize, f64, f64)> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(IN_FLIGHT_MAX)
        .timeout(Duration::from_secs(10))
        .build()?;
    let metrics = format!("http://{listen}/metrics");
    let mut ready = false;
    for _ in 0..READY_TRIES_MAX {
        if client.get(&metrics).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !ready {
        bail!("blackbox_exporter did not start listening on {listen}");
    }
    let probe = format!("http://{listen}/probe?module=http_2xx&target={url}");
    let pid = exporter.id().to_string();
    let cpu0 = cpu_ticks(&pid)?;
    let t0 = Instant::now();
    let (done, ok) = paced(n, rate, || {
        let req = client.get(&probe);
        async move {
            match req.send().await {
                Ok(r) => r.text().await.is_ok_and(|t| t.contains("probe_success 1")),
                Err(_) => false,
            }
        }
    })
    .await;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(&pid)? - cpu0) / ticks;
    Ok((done, ok, cpu, wall))
}
