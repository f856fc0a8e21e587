//! kill -9 during ingest: every batch the writer saw acknowledged is there after reopening.

use crate::fixture::config;
use meridian_tsdb::{Engine, SeriesKey};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

/// Must match the writer's point layout (src/bin/tsdb-crashwriter.rs).
fn batch_points(round: u64, thread: u64, seq: u64, base: i64) -> (SeriesKey, Vec<(i64, f64)>) {
    let key = SeriesKey::new("crash", "check", &format!("s{}", seq % 7))
        .with("thread", &thread.to_string());
    let t = base + ((round * 1_000_000 + seq) * 10) as i64;
    let pts = (0..20)
        .map(|i| (t + i, (round * 1000 + seq) as f64 + i as f64 * 0.25))
        .collect();
    (key, pts)
}

#[test]
fn acknowledged_batches_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let base = 1_700_000_000_000i64;
    let mut acked = Vec::new();
    for round in 0..4u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tsdb-crashwriter"))
            .args([
                dir.path().to_str().unwrap(),
                &round.to_string(),
                &base.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let stop_after = 150 + round as usize * 70;
        let mut seen = 0;
        for line in stdout.lines() {
            let line = line.unwrap();
            let mut f = line
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse::<u64>().unwrap());
            let (thread, seq) = (f.next().unwrap(), f.next().unwrap());
            acked.push((round, thread, seq));
            seen += 1;
            if seen == stop_after {
                child.kill().unwrap();
                break;
            }
        }
        child.wait().unwrap();
        assert_eq!(seen, stop_after, "writer stopped early");
        let clock = Arc::new(AtomicI64::new(base));
        let engine = Engine::open(config(dir.path(), &clock)).unwrap();
        for &(r, th, seq) in &acked {
            let (key, pts) = batch_points(r, th, seq, base);
            let got = engine.raw(&key, pts[0].0, pts[19].0 + 1, 100).unwrap();
            assert_eq!(got, pts, "round {r} thread {th} batch {seq} lost");
        }
        drop(engine);
    }
    // The writer sealed heads into blocks while it was being killed, not only WAL records.
    let blocks = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .count();
    assert!(blocks > 0, "no block was ever sealed");
}
