//! Pure planning of background work from the block list and the time: which days to merge,
//! close (merge + roll up), fold into rollups, and which blocks retention drops.

use crate::config::{MERGE_INPUTS_MAX, Retention};
use crate::head::DAY_MS;
use crate::manifest::BlockMeta;
use crate::rollup::Resolution;
use std::collections::{BTreeMap, BTreeSet};

/// One unit of background work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Job {
    /// Merge raw blocks of one level of a day that is still open (no rollups yet).
    Compact { day: i64, inputs: Vec<u64> },
    /// Merge every raw block of a closed day into one and compute its rollups from it.
    Close {
        day: i64,
        inputs: Vec<u64>,
        old_rollups: Vec<u64>,
    },
    /// Raw blocks not yet rolled up of a day whose raw data is incomplete (expired, or rolled
    /// up into a span): add their buckets to the day's own rollup blocks.
    Fold {
        day: i64,
        inputs: Vec<u64>,
        rollups: Vec<u64>,
    },
    /// Merge rollup blocks of one resolution into one block spanning `days` days.
    Span {
        res: Resolution,
        start: i64,
        days: u32,
        inputs: Vec<u64>,
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
    /// Rollup blocks overlapping the day: (resolution, id, covers this day only).
    rollups: Vec<(Resolution, u64, bool)>,
    covered: BTreeSet<u64>,
}

fn by_day(blocks: &[BlockMeta]) -> BTreeMap<i64, Day> {
    let mut days: BTreeMap<i64, Day> = BTreeMap::new();
    for b in blocks {
        if b.resolution == Resolution::Raw {
            let d = days.entry(b.day).or_default();
            d.raw.push(b.id);
            d.levels.entry(b.level).or_default().push(b.id);
            continue;
        }
        for day in b.day..=b.last_day() {
            let d = days.entry(day).or_default();
            d.rollups.push((b.resolution, b.id, b.days == 1));
            d.covered.extend(b.sources.iter().copied());
        }
    }
    days
}

/// Jobs to run, oldest first; no two jobs touch the same block.
pub(crate) fn plan_jobs(blocks: &[BlockMeta], cfg: &PlanConfig) -> Vec<Job> {
    let days = by_day(blocks);
    let mut jobs: Vec<Job> = days
        .iter()
        .filter_map(|(day, d)| day_job(*day, d, cfg))
        .collect();
    jobs.extend(span_jobs(blocks, &days, cfg));
    jobs
}

fn day_job(day: i64, d: &Day, cfg: &PlanConfig) -> Option<Job> {
    let mut raw = d.raw.clone();
    raw.sort_unstable();
    raw.truncate(MERGE_INPUTS_MAX);
    if !cfg.closed(day) {
        // Tiered: merge `merge_fanin` blocks of one level, so a block is rewritten about
        // log_fanin(blocks per day) times before the day closes, not once per merge.
        let same = d.levels.values().find(|ids| ids.len() >= cfg.merge_fanin)?;
        let mut inputs = same.clone();
        inputs.sort_unstable();
        inputs.truncate(MERGE_INPUTS_MAX);
        return Some(Job::Compact { day, inputs });
    }
    let own: Vec<u64> = d.rollups.iter().filter(|r| r.2).map(|r| r.1).collect();
    let uncovered: Vec<u64> = raw
        .iter()
        .copied()
        .filter(|id| !d.covered.contains(id))
        .collect();
    // Raw is complete when every raw block ever rolled up for the day is still there.
    let complete = d.covered.iter().all(|id| d.raw.contains(id));
    if cfg.expired(day, Resolution::Raw) || !complete {
        return (!uncovered.is_empty()).then_some(Job::Fold {
            day,
            inputs: uncovered,
            rollups: own,
        });
    }
    let kept = Resolution::ROLLUPS
        .iter()
        .filter(|r| !cfg.expired(day, **r))
        .count();
    let have = d.rollups.iter().filter(|r| !cfg.expired(day, r.0)).count();
    let stale = !uncovered.is_empty() || have < kept || d.covered.len() != d.raw.len();
    if d.raw.len() > MERGE_INPUTS_MAX {
        Some(Job::Compact { day, inputs: raw })
    } else if !d.raw.is_empty() && (d.raw.len() > 1 || stale) {
        Some(Job::Close {
            day,
            inputs: raw,
            old_rollups: own,
        })
    } else {
        None
    }
}

/// Rollup blocks of days whose raw data is gone are merged into spans of
/// `Resolution::span_days` days (aligned), so long retention does not mean many small files.
fn span_jobs(blocks: &[BlockMeta], days: &BTreeMap<i64, Day>, cfg: &PlanConfig) -> Vec<Job> {
    let mut groups: BTreeMap<(Resolution, i64), Vec<u64>> = BTreeMap::new();
    for b in blocks.iter().filter(|b| b.resolution != Resolution::Raw) {
        let span = i64::from(b.resolution.span_days());
        if span > 1 {
            groups
                .entry((b.resolution, b.day.div_euclid(span) * span))
                .or_default()
                .push(b.id);
        }
    }
    let mut jobs = Vec::new();
    for ((res, start), mut inputs) in groups {
        let span = res.span_days();
        let end = start + i64::from(span) - 1;
        let quiet = (start..=end).all(|d| days.get(&d).is_none_or(|d| d.raw.is_empty()));
        if inputs.len() < 2 || !quiet || !cfg.expired(end, Resolution::Raw) || cfg.expired(end, res)
        {
            continue;
        }
        inputs.sort_unstable();
        inputs.truncate(MERGE_INPUTS_MAX);
        jobs.push(Job::Span {
            res,
            start,
            days: span,
            inputs,
        });
    }
    jobs
}

/// Blocks whose newest day is past their resolution's retention. Raw blocks go only once
/// rollups cover them (or no rollup of their day is kept any more), so no point is lost
/// before it is rolled up.
pub(crate) fn plan_retention(blocks: &[BlockMeta], cfg: &PlanConfig) -> Vec<u64> {
    let days = by_day(blocks);
    blocks
        .iter()
        .filter(|b| cfg.expired(b.last_day(), b.resolution))
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
            days: 1,
            id,
            resolution: Resolution::Raw,
            day,
            level: 0,
            sources: vec![],
        }
    }

    fn rollup(id: u64, day: i64, res: Resolution, sources: Vec<u64>) -> BlockMeta {
        BlockMeta {
            days: 1,
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
    fn a_merge_reads_at_most_merge_inputs_max_blocks() {
        let c = cfg(100);
        let many: Vec<BlockMeta> = (0..MERGE_INPUTS_MAX as u64 + 6)
            .map(|i| raw(i, 99))
            .collect();
        match &plan_jobs(&many, &c)[..] {
            [Job::Compact { inputs, .. }] => assert_eq!(inputs.len(), MERGE_INPUTS_MAX),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rollups_of_quiet_old_days_merge_into_spans() {
        let c = cfg(20_010);
        let mut blocks = vec![
            rollup(1, 20_000, Resolution::Min20, vec![]),
            rollup(2, 20_001, Resolution::Min20, vec![]),
            rollup(3, 20_004, Resolution::Min20, vec![]),
            rollup(4, 20_000, Resolution::Min5, vec![]),
            rollup(5, 20_001, Resolution::Min5, vec![]),
        ];
        let span = Job::Span {
            res: Resolution::Min20,
            start: 20_000,
            days: 4,
            inputs: vec![1, 2],
        };
        assert_eq!(plan_jobs(&blocks, &c), vec![span]);
        // A raw block still in the span's days (a fold to come) holds the span back.
        blocks.push(raw(9, 20_003));
        assert!(
            !plan_jobs(&blocks, &c)
                .iter()
                .any(|j| matches!(j, Job::Span { .. }))
        );
        // A span block is dropped only once its newest day is past retention.
        let old = BlockMeta {
            days: 4,
            ..rollup(7, 19_980, Resolution::Min20, vec![])
        };
        assert!(!plan_retention(std::slice::from_ref(&old), &cfg(20_003)).contains(&7));
        assert!(plan_retention(&[old], &cfg(20_004)).contains(&7));
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
