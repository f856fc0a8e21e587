//! Crash-safe file helpers: atomic replacement (temp, fsync, rename, fsync dir) and the
//! data directory's format-version file.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// The on-disk format this build reads and writes (data dir, WAL segments, blocks).
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_FILE: &str = "FORMAT";
const FORMAT_PREFIX: &str = "meridian-tsdb format ";

/// Makes a directory entry change (create, rename, unlink) durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("fsync dir", dir, e))
}

/// Replaces `dir/name` with `bytes` so that a crash leaves either the old or the new file.
pub(crate) fn atomic_write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))?;
    fsync_dir(dir)
}

pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create dir", dir, e))
}

/// Writes the format file into a new data dir, or refuses a dir of another version.
pub(crate) fn check_format(dir: &Path) -> Result<()> {
    let path = dir.join(FORMAT_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let found = text
                .trim()
                .strip_prefix(FORMAT_PREFIX)
                .and_then(|v| v.parse::<u32>().ok())
                .ok_or_else(|| Error::corrupt(path.display().to_string(), "no format version"))?;
            check_version(&path, found)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => atomic_write(
            dir,
            FORMAT_FILE,
            format!("{FORMAT_PREFIX}{FORMAT_VERSION}\n").as_bytes(),
        ),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

pub(crate) fn check_version(path: &Path, found: u32) -> Result<()> {
    if found != FORMAT_VERSION {
        return Err(Error::UnsupportedFormat {
            path: path.to_owned(),
            found,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}
