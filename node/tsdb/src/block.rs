//! Immutable block files: chunks sorted by (series, time), an index of them, and a footer.
//!
//! Layout: header (magic, format version, resolution code, day), chunks (each covered by a
//! CRC32 in its index entry), the index, then a footer (index offset, entry count, index CRC,
//! magic). A block is written to a temp file, fsynced, renamed and the directory fsynced.

use crate::bytes::{Reader, put_u32, put_u64};
use crate::error::{Error, Result};
use crate::fsutil::{FORMAT_VERSION, check_version, fsync_dir};
use crate::rollup::Resolution;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"MRDBLK\0\0";
const HEADER_LEN: usize = 8 + 4 + 1 + 8;
const ENTRY_LEN: usize = 8 + 8 + 8 + 4 + 8 + 4 + 4;
const FOOTER_LEN: usize = 8 + 4 + 4 + 8;
/// Most chunks one block may index.
pub const BLOCK_CHUNKS_MAX: usize = 1 << 24;

/// Where one chunk of one series lies in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkEntry {
    pub series: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub count: u32,
    offset: u64,
    len: u32,
    crc: u32,
}

/// Builds a block in memory; chunks must arrive sorted by (series, min_ts).
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    entries: Vec<ChunkEntry>,
}

impl BlockBuilder {
    pub(crate) fn new(resolution: Resolution, day: i64) -> Self {
        let mut buf = MAGIC.to_vec();
        put_u32(&mut buf, FORMAT_VERSION);
        buf.push(resolution.code());
        put_u64(&mut buf, day as u64);
        BlockBuilder {
            buf,
            entries: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, series: u64, min_ts: i64, max_ts: i64, count: u32, chunk: &[u8]) {
        assert!(
            self.entries
                .last()
                .is_none_or(|e| (e.series, e.min_ts) < (series, min_ts)),
            "chunks out of order"
        );
        assert!(
            self.entries.len() < BLOCK_CHUNKS_MAX,
            "block above BLOCK_CHUNKS_MAX"
        );
        let offset = self.buf.len() as u64;
        self.buf.extend_from_slice(chunk);
        let crc = crc32fast::hash(chunk);
        self.entries.push(ChunkEntry {
            series,
            min_ts,
            max_ts,
            count,
            offset,
            len: chunk.len() as u32,
            crc,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the block durably at `dir/name` and opens it for reading.
    pub(crate) fn finish(mut self, dir: &Path, name: &str) -> Result<BlockReader> {
        let index_offset = self.buf.len() as u64;
        let mut index = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
        for e in &self.entries {
            put_u64(&mut index, e.series);
            put_u64(&mut index, e.min_ts as u64);
            put_u64(&mut index, e.max_ts as u64);
            put_u32(&mut index, e.count);
            put_u64(&mut index, e.offset);
            put_u32(&mut index, e.len);
            put_u32(&mut index, e.crc);
        }
        let index_crc = crc32fast::hash(&index);
        self.buf.extend_from_slice(&index);
        put_u64(&mut self.buf, index_offset);
        put_u32(&mut self.buf, self.entries.len() as u32);
        put_u32(&mut self.buf, index_crc);
        self.buf.extend_from_slice(MAGIC);
        let tmp = dir.join(format!("{name}.tmp"));
        let path = dir.join(name);
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(&self.buf)
            .map_err(|e| Error::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))?;
        fsync_dir(dir)?;
        BlockReader::open(&path)
    }
}

/// An open block: its index in memory, chunks read on demand.
#[derive(Debug)]
pub struct BlockReader {
    path: PathBuf,
    file: File,
    pub(crate) resolution: Resolution,
    pub(crate) day: i64,
    pub(crate) bytes: u64,
    entries: Vec<ChunkEntry>,
}

impl BlockReader {
    /// Opens a block, checking magic, version and the index checksum.
    pub(crate) fn open(path: &Path) -> Result<BlockReader> {
        let ctx = || path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        if size < (HEADER_LEN + FOOTER_LEN) as u64 {
            return Err(Error::corrupt(ctx(), "block too short"));
        }
        let mut header = [0u8; HEADER_LEN];
        file.read_exact_at(&mut header, 0)
            .map_err(|e| Error::io("read", path, e))?;
        if &header[..8] != MAGIC {
            return Err(Error::corrupt(ctx(), "bad block magic"));
        }
        check_version(
            path,
            u32::from_le_bytes(header[8..12].try_into().expect("4")),
        )?;
        let resolution = Resolution::from_code(header[12])
            .ok_or_else(|| Error::corrupt(ctx(), "unknown resolution"))?;
        let day = i64::from_le_bytes(header[13..21].try_into().expect("8"));
        let mut footer = [0u8; FOOTER_LEN];
        file.read_exact_at(&mut footer, size - FOOTER_LEN as u64)
            .map_err(|e| Error::io("read", path, e))?;
        let mut r = Reader::new(&footer, "block footer");
        let (index_offset, count, index_crc) = (r.u64()?, r.u32()? as usize, r.u32()?);
        let index_len = count * ENTRY_LEN;
        if count > BLOCK_CHUNKS_MAX || index_offset + index_len as u64 + FOOTER_LEN as u64 != size {
            return Err(Error::corrupt(ctx(), "bad block footer"));
        }
        let mut index = vec![0u8; index_len];
        file.read_exact_at(&mut index, index_offset)
            .map_err(|e| Error::io("read", path, e))?;
        if crc32fast::hash(&index) != index_crc {
            return Err(Error::corrupt(ctx(), "block index checksum mismatch"));
        }
        let entries = decode_index(&index, count, index_offset)?;
        Ok(BlockReader {
            path: path.to_owned(),
            file,
            resolution,
            day,
            bytes: size,
            entries,
        })
    }

    /// Chunk entries of one series, in time order.
    pub(crate) fn entries_of(&self, series: u64) -> &[ChunkEntry] {
        let start = self.entries.partition_point(|e| e.series < series);
        let end = self.entries.partition_point(|e| e.series <= series);
        &self.entries[start..end]
    }

    pub(crate) fn entries(&self) -> &[ChunkEntry] {
        &self.entries
    }

    /// Total points (or buckets) indexed.
    #[cfg(test)]
    pub(crate) fn points(&self) -> u64 {
        self.entries.iter().map(|e| u64::from(e.count)).sum()
    }

    /// Reads and checks one chunk's bytes.
    pub(crate) fn read_chunk(&self, e: &ChunkEntry) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; e.len as usize];
        self.file
            .read_exact_at(&mut buf, e.offset)
            .map_err(|err| Error::io("read", &self.path, err))?;
        if crc32fast::hash(&buf) != e.crc {
            return Err(Error::corrupt(
                self.path.display().to_string(),
                "chunk checksum mismatch",
            ));
        }
        Ok(buf)
    }
}

fn decode_index(index: &[u8], count: usize, data_end: u64) -> Result<Vec<ChunkEntry>> {
    let mut r = Reader::new(index, "block index");
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let e = ChunkEntry {
            series: r.u64()?,
            min_ts: r.u64()? as i64,
            max_ts: r.u64()? as i64,
            count: r.u32()?,
            offset: r.u64()?,
            len: r.u32()?,
            crc: r.u32()?,
        };
        if e.offset < HEADER_LEN as u64 || e.offset + u64::from(e.len) > data_end {
            return Err(Error::corrupt("block index", "chunk outside the data area"));
        }
        if entries
            .last()
            .is_some_and(|p: &ChunkEntry| (p.series, p.min_ts) >= (e.series, e.min_ts))
        {
            return Err(Error::corrupt("block index", "entries out of order"));
        }
        entries.push(e);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_round_trips_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = BlockBuilder::new(Resolution::Raw, 20_000);
        b.add(1, 10, 20, 2, b"abc");
        b.add(1, 30, 40, 1, b"de");
        b.add(5, 0, 0, 1, b"f");
        let r = b.finish(dir.path(), "x.blk").unwrap();
        assert_eq!(r.day, 20_000);
        assert_eq!(r.entries_of(1).len(), 2);
        assert_eq!(r.entries_of(3).len(), 0);
        assert_eq!(r.read_chunk(&r.entries_of(1)[1]).unwrap(), b"de");
        assert_eq!(r.points(), 4);
        let path = dir.path().join("x.blk");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER_LEN] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let r = BlockReader::open(&path).unwrap();
        assert!(r.read_chunk(&r.entries_of(1)[0]).is_err());
        bytes[8] = 2;
        std::fs::write(&path, &bytes).unwrap();
        let err = BlockReader::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("version 2") && err.contains("supports version 1"),
            "{err}"
        );
    }
}
