//! The Raft log's write-ahead file: length- and CRC-framed JSON records, replayed on open.
//!
//! A frame is `len: u32 LE | crc32(body): u32 LE | body`. Replay stops at the first frame that is
//! short, fails its CRC or does not decode (a write torn by a crash) and truncates the file there:
//! such a frame was never acknowledged, because acknowledgement waits for the fdatasync after it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::types::{Entry, LogId, Vote};

/// Largest frame accepted on replay; larger lengths mean corruption.
pub const FRAME_MAX_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Record {
    Entries(Vec<Entry>),
    /// Delete every entry after this log id (all entries when None).
    TruncateAfter(Option<LogId>),
    /// Delete every entry up to and including this log id.
    Purge(LogId),
    Vote(Vote),
    Committed(Option<LogId>),
}

/// The log's contents as the records describe them.
#[derive(Debug, Clone, Default)]
pub struct LogState {
    pub entries: BTreeMap<u64, Entry>,
    pub vote: Option<Vote>,
    pub last_purged: Option<LogId>,
    pub committed: Option<LogId>,
}

impl LogState {
    pub fn apply(&mut self, r: &Record) {
        use openraft::entry::RaftEntry;
        match r {
            Record::Entries(es) => {
                for e in es {
                    self.entries.insert(e.index(), e.clone());
                }
            }
            Record::TruncateAfter(after) => {
                let from = after.as_ref().map_or(0, |l| l.index() + 1);
                self.entries.split_off(&from);
            }
            Record::Purge(upto) => {
                let keep = self.entries.split_off(&(upto.index() + 1));
                self.entries = keep;
                if self.last_purged.as_ref().is_none_or(|p| p < upto) {
                    self.last_purged = Some(*upto);
                }
            }
            Record::Vote(v) => self.vote = Some(*v),
            Record::Committed(c) => self.committed = *c,
        }
    }

    /// The records that rebuild exactly this state, for compaction.
    pub fn to_records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        if let Some(v) = &self.vote {
            out.push(Record::Vote(*v));
        }
        if let Some(p) = &self.last_purged {
            out.push(Record::Purge(*p));
        }
        let all: Vec<Entry> = self.entries.values().cloned().collect();
        for chunk in all.chunks(1024) {
            out.push(Record::Entries(chunk.to_vec()));
        }
        out.push(Record::Committed(self.committed));
        out
    }
}

pub fn encode(r: &Record, out: &mut Vec<u8>) -> Result<()> {
    let body = serde_json::to_vec(r)?;
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

/// Reads every intact record of `path`; truncates a torn tail. Returns the state and file length.
pub fn replay(path: &Path) -> Result<(LogState, u64)> {
    let mut state = LogState::default();
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((state, 0)),
        Err(e) => return Err(e.into()),
    };
    let total = file.metadata()?.len();
    let mut reader = BufReader::new(&file);
    let mut good = 0u64;
    while let Some(r) = read_frame(&mut reader)? {
        state.apply(&r.0);
        good += r.1;
    }
    if good < total {
        tracing::warn!(path = %path.display(), dropped_bytes = total - good, "raft log has a torn tail; truncating it");
        file.set_len(good)?;
        file.sync_all()?;
    }
    Ok((state, good))
}

/// One frame, or None at the end or at the first damaged frame.
fn read_frame(r: &mut impl Read) -> Result<Option<(Record, u64)>> {
    let mut head = [0u8; 8];
    if !read_full(r, &mut head)? {
        return Ok(None);
    }
    let len = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
    if len > FRAME_MAX_BYTES {
        return Ok(None);
    }
    let mut body = vec![0u8; len];
    if !read_full(r, &mut body)? || crc32fast::hash(&body) != crc {
        return Ok(None);
    }
    match serde_json::from_slice(&body) {
        Ok(rec) => Ok(Some((rec, 8 + len as u64))),
        Err(_) => Ok(None),
    }
}

/// Fills `buf`; false if the input ended first.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<bool> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => return Ok(false),
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// The open write-ahead file.
pub struct WalFile {
    path: PathBuf,
    file: File,
    len: u64,
}

impl WalFile {
    pub fn open(path: &Path, len: u64) -> Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(PRIVATE_FILE_MODE)
            .open(path)?;
        file.seek(SeekFrom::End(0))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            len,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `bytes` and, when `sync`, waits for fdatasync: only then are they acknowledged.
    pub fn write(&mut self, bytes: &[u8], sync: bool) -> Result<()> {
        self.file.write_all(bytes)?;
        if sync {
            self.file.sync_data()?;
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Replaces the file with one holding just `state`, crash-atomically (write, sync, rename).
    pub fn rewrite(&mut self, state: &LogState) -> Result<()> {
        let tmp = self.path.with_extension("compact");
        let mut buf = Vec::new();
        for r in state.to_records() {
            encode(&r, &mut buf)?;
        }
        {
            let mut f = create_private(&tmp)?;
            f.write_all(&buf)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        let dir = self
            .path
            .parent()
            .ok_or_else(|| Error::Corrupt("wal has no directory".into()))?;
        sync_dir(dir)?;
        self.file = OpenOptions::new()
            .append(true)
            .read(true)
            .open(&self.path)?;
        self.len = buf.len() as u64;
        Ok(())
    }
}

/// Mode of the files this crate creates: the log, the state and snapshots hold tenants'
/// secrets, so they are the owner's only.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of the directories this crate creates.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates (or truncates) `path` for writing, readable by the owner only.
pub fn create_private(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path)?;
    Ok(f)
}

/// Creates `dir` and its missing parents, the created ones private.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)?;
    Ok(())
}

/// fsync a directory so a created or renamed file's name is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TypeConfig;
    use openraft::entry::RaftEntry;

    fn lid(i: u64) -> LogId {
        openraft::testing::log_id::<TypeConfig>(1, 1, i)
    }

    fn entry(i: u64) -> Entry {
        Entry::new_blank(lid(i))
    }

    #[test]
    fn torn_tail_is_dropped_and_the_rest_replays() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("log.wal");
        let mut w = WalFile::open(&path, 0).expect("open");
        let mut buf = Vec::new();
        encode(&Record::Entries(vec![entry(1), entry(2)]), &mut buf).expect("enc");
        w.write(&buf, true).expect("write");
        let mut torn = Vec::new();
        encode(&Record::Entries(vec![entry(3)]), &mut torn).expect("enc");
        w.write(&torn[..torn.len() - 3], true).expect("write");
        let (state, len) = replay(&path).expect("replay");
        assert_eq!(state.entries.keys().copied().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(len, buf.len() as u64);
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), len);
    }

    #[test]
    fn flipped_bit_stops_replay_at_that_frame() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("log.wal");
        let mut buf = Vec::new();
        encode(&Record::Entries(vec![entry(1)]), &mut buf).expect("enc");
        let first = buf.len();
        encode(&Record::Entries(vec![entry(2)]), &mut buf).expect("enc");
        buf[first + 12] ^= 0x40;
        std::fs::write(&path, &buf).expect("write");
        let (state, _) = replay(&path).expect("replay");
        assert_eq!(state.entries.len(), 1);
    }

    #[test]
    fn truncate_and_purge_replay_like_the_live_state() {
        let mut s = LogState::default();
        s.apply(&Record::Entries((1..=10).map(entry).collect()));
        s.apply(&Record::TruncateAfter(Some(lid(7))));
        s.apply(&Record::Purge(lid(3)));
        assert_eq!(s.entries.keys().copied().collect::<Vec<_>>(), [4, 5, 6, 7]);
        let mut again = LogState::default();
        for r in s.to_records() {
            again.apply(&r);
        }
        assert_eq!(again.entries.len(), 4);
        assert_eq!(again.last_purged, s.last_purged);
    }
}
