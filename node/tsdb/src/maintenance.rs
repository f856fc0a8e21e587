//! Background maintenance: sealing frozen heads, merges (bounded per round), retention, and
//! finishing tenant drops. One round at a time (the maintenance lock); merges of a round run
//! in parallel, at most `merge_concurrency` of them.

use crate::committer::{Request, RotateOutcome};
use crate::error::{Error, Result};
use crate::merge::{rewrite_without_dropped, run_job};
use crate::plan::{PlanConfig, plan_jobs, plan_retention};
use crate::seal::seal_frozen;
use crate::shared::Shared;
use crate::store::Change;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Duration;

/// Most rotation attempts one flush makes while an earlier head is still being sealed.
pub const FLUSH_TRIES_MAX: usize = 100;

/// What one maintenance round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// A frozen head was sealed.
    pub sealed: bool,
    /// Merge jobs run this round.
    pub merged: usize,
    /// Merge jobs left for later rounds.
    pub backlog: usize,
    /// Blocks removed by retention.
    pub dropped: usize,
}

pub(crate) fn plan_config(shared: &Shared) -> PlanConfig {
    let c = &shared.config;
    PlanConfig {
        now_ms: (c.clock)(),
        retention: c.retention,
        merge_fanin: c.merge_fanin,
        day_close_grace_ms: c.day_close_grace_ms,
    }
}

fn rotate(tx: &SyncSender<Request>) -> Result<RotateOutcome> {
    let (reply, rx) = sync_channel(1);
    tx.send(Request::Rotate { reply })
        .map_err(|_| Error::Closed("wal writer stopped".into()))?;
    rx.recv()
        .map_err(|_| Error::Closed("wal writer stopped".into()))?
}

fn seal_locked(shared: &Shared) -> Result<bool> {
    let _guard = shared.maintenance.lock().expect("maintenance lock");
    seal_frozen(shared)
}

/// Freezes the live head and seals it (and any head frozen earlier).
pub(crate) fn flush(shared: &Shared, tx: &SyncSender<Request>) -> Result<()> {
    flush_tries(shared, tx, FLUSH_TRIES_MAX)
}

fn flush_tries(shared: &Shared, tx: &SyncSender<Request>, tries: usize) -> Result<()> {
    for _ in 0..tries {
        seal_locked(shared)?;
        match rotate(tx)? {
            RotateOutcome::Busy => continue,
            RotateOutcome::Empty | RotateOutcome::Frozen => {
                seal_locked(shared)?;
                return Ok(());
            }
        }
    }
    Err(Error::LimitExceeded {
        what: "flush attempts while a head was being sealed".into(),
        limit_name: "FLUSH_TRIES_MAX",
        limit: FLUSH_TRIES_MAX as u64,
    })
}

#[cfg(test)]
pub(crate) fn flush_with_tries(
    shared: &Shared,
    tx: &SyncSender<Request>,
    tries: usize,
) -> Result<()> {
    flush_tries(shared, tx, tries)
}

/// One round: seal, time-based rotation, merges, retention.
pub(crate) fn round(shared: &Shared, tx: &SyncSender<Request>) -> Result<MaintenanceReport> {
    let mut report = MaintenanceReport {
        sealed: seal_locked(shared)?,
        ..Default::default()
    };
    let first_write = shared.head.lock().expect("head lock").live.first_write_ms;
    let now = (shared.config.clock)();
    if first_write.is_some_and(|t| now - t >= shared.config.seal_interval_ms)
        && rotate(tx)? == RotateOutcome::Frozen
    {
        report.sealed |= seal_locked(shared)?;
    }
    let _guard = shared.maintenance.lock().expect("maintenance lock");
    let cfg = plan_config(shared);
    let jobs = {
        let store = shared.store.read().expect("store lock");
        plan_jobs(&store.manifest.blocks, &cfg)
    };
    let take = jobs.len().min(shared.config.merge_concurrency);
    report.merged = take;
    report.backlog = jobs.len() - take;
    shared
        .counters
        .merge_backlog
        .store(report.backlog as u64, Relaxed);
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs[..take]
            .iter()
            .map(|job| s.spawn(|| run_job(shared, job, &cfg)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("merge thread panicked"))
            .collect()
    });
    results.into_iter().collect::<Result<Vec<()>>>()?;
    report.dropped = apply_retention(shared, &cfg)?;
    Ok(report)
}

fn apply_retention(shared: &Shared, cfg: &PlanConfig) -> Result<usize> {
    let mut store = shared.store.write().expect("store lock");
    let remove = plan_retention(&store.manifest.blocks, cfg);
    let n = remove.len();
    if n > 0 {
        let (dir, blocks_dir) = (shared.config.dir.clone(), shared.blocks_dir());
        store.commit(
            &dir,
            &blocks_dir,
            Change {
                remove,
                ..Default::default()
            },
        )?;
        shared
            .counters
            .add(&shared.counters.blocks_dropped, n as u64);
    }
    Ok(n)
}

/// Rewrites every block holding a dropped tenant's series, then forgets the pending drop.
pub(crate) fn finish_drop(shared: &Shared, tenant_no: u32) -> Result<()> {
    let _guard = shared.maintenance.lock().expect("maintenance lock");
    let ids: Vec<u64> = {
        let store = shared.store.read().expect("store lock");
        store.manifest.blocks.iter().map(|b| b.id).collect()
    };
    for id in ids {
        rewrite_without_dropped(shared, id)?;
    }
    shared.index.end_drop(tenant_no)
}

/// The background thread: a round every `maintenance_interval_ms` or when woken.
pub(crate) fn run_loop(shared: &Shared, tx: &SyncSender<Request>) {
    let interval = Duration::from_millis(shared.config.maintenance_interval_ms);
    while !shared.stopping.load(Relaxed) {
        if let Err(e) = round(shared, tx) {
            tracing::error!(error = %e, "series maintenance round failed");
        }
        let (lock, cv) = &shared.wake;
        let woken = lock.lock().expect("wake lock");
        let (mut woken, _) = cv
            .wait_timeout_while(woken, interval, |w| !*w && !shared.stopping.load(Relaxed))
            .expect("wake lock");
        *woken = false;
    }
}
