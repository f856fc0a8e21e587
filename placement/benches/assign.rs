//! Times `assign` for 1,000 nodes x 4,096 shards (and a 60 x 1,024 cluster for scale).
//!
//! Run with `cargo bench -p meridian-placement`. Plain `std::time::Instant`, no harness: a fixed
//! number of runs per shape, and the median is printed, so it always finishes by itself.

use std::hint::black_box;
use std::time::{Duration, Instant};

use meridian_placement::{Member, PlacementConfig, assign};

/// Runs per shape; the median is reported.
const RUNS: usize = 5;

fn cluster(nodes: u64, regions: u64) -> Vec<Member> {
    (0..nodes)
        .map(|i| Member::new(1 + i, format!("region-{}", i % regions)))
        .collect()
}

/// Regions of the given sizes: the shape where the caps and the repair work hardest.
fn uneven(sizes: &[u64]) -> Vec<Member> {
    let mut members = Vec::new();
    for (region, &size) in sizes.iter().enumerate() {
        let first = members.len() as u64 + 1;
        members.extend((first..first + size).map(|id| Member::new(id, format!("region-{region}"))));
    }
    members
}

fn time(label: &str, members: &[Member], n_shards: u32) {
    let cfg = PlacementConfig {
        n_shards,
        replication_factor: None,
    };
    let mut runs: Vec<Duration> = (0..RUNS)
        .map(|epoch| {
            let start = Instant::now();
            let assignment = assign(black_box(members), black_box(&cfg), epoch as u64);
            let elapsed = start.elapsed();
            black_box(assignment.digest());
            elapsed
        })
        .collect();
    runs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "assign {label}: median {:.1} ms (min {:.1}, max {:.1}, {RUNS} runs)",
        ms(runs[RUNS / 2]),
        ms(runs[0]),
        ms(runs[RUNS - 1])
    );
}

fn main() {
    time(
        "1000 nodes x 4096 shards, 5 regions, rf 3",
        &cluster(1000, 5),
        4096,
    );
    time(
        "1000 nodes x 4096 shards, 5 regions of 400/300/150/100/50, rf 3",
        &uneven(&[400, 300, 150, 100, 50]),
        4096,
    );
    time(
        "1000 nodes x 4096 shards, 3 regions, rf 3",
        &cluster(1000, 3),
        4096,
    );
    time(
        "60 nodes x 1024 shards, 3 regions, rf 3",
        &cluster(60, 3),
        1024,
    );
}
