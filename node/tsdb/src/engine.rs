//! The engine handle: open (replay), write, list, query, drop a tenant, flush, close.

use crate::committer::{Committer, Request};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fsutil::{check_format, create_dir};
use crate::index::{SeriesIndex, tenant_of};
use crate::key::{SeriesFilter, SeriesKey, SeriesPoints};
use crate::maintenance::{self, MaintenanceReport};
use crate::metrics::{LevelStats, MetricsSnapshot};
use crate::plan::PlanConfig;
use crate::query::{self, Buckets};
use crate::rollup::Resolution;
use crate::shared::{HeadState, Shared};
use crate::store::Store;
use crate::wal::{
    Segment, WAL_RECORD_BYTES_MAX, WalRecord, WalSeries, list_segments, replay_segment,
};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Most points one `write` call may carry.
pub const WRITE_POINTS_MAX: usize = 1_000_000;
/// Most series one listing may return.
pub const SERIES_LIST_MAX: usize = 10_000;

/// What a write stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    pub series: usize,
    pub points: usize,
}

/// The series engine. `Send + Sync`; share it in an `Arc`. Calls block (the WAL fsync, disk
/// reads), so async callers use `spawn_blocking`.
pub struct Engine {
    shared: Arc<Shared>,
    tx: Mutex<Option<SyncSender<Request>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Engine {
    /// Opens (or creates) the engine in `config.dir`, replaying the WAL.
    pub fn open(config: Config) -> Result<Engine> {
        config.validate()?;
        create_dir(&config.dir)?;
        check_format(&config.dir)?;
        for sub in ["wal", "blocks", "index"] {
            create_dir(&config.dir.join(sub))?;
        }
        let index = SeriesIndex::open(&config.dir.join("index"))?;
        let store = Store::open(&config.dir, &config.dir.join("blocks"))?;
        let dropped = index.dropped_tenants()?;
        let shared = Arc::new(Shared {
            index,
            head: Mutex::new(HeadState::default()),
            head_cv: Default::default(),
            store: std::sync::RwLock::new(store),
            counters: Default::default(),
            last_ts: Default::default(),
            dropped: std::sync::RwLock::new(dropped),
            maintenance: Mutex::new(()),
            wake: Default::default(),
            stopping: Default::default(),
            config,
        });
        let next_seq = replay(&shared)?;
        load_last_timestamps(&shared);
        for t in shared.index.dropping()? {
            maintenance::finish_drop(&shared, t)?;
        }
        let segment = Segment::create(&shared.wal_dir(), next_seq)?;
        let (tx, rx) = crate::committer::queue();
        let committer = Committer {
            shared: Arc::clone(&shared),
            segment,
            failed: None,
        };
        let mut threads = vec![
            std::thread::Builder::new()
                .name("tsdb-wal".into())
                .spawn(move || committer.run(rx))
                .map_err(|e| Error::io("spawn", "tsdb-wal", e))?,
        ];
        if shared.config.background {
            let s = Arc::clone(&shared);
            let tx2 = tx.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("tsdb-maintenance".into())
                    .spawn(move || maintenance::run_loop(&s, &tx2))
                    .map_err(|e| Error::io("spawn", "tsdb-maintenance", e))?,
            );
        }
        let engine = Engine {
            shared,
            tx: Mutex::new(Some(tx)),
            threads: Mutex::new(threads),
        };
        if engine.shared.head_over_limit() {
            // A replayed log larger than the head bound is sealed before any new write.
            engine.flush()?;
        }
        Ok(engine)
    }

    fn sender(&self) -> Result<SyncSender<Request>> {
        self.tx
            .lock()
            .expect("tx lock")
            .clone()
            .ok_or_else(|| Error::Closed("closed".into()))
    }

    fn send(&self, req: Request) -> Result<()> {
        self.sender()?
            .send(req)
            .map_err(|_| Error::Closed("wal writer stopped".into()))
    }

    /// Stores a batch; returns once it is durable (fdatasync returned). Points may be in any
    /// order; a repeated (series, timestamp) is settled as `settle` documents.
    pub fn write(&self, batch: &[SeriesPoints]) -> Result<WriteOutcome> {
        let points: usize = batch.iter().map(|s| s.points.len()).sum();
        if points > WRITE_POINTS_MAX {
            return Err(Error::LimitExceeded {
                what: format!("write of {points} points"),
                limit_name: "WRITE_POINTS_MAX",
                limit: WRITE_POINTS_MAX as u64,
            });
        }
        for s in batch {
            s.validate()?;
        }
        let bytes: usize = batch.iter().map(SeriesPoints::wal_bytes_max).sum();
        if bytes > WAL_RECORD_BYTES_MAX {
            return Err(Error::LimitExceeded {
                what: format!("write of up to {bytes} bytes in the log"),
                limit_name: "WAL_RECORD_BYTES_MAX",
                limit: WAL_RECORD_BYTES_MAX as u64,
            });
        }
        let mut series = Vec::with_capacity(batch.len());
        for s in batch.iter().filter(|s| !s.points.is_empty()) {
            let id = self.shared.index.resolve(&s.key)?;
            series.push(WalSeries {
                id,
                key: s.key.clone(),
                points: s.points.clone(),
            });
        }
        if series.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let outcome = WriteOutcome {
            series: series.len(),
            points,
        };
        self.append(WalRecord::Write(series))?;
        Ok(outcome)
    }

    fn append(&self, record: WalRecord) -> Result<()> {
        let frame = record.frame()?;
        let (reply, rx) = sync_channel(1);
        self.send(Request::Append {
            record,
            frame,
            reply,
        })?;
        rx.recv()
            .map_err(|_| Error::Closed("wal writer stopped".into()))?
    }

    /// Series of `tenant` matching `filter`, in key order, after `after`, at most `limit`.
    pub fn series(
        &self,
        tenant: &str,
        filter: &SeriesFilter,
        limit: usize,
        after: Option<&SeriesKey>,
    ) -> Result<Vec<SeriesKey>> {
        if limit == 0 || limit > SERIES_LIST_MAX {
            return Err(Error::LimitExceeded {
                what: format!("limit {limit} (must be at least 1)"),
                limit_name: "SERIES_LIST_MAX",
                limit: SERIES_LIST_MAX as u64,
            });
        }
        let last = self.shared.last_ts.lock().expect("last_ts lock");
        let keep = |id: u64| match filter.active_since_ms {
            None => true,
            Some(since) => last.get(&id).is_some_and(|t| *t >= since),
        };
        self.shared.index.list(tenant, filter, after, keep, limit)
    }

    /// Raw points of a series in `[from_ms, to_ms)`, earliest first, at most `limit`
    /// (at most `RAW_POINTS_MAX`); continue from the last timestamp + 1 for more.
    pub fn raw(
        &self,
        key: &SeriesKey,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>> {
        match self.shared.index.lookup(key)? {
            Some(id) => query::raw(&self.shared, id, from_ms, to_ms, limit),
            None => Ok(Vec::new()),
        }
    }

    /// Buckets of `period_ms` (epoch aligned) over `[from_ms, to_ms)`, from the finest
    /// resolution still kept for `from_ms` whose width divides the period. From a rollup
    /// resolution, `from_ms`/`to_ms` are widened to whole rollup buckets.
    pub fn buckets(
        &self,
        key: &SeriesKey,
        from_ms: i64,
        to_ms: i64,
        period_ms: i64,
    ) -> Result<Buckets> {
        let id = self.shared.index.lookup(key)?;
        query::buckets(
            &self.shared,
            id,
            from_ms,
            to_ms,
            period_ms,
            &self.plan_config(),
        )
    }

    fn plan_config(&self) -> PlanConfig {
        maintenance::plan_config(&self.shared)
    }

    /// Removes a tenant: its series from the index, head and every block. Returns whether the
    /// tenant existed. Durable when it returns.
    pub fn drop_tenant(&self, tenant: &str) -> Result<bool> {
        let Some(t) = self.shared.index.begin_drop(tenant)? else {
            return Ok(false);
        };
        self.shared.dropped.write().expect("dropped lock").insert(t);
        self.append(WalRecord::DropTenant(t))?;
        self.shared
            .last_ts
            .lock()
            .expect("last_ts lock")
            .retain(|id, _| tenant_of(*id) != t);
        maintenance::finish_drop(&self.shared, t)?;
        Ok(true)
    }

    /// Seals the head into blocks now (the WAL it covered is then deleted).
    pub fn flush(&self) -> Result<()> {
        maintenance::flush(&self.shared, &self.sender()?)
    }

    /// Runs one maintenance round now: seal a frozen head, planned merges (at most
    /// `merge_concurrency`), retention.
    pub fn maintain(&self) -> Result<MaintenanceReport> {
        maintenance::round(&self.shared, &self.sender()?)
    }

    /// Counters and gauges for `/metrics`.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut m = self.shared.counters.snapshot();
        {
            let head = self.shared.head.lock().expect("head lock");
            m.head_series = head.live.series_count() as u64;
            let frozen = head.frozen.as_ref();
            m.head_points = head.live.points() + frozen.map_or(0, |f| f.points());
            m.head_bytes = (head.live.bytes() + frozen.map_or(0, |f| f.bytes())) as u64;
        }
        let store = self.shared.store.read().expect("store lock");
        m.rollups = vec![LevelStats::default(); Resolution::ROLLUPS.len()];
        for b in &store.manifest.blocks {
            let bytes = store.readers[&b.id].bytes;
            let slot = if b.resolution == Resolution::Raw {
                let level = b.level as usize;
                if m.raw_levels.len() <= level {
                    m.raw_levels.resize(level + 1, LevelStats::default());
                }
                &mut m.raw_levels[level]
            } else {
                &mut m.rollups[b.resolution.code() as usize - 1]
            };
            slot.blocks += 1;
            slot.bytes += bytes;
        }
        m
    }

    /// Seals the head and stops the background threads.
    pub fn close(self) -> Result<()> {
        let res = self.flush();
        self.stop();
        res
    }

    fn stop(&self) {
        self.shared.stopping.store(true, Relaxed);
        self.shared.wake_maintenance();
        self.shared.head_cv.notify_all();
        self.tx.lock().expect("tx lock").take();
        for t in self.threads.lock().expect("threads lock").drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Replays WAL segments into the head; returns the number for the next segment.
fn replay(shared: &Shared) -> Result<u64> {
    let first = shared
        .store
        .read()
        .expect("store lock")
        .manifest
        .wal_first_segment;
    let segs: Vec<u64> = list_segments(&shared.wal_dir())?;
    let live: Vec<u64> = segs.iter().copied().filter(|s| *s >= first).collect();
    if segs.first().is_some_and(|s| *s < first) {
        // A crash after the manifest moved past them but before they were deleted.
        crate::seal::delete_segments_below(shared, first)?;
    }
    let now = (shared.config.clock)();
    let mut head = shared.head.lock().expect("head lock");
    for (i, seq) in live.iter().enumerate() {
        for record in replay_segment(&shared.wal_dir(), *seq, i + 1 == live.len())? {
            match record {
                WalRecord::Write(series) => {
                    let mut kept = Vec::with_capacity(series.len());
                    for mut s in series {
                        if let Some(id) = shared.index.ensure(&s.key, s.id)? {
                            s.id = id;
                            kept.push(s);
                        }
                    }
                    let batch: Vec<_> = kept.iter().map(|s| (s.id, s)).collect();
                    head.live.apply(&batch, now);
                    shared.note_last_timestamps(&kept);
                }
                WalRecord::DropTenant(t) => head.live.purge(|id| tenant_of(id) == t),
            }
        }
    }
    Ok(segs.last().map_or(first, |s| (s + 1).max(first)))
}

fn load_last_timestamps(shared: &Shared) {
    let store = shared.store.read().expect("store lock");
    let mut last = shared.last_ts.lock().expect("last_ts lock");
    for r in store.readers.values() {
        for e in r.entries() {
            let v = last.entry(e.series).or_insert(e.max_ts);
            *v = (*v).max(e.max_ts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::SeriesKey;

    #[test]
    fn flush_gives_up_after_its_tries_naming_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        config.background = false;
        let engine = Engine::open(config).unwrap();
        let key = SeriesKey::new("t", "n", "m");
        engine
            .write(&[SeriesPoints {
                key,
                points: vec![(1, 1.0)],
            }])
            .unwrap();
        let tx = engine.sender().unwrap();
        let err = maintenance::flush_with_tries(&engine.shared, &tx, 0).unwrap_err();
        assert!(matches!(
            err,
            Error::LimitExceeded {
                limit_name: "FLUSH_TRIES_MAX",
                ..
            }
        ));
        maintenance::flush_with_tries(&engine.shared, &tx, 1).unwrap();
        assert_eq!(engine.metrics().seals, 1);
    }
}
