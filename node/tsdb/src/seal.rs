//! Sealing: a frozen head becomes level-0 raw blocks (one per UTC day), the manifest moves the
//! WAL replay point past it, and only then are the covered WAL segments deleted.

use crate::block::{BlockBuilder, BlockReader};
use crate::codec::{self, CHUNK_POINTS_MAX};
use crate::error::{Error, Result};
use crate::manifest::{BlockMeta, Manifest};
use crate::rollup::Resolution;
use crate::shared::Shared;
use crate::store::Change;
use crate::wal::{list_segments, segment_path};

/// Adds a series' settled points to a raw block, split into chunks of at most
/// [`CHUNK_POINTS_MAX`] points.
pub(crate) fn add_series(b: &mut BlockBuilder, id: u64, pts: &[(i64, f64)]) -> Result<()> {
    for chunk in pts.chunks(CHUNK_POINTS_MAX) {
        let mut buf = Vec::new();
        codec::encode(chunk, &mut buf)?;
        let (lo, hi) = (chunk[0].0, chunk[chunk.len() - 1].0);
        b.add(id, lo, hi, chunk.len() as u32, &buf);
    }
    Ok(())
}

/// Allocates `n` block ids (never reused, even if the blocks are never committed).
pub(crate) fn take_ids(shared: &Shared, n: usize) -> Vec<u64> {
    let mut store = shared.store.write().expect("store lock");
    (0..n).map(|_| store.manifest.take_id()).collect()
}

pub(crate) fn finish(shared: &Shared, b: BlockBuilder, id: u64) -> Result<BlockReader> {
    b.finish(&shared.blocks_dir(), &Manifest::block_file(id))
}

/// Seals the frozen head, if any. The caller holds the maintenance lock.
pub(crate) fn seal_frozen(shared: &Shared) -> Result<bool> {
    let (frozen, upto) = {
        let head = shared.head.lock().expect("head lock");
        match &head.frozen {
            Some(f) => (std::sync::Arc::clone(f), head.frozen_upto),
            None => return Ok(false),
        }
    };
    // Ids named by blocks must be durable in the index first.
    shared.index.flush()?;
    let (days, conflicts) = frozen.to_days();
    let ids = take_ids(shared, days.len());
    let mut change = Change {
        wal_first_segment: Some(upto),
        ..Default::default()
    };
    for ((day, runs), id) in days.into_iter().zip(ids) {
        let mut b = BlockBuilder::new(Resolution::Raw, day);
        for (series, pts) in runs.iter().filter(|(s, _)| !shared.is_dropped(*s)) {
            add_series(&mut b, *series, pts)?;
        }
        if b.is_empty() {
            continue;
        }
        let reader = finish(shared, b, id)?;
        let meta = BlockMeta::new(id, Resolution::Raw, day, 0, vec![]);
        change.add.push((meta, reader));
    }
    let (dir, blocks_dir) = (shared.config.dir.clone(), shared.blocks_dir());
    shared
        .store
        .write()
        .expect("store lock")
        .commit(&dir, &blocks_dir, change)?;
    {
        let mut head = shared.head.lock().expect("head lock");
        head.frozen = None;
        shared.head_cv.notify_all();
    }
    let c = &shared.counters;
    c.add(&c.seals, 1);
    c.add(&c.conflicts, conflicts);
    delete_segments_below(shared, upto)?;
    Ok(true)
}

/// Deletes WAL segments whose data is now in durable blocks.
pub(crate) fn delete_segments_below(shared: &Shared, upto: u64) -> Result<()> {
    let dir = shared.wal_dir();
    for seq in list_segments(&dir)?.into_iter().filter(|s| *s < upto) {
        let path = segment_path(&dir, seq);
        std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
    }
    crate::fsutil::fsync_dir(&dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_above_chunk_points_max_is_split_into_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let pts: Vec<(i64, f64)> = (0..CHUNK_POINTS_MAX as i64 + 5).map(|i| (i, 1.0)).collect();
        let mut b = BlockBuilder::new(Resolution::Raw, 0);
        add_series(&mut b, 7, &pts).unwrap();
        let r = b.finish(dir.path(), "x.blk").unwrap();
        let entries = r.entries_of(7);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].count, 5);
        let mut back = Vec::new();
        crate::store::read_points(&r, 7, i64::MIN, i64::MAX, &mut back).unwrap();
        assert_eq!(back.len(), pts.len());
    }
}
