//! Test helper for the crash test: writes batches from several threads with frequent seals
//! and merges, printing `ack <thread> <seq>` after each acknowledged batch, until killed.
//! Usage: tsdb-crashwriter <dir> <round> <base-ms>

use meridian_tsdb::{Config, Engine, SeriesKey, SeriesPoints};
use std::io::Write;
use std::sync::{Arc, Mutex};

const THREADS: u64 = 4;
/// Batches per thread before the writer stops by itself (the test kills it long before).
const BATCHES_MAX: u64 = 1_000_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: tsdb-crashwriter <dir> <round> <base-ms>");
        std::process::exit(2);
    }
    let round: u64 = args[2].parse().expect("round");
    let base: i64 = args[3].parse().expect("base-ms");
    let mut config = Config::new(&args[1]);
    config.head_bytes_max = 32 * 1024;
    config.maintenance_interval_ms = 5;
    config.merge_fanin = 2;
    config.clock = Arc::new(move || base);
    let engine = Arc::new(Engine::open(config).expect("open engine"));
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (engine, out) = (Arc::clone(&engine), Arc::clone(&out));
            std::thread::spawn(move || {
                for seq in 0..BATCHES_MAX {
                    let key = SeriesKey::new("crash", "check", &format!("s{}", seq % 7))
                        .with("thread", &thread.to_string());
                    let t = base + ((round * 1_000_000 + seq) * 10) as i64;
                    let points = (0..20)
                        .map(|i| (t + i, (round * 1000 + seq) as f64 + i as f64 * 0.25))
                        .collect();
                    engine
                        .write(&[SeriesPoints { key, points }])
                        .expect("write");
                    let mut o = out.lock().expect("stdout lock");
                    writeln!(o, "ack {thread} {seq}").expect("stdout");
                    o.flush().expect("stdout");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread");
    }
}
