//! Queries: raw points and aggregated buckets of one series, over head, blocks and rollups.

use crate::block::BlockReader;
use crate::error::{Error, Result};
use crate::head::{DAY_MS, settle};
use crate::key::TIMESTAMP_ABS_MAX;
use crate::plan::PlanConfig;
use crate::rollup::{Bucket, Resolution, aggregate, regroup};
use crate::shared::Shared;
use crate::store::{read_buckets, read_points};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Most points one raw query may return (its `limit` may not be larger).
pub const RAW_POINTS_MAX: usize = 1_000_000;
/// Most buckets one bucket query may return.
pub const BUCKETS_MAX: usize = 100_000;
/// Upper bound for `Config::scan_points_max`, the raw points one query may read.
pub const SCAN_POINTS_MAX: usize = 20_000_000;

/// Buckets answered, and the resolution they were computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    pub resolution: Resolution,
    pub buckets: Vec<Bucket>,
}

fn check_range(from: i64, to: i64) -> Result<()> {
    for (field, v) in [("from", from), ("to", to)] {
        if !(-TIMESTAMP_ABS_MAX..=TIMESTAMP_ABS_MAX).contains(&v) {
            return Err(Error::invalid(
                field,
                format!("{v} outside ±{TIMESTAMP_ABS_MAX} ms"),
            ));
        }
    }
    if from >= to {
        return Err(Error::invalid(
            "to",
            format!("to ({to}) must be after from ({from})"),
        ));
    }
    Ok(())
}

fn scan_limit(shared: &Shared, n: usize) -> Result<()> {
    let max = shared.config.scan_points_max;
    if n > max {
        return Err(Error::LimitExceeded {
            what: format!("query reading {n} raw points"),
            limit_name: "scan_points_max",
            limit: max as u64,
        });
    }
    Ok(())
}

/// Settled raw points of series `id` in `[from, to)` from head and raw blocks.
pub(crate) fn raw_points(shared: &Shared, id: u64, from: i64, to: i64) -> Result<Vec<(i64, f64)>> {
    let mut pts = Vec::new();
    // Head first, then blocks: a seal finishing in between can only show a point twice
    // (settled away), never hide it.
    {
        let head = shared.head.lock().expect("head lock");
        head.live.points_in(id, from, to, &mut pts);
        if let Some(f) = &head.frozen {
            f.points_in(id, from, to, &mut pts);
        }
    }
    let blocks = shared
        .store
        .read()
        .expect("store lock")
        .blocks_in(Resolution::Raw, from, to);
    for (_, b) in blocks {
        read_points(&b, id, from, to, &mut pts)?;
        scan_limit(shared, pts.len())?;
    }
    scan_limit(shared, pts.len())?;
    settle(&mut pts);
    Ok(pts)
}

pub(crate) fn raw(
    shared: &Shared,
    id: u64,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<Vec<(i64, f64)>> {
    check_range(from, to)?;
    if limit == 0 || limit > RAW_POINTS_MAX {
        return Err(Error::LimitExceeded {
            what: format!("limit {limit} (must be at least 1)"),
            limit_name: "RAW_POINTS_MAX",
            limit: RAW_POINTS_MAX as u64,
        });
    }
    let mut pts = raw_points(shared, id, from, to)?;
    pts.truncate(limit);
    Ok(pts)
}

/// The finest resolution kept for `from` whose width divides `period_ms`.
pub(crate) fn pick_resolution(cfg: &PlanConfig, from: i64, period_ms: i64) -> Result<Resolution> {
    let kept = |r: Resolution| from >= cfg.now_ms - cfg.retention.of(r);
    let fits = |r: Resolution| r.period_ms().is_none_or(|p| period_ms % p == 0);
    if let Some(r) = Resolution::ALL
        .iter()
        .copied()
        .find(|r| fits(*r) && kept(*r))
    {
        return Ok(r);
    }
    Resolution::ALL.iter().rev().copied().find(|r| fits(*r) && *r != Resolution::Raw).ok_or_else(|| {
        Error::invalid("period", format!("{period_ms} ms is not a multiple of 5 minutes; raw data for this range has expired"))
    })
}

pub(crate) fn buckets(
    shared: &Shared,
    id: Option<u64>,
    from: i64,
    to: i64,
    period_ms: i64,
    cfg: &PlanConfig,
) -> Result<Buckets> {
    check_range(from, to)?;
    if period_ms <= 0 {
        return Err(Error::invalid("period", "must be positive"));
    }
    let first = from - from.rem_euclid(period_ms);
    let n = (to - first).div_euclid(period_ms) + 1;
    if n > BUCKETS_MAX as i64 {
        return Err(Error::LimitExceeded {
            what: format!("query for {n} buckets"),
            limit_name: "BUCKETS_MAX",
            limit: BUCKETS_MAX as u64,
        });
    }
    let resolution = pick_resolution(cfg, from, period_ms)?;
    let Some(id) = id else {
        return Ok(Buckets {
            resolution,
            buckets: Vec::new(),
        });
    };
    let buckets = match resolution.period_ms() {
        None => aggregate(&raw_points(shared, id, from, to)?, period_ms),
        Some(r) => {
            let (lo, hi) = (from - from.rem_euclid(r), to + (r - to.rem_euclid(r)) % r);
            let mut fine = Vec::new();
            let mut cache = BucketCache::default();
            for day in lo.div_euclid(DAY_MS)..=(hi - 1).div_euclid(DAY_MS) {
                let (d0, d1) = ((day * DAY_MS).max(lo), ((day + 1) * DAY_MS).min(hi));
                day_buckets(shared, id, resolution, (d0, d1), &mut cache, &mut fine)?;
            }
            regroup(&fine, period_ms)
        }
    };
    Ok(Buckets {
        resolution,
        buckets,
    })
}

/// A series' decoded buckets per rollup block, for one query: a block spanning many days is
/// decoded once, not once per day.
#[derive(Default)]
struct BucketCache(HashMap<u64, Vec<Bucket>>);

impl BucketCache {
    fn read(
        &mut self,
        (block_id, block): (u64, &BlockReader),
        id: u64,
        from: i64,
        to: i64,
        out: &mut Vec<Bucket>,
    ) -> Result<()> {
        let all = match self.0.entry(block_id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let mut all = Vec::new();
                read_buckets(block, id, i64::MIN, i64::MAX, &mut all)?;
                e.insert(all)
            }
        };
        out.extend(
            all.iter()
                .filter(|b| b.start_ms >= from && b.start_ms < to)
                .cloned(),
        );
        Ok(())
    }
}

/// Buckets at `res` within `[from, to)` of one day: from the rollups when they cover
/// everything stored for the day, from the raw points when the raw data is complete (exact),
/// else the rollups plus the raw points not rolled up yet.
fn day_buckets(
    shared: &Shared,
    id: u64,
    res: Resolution,
    (from, to): (i64, i64),
    cache: &mut BucketCache,
    out: &mut Vec<Bucket>,
) -> Result<()> {
    let period = res.period_ms().expect("rollup");
    // Head before blocks, as in `raw_points`.
    let mut head_pts = Vec::new();
    {
        let head = shared.head.lock().expect("head lock");
        head.live.points_in(id, from, to, &mut head_pts);
        if let Some(f) = &head.frozen {
            f.points_in(id, from, to, &mut head_pts);
        }
    }
    let (raw_blocks, rollups) = {
        let store = shared.store.read().expect("store lock");
        (
            store.blocks_in(Resolution::Raw, from, to),
            store.blocks_in(res, from, to),
        )
    };
    let covered: Vec<u64> = rollups
        .iter()
        .flat_map(|(m, _)| m.sources.clone())
        .collect();
    let uncovered: Vec<_> = raw_blocks
        .iter()
        .filter(|(m, _)| !covered.contains(&m.id))
        .collect();
    if !rollups.is_empty() && uncovered.is_empty() && head_pts.is_empty() {
        for (m, r) in &rollups {
            cache.read((m.id, r), id, from, to, out)?;
        }
        return Ok(());
    }
    let mut pts = head_pts;
    // Raw is complete when every raw block the rollups were computed from is still here.
    let all_raw = covered
        .iter()
        .all(|c| raw_blocks.iter().any(|(m, _)| m.id == *c));
    let readable: Vec<_> = if all_raw {
        raw_blocks.iter().collect()
    } else {
        uncovered
    };
    for (_, b) in readable {
        read_points(b, id, from, to, &mut pts)?;
        scan_limit(shared, pts.len())?;
    }
    settle(&mut pts);
    let mut day_out = aggregate(&pts, period);
    if !all_raw {
        for (m, r) in &rollups {
            cache.read((m.id, r), id, from, to, &mut day_out)?;
        }
        day_out.sort_by_key(|b| b.start_ms);
        day_out = regroup(&day_out, period);
    }
    out.extend(day_out);
    Ok(())
}
