//! The configuration state machine: the whole `ConfigState` in memory, persisted to sled.
//!
//! Each applied batch is written as one atomic sled batch holding the changed records together
//! with `last_applied` and the membership, so after a crash the state and `last_applied` agree
//! and no entry is applied twice. Entries lost from sled's page cache by a crash are re-applied
//! from the durable log (up to the durable committed index).

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

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

#[derive(Clone, Default)]
struct Applied {
    log_id: Option<LogId>,
    membership: StoredMembership,
}

struct Shared {
    state: RwLock<ConfigState>,
    applied: RwLock<Applied>,
    tree: sled::Tree,
    db: sled::Db,
    dir: PathBuf,
    snapshot_io: Mutex<()>,
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
        f(&self.shared.read_state())
    }

    pub fn applied_index(&self) -> u64 {
        self.shared.applied().log_id.map_or(0, |l| l.index())
    }

    /// (applied index, digest of the state at that index), read together.
    pub fn digest(&self) -> (u64, String) {
        let state = self.shared.read_state();
        (self.applied_index(), state.digest())
    }
}

impl Shared {
    fn read_state(&self) -> RwLockReadGuard<'_, ConfigState> {
        self.state.read().expect("state lock")
    }

    fn applied(&self) -> Applied {
        self.applied.read().expect("applied lock").clone()
    }

    /// Replaces the whole state (snapshot install), persisting it in one sled batch.
    fn replace(&self, meta: &SnapshotMeta, image: Image) -> Result<()> {
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
        *self.state.write().expect("state lock") = state;
        *self.applied.write().expect("applied lock") = applied;
        Ok(())
    }
}

fn write_changes(
    batch: &mut sled::Batch,
    changes: Vec<(String, Option<Vec<u8>>)>,
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

impl StateMachine {
    /// Opens the state machine in `dir`, finishing a snapshot install a crash interrupted.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
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
        let shared = Shared {
            state: RwLock::new(state),
            applied: RwLock::new(applied.clone()),
            tree,
            db,
            dir: dir.to_path_buf(),
            snapshot_io: Mutex::new(()),
        };
        if let Some(snap) = snapshot_file::read(dir)?
            && snap.meta.last_log_id > applied.log_id
        {
            tracing::info!(snapshot = ?snap.meta.last_log_id, "finishing an interrupted snapshot install");
            shared.replace(&snap.meta, serde_json::from_slice(&snap.data)?)?;
        }
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    pub fn view(&self) -> StateView {
        StateView {
            shared: self.shared.clone(),
        }
    }

    /// Writes sled's buffers out (used at shutdown).
    pub fn flush(&self) -> Result<()> {
        self.shared.db.flush()?;
        Ok(())
    }

    fn apply_batch(&self, entries: Vec<crate::types::Entry>) -> Result<Vec<CommandResult>> {
        let mut state = self.shared.state.write().expect("state lock");
        let mut applied = self.shared.applied();
        let mut results = Vec::with_capacity(entries.len());
        for entry in entries {
            let log_id = entry.log_id();
            let result = match &entry.payload {
                EntryPayload::Blank => CommandResult::Done,
                EntryPayload::Normal(cmd) => model::apply(&mut state, log_id.index(), cmd),
                EntryPayload::Membership(m) => {
                    applied.membership = StoredMembership::new(Some(log_id), m.clone());
                    CommandResult::Done
                }
            };
            applied.log_id = Some(log_id);
            results.push(result);
        }
        let mut batch = sled::Batch::default();
        write_changes(&mut batch, state.take_changes(), &applied)?;
        self.shared.tree.apply_batch(batch)?;
        *self.shared.applied.write().expect("applied lock") = applied;
        Ok(results)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        let a = self.shared.applied();
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
        let _io = self.shared.snapshot_io.lock().expect("snapshot lock");
        snapshot_file::write(
            &self.shared.dir,
            &StoredSnapshot {
                meta: meta.clone(),
                data,
            },
        )?;
        self.shared.replace(meta, image)?;
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

    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let (image, applied) = {
            let state = self.shared.read_state();
            (state.to_image(), self.shared.applied())
        };
        let data = serde_json::to_vec(&image).map_err(Error::from)?;
        let meta = SnapshotMeta {
            last_log_id: applied.log_id,
            last_membership: applied.membership,
        };
        let _io = self.shared.snapshot_io.lock().expect("snapshot lock");
        let newer = snapshot_file::read(&self.shared.dir)?
            .is_none_or(|old| old.meta.last_log_id <= meta.last_log_id);
        if newer {
            snapshot_file::write(
                &self.shared.dir,
                &StoredSnapshot {
                    meta: meta.clone(),
                    data: data.clone(),
                },
            )?;
        }
        Ok(Snapshot {
            meta,
            snapshot: Cursor::new(data),
        })
    }
}
