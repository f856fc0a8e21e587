//! Engine benchmark (no harness, bounded): ingest samples/s, bytes on disk per sample after
//! the final merge for a TSBS-like cpu-only shape, and query latency of a 24 h average at
//! 1-minute steps on one series.
//!
//! Shape: `TSDB_BENCH_HOSTS` hosts (default 200) x 10 cpu metrics x `TSDB_BENCH_HOURS` hours
//! (default 24) at 10 s. Values are random walks in [0, 100]; `TSDB_BENCH_VALUES` picks how
//! they are stored: `tsbs` (default: whole numbers, as TSBS cpu-only writes its fields),
//! `decimal` (2 decimals, like most check metrics) or `float` (full precision, the worst case).
//! Run: `cargo bench -p meridian-tsdb --bench engine`.

use meridian_tsdb::{Config, DAY_MS, Engine, SeriesKey, SeriesPoints, Statistic};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

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
const STEP_MS: i64 = 10_000;
/// Time steps per write call: 200 hosts x 10 metrics x 5 steps = 10,000 points.
const STEPS_PER_WRITE: i64 = 5;
const WRITERS: usize = 4;
const QUERIES: usize = 200;

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds used by this process so far (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // Fields after the name: state is not numeric, so utime/stime sit at 10 and 11 here.
    if f.len() > 12 {
        (f[10] + f[11]) / 100.0
    } else {
        0.0
    }
}

/// Deterministic xorshift so runs compare.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

struct Shape {
    hosts: i64,
    hours: i64,
    scale: f64,
    mode: String,
    steps: i64,
    day0: i64,
}

fn shape() -> Shape {
    let hosts = env_or("TSDB_BENCH_HOSTS", 200);
    let hours = env_or("TSDB_BENCH_HOURS", 24).clamp(1, 24);
    let mode = std::env::var("TSDB_BENCH_VALUES").unwrap_or_else(|_| "tsbs".into());
    let scale = match mode.as_str() {
        "tsbs" => 1.0,
        "decimal" => 100.0,
        "float" => 0.0,
        other => panic!("TSDB_BENCH_VALUES={other}: use tsbs, decimal or float"),
    };
    Shape {
        hosts,
        hours,
        scale,
        mode,
        steps: hours * 3_600_000 / STEP_MS,
        day0: 20_000 * DAY_MS,
    }
}

/// One writer's share: every `WRITERS`-th series, all time steps, `STEPS_PER_WRITE` per call.
fn write_share(engine: &Engine, keys: &[SeriesKey], w: usize, sh: &Shape) {
    let mine: Vec<usize> = (w..keys.len()).step_by(WRITERS).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ w as u64);
    let mut vals: Vec<f64> = mine.iter().map(|_| rng.next() * 100.0).collect();
    let chunks = (sh.steps + STEPS_PER_WRITE - 1) / STEPS_PER_WRITE;
    for c in 0..chunks {
        let mut batch = Vec::with_capacity(mine.len());
        for (j, &k) in mine.iter().enumerate() {
            let mut points = Vec::with_capacity(STEPS_PER_WRITE as usize);
            for st in c * STEPS_PER_WRITE..((c + 1) * STEPS_PER_WRITE).min(sh.steps) {
                vals[j] = (vals[j] + (rng.next() - 0.5) * 2.0).clamp(0.0, 100.0);
                let v = if sh.scale == 0.0 {
                    vals[j]
                } else {
                    (vals[j] * sh.scale).round() / sh.scale
                };
                points.push((sh.day0 + st * STEP_MS, v));
            }
            batch.push(SeriesPoints {
                key: keys[k].clone(),
                points,
            });
        }
        engine.write(&batch).expect("write");
    }
}

fn query_latency(engine: &Engine, key: &SeriesKey, day0: i64) {
    for (label, period) in [
        ("24 h average at 1 min (raw)", 60_000i64),
        ("24 h at 5 min", 300_000),
    ] {
        let mut lat: Vec<f64> = (0..QUERIES)
            .map(|_| {
                let q = Instant::now();
                let b = engine
                    .buckets(key, day0, day0 + DAY_MS, period)
                    .expect("query");
                let avg = b
                    .buckets
                    .iter()
                    .filter_map(|b| b.statistic(Statistic::Average))
                    .count();
                assert!(avg > 0);
                q.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        lat.sort_by(f64::total_cmp);
        println!(
            "query {label}: p50 {:.2} ms, p99 {:.2} ms ({QUERIES} runs)",
            lat[QUERIES / 2],
            lat[QUERIES * 99 / 100]
        );
    }
}

fn main() {
    let sh = shape();
    let tmp = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(AtomicI64::new(sh.day0 + 12 * 3_600_000));
    let mut config = Config::new(tmp.path());
    let clk = Arc::clone(&clock);
    config.clock = Arc::new(move || clk.load(Ordering::SeqCst));
    let engine = Engine::open(config).expect("open");
    let keys: Vec<SeriesKey> = (0..sh.hosts)
        .flat_map(|h| {
            METRICS.iter().map(move |m| {
                SeriesKey::new("bench", "cpu", m).with("hostname", &format!("host_{h}"))
            })
        })
        .collect();
    let samples = keys.len() as i64 * sh.steps;
    println!(
        "shape: {} hosts x 10 metrics x {} h at 10 s = {samples} samples, values {}",
        sh.hosts, sh.hours, sh.mode
    );
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (engine, keys, sh) = (&engine, &keys, &sh);
            s.spawn(move || write_share(engine, keys, w, sh));
        }
    });
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    let m = engine.metrics();
    println!(
        "ingest: {:.0} samples/s wall, {:.0} samples/CPU-s ({wall:.1} s wall, {cpu:.1} CPU-s), \
         {} fsyncs, {:.0} points/fsync",
        samples as f64 / wall,
        samples as f64 / cpu.max(1e-9),
        m.wal_fsyncs,
        samples as f64 / m.wal_fsyncs.max(1) as f64
    );
    engine.flush().expect("flush");
    clock.store(sh.day0 + DAY_MS + 2 * 3_600_000, Ordering::SeqCst);
    let (t1, cpu1) = (Instant::now(), cpu_seconds());
    for _ in 0..100 {
        if engine.maintain().expect("maintain").merged == 0 {
            break;
        }
    }
    let m = engine.metrics();
    let raw: u64 = m.raw_levels.iter().map(|l| l.bytes).sum();
    let rollups: u64 = m.rollups.iter().map(|l| l.bytes).sum();
    println!(
        "after final merge ({:.1} s wall, {:.1} CPU-s): raw blocks {:.3} B/sample ({raw} B), rollups {:.3} B/sample \
         ({rollups} B), whole data dir {:.3} B/sample (index, WAL included)",
        t1.elapsed().as_secs_f64(),
        cpu_seconds() - cpu1,
        raw as f64 / samples as f64,
        rollups as f64 / samples as f64,
        dir_bytes(tmp.path()) as f64 / samples as f64
    );
    query_latency(&engine, &keys[0], sh.day0);
    engine.close().expect("close");
}
