//! The write-ahead log: numbered segment files of framed records (length + CRC32), replayed on
//! open; a torn or corrupt tail of the last segment is cut off.

use crate::bytes::{Reader, put_ivarint, put_u32, put_u64, put_uvarint};
use crate::error::{Error, Result};
use crate::fsutil::{FORMAT_VERSION, check_version, fsync_dir};
use crate::key::SeriesKey;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"MRDWAL\0\0";
const HEADER_LEN: u64 = 12;
/// Largest record accepted when writing or replaying (a write call is bounded well below it).
pub const WAL_RECORD_BYTES_MAX: usize = 64 << 20;

/// One series' points inside a write record; `id` is the series id it resolved to.
#[derive(Debug, Clone, PartialEq)]
pub struct WalSeries {
    pub id: u64,
    pub key: SeriesKey,
    pub points: Vec<(i64, f64)>,
}

/// What the log holds, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum WalRecord {
    Write(Vec<WalSeries>),
    DropTenant(u32),
}

impl WalRecord {
    /// The record framed as `len u32, crc u32, payload`; refused above
    /// [`WAL_RECORD_BYTES_MAX`].
    pub fn frame(&self) -> Result<Vec<u8>> {
        let mut payload = Vec::new();
        match self {
            WalRecord::Write(series) => {
                payload.push(1);
                put_uvarint(&mut payload, series.len() as u64);
                for s in series {
                    put_u64(&mut payload, s.id);
                    s.key.encode(&mut payload);
                    put_uvarint(&mut payload, s.points.len() as u64);
                    for &(t, v) in &s.points {
                        put_ivarint(&mut payload, t);
                        put_u64(&mut payload, v.to_bits());
                    }
                }
            }
            WalRecord::DropTenant(no) => {
                payload.push(2);
                put_u32(&mut payload, *no);
            }
        }
        if payload.len() > WAL_RECORD_BYTES_MAX {
            return Err(Error::LimitExceeded {
                what: format!("write record of {} bytes", payload.len()),
                limit_name: "WAL_RECORD_BYTES_MAX",
                limit: WAL_RECORD_BYTES_MAX as u64,
            });
        }
        let mut out = Vec::with_capacity(payload.len() + 8);
        put_u32(&mut out, payload.len() as u32);
        put_u32(&mut out, crc32fast::hash(&payload));
        out.extend_from_slice(&payload);
        Ok(out)
    }

    fn decode(payload: &[u8]) -> Result<WalRecord> {
        let mut r = Reader::new(payload, "wal record");
        match r.u8()? {
            1 => {
                let n = r.len(payload.len())?;
                let mut series = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = r.u64()?;
                    let key = SeriesKey::decode(&mut r)?;
                    let np = r.len(payload.len())?;
                    let mut points = Vec::with_capacity(np);
                    for _ in 0..np {
                        points.push((r.ivarint()?, f64::from_bits(r.u64()?)));
                    }
                    series.push(WalSeries { id, key, points });
                }
                Ok(WalRecord::Write(series))
            }
            2 => Ok(WalRecord::DropTenant(r.u32()?)),
            t => Err(Error::corrupt(
                "wal record",
                format!("unknown record type {t}"),
            )),
        }
    }
}

pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.wal"))
}

/// Segment numbers present in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(seq) = name
            .strip_suffix(".wal")
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push(seq);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// An open segment being appended to.
pub(crate) struct Segment {
    pub(crate) seq: u64,
    file: File,
    path: PathBuf,
}

impl Segment {
    /// Creates segment `seq` with its header, durably.
    pub(crate) fn create(dir: &Path, seq: u64) -> Result<Segment> {
        let path = segment_path(dir, seq);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        file.write_all(&header)
            .map_err(|e| Error::io("write", &path, e))?;
        file.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
        fsync_dir(dir)?;
        Ok(Segment { seq, file, path })
    }

    /// Appends framed records; durable only after [`Segment::sync`].
    pub(crate) fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io("append", &self.path, e))
    }

    pub(crate) fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io("fdatasync", &self.path, e))
    }
}

/// Reads every record of a segment. A bad frame ends the read: in the last segment the file
/// is cut there (a torn write), in an earlier one it is an error.
pub(crate) fn replay_segment(dir: &Path, seq: u64, is_last: bool) -> Result<Vec<WalRecord>> {
    let path = segment_path(dir, seq);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", &path, e))?;
    if bytes.len() < HEADER_LEN as usize || &bytes[..8] != MAGIC {
        if is_last && bytes.len() < HEADER_LEN as usize {
            // Crashed while creating the segment: nothing in it was ever acknowledged.
            file.set_len(0)
                .map_err(|e| Error::io("truncate", &path, e))?;
            drop(file);
            fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            return Ok(Vec::new());
        }
        return Err(Error::corrupt(path.display().to_string(), "bad wal header"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    check_version(&path, version)?;
    let (records, good_end) = read_frames(&bytes[HEADER_LEN as usize..]);
    let good_end = good_end + HEADER_LEN as usize;
    if good_end < bytes.len() {
        if !is_last {
            return Err(Error::corrupt(
                path.display().to_string(),
                format!("bad frame at {good_end}"),
            ));
        }
        tracing::warn!(segment = seq, offset = good_end, "cutting torn wal tail");
        file.set_len(good_end as u64)
            .map_err(|e| Error::io("truncate", &path, e))?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| Error::io("seek", &path, e))?;
        file.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
    }
    Ok(records)
}

/// Decodes frames until the first bad one; returns the records and the end of the good prefix.
fn read_frames(buf: &[u8]) -> (Vec<WalRecord>, usize) {
    let mut records = Vec::new();
    let mut pos = 0;
    while buf.len() - pos >= 8 {
        let len = u32::from_le_bytes(buf[pos..pos + 4].try_into().expect("4")) as usize;
        let crc = u32::from_le_bytes(buf[pos + 4..pos + 8].try_into().expect("4"));
        if len > WAL_RECORD_BYTES_MAX || buf.len() - pos - 8 < len {
            break;
        }
        let payload = &buf[pos + 8..pos + 8 + len];
        if crc32fast::hash(payload) != crc {
            break;
        }
        match WalRecord::decode(payload) {
            Ok(r) => records.push(r),
            Err(_) => break,
        }
        pos += 8 + len;
    }
    (records, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: i64) -> WalRecord {
        WalRecord::Write(vec![WalSeries {
            id: 7,
            key: SeriesKey::new("t", "n", "m").with("a", "b"),
            points: vec![
                (i, i as f64 * 0.5),
                (i + 1, f64::from_bits(0x7ff0_0000_0000_0002)),
            ],
        }])
    }

    #[test]
    fn torn_tail_is_cut_and_later_appends_survive() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 1).unwrap();
        for i in 0..10 {
            seg.append(&rec(i).frame().unwrap()).unwrap();
        }
        seg.append(&WalRecord::DropTenant(3).frame().unwrap())
            .unwrap();
        let full = rec(99).frame().unwrap();
        seg.append(&full[..full.len() - 3]).unwrap();
        seg.sync().unwrap();
        drop(seg);
        let got = replay_segment(dir.path(), 1, true).unwrap();
        assert_eq!(got.len(), 11);
        assert_eq!(got[3].frame().unwrap(), rec(3).frame().unwrap());
        assert_eq!(got[10], WalRecord::DropTenant(3));
        // The cut file accepts appends that replay after the good prefix.
        let path = segment_path(dir.path(), 1);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&rec(50).frame().unwrap()).unwrap();
        drop(f);
        let again = replay_segment(dir.path(), 1, true).unwrap();
        assert_eq!(again.len(), 12);
        assert_eq!(again[11].frame().unwrap(), rec(50).frame().unwrap());
    }

    #[test]
    fn corrupt_byte_in_middle_segment_is_an_error_but_cut_in_last() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 4).unwrap();
        for i in 0..5 {
            seg.append(&rec(i).frame().unwrap()).unwrap();
        }
        drop(seg);
        let path = segment_path(dir.path(), 4);
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 5] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert!(replay_segment(dir.path(), 4, false).is_err());
        assert_eq!(replay_segment(dir.path(), 4, true).unwrap().len(), 4);
    }

    #[test]
    fn unknown_segment_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Segment::create(dir.path(), 1).unwrap());
        let path = segment_path(dir.path(), 1);
        let mut bytes = fs::read(&path).unwrap();
        bytes[8] = 9;
        fs::write(&path, &bytes).unwrap();
        let err = replay_segment(dir.path(), 1, true).unwrap_err().to_string();
        assert!(
            err.contains("version 9") && err.contains("supports version 1"),
            "{err}"
        );
    }
}
