//! The data directory: its format version, this node's identity, the admin token file, and
//! its permissions: the directory tree is private to the user running the node (directories
//! 0700, files 0600), because the Raft log, the state and snapshots hold webhook secrets and
//! credentials.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Version of the on-disk layout this binary reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_FILE: &str = "FORMAT";
const IDENTITY_FILE: &str = "node.json";
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// Most entries the permission check looks at; a data dir holds a few dozen.
pub const DATA_DIR_ENTRIES_MAX: usize = 100_000;
/// Most entries named one by one in the log when their permissions are fixed.
const FIXES_LOGGED_MAX: usize = 10;
/// Permission bits of group and others: none may be set inside the data dir.
const SHARED_BITS: u32 = 0o077;

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
    /// Then (never in a directory it refused) makes the tree private, warning about every
    /// entry that was not.
    pub fn open(root: &Path) -> Result<Self> {
        create_private_dir(root).map_err(|e| {
            Error::Config(format!("data-dir: cannot create {}: {e}", root.display()))
        })?;
        let opened = Self {
            root: root.to_path_buf(),
        };
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
                    0o600,
                )?;
            }
            Err(e) => return Err(e.into()),
        }
        opened.make_private(true)?;
        Ok(opened)
    }

    /// Takes group and other permissions off every directory and file of the tree. `warn`:
    /// whether finding one is worth a warning (an older or copied data dir) or expected (files
    /// a store has just created with the process umask). Returns how many entries changed.
    pub fn make_private(&self, warn: bool) -> Result<usize> {
        let walk = private_tree(&self.root, DATA_DIR_ENTRIES_MAX);
        // Not fatal: a volume this user does not own (some container set-ups) still serves.
        for (path, error) in walk.failed.iter().take(FIXES_LOGGED_MAX) {
            let path = path.display().to_string();
            tracing::warn!(path, error, "cannot make data dir entry private");
        }
        for path in walk.fixed.iter().take(FIXES_LOGGED_MAX) {
            let path = path.display().to_string();
            if warn {
                tracing::warn!(
                    path,
                    "data dir entry was open to other users; made it private"
                );
            } else {
                tracing::debug!(path, "made a new data dir entry private");
            }
        }
        if warn && walk.fixed.len() > FIXES_LOGGED_MAX {
            let count = walk.fixed.len();
            tracing::warn!(count, "data dir entries made private in all");
        }
        if walk.truncated {
            tracing::warn!(
                limit = DATA_DIR_ENTRIES_MAX,
                "data dir has more entries than the permission check looks at"
            );
        }
        Ok(walk.fixed.len())
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
        write_durable(&self.root.join(IDENTITY_FILE), &bytes, 0o600)
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

/// Creates `dir` and its missing parents; the ones created are private (0700).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// What a permission walk changed.
struct Walk {
    fixed: Vec<PathBuf>,
    /// Entries that could not be read or changed, with why.
    failed: Vec<(PathBuf, String)>,
    /// The tree has more than the entries looked at.
    truncated: bool,
}

/// Clears the group and other bits of `root` and everything below it, looking at no more than
/// `max` entries. Symbolic links are neither followed nor changed.
fn private_tree(root: &Path, max: usize) -> Walk {
    let mut walk = Walk {
        fixed: Vec::new(),
        failed: Vec::new(),
        truncated: false,
    };
    let (mut stack, mut seen) = (vec![root.to_path_buf()], 0usize);
    while let Some(path) = stack.pop() {
        if seen == max {
            walk.truncated = true;
            break;
        }
        seen += 1;
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            // Removed meanwhile (a store's temporary file): nothing to protect.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                walk.failed.push((path, e.to_string()));
                continue;
            }
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        if mode & SHARED_BITS != 0 {
            let private = std::fs::Permissions::from_mode(mode & 0o7700);
            match std::fs::set_permissions(&path, private) {
                Ok(()) => walk.fixed.push(path.clone()),
                Err(e) => walk.failed.push((path.clone(), e.to_string())),
            }
        }
        if meta.is_dir() {
            match std::fs::read_dir(&path) {
                Ok(entries) => stack.extend(entries.filter_map(|e| e.ok()).map(|e| e.path())),
                Err(e) => walk.failed.push((path, e.to_string())),
            }
        }
    }
    walk
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

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777
    }

    fn set_mode(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
    }

    #[test]
    fn opening_makes_an_open_data_dir_private() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("d");
        DataDir::open(&root).expect("create");
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join(FORMAT_FILE)), 0o600);
        // As an older version left it: everything readable by all.
        let sub = root.join("state").join("sled");
        std::fs::create_dir_all(&sub).expect("mkdir");
        std::fs::write(sub.join("db"), b"x").expect("write");
        std::fs::write(root.join("run.sh"), b"x").expect("write");
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, b"x").expect("write");
        std::os::unix::fs::symlink(&outside, root.join("link")).expect("symlink");
        for (p, m) in [
            (root.clone(), 0o755),
            (root.join("state"), 0o755),
            (sub.clone(), 0o775),
            (sub.join("db"), 0o644),
            (root.join(FORMAT_FILE), 0o644),
            (root.join("run.sh"), 0o755),
            (outside.clone(), 0o644),
        ] {
            set_mode(&p, m);
        }
        let d = DataDir::open(&root).expect("reopen");
        for (p, m) in [
            (root.clone(), 0o700),
            (root.join("state"), 0o700),
            (sub.clone(), 0o700),
            (sub.join("db"), 0o600),
            (root.join(FORMAT_FILE), 0o600),
            (root.join("run.sh"), 0o700),
        ] {
            assert_eq!(mode(&p), m, "{}", p.display());
        }
        assert_eq!(mode(&outside), 0o644, "a link's target is not changed");
        assert_eq!(
            d.make_private(true).expect("walk"),
            0,
            "nothing left to fix"
        );
    }

    #[test]
    fn the_permission_walk_is_bounded() {
        let tmp = tempfile::tempdir().expect("tmp");
        set_mode(tmp.path(), 0o755);
        for i in 0..5 {
            let f = tmp.path().join(format!("f{i}"));
            std::fs::write(&f, b"x").expect("write");
            set_mode(&f, 0o644);
        }
        let walk = private_tree(tmp.path(), 3);
        assert!(walk.truncated);
        let all = private_tree(tmp.path(), DATA_DIR_ENTRIES_MAX);
        assert!(!all.truncated);
        assert_eq!(walk.fixed.len() + all.fixed.len(), 6, "root and five files");
    }

    #[test]
    fn unknown_format_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join(FORMAT_FILE), "meridian-data 99\n").expect("write");
        set_mode(&dir.path().join(FORMAT_FILE), 0o644);
        let err = DataDir::open(dir.path())
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("format") && err.contains("99"), "{err}");
        let format = dir.path().join(FORMAT_FILE);
        assert_eq!(mode(&format), 0o644, "a refused dir is left as it is");
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
