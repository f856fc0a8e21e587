//! The manifest: which block files are live and from which WAL segment replay starts.
//! Replaced crash-atomically on every change; files it does not name are leftovers and removed.

use crate::error::{Error, Result};
use crate::fsutil::{FORMAT_VERSION, atomic_write, check_version};
use crate::rollup::Resolution;
use serde::{Deserialize, Serialize};
use std::path::Path;

const MANIFEST_FILE: &str = "MANIFEST";

/// One live block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BlockMeta {
    pub(crate) id: u64,
    pub(crate) resolution: Resolution,
    /// UTC day number (`ts.div_euclid(86_400_000)`) the block's data belongs to.
    pub(crate) day: i64,
    /// 0 for a sealed head, one more than its highest input for a merge.
    pub(crate) level: u32,
    /// For rollup blocks: the raw blocks they were computed from.
    #[serde(default)]
    pub(crate) sources: Vec<u64>,
    /// Days covered from `day` on: 1, or `Resolution::span_days` for merged rollups.
    #[serde(default = "one_day")]
    pub(crate) days: u32,
}

fn one_day() -> u32 {
    1
}

impl BlockMeta {
    /// A block of one day.
    pub(crate) fn new(
        id: u64,
        resolution: Resolution,
        day: i64,
        level: u32,
        sources: Vec<u64>,
    ) -> Self {
        BlockMeta {
            id,
            resolution,
            day,
            level,
            sources,
            days: 1,
        }
    }

    /// The newest day the block holds data of.
    pub(crate) fn last_day(&self) -> i64 {
        self.day + i64::from(self.days) - 1
    }
}

/// The durable list of blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) version: u32,
    pub(crate) next_block_id: u64,
    /// WAL segments below this number are covered by blocks and may be deleted.
    pub(crate) wal_first_segment: u64,
    pub(crate) blocks: Vec<BlockMeta>,
}

impl Manifest {
    pub(crate) fn load_or_new(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let m: Manifest = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::corrupt(path.display().to_string(), e.to_string()))?;
                check_version(&path, m.version)?;
                Ok(m)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                version: FORMAT_VERSION,
                next_block_id: 1,
                wal_first_segment: 1,
                blocks: Vec::new(),
            }),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(self).expect("manifest serialises");
        atomic_write(dir, MANIFEST_FILE, &bytes)
    }

    pub(crate) fn block_file(id: u64) -> String {
        format!("{id:016x}.blk")
    }

    pub(crate) fn take_id(&mut self) -> u64 {
        let id = self.next_block_id;
        self.next_block_id += 1;
        id
    }
}
