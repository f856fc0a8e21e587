//! Running planned jobs: merging raw blocks of a day, closing a day (one raw block plus its
//! rollups), folding late points into rollups, retention, and rewrites for dropped tenants.

use crate::block::{BlockBuilder, BlockReader};
use crate::error::Result;
use crate::head::settle;
use crate::manifest::BlockMeta;
use crate::plan::{Job, PlanConfig};
use crate::rollup::{Bucket, Resolution, aggregate, encode_buckets, regroup};
use crate::seal::{add_series, finish, take_ids};
use crate::shared::Shared;
use crate::store::{Change, read_buckets, read_points};
use std::collections::BTreeSet;
use std::sync::Arc;

type Inputs = Vec<(BlockMeta, Arc<BlockReader>)>;

fn inputs(shared: &Shared, ids: &[u64]) -> Inputs {
    let store = shared.store.read().expect("store lock");
    ids.iter()
        .filter_map(|id| Some((store.meta(*id)?.clone(), Arc::clone(store.readers.get(id)?))))
        .collect()
}

fn series_ids(blocks: &Inputs) -> BTreeSet<u64> {
    blocks
        .iter()
        .flat_map(|(_, r)| r.entries().iter().map(|e| e.series))
        .collect()
}

/// Settled points of one series across blocks; returns conflicts found.
fn merged_points(blocks: &Inputs, id: u64, out: &mut Vec<(i64, f64)>) -> Result<u64> {
    out.clear();
    for (_, r) in blocks {
        read_points(r, id, i64::MIN, i64::MAX, out)?;
    }
    Ok(settle(out))
}

struct RollupBuilders {
    builders: Vec<(Resolution, BlockBuilder)>,
}

impl RollupBuilders {
    fn new(day: i64, cfg: &PlanConfig) -> Self {
        let builders = Resolution::ROLLUPS
            .iter()
            .filter(|r| !cfg.expired(day, **r))
            .map(|r| (*r, BlockBuilder::new(*r, day)))
            .collect();
        RollupBuilders { builders }
    }

    /// Rollups of one series: 5-minute buckets from the settled raw points in time order,
    /// coarser ones by merging those in time order (sketch merges are exact; the float sums
    /// are the same on every replica because the order is).
    fn add(&mut self, id: u64, raw: &[(i64, f64)]) -> Result<()> {
        let five = aggregate(raw, Resolution::Min5.period_ms().expect("rollup"));
        for (res, b) in &mut self.builders {
            let period = res.period_ms().expect("rollup");
            add_buckets(b, id, regroup(&five, period), period)?;
        }
        Ok(())
    }

    fn finish(self, shared: &Shared, day: i64, sources: Vec<u64>, ch: &mut Change) -> Result<()> {
        let ids = take_ids(shared, self.builders.len());
        for ((res, b), id) in self.builders.into_iter().zip(ids) {
            if b.is_empty() {
                continue;
            }
            let reader = finish(shared, b, id)?;
            let meta = BlockMeta::new(id, res, day, 0, sources.clone());
            ch.add.push((meta, reader));
        }
        Ok(())
    }
}

/// Runs one job and commits its result.
pub(crate) fn run_job(shared: &Shared, job: &Job, cfg: &PlanConfig) -> Result<()> {
    let mut change = Change::default();
    let conflicts = match job {
        Job::Compact { day, inputs: ids } => merge_raw(shared, *day, ids, None, cfg, &mut change)?,
        Job::Close {
            day,
            inputs: ids,
            old_rollups,
        } => merge_raw(shared, *day, ids, Some(old_rollups), cfg, &mut change)?,
        Job::Fold {
            day,
            inputs: ids,
            rollups: old,
        } => fold(shared, *day, ids, old, cfg, &mut change)?,
        Job::Span {
            res,
            start,
            days,
            inputs: ids,
        } => {
            span(shared, *res, *start, *days, ids, &mut change)?;
            0
        }
    };
    let (dir, blocks_dir) = (shared.config.dir.clone(), shared.blocks_dir());
    shared
        .store
        .write()
        .expect("store lock")
        .commit(&dir, &blocks_dir, change)?;
    let c = &shared.counters;
    c.add(&c.merges, 1);
    c.add(&c.conflicts, conflicts);
    Ok(())
}

/// Merges raw blocks of a day into one of the next level; when closing (`old_rollups` given)
/// also computes the day's rollups from the result and replaces its old rollup blocks.
fn merge_raw(
    shared: &Shared,
    day: i64,
    ids: &[u64],
    old_rollups: Option<&Vec<u64>>,
    cfg: &PlanConfig,
    change: &mut Change,
) -> Result<u64> {
    let blocks = inputs(shared, ids);
    let level = blocks.iter().map(|(m, _)| m.level).max().unwrap_or(0) + 1;
    let out_id = take_ids(shared, 1)[0];
    let mut raw = BlockBuilder::new(Resolution::Raw, day);
    let mut rollups = RollupBuilders::new(day, cfg);
    let (mut pts, mut conflicts) = (Vec::new(), 0);
    for id in series_ids(&blocks)
        .into_iter()
        .filter(|id| !shared.is_dropped(*id))
    {
        conflicts += merged_points(&blocks, id, &mut pts)?;
        if pts.is_empty() {
            continue;
        }
        add_series(&mut raw, id, &pts)?;
        if old_rollups.is_some() {
            rollups.add(id, &pts)?;
        }
    }
    if !raw.is_empty() {
        let meta = BlockMeta::new(out_id, Resolution::Raw, day, level, vec![]);
        change.add.push((meta, finish(shared, raw, out_id)?));
    }
    if let Some(old) = old_rollups {
        rollups.finish(shared, day, vec![out_id], change)?;
        change.remove.extend(old);
    }
    change.remove.extend(blocks.iter().map(|(m, _)| m.id));
    Ok(conflicts)
}

/// Adds one series' buckets (sorted by start, partial buckets merged) to a rollup block.
fn add_buckets(b: &mut BlockBuilder, id: u64, mut buckets: Vec<Bucket>, period: i64) -> Result<()> {
    buckets.sort_by_key(|b| b.start_ms);
    let merged = regroup(&buckets, period);
    if let (Some(first), Some(last)) = (merged.first(), merged.last()) {
        let mut buf = Vec::new();
        encode_buckets(&merged, &mut buf)?;
        b.add(id, first.start_ms, last.start_ms, merged.len() as u32, &buf);
    }
    Ok(())
}

/// Raw blocks not yet rolled up, of a day whose raw data is incomplete: their buckets are
/// added to the day's own rollup blocks. The raw blocks stay while raw is kept (they are now
/// covered); past raw retention they go in the same commit.
fn fold(
    shared: &Shared,
    day: i64,
    ids: &[u64],
    old: &[u64],
    cfg: &PlanConfig,
    change: &mut Change,
) -> Result<u64> {
    let raw_blocks = inputs(shared, ids);
    let rollup_blocks = inputs(shared, old);
    let mut sources: BTreeSet<u64> = rollup_blocks
        .iter()
        .flat_map(|(m, _)| m.sources.clone())
        .collect();
    sources.extend(ids);
    let mut all = series_ids(&raw_blocks);
    all.extend(series_ids(&rollup_blocks));
    let mut builders = RollupBuilders::new(day, cfg);
    let (mut pts, mut conflicts) = (Vec::new(), 0);
    for id in all.into_iter().filter(|id| !shared.is_dropped(*id)) {
        conflicts += merged_points(&raw_blocks, id, &mut pts)?;
        for (res, b) in &mut builders.builders {
            let period = res.period_ms().expect("rollup");
            let mut buckets = aggregate(&pts, period);
            for (_, r) in rollup_blocks.iter().filter(|(m, _)| m.resolution == *res) {
                read_buckets(r, id, i64::MIN, i64::MAX, &mut buckets)?;
            }
            add_buckets(b, id, buckets, period)?;
        }
    }
    builders.finish(shared, day, sources.into_iter().collect(), change)?;
    change.remove.extend(old);
    if cfg.expired(day, Resolution::Raw) {
        change.remove.extend(ids);
    }
    Ok(conflicts)
}

/// Merges rollup blocks of one resolution into one block covering `days` days from `start`.
fn span(
    shared: &Shared,
    res: Resolution,
    start: i64,
    days: u32,
    ids: &[u64],
    change: &mut Change,
) -> Result<()> {
    let blocks = inputs(shared, ids);
    let period = res.period_ms().expect("rollup");
    let sources: BTreeSet<u64> = blocks.iter().flat_map(|(m, _)| m.sources.clone()).collect();
    let level = blocks.iter().map(|(m, _)| m.level).max().unwrap_or(0) + 1;
    let out_id = take_ids(shared, 1)[0];
    let mut b = BlockBuilder::new(res, start);
    for id in series_ids(&blocks)
        .into_iter()
        .filter(|id| !shared.is_dropped(*id))
    {
        let mut buckets = Vec::new();
        for (_, r) in &blocks {
            read_buckets(r, id, i64::MIN, i64::MAX, &mut buckets)?;
        }
        add_buckets(&mut b, id, buckets, period)?;
    }
    if !b.is_empty() {
        let meta = BlockMeta {
            days,
            ..BlockMeta::new(out_id, res, start, level, sources.into_iter().collect())
        };
        change.add.push((meta, finish(shared, b, out_id)?));
    }
    change.remove.extend(ids);
    Ok(())
}

/// Copies a block without the chunks of dropped tenants (chunks are copied, not re-encoded).
pub(crate) fn rewrite_without_dropped(shared: &Shared, id: u64) -> Result<bool> {
    let Some((meta, reader)) = inputs(shared, &[id]).pop() else {
        return Ok(false);
    };
    if !reader.entries().iter().any(|e| shared.is_dropped(e.series)) {
        return Ok(false);
    }
    let new_id = take_ids(shared, 1)[0];
    let mut b = BlockBuilder::new(meta.resolution, meta.day);
    for e in reader
        .entries()
        .iter()
        .filter(|e| !shared.is_dropped(e.series))
    {
        b.add(
            e.series,
            e.min_ts,
            e.max_ts,
            e.count,
            &reader.read_chunk(e)?,
        );
    }
    let mut change = Change {
        remove: vec![id],
        ..Default::default()
    };
    if !b.is_empty() {
        let new_meta = BlockMeta {
            id: new_id,
            ..meta.clone()
        };
        change.add.push((new_meta, finish(shared, b, new_id)?));
        if meta.resolution == Resolution::Raw {
            change.renames.push((id, new_id));
        }
    }
    let (dir, blocks_dir) = (shared.config.dir.clone(), shared.blocks_dir());
    shared
        .store
        .write()
        .expect("store lock")
        .commit(&dir, &blocks_dir, change)?;
    Ok(true)
}
