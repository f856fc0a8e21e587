//! When this node takes a Raft snapshot. Writing one costs time in proportion to the state, so
//! a snapshot is due once at least `snapshot_every` entries were applied since the last one AND
//! at least as many entries as the state had records at the last one (the rule of an append-only
//! file rewritten once it has doubled): the cost per applied entry stays bounded however large
//! the state grows, and the log behind a snapshot is never much longer than the state itself.

use std::time::Duration;

use openraft::async_runtime::WatchReceiver;

use crate::node::NodeRef;

/// How often the node looks whether a snapshot is due.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// Checks after a trigger before triggering again when no snapshot came of it.
const RETRIGGER_AFTER: u32 = 20;

/// This node's minimum: `every` plus an eighth of it per step of the node id modulo 4, so the
/// nodes of a cluster, which apply the same entries, do not all write a snapshot at once.
pub fn staggered(every: u64, node_id: u64) -> u64 {
    every.saturating_add(every / 8 * (node_id % 4))
}

/// Whether a snapshot is due at `applied`, given the last snapshot's index (None: none yet) and
/// the records the state held then.
pub fn due(applied: u64, last_snapshot: Option<u64>, records_then: usize, every: u64) -> bool {
    let since = applied.saturating_sub(last_snapshot.unwrap_or(0));
    since >= every.max(records_then as u64)
}

/// Triggers snapshots while the node runs.
pub async fn run(node: NodeRef, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The last snapshot seen and the state's size when it was seen.
    let mut seen: Option<(Option<u64>, usize)> = None;
    let mut waiting = 0;
    let every = staggered(node.cfg.snapshot_every, node.id);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let (applied, last) = {
            let metrics = node.raft.metrics();
            let m = metrics.borrow_watched();
            let applied = m.last_applied.as_ref().map_or(0, |l| l.index);
            (applied, m.snapshot.as_ref().map(|l| l.index))
        };
        let records_then = match seen {
            Some((at, records)) if at == last => records,
            _ => {
                // A new snapshot (or the first look): its size is about the state's now.
                let records = last.map_or(0, |_| node.state.read(|s| s.record_count()));
                seen = Some((last, records));
                waiting = 0;
                records
            }
        };
        if waiting > 0 {
            waiting -= 1;
            continue;
        }
        if due(applied, last, records_then, every) {
            tracing::debug!(applied, ?last, records_then, "snapshot due");
            if node.raft.trigger().snapshot().await.is_ok() {
                waiting = RETRIGGER_AFTER;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{due, staggered};

    #[test]
    fn nodes_with_neighbouring_ids_snapshot_at_different_points() {
        let points: Vec<u64> = (1..=4).map(|id| staggered(20_000, id)).collect();
        assert_eq!(points, vec![22_500, 25_000, 27_500, 20_000]);
        assert_eq!(staggered(1, 3), 1);
    }

    #[test]
    fn a_snapshot_waits_for_the_minimum_and_for_the_state_size() {
        // Small state: the minimum decides.
        assert!(!due(19_999, None, 0, 20_000));
        assert!(due(20_000, None, 0, 20_000));
        assert!(!due(39_999, Some(20_000), 10, 20_000));
        assert!(due(40_000, Some(20_000), 10, 20_000));
        // Large state: as many entries as it had records at the last snapshot.
        assert!(!due(60_000, Some(20_000), 50_000, 20_000));
        assert!(due(70_000, Some(20_000), 50_000, 20_000));
        // A snapshot index ahead of applied (just installed) is never due.
        assert!(!due(5, Some(10), 0, 1));
    }
}
