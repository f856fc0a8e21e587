//! State shared by the engine handle, the writer thread and the maintenance thread.

use crate::config::Config;
use crate::head::Head;
use crate::index::{SeriesIndex, tenant_of};
use crate::metrics::Counters;
use crate::store::Store;
use crate::wal::WalSeries;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, RwLock};

/// The live head and, while it is being sealed, the frozen one.
#[derive(Default)]
pub(crate) struct HeadState {
    pub(crate) live: Head,
    pub(crate) frozen: Option<Arc<Head>>,
    /// First WAL segment not covered by the frozen head.
    pub(crate) frozen_upto: u64,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) index: SeriesIndex,
    pub(crate) head: Mutex<HeadState>,
    /// Signalled when a frozen head has been sealed.
    pub(crate) head_cv: Condvar,
    pub(crate) store: RwLock<Store>,
    pub(crate) counters: Counters,
    /// Latest timestamp seen per series (for "series active since").
    pub(crate) last_ts: Mutex<HashMap<u64, i64>>,
    /// Tenant numbers ever dropped: their ids are left out of seals and merges.
    pub(crate) dropped: RwLock<HashSet<u32>>,
    /// Held while sealing, merging, applying retention or rewriting for a dropped tenant.
    pub(crate) maintenance: Mutex<()>,
    /// Wakes the maintenance thread early (a head was frozen, or the engine is stopping).
    pub(crate) wake: (Mutex<bool>, Condvar),
    pub(crate) stopping: AtomicBool,
}

impl Shared {
    pub(crate) fn wal_dir(&self) -> PathBuf {
        self.config.dir.join("wal")
    }

    pub(crate) fn blocks_dir(&self) -> PathBuf {
        self.config.dir.join("blocks")
    }

    pub(crate) fn head_over_limit(&self) -> bool {
        self.head.lock().expect("head lock").live.bytes() >= self.config.head_bytes_max
    }

    pub(crate) fn wake_maintenance(&self) {
        let (lock, cv) = &self.wake;
        *lock.lock().expect("wake lock") = true;
        cv.notify_all();
    }

    pub(crate) fn note_last_timestamps(&self, series: &[WalSeries]) {
        let mut last = self.last_ts.lock().expect("last_ts lock");
        for s in series {
            if let Some(max) = s.points.iter().map(|p| p.0).max() {
                let e = last.entry(s.id).or_insert(max);
                *e = (*e).max(max);
            }
        }
    }

    pub(crate) fn is_dropped(&self, id: u64) -> bool {
        self.dropped
            .read()
            .expect("dropped lock")
            .contains(&tenant_of(id))
    }
}
