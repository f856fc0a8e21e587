//! The data directory: its format version, this node's identity and the admin token file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Version of the on-disk layout this binary reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_FILE: &str = "FORMAT";
const IDENTITY_FILE: &str = "node.json";
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    pub node_id: u64,
}

/// An opened data directory whose format this binary understands.
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens `root`, creating it (and stamping the format) when new; refuses unknown formats.
    pub fn open(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|e| {
            Error::Config(format!("data-dir: cannot create {}: {e}", root.display()))
        })?;
        let format = root.join(FORMAT_FILE);
        match std::fs::read_to_string(&format) {
            Ok(text) => {
                let v: Option<u32> = text
                    .trim()
                    .strip_prefix("meridian-data ")
                    .and_then(|v| v.parse().ok());
                if v != Some(FORMAT_VERSION) {
                    return Err(Error::Config(format!(
                        "data-dir: {} has format {:?}, this binary reads format {FORMAT_VERSION}; \
                         use a matching meridian version or a new data dir",
                        root.display(),
                        text.trim()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let non_empty = std::fs::read_dir(root)?.next().is_some();
                if non_empty {
                    return Err(Error::Config(format!(
                        "data-dir: {} is not empty and has no FORMAT file; refusing to use it",
                        root.display()
                    )));
                }
                write_durable(
                    &format,
                    format!("meridian-data {FORMAT_VERSION}\n").as_bytes(),
                    0o644,
                )?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn raft_log_dir(&self) -> PathBuf {
        self.root.join("raft-log")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    pub fn identity(&self) -> Result<Option<Identity>> {
        match std::fs::read(self.root.join(IDENTITY_FILE)) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Config(format!("data-dir: node.json is damaged: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub fn save_identity(&self, id: &Identity) -> Result<()> {
        let bytes = serde_json::to_vec(id).map_err(|e| Error::Internal(e.to_string()))?;
        write_durable(&self.root.join(IDENTITY_FILE), &bytes, 0o644)
    }

    pub fn admin_token(&self) -> Result<Option<String>> {
        match std::fs::read_to_string(self.root.join(ADMIN_TOKEN_FILE)) {
            Ok(t) => Ok(Some(t.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the admin token readable by the owner only (mode 0600).
    pub fn save_admin_token(&self, token: &str) -> Result<()> {
        write_durable(
            &self.root.join(ADMIN_TOKEN_FILE),
            format!("{token}\n").as_bytes(),
            0o600,
        )
    }
}

/// Writes a small file crash-atomically: temp file, fsync, rename, fsync the directory.
fn write_durable(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn unknown_format_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join(FORMAT_FILE), "meridian-data 99\n").expect("write");
        let err = DataDir::open(dir.path())
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("format") && err.contains("99"), "{err}");
    }

    #[test]
    fn admin_token_file_is_private() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = DataDir::open(&dir.path().join("d")).expect("open");
        d.save_admin_token("secret-secret-secret").expect("save");
        let mode = std::fs::metadata(d.root().join(ADMIN_TOKEN_FILE))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            d.admin_token().expect("read").as_deref(),
            Some("secret-secret-secret")
        );
        assert!(
            DataDir::open(d.root()).is_ok(),
            "reopening a stamped dir works"
        );
    }
}
