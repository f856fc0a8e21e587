//! The Raft log store: entries readable from memory at once, durable through one writer thread
//! that group-commits records to the write-ahead file with a single fdatasync per batch.
//!
//! openraft is told an append or a vote is done only after the fdatasync covering it returned.
//! All records go through one ordered queue, so a vote is never reordered with appends.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState as RaftLogState, RaftLogReader, RaftLogStorage};
use tokio::sync::{mpsc, oneshot};

use crate::error::Result;
use crate::types::{Entry, LogId, TypeConfig, Vote};
use crate::wal::{self, LogState, Record, WalFile};

/// Records waiting for the writer; appenders wait (async) when it is full.
pub const WAL_QUEUE_MAX: usize = 4096;
/// Most records covered by one fdatasync.
pub const WAL_BATCH_MAX: usize = 1024;
/// The file is compacted once it is larger than this and twice its size after the last compaction.
pub const WAL_COMPACT_MIN_BYTES: u64 = 32 * 1024 * 1024;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WalStats {
    pub syncs: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub compactions: AtomicU64,
}

enum Done {
    Flushed(IOFlushed<TypeConfig>),
    Notify(oneshot::Sender<io::Result<()>>),
    Nothing,
}

struct WriteOp {
    record: Record,
    done: Done,
}

struct Inner {
    mem: Mutex<LogState>,
    tx: mpsc::Sender<WriteOp>,
    stats: Arc<WalStats>,
}

/// Cheap to clone; every clone sees the same log.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, replaying the write-ahead file.
    pub fn open(dir: &Path) -> Result<Self> {
        wal::create_private_dir(dir)?;
        let path = dir.join("raft-log.wal");
        let (state, len) = wal::replay(&path)?;
        let file = WalFile::open(&path, len)?;
        let (tx, rx) = mpsc::channel(WAL_QUEUE_MAX);
        let stats = Arc::new(WalStats::default());
        let writer = Writer {
            file,
            written: state.clone(),
            compacted_len: len,
            stats: stats.clone(),
        };
        std::thread::Builder::new()
            .name("raft-wal".into())
            .spawn(move || writer.run(rx))?;
        Ok(Self {
            inner: Arc::new(Inner {
                mem: Mutex::new(state),
                tx,
                stats,
            }),
        })
    }

    pub fn stats(&self) -> Arc<WalStats> {
        self.inner.stats.clone()
    }

    fn mem(&self) -> MutexGuard<'_, LogState> {
        // A poisoned lock means a bug elsewhere panicked while holding it.
        self.inner.mem.lock().expect("log state lock")
    }

    async fn submit(&self, record: Record, done: Done) -> io::Result<()> {
        self.mem().apply(&record);
        self.inner
            .tx
            .send(WriteOp { record, done })
            .await
            .map_err(|_| io::Error::other("raft log writer has stopped"))
    }

    async fn submit_and_wait(&self, record: Record) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.submit(record, Done::Notify(tx)).await?;
        rx.await
            .map_err(|_| io::Error::other("raft log writer has stopped"))?
    }
}

struct Writer {
    file: WalFile,
    written: LogState,
    compacted_len: u64,
    stats: Arc<WalStats>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<WriteOp>) {
        let mut failed: Option<String> = None;
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < WAL_BATCH_MAX {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            if failed.is_none()
                && let Err(e) = self.write_batch(&batch)
            {
                tracing::error!(error = %e, "raft log write failed; the log refuses further writes");
                failed = Some(e.to_string());
            }
            for op in batch {
                let result = match &failed {
                    None => Ok(()),
                    Some(msg) => Err(io::Error::other(msg.clone())),
                };
                match op.done {
                    Done::Flushed(cb) => cb.io_completed(result),
                    Done::Notify(tx) => {
                        let _ = tx.send(result);
                    }
                    Done::Nothing => {}
                }
            }
        }
    }

    fn write_batch(&mut self, batch: &[WriteOp]) -> Result<()> {
        let mut buf = Vec::new();
        for op in batch {
            wal::encode(&op.record, &mut buf)?;
        }
        // The committed index needs no durability (openraft re-learns it from the leader), so a
        // batch holding only that is written without waiting for the disk.
        let sync = batch
            .iter()
            .any(|op| !matches!(op.record, Record::Committed(_)));
        self.file.write(&buf, sync)?;
        for op in batch {
            self.written.apply(&op.record);
        }
        if sync {
            self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        }
        self.stats
            .records
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.stats
            .bytes
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        let len = self.file.len();
        if len > WAL_COMPACT_MIN_BYTES && len > 2 * self.compacted_len {
            self.file.rewrite(&self.written)?;
            self.compacted_len = self.file.len();
            self.stats.compactions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        Ok(self
            .mem()
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        Ok(self.mem().vote)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> io::Result<RaftLogState<TypeConfig>> {
        let mem = self.mem();
        let last_purged_log_id = mem.last_purged;
        let last_log_id = mem
            .entries
            .last_key_value()
            .map(|(_, e)| e.log_id())
            .or(last_purged_log_id);
        Ok(RaftLogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        self.submit_and_wait(Record::Vote(*vote)).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        self.submit(Record::Committed(committed), Done::Nothing)
            .await
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        Ok(self.mem().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        self.submit(Record::Entries(entries), Done::Flushed(callback))
            .await
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        self.submit(Record::TruncateAfter(last_log_id), Done::Nothing)
            .await
    }

    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        self.submit(Record::Purge(log_id), Done::Nothing).await
    }
}
