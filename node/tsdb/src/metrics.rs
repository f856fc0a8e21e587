//! Counters the node exports: a live set of atomics and the plain snapshot handed out.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds (records per fdatasync) of the WAL batch-size histogram; the last is open.
pub const WAL_BATCH_BOUNDS: [u64; 6] = [1, 4, 16, 64, 256, u64::MAX];

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) points_ingested: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) wal_fsyncs: AtomicU64,
    pub(crate) wal_bytes: AtomicU64,
    pub(crate) wal_batches: [AtomicU64; 6],
    pub(crate) seals: AtomicU64,
    pub(crate) merges: AtomicU64,
    pub(crate) merge_backlog: AtomicU64,
    pub(crate) conflicts: AtomicU64,
    pub(crate) blocks_dropped: AtomicU64,
}

impl Counters {
    pub(crate) fn add(&self, c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }

    pub(crate) fn record_batch(&self, records: u64) {
        let i = WAL_BATCH_BOUNDS
            .iter()
            .position(|b| records <= *b)
            .expect("open bound");
        self.wal_batches[i].fetch_add(1, Relaxed);
    }
}

/// Blocks and bytes at one merge level (or of one rollup resolution).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelStats {
    pub blocks: u64,
    pub bytes: u64,
}

/// A point-in-time copy of the engine's counters and gauges.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Points acknowledged by `write` since open (counter).
    pub points_ingested: u64,
    /// Write calls acknowledged since open (counter).
    pub writes: u64,
    /// fdatasync calls on the WAL (counter).
    pub wal_fsyncs: u64,
    /// Bytes appended to the WAL (counter).
    pub wal_bytes: u64,
    /// Group-commit batches by records per fdatasync, bucketed by [`WAL_BATCH_BOUNDS`].
    pub wal_batch_sizes: [u64; 6],
    /// Series in the head (gauge).
    pub head_series: u64,
    /// Points in the head, including a head being sealed (gauge).
    pub head_points: u64,
    /// Bytes of the head, including a head being sealed (gauge).
    pub head_bytes: u64,
    /// Raw blocks and their bytes by merge level (index = level; gauge).
    pub raw_levels: Vec<LevelStats>,
    /// Rollup blocks and bytes by resolution, 5 min first (gauge).
    pub rollups: Vec<LevelStats>,
    /// Heads sealed into blocks (counter).
    pub seals: u64,
    /// Merges done (counter).
    pub merges: u64,
    /// Merge jobs waiting after the last maintenance round (gauge).
    pub merge_backlog: u64,
    /// Differing values for one (series, timestamp) settled by the rule (counter). Counted by
    /// the seal or merge that settles them, so one pair may count again in a later merge.
    pub conflicts: u64,
    /// Blocks removed by retention (counter).
    pub blocks_dropped: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            points_ingested: self.points_ingested.load(Relaxed),
            writes: self.writes.load(Relaxed),
            wal_fsyncs: self.wal_fsyncs.load(Relaxed),
            wal_bytes: self.wal_bytes.load(Relaxed),
            wal_batch_sizes: std::array::from_fn(|i| self.wal_batches[i].load(Relaxed)),
            seals: self.seals.load(Relaxed),
            merges: self.merges.load(Relaxed),
            merge_backlog: self.merge_backlog.load(Relaxed),
            conflicts: self.conflicts.load(Relaxed),
            blocks_dropped: self.blocks_dropped.load(Relaxed),
            ..Default::default()
        }
    }
}
