//! The persisted snapshot: one file, replaced crash-atomically (write temp, fsync, rename, fsync
//! the directory), so a restart always finds either the old or the new snapshot whole.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::types::SnapshotMeta;
use crate::wal::{create_private, sync_dir};

const FILE_NAME: &str = "snapshot.bin";

pub struct StoredSnapshot {
    pub meta: SnapshotMeta,
    pub data: Vec<u8>,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Layout: `meta_len: u32 LE | crc32(meta ++ data): u32 LE | meta (JSON) | data`.
pub fn write(dir: &Path, snap: &StoredSnapshot) -> Result<()> {
    let meta = serde_json::to_vec(&snap.meta)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&meta);
    crc.update(&snap.data);
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    {
        let mut f = create_private(&tmp)?;
        f.write_all(&(meta.len() as u32).to_le_bytes())?;
        f.write_all(&crc.finalize().to_le_bytes())?;
        f.write_all(&meta)?;
        f.write_all(&snap.data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path(dir))?;
    sync_dir(dir)
}

pub fn read(dir: &Path) -> Result<Option<StoredSnapshot>> {
    let bytes = match std::fs::read(path(dir)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let corrupt = || Error::Corrupt(format!("snapshot file {} is damaged", path(dir).display()));
    if bytes.len() < 8 {
        return Err(corrupt());
    }
    let meta_len = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if bytes.len() < 8 + meta_len || crc32fast::hash(&bytes[8..]) != crc {
        return Err(corrupt());
    }
    let meta = serde_json::from_slice(&bytes[8..8 + meta_len])?;
    Ok(Some(StoredSnapshot {
        meta,
        data: bytes[8 + meta_len..].to_vec(),
    }))
}
