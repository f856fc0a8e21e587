//! Pure planning of background work from the block list and the time: which days to merge,
//! close (merge + roll up), fold into rollups, and which blocks retention drops.

use crate::config::{MERGE_INPUTS_MAX, Retention};
use crate::head::DAY_MS;
use crate::manifest::BlockMeta;
use crate::rollup::Resolution;
use std::collections::{BTreeMap, BTreeSet};

/// One unit of background work over one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Job {
    /// Merge raw blocks of a day that is still open (no rollups yet).
    Compact { day: i64, inputs: Vec<u64> },
    /// Merge every raw block of a closed day into one and compute its rollups from it.
    Close {
        day: i64,
        inputs: Vec<u64>,
        old_rollups: Vec<u64>,
    },
    /// Late raw blocks of a day whose raw data has expired: fold them into its rollups.
    Fold {
        day: i64,
        inputs: Vec<u64>,
        rollups: Vec<u64>,
    },
}

/// Settings the planner reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanConfig {
    pub(crate) now_ms: i64,
    pub(crate) retention: Retention,
    pub(crate) merge_fanin: usize,
    pub(crate) day_close_grace_ms: i64,
}

impl PlanConfig {
    /// Whether a day's data at `res` is past its retention.
    pub(crate) fn expired(&self, day: i64, res: Resolution) -> bool {
        (day + 1) * DAY_MS <= self.now_ms - self.retention.of(res)
    }

    fn closed(&self, day: i64) -> bool {
        self.now_ms >= (day + 1) * DAY_MS + self.day_close_grace_ms
    }
}

#[derive(Default)]
struct Day {
    raw: Vec<u64>,
    levels: BTreeMap<u32, Vec<u64>>,
    rollups: Vec<(Resolution, u64)>,
    covered: BTreeSet<u64>,
}

fn by_day(blocks: &[BlockMeta]) -> BTreeMap<i64, Day> {
    let mut days: BTreeMap<i64, Day> = BTreeMap::new();
    for b in blocks {
        let d = days.entry(b.day).or_default();
        if b.resolution == Resolution::Raw {
            d.raw.push(b.id);
            d.levels.entry(b.level).or_default().push(b.id);
        } else {
            d.rollups.push((b.resolution, b.id));
            d.covered.extend(b.sources.iter().copied());
        }
    }
    days
}

/// Jobs to run, oldest day first; at most one job per day.
pub(crate) fn plan_jobs(blocks: &[BlockMeta], cfg: &PlanConfig) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (day, d) in by_day(blocks) {
        let mut raw = d.raw.clone();
        raw.sort_unstable();
        raw.truncate(MERGE_INPUTS_MAX);
        if !cfg.closed(day) {
            // Tiered: merge `merge_fanin` blocks of one level, so a block is rewritten about
            // log_fanin(blocks per day) times before the day closes, not once per merge.
            if let Some(same) = d.levels.values().find(|ids| ids.len() >= cfg.merge_fanin) {
                let mut inputs = same.clone();
                inputs.sort_unstable();
                inputs.truncate(MERGE_INPUTS_MAX);
                jobs.push(Job::Compact { day, inputs });
            }
            continue;
        }
        let rollup_ids: Vec<u64> = d.rollups.iter().map(|r| r.1).collect();
        let uncovered: Vec<u64> = raw
            .iter()
            .copied()
            .filter(|id| !d.covered.contains(id))
            .collect();
        if cfg.expired(day, Resolution::Raw) {
            if !uncovered.is_empty() {
                jobs.push(Job::Fold {
                    day,
                    inputs: uncovered,
                    rollups: rollup_ids,
                });
            }
            continue;
        }
        let kept = Resolution::ROLLUPS
            .iter()
            .filter(|r| !cfg.expired(day, **r))
            .count();
        let have = d.rollups.iter().filter(|r| !cfg.expired(day, r.0)).count();
        let stale = !uncovered.is_empty() || have < kept || d.covered.len() != d.raw.len();
        if d.raw.len() > MERGE_INPUTS_MAX {
            jobs.push(Job::Compact { day, inputs: raw });
        } else if !d.raw.is_empty() && (d.raw.len() > 1 || stale) {
            jobs.push(Job::Close {
                day,
                inputs: raw,
                old_rollups: rollup_ids,
            });
        }
    }
    jobs
}

/// Blocks past their resolution's retention. Raw blocks go only once rollups cover them
/// (or no rollup of their day is kept any more), so no point is lost before it is rolled up.
pub(crate) fn plan_retention(blocks: &[BlockMeta], cfg: &PlanConfig) -> Vec<u64> {
    let days = by_day(blocks);
    blocks
        .iter()
        .filter(|b| cfg.expired(b.day, b.resolution))
        .filter(|b| {
            b.resolution != Resolution::Raw
                || days[&b.day].covered.contains(&b.id)
                || Resolution::ROLLUPS.iter().all(|r| cfg.expired(b.day, *r))
        })
        .map(|b| b.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(id: u64, day: i64) -> BlockMeta {
        BlockMeta {
            id,
            resolution: Resolution::Raw,
            day,
            level: 0,
            sources: vec![],
        }
    }

    fn rollup(id: u64, day: i64, res: Resolution, sources: Vec<u64>) -> BlockMeta {
        BlockMeta {
            id,
            resolution: res,
            day,
            level: 0,
            sources,
        }
    }

    fn cfg(now_day: i64) -> PlanConfig {
        PlanConfig {
            now_ms: now_day * DAY_MS + 2 * 3_600_000,
            retention: Retention::default(),
            merge_fanin: 3,
            day_close_grace_ms: 3_600_000,
        }
    }

    #[test]
    fn open_day_compacts_at_fanin_and_closed_day_closes() {
        let c = cfg(100);
        let two = vec![raw(1, 100), raw(2, 100)];
        assert!(plan_jobs(&two, &c).is_empty());
        let three = vec![raw(1, 100), raw(2, 100), raw(3, 100)];
        assert_eq!(
            plan_jobs(&three, &c),
            vec![Job::Compact {
                day: 100,
                inputs: vec![1, 2, 3]
            }]
        );
        let mut mixed = vec![raw(1, 100), raw(2, 100)];
        mixed.push(BlockMeta {
            level: 1,
            ..raw(3, 100)
        });
        mixed.push(BlockMeta {
            level: 1,
            ..raw(4, 100)
        });
        assert!(
            plan_jobs(&mixed, &c).is_empty(),
            "two per level is below the fan-in"
        );
        mixed.push(BlockMeta {
            level: 1,
            ..raw(5, 100)
        });
        assert_eq!(
            plan_jobs(&mixed, &c),
            vec![Job::Compact {
                day: 100,
                inputs: vec![3, 4, 5]
            }]
        );
        let yesterday = vec![raw(5, 99)];
        assert_eq!(
            plan_jobs(&yesterday, &c),
            vec![Job::Close {
                day: 99,
                inputs: vec![5],
                old_rollups: vec![]
            }]
        );
        let mut done = vec![raw(5, 99)];
        for (i, r) in Resolution::ROLLUPS.iter().enumerate() {
            done.push(rollup(10 + i as u64, 99, *r, vec![5]));
        }
        assert!(plan_jobs(&done, &c).is_empty());
        done.push(raw(6, 99));
        assert!(
            matches!(&plan_jobs(&done, &c)[0], Job::Close { inputs, .. } if inputs == &vec![5, 6])
        );
    }

    #[test]
    fn retention_drops_whole_blocks_per_resolution() {
        let c = cfg(100);
        let mut blocks = vec![raw(1, 97), raw(2, 98), raw(3, 97)];
        for (i, r) in Resolution::ROLLUPS.iter().enumerate() {
            blocks.push(rollup(10 + i as u64, 97, *r, vec![1]));
            blocks.push(rollup(20 + i as u64, 89, *r, vec![]));
        }
        let dropped = plan_retention(&blocks, &c);
        // Day 97 raw ends 2 days + 2 h before now: expired. Block 3 is not rolled up: kept.
        assert!(dropped.contains(&1) && !dropped.contains(&3) && !dropped.contains(&2));
        // Day 89 ended 10 days + 2 h ago: 5 min rollups expired, 20 min kept.
        assert!(dropped.contains(&20) && !dropped.contains(&21));
        assert_eq!(dropped.len(), 2);
        // The uncovered late block is folded into day 97's rollups first.
        let jobs = plan_jobs(&blocks, &c);
        assert!(jobs.contains(&Job::Fold {
            day: 97,
            inputs: vec![3],
            rollups: vec![10, 11, 12, 13, 14]
        }));
    }
}
