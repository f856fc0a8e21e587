//! The configuration state machine: the whole `ConfigState` in memory, persisted to sled.
//!
//! Apply changes the in-memory state only. A persister thread wakes when something was applied,
//! gathers for `PERSIST_LINGER`, then takes every record changed since its last write and writes
//! them as one atomic sled batch together with `last_applied` and the membership, read under the
//! same lock. So sled's records and `last_applied` always agree and no entry is applied twice;
//! sled may lag the memory by a moment, and what a crash loses of it is re-applied from the
//! durable Raft log on restart (the log is only purged below a snapshot, and a snapshot newer
//! than sled's state replaces it on open). A sled write costs about as much per key as a whole
//! Raft round of a write here, so one batch per linger instead of one per apply matters.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use openraft::entry::RaftEntry;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};

use crate::error::{Error, Result};
use crate::model::{self, CommandResult, ConfigState, Image};
use crate::snapshot_file::{self, StoredSnapshot};
use crate::types::{LogId, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig};

const KEY_APPLIED: &str = "_applied";
const KEY_MEMBERSHIP: &str = "_membership";
/// How long the persister gathers applied batches before writing them as one sled batch.
const PERSIST_LINGER: Duration = Duration::from_millis(50);
/// Wake-ups and barriers queued for the persister (a full queue already holds a wake-up).
const PERSIST_QUEUE_MAX: usize = 64;

#[derive(Clone, Default)]
struct Applied {
    log_id: Option<LogId>,
    membership: StoredMembership,
}

/// The state and the applied position it reflects, always changed together.
struct Memory {
    state: ConfigState,
    applied: Applied,
}

/// What the state machine and its persister thread share.
struct Core {
    memory: RwLock<Memory>,
    /// Held across taking changes and writing them, so sled writes keep apply order.
    io: Mutex<()>,
    tree: sled::Tree,
    /// Set when a sled write failed; apply then fails too.
    failed: Mutex<Option<String>>,
    stats: PersistStats,
}

/// Counters of the persister, for `/metrics` and tests.
#[derive(Debug, Default)]
pub struct PersistStats {
    /// Sled batches written.
    pub batches: AtomicU64,
    /// Records (changed keys, plus `last_applied` and the membership) written.
    pub records: AtomicU64,
}

/// Work for the persister thread.
enum Persist {
    /// Something was applied.
    Wake,
    /// Answered once everything applied before it is in sled.
    Barrier(SyncSender<Result<()>>),
}

struct Shared {
    core: Arc<Core>,
    db: sled::Db,
    dir: PathBuf,
    /// Serialises snapshot file IO; holds the log id of the snapshot file on disk.
    snapshot_io: Mutex<Option<LogId>>,
    /// The persister's queue (None once dropping) and thread.
    persist: Mutex<Option<SyncSender<Persist>>>,
    persister: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Shared {
    /// Lets the persister write what is left and waits for it, so the sled files are released
    /// when the state machine is gone.
    fn drop(&mut self) {
        drop(self.persist.get_mut().expect("persist lock").take());
        if let Some(worker) = self.persister.get_mut().expect("persister lock").take() {
            let _ = worker.join();
        }
    }
}

/// The state machine handed to openraft.
#[derive(Clone)]
pub struct StateMachine {
    shared: Arc<Shared>,
}

/// Read access to the state for the rest of the node.
#[derive(Clone)]
pub struct StateView {
    shared: Arc<Shared>,
}

impl StateView {
    /// Runs `f` on the current state under a read lock (keep `f` short and non-blocking).
    pub fn read<T>(&self, f: impl FnOnce(&ConfigState) -> T) -> T {
        f(&self.shared.core.read().state)
    }

    /// The persister's counters.
    pub fn persist_stats(&self) -> &PersistStats {
        &self.shared.core.stats
    }

    pub fn applied_index(&self) -> u64 {
        self.shared.core.applied().log_id.map_or(0, |l| l.index())
    }

    /// (applied index, digest of the state at that index), read together.
    pub fn digest(&self) -> (u64, String) {
        let memory = self.shared.core.read();
        let index = memory.applied.log_id.map_or(0, |l| l.index());
        (index, memory.state.digest())
    }
}

impl Core {
    fn read(&self) -> RwLockReadGuard<'_, Memory> {
        self.memory.read().expect("state lock")
    }

    fn applied(&self) -> Applied {
        self.read().applied.clone()
    }

    fn check(&self) -> Result<()> {
        match self.failed.lock().expect("failed lock").clone() {
            Some(e) => Err(Error::Persist(e)),
            None => Ok(()),
        }
    }

    /// Writes every record changed since the last call, with the applied position, as one
    /// sled batch. `written` is the applied position sled holds; nothing new, nothing written.
    fn persist(&self, written: &mut Option<LogId>) -> Result<()> {
        self.check()?;
        let _io = self.io.lock().expect("io lock");
        let (changes, applied) = {
            let mut memory = self.memory.write().expect("state lock");
            (memory.state.take_changes(), memory.applied.clone())
        };
        if changes.is_empty() && applied.log_id == *written {
            return Ok(());
        }
        let records = changes.len() as u64 + 2;
        let mut batch = sled::Batch::default();
        write_changes(&mut batch, changes, &applied)?;
        if let Err(e) = self.tree.apply_batch(batch) {
            // Later batches over a lost one would record a `last_applied` whose changes are
            // not all there: stop here; apply fails from now on.
            tracing::error!(error = %e, "writing the state machine to sled failed");
            *self.failed.lock().expect("failed lock") = Some(e.to_string());
            return Err(e.into());
        }
        *written = applied.log_id;
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats.records.fetch_add(records, Ordering::Relaxed);
        Ok(())
    }

    /// Replaces the whole state (snapshot install), persisting it in one sled batch.
    fn replace(&self, meta: &SnapshotMeta, image: Image) -> Result<()> {
        let _io = self.io.lock().expect("io lock");
        let mut state = ConfigState::from_image(image);
        let mut batch = sled::Batch::default();
        for key in self.tree.iter().keys() {
            batch.remove(key?);
        }
        state.mark_all_dirty();
        let applied = Applied {
            log_id: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        write_changes(&mut batch, state.take_changes(), &applied)?;
        self.tree.apply_batch(batch)?;
        *self.memory.write().expect("state lock") = Memory { state, applied };
        Ok(())
    }
}

fn write_changes(
    batch: &mut sled::Batch,
    changes: impl IntoIterator<Item = (String, Option<Vec<u8>>)>,
    applied: &Applied,
) -> Result<()> {
    for (k, v) in changes {
        match v {
            Some(v) => batch.insert(k.as_bytes(), v),
            None => batch.remove(k.as_bytes()),
        }
    }
    batch.insert(KEY_APPLIED, serde_json::to_vec(&applied.log_id)?);
    batch.insert(KEY_MEMBERSHIP, serde_json::to_vec(&applied.membership)?);
    Ok(())
}

/// The persister thread: after a wake-up, gathers for `PERSIST_LINGER` (a barrier cuts that
/// short), writes, answers the barriers; until the queue closes (then writes what is left) or a
/// write fails.
fn persister(core: &Core, rx: &Receiver<Persist>, mut written: Option<LogId>) {
    while let Ok(first) = rx.recv() {
        let mut barriers = Vec::new();
        if let Persist::Barrier(done) = first {
            barriers.push(done);
        }
        let until = Instant::now() + PERSIST_LINGER;
        while barriers.is_empty() {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(Persist::Wake) => {}
                Ok(Persist::Barrier(done)) => barriers.push(done),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let result = core.persist(&mut written);
        for done in barriers {
            let answer = result.as_ref().map_err(|e| Error::Persist(e.to_string()));
            let _ = done.send(answer.copied());
        }
        if result.is_err() {
            return;
        }
    }
    let _ = core.persist(&mut written);
}

impl Shared {
    fn send(&self, work: Persist, wait: bool) -> Result<()> {
        self.core.check()?;
        let tx = self.persist.lock().expect("persist lock").clone();
        let stopped = || Error::Persist("the persister has stopped".into());
        let tx = tx.ok_or_else(stopped)?;
        match (wait, tx.try_send(work)) {
            (_, Ok(())) | (false, Err(TrySendError::Full(_))) => Ok(()),
            (true, Err(TrySendError::Full(work))) => tx.send(work).map_err(|_| stopped()),
            (_, Err(TrySendError::Disconnected(_))) => Err(stopped()),
        }
    }

    /// Waits until everything applied so far is written to sled.
    fn persisted(&self) -> Result<()> {
        let (tx, rx) = sync_channel(1);
        self.send(Persist::Barrier(tx), true)?;
        rx.recv()
            .map_err(|_| Error::Persist("the persister has stopped".into()))?
    }
}

impl StateMachine {
    /// Opens the state machine in `dir`, finishing a snapshot install a crash interrupted.
    pub fn open(dir: &Path) -> Result<Self> {
        crate::wal::create_private_dir(dir)?;
        let db = sled::Config::new()
            .path(dir.join("sled"))
            .mode(sled::Mode::LowSpace)
            .open()?;
        let tree = db.open_tree("config")?;
        let mut applied = Applied::default();
        let mut pairs = Vec::new();
        for kv in tree.iter() {
            let (k, v) = kv?;
            match &*k {
                b"_applied" => applied.log_id = serde_json::from_slice(&v)?,
                b"_membership" => applied.membership = serde_json::from_slice(&v)?,
                _ => pairs.push((String::from_utf8_lossy(&k).into_owned(), v.to_vec())),
            }
        }
        let state = ConfigState::load(pairs)?;
        let written = applied.log_id;
        let core = Arc::new(Core {
            memory: RwLock::new(Memory { state, applied }),
            io: Mutex::new(()),
            tree,
            failed: Mutex::new(None),
            stats: PersistStats::default(),
        });
        // A snapshot newer than sled's state: a crash interrupted its install, or the log was
        // purged past what the persister had written.
        let stored = snapshot_file::read(dir)?;
        let on_disk = stored.as_ref().and_then(|s| s.meta.last_log_id);
        if let Some(snap) = stored
            && snap.meta.last_log_id > written
        {
            tracing::info!(snapshot = ?snap.meta.last_log_id, "state older than the snapshot; installing the snapshot");
            core.replace(&snap.meta, serde_json::from_slice(&snap.data)?)?;
        }
        let (tx, rx) = sync_channel(PERSIST_QUEUE_MAX);
        let (worker_core, written) = (core.clone(), core.applied().log_id);
        let worker = std::thread::Builder::new()
            .name("sm-persist".into())
            .spawn(move || persister(&worker_core, &rx, written))?;
        let shared = Shared {
            core,
            db,
            dir: dir.to_path_buf(),
            snapshot_io: Mutex::new(on_disk),
            persist: Mutex::new(Some(tx)),
            persister: Mutex::new(Some(worker)),
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    pub fn view(&self) -> StateView {
        StateView {
            shared: self.shared.clone(),
        }
    }

    /// Writes everything applied so far to sled and sled's buffers out (used at shutdown).
    pub fn flush(&self) -> Result<()> {
        self.shared.persisted()?;
        self.shared.db.flush()?;
        Ok(())
    }

    fn apply_batch(&self, entries: Vec<crate::types::Entry>) -> Result<Vec<CommandResult>> {
        self.shared.core.check()?;
        let mut results = Vec::with_capacity(entries.len());
        {
            let mut memory = self.shared.core.memory.write().expect("state lock");
            let Memory { state, applied } = &mut *memory;
            for entry in entries {
                let log_id = entry.log_id();
                let result = match &entry.payload {
                    EntryPayload::Blank => CommandResult::Done,
                    EntryPayload::Normal(cmd) => model::apply(state, log_id.index(), cmd),
                    EntryPayload::Membership(m) => {
                        applied.membership = StoredMembership::new(Some(log_id), m.clone());
                        CommandResult::Done
                    }
                };
                applied.log_id = Some(log_id);
                results.push(result);
            }
        }
        self.shared.send(Persist::Wake, false)?;
        Ok(results)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        let a = self.shared.core.applied();
        Ok((a.log_id, a.membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: futures::Stream<Item = io::Result<openraft::storage::EntryResponder<TypeConfig>>>
            + Unpin
            + OptionalSend,
    {
        let mut batch = Vec::new();
        let mut responders = Vec::new();
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            batch.push(entry);
            responders.push(responder);
        }
        let results = self.apply_batch(batch)?;
        for (responder, result) in responders.into_iter().zip(results) {
            if let Some(r) = responder {
                r.send(result);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> io::Result<()> {
        let data = snapshot.into_inner();
        let image: Image = serde_json::from_slice(&data).map_err(Error::from)?;
        let mut on_disk = self.shared.snapshot_io.lock().expect("snapshot lock");
        snapshot_file::write(
            &self.shared.dir,
            &StoredSnapshot {
                meta: meta.clone(),
                data,
            },
        )?;
        *on_disk = meta.last_log_id;
        self.shared.core.replace(meta, image)?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        let snap = snapshot_file::read(&self.shared.dir)?;
        Ok(snap.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Cursor::new(s.data),
        }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;

    /// Copies the state under the read lock (cheap: persistent maps), then encodes and writes it
    /// on a thread of its own: openraft runs this on the async runtime, whose few workers serve
    /// every request.
    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let started = Instant::now();
        let (source, applied) = {
            let memory = self.shared.core.read();
            (memory.state.image_source(), memory.applied.clone())
        };
        let copied = started.elapsed();
        let (tx, rx) = futures::channel::oneshot::channel();
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("sm-snapshot".into())
            .spawn(move || {
                let _ = tx.send(shared.write_snapshot(&source, applied));
            })?;
        let snap = rx
            .await
            .map_err(|_| io::Error::other("the snapshot thread ended early"))??;
        tracing::info!(
            last = ?snap.meta.last_log_id,
            bytes = snap.snapshot.get_ref().len(),
            copy_ms = copied.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "snapshot built"
        );
        Ok(snap)
    }
}

impl Shared {
    /// Encodes a copied state and replaces the snapshot file with it unless the file already
    /// holds a newer one (an install may have overtaken this build).
    fn write_snapshot(&self, state: &ConfigState, applied: Applied) -> Result<Snapshot> {
        let data = state.image_json()?;
        let meta = SnapshotMeta {
            last_log_id: applied.log_id,
            last_membership: applied.membership,
        };
        let mut on_disk = self.snapshot_io.lock().expect("snapshot lock");
        if *on_disk <= meta.last_log_id {
            let stored = StoredSnapshot {
                meta: meta.clone(),
                data,
            };
            snapshot_file::write(&self.dir, &stored)?;
            *on_disk = meta.last_log_id;
            return Ok(Snapshot {
                meta,
                snapshot: Cursor::new(stored.data),
            });
        }
        Ok(Snapshot {
            meta,
            snapshot: Cursor::new(data),
        })
    }
}
