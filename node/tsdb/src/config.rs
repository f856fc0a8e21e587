//! Engine configuration: directory, bounds, retention per resolution, and the clock.

use crate::error::{Error, Result};
use crate::query::SCAN_POINTS_MAX;
use crate::rollup::Resolution;
use std::path::PathBuf;
use std::sync::Arc;

/// Upper bound an operator may set for `head_bytes_max` (4 GiB).
pub const HEAD_BYTES_MAX_LIMIT: usize = 4 << 30;
/// Most merges that run at once, whatever the config says.
pub const MERGE_CONCURRENCY_MAX: usize = 8;
/// Most blocks one merge reads.
pub const MERGE_INPUTS_MAX: usize = 64;
const DAY_MS: i64 = 86_400_000;

/// Milliseconds since the Unix epoch; injected so tests control time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    })
}

/// How long each resolution is kept, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw_ms: i64,
    pub min5_ms: i64,
    pub min20_ms: i64,
    pub min60_ms: i64,
    pub min240_ms: i64,
    pub min1440_ms: i64,
}

impl Default for Retention {
    /// Raw 2 d, 5 min 10 d, 20 min 20 d, 60 min 155 d, 240 min 300 d, 1440 min 5 y.
    fn default() -> Self {
        Retention {
            raw_ms: 2 * DAY_MS,
            min5_ms: 10 * DAY_MS,
            min20_ms: 20 * DAY_MS,
            min60_ms: 155 * DAY_MS,
            min240_ms: 300 * DAY_MS,
            min1440_ms: 5 * 365 * DAY_MS,
        }
    }
}

impl Retention {
    /// Retention of one resolution.
    pub fn of(&self, r: Resolution) -> i64 {
        match r {
            Resolution::Raw => self.raw_ms,
            Resolution::Min5 => self.min5_ms,
            Resolution::Min20 => self.min20_ms,
            Resolution::Min60 => self.min60_ms,
            Resolution::Min240 => self.min240_ms,
            Resolution::Min1440 => self.min1440_ms,
        }
    }
}

/// Everything the engine needs; build with [`Config::new`] and adjust fields.
#[derive(Clone)]
pub struct Config {
    /// Data directory (created when missing).
    pub dir: PathBuf,
    /// Head size in bytes that triggers a seal; writes wait while a full head is being sealed.
    /// Default 256 MiB, at most [`HEAD_BYTES_MAX_LIMIT`].
    pub head_bytes_max: usize,
    /// Age (ms of clock time since its first write) at which a head is sealed. Default 15 min.
    pub seal_interval_ms: i64,
    /// Raw blocks of one open day that trigger a merge of that day. Default 8, at least 2.
    pub merge_fanin: usize,
    /// Merges run at once per maintenance round. Default 2, 1..=[`MERGE_CONCURRENCY_MAX`].
    pub merge_concurrency: usize,
    /// Time after a UTC day ends before it is closed: merged to one block and rolled up.
    /// Default 1 h.
    pub day_close_grace_ms: i64,
    /// Retention per resolution.
    pub retention: Retention,
    /// Run seals, merges and retention on a background thread. Default true; tests turn it
    /// off and call `Engine::flush` / `Engine::maintain`. Without it, the caller must call
    /// those: once a second full head waits for the first to be sealed, writes stall.
    pub background: bool,
    /// Pause between background maintenance rounds, ms. Default 1000.
    pub maintenance_interval_ms: u64,
    /// Raw points one query may read before it is refused. Default and at most
    /// `SCAN_POINTS_MAX` (20,000,000).
    pub scan_points_max: usize,
    /// The clock (ms since epoch).
    pub clock: Clock,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("dir", &self.dir)
            .field("head_bytes_max", &self.head_bytes_max)
            .field("merge_concurrency", &self.merge_concurrency)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults for a data directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Config {
            dir: dir.into(),
            head_bytes_max: 256 << 20,
            seal_interval_ms: 15 * 60_000,
            merge_fanin: 8,
            merge_concurrency: 2,
            day_close_grace_ms: 3_600_000,
            retention: Retention::default(),
            background: true,
            maintenance_interval_ms: 1000,
            scan_points_max: SCAN_POINTS_MAX,
            clock: system_clock(),
        }
    }

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<()> {
        if !(1024..=HEAD_BYTES_MAX_LIMIT).contains(&self.head_bytes_max) {
            return Err(Error::invalid(
                "head_bytes_max",
                format!(
                    "{} not in 1024..={HEAD_BYTES_MAX_LIMIT}",
                    self.head_bytes_max
                ),
            ));
        }
        if !(1..=MERGE_CONCURRENCY_MAX).contains(&self.merge_concurrency) {
            return Err(Error::invalid(
                "merge_concurrency",
                format!(
                    "{} not in 1..={MERGE_CONCURRENCY_MAX}",
                    self.merge_concurrency
                ),
            ));
        }
        if !(2..=MERGE_INPUTS_MAX).contains(&self.merge_fanin) {
            return Err(Error::invalid(
                "merge_fanin",
                format!("not in 2..={MERGE_INPUTS_MAX}"),
            ));
        }
        if !(1..=SCAN_POINTS_MAX).contains(&self.scan_points_max) {
            return Err(Error::invalid(
                "scan_points_max",
                format!("{} not in 1..={SCAN_POINTS_MAX}", self.scan_points_max),
            ));
        }
        if self.seal_interval_ms <= 0 || self.day_close_grace_ms < 0 {
            return Err(Error::invalid("seal_interval_ms", "must be positive"));
        }
        for res in Resolution::ALL {
            if self.retention.of(res) < DAY_MS {
                return Err(Error::invalid(
                    "retention",
                    format!("{res:?} below one day"),
                ));
            }
        }
        Ok(())
    }
}
