//! The set of live blocks: the manifest plus an open reader per block, changed only by
//! crash-atomic manifest commits.

use crate::block::BlockReader;
use crate::codec;
use crate::error::{Error, Result};
use crate::head::DAY_MS;
use crate::manifest::{BlockMeta, Manifest};
use crate::rollup::{Bucket, Resolution, decode_buckets};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

pub(crate) struct Store {
    pub(crate) manifest: Manifest,
    pub(crate) readers: HashMap<u64, Arc<BlockReader>>,
}

/// A change to the block set, committed at once.
#[derive(Default)]
pub(crate) struct Change {
    pub(crate) remove: Vec<u64>,
    pub(crate) add: Vec<(BlockMeta, BlockReader)>,
    pub(crate) wal_first_segment: Option<u64>,
    /// Raw blocks renamed by a rewrite: rollups that named the old id name the new one.
    pub(crate) renames: Vec<(u64, u64)>,
}

impl Store {
    /// Loads the manifest, opens its blocks and removes files it does not name.
    pub(crate) fn open(dir: &Path, blocks_dir: &Path) -> Result<Store> {
        let manifest = Manifest::load_or_new(dir)?;
        let mut readers = HashMap::new();
        for b in &manifest.blocks {
            let path = blocks_dir.join(Manifest::block_file(b.id));
            let reader = BlockReader::open(&path)?;
            if reader.resolution != b.resolution || reader.day != b.day {
                return Err(Error::corrupt(
                    path.display().to_string(),
                    "block header disagrees with the manifest",
                ));
            }
            readers.insert(b.id, Arc::new(reader));
        }
        for entry in std::fs::read_dir(blocks_dir).map_err(|e| Error::io("list", blocks_dir, e))? {
            let entry = entry.map_err(|e| Error::io("list", blocks_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let known = manifest
                .blocks
                .iter()
                .any(|b| Manifest::block_file(b.id) == name);
            if !known {
                tracing::info!(file = %name, "removing block file not in the manifest");
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Store { manifest, readers })
    }

    /// Writes the new manifest durably, then updates memory and deletes removed files.
    pub(crate) fn commit(&mut self, dir: &Path, blocks_dir: &Path, change: Change) -> Result<()> {
        let mut next = self.manifest.clone();
        next.blocks.retain(|b| !change.remove.contains(&b.id));
        for (old, new) in &change.renames {
            for b in &mut next.blocks {
                b.sources
                    .iter_mut()
                    .filter(|s| **s == *old)
                    .for_each(|s| *s = *new);
            }
        }
        next.blocks
            .extend(change.add.iter().map(|(m, _)| m.clone()));
        if let Some(w) = change.wal_first_segment {
            next.wal_first_segment = w;
        }
        next.save(dir)?;
        self.manifest = next;
        for (m, r) in change.add {
            self.readers.insert(m.id, Arc::new(r));
        }
        for id in &change.remove {
            self.readers.remove(id);
            let path = blocks_dir.join(Manifest::block_file(*id));
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(error = %e, path = %path.display(), "could not remove merged block");
            }
        }
        Ok(())
    }

    pub(crate) fn meta(&self, id: u64) -> Option<&BlockMeta> {
        self.manifest.blocks.iter().find(|b| b.id == id)
    }

    /// Blocks of a resolution whose day overlaps `[from, to)`, with their metadata.
    pub(crate) fn blocks_in(
        &self,
        res: Resolution,
        from: i64,
        to: i64,
    ) -> Vec<(BlockMeta, Arc<BlockReader>)> {
        let (d0, d1) = (from.div_euclid(DAY_MS), (to - 1).div_euclid(DAY_MS));
        self.manifest
            .blocks
            .iter()
            .filter(|b| b.resolution == res && b.last_day() >= d0 && b.day <= d1)
            .map(|b| (b.clone(), Arc::clone(&self.readers[&b.id])))
            .collect()
    }
}

/// Appends a series' raw points within `[from, to)` from one block.
pub(crate) fn read_points(
    block: &BlockReader,
    id: u64,
    from: i64,
    to: i64,
    out: &mut Vec<(i64, f64)>,
) -> Result<()> {
    for e in block.entries_of(id) {
        if e.max_ts < from || e.min_ts >= to {
            continue;
        }
        let pts = codec::decode(&block.read_chunk(e)?)?;
        out.extend(pts.into_iter().filter(|p| p.0 >= from && p.0 < to));
    }
    Ok(())
}

/// Appends a series' rollup buckets starting within `[from, to)` from one block.
pub(crate) fn read_buckets(
    block: &BlockReader,
    id: u64,
    from: i64,
    to: i64,
    out: &mut Vec<Bucket>,
) -> Result<()> {
    for e in block.entries_of(id) {
        if e.max_ts < from || e.min_ts >= to {
            continue;
        }
        let buckets = decode_buckets(&block.read_chunk(e)?)?;
        out.extend(
            buckets
                .into_iter()
                .filter(|b| b.start_ms >= from && b.start_ms < to),
        );
    }
    Ok(())
}
