//! The WAL writer thread: gathers queued records, covers them with one fdatasync, applies them
//! to the head in log order, and only then answers their writers (acknowledged = durable).
//! It also rotates the head: a full or old head is frozen for sealing and a new segment starts.

use crate::error::{Error, Result};
use crate::index::tenant_of;
use crate::shared::Shared;
use crate::wal::{Segment, WalRecord};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

/// Most records covered by one fdatasync.
pub const GROUP_RECORDS_MAX: usize = 256;
/// Most bytes covered by one fdatasync (a group stops growing past it).
pub const GROUP_BYTES_MAX: usize = 32 << 20;
/// Requests that may wait for the writer thread; more writers block in `send`.
pub const QUEUE_MAX: usize = 1024;

/// The bounded queue to the writer thread.
pub(crate) fn queue() -> (SyncSender<Request>, Receiver<Request>) {
    std::sync::mpsc::sync_channel(QUEUE_MAX)
}

/// A job for the writer thread.
pub(crate) enum Request {
    Append {
        record: WalRecord,
        frame: Vec<u8>,
        reply: SyncSender<Result<()>>,
    },
    /// Freeze the live head for sealing, unless it is empty or an earlier head is still
    /// being sealed (the caller seals and asks again).
    Rotate {
        reply: SyncSender<Result<RotateOutcome>>,
    },
}

/// Answer to a rotation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RotateOutcome {
    Frozen,
    Empty,
    Busy,
}

/// Takes the first request and whatever else is queued, up to the group bounds, stopping
/// after a rotation so that appends after it land in the next segment.
pub(crate) fn gather(first: Request, rx: &Receiver<Request>) -> Vec<Request> {
    let mut bytes = frame_len(&first);
    let mut group = vec![first];
    while group.len() < GROUP_RECORDS_MAX && bytes < GROUP_BYTES_MAX {
        if matches!(group.last(), Some(Request::Rotate { .. })) {
            break;
        }
        match rx.try_recv() {
            Ok(r) => {
                bytes += frame_len(&r);
                group.push(r);
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    group
}

fn frame_len(r: &Request) -> usize {
    match r {
        Request::Append { frame, .. } => frame.len(),
        Request::Rotate { .. } => 0,
    }
}

pub(crate) struct Committer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) segment: Segment,
    /// Set after a failed append or fsync: the log's state is unknown, so nothing more is
    /// acknowledged until the engine is reopened.
    pub(crate) failed: Option<String>,
}

impl Committer {
    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        while let Ok(first) = rx.recv() {
            let group = gather(first, &rx);
            let mut appends = Vec::new();
            for req in group {
                match req {
                    Request::Append { .. } => appends.push(req),
                    Request::Rotate { reply } => {
                        self.commit(std::mem::take(&mut appends));
                        let _ = reply.send(self.rotate(false));
                    }
                }
            }
            self.commit(appends);
            if self.shared.head_over_limit()
                && let Err(e) = self.rotate(true)
            {
                tracing::error!(error = %e, "head rotation failed");
            }
        }
    }

    fn commit(&mut self, appends: Vec<Request>) {
        if appends.is_empty() {
            return;
        }
        let result = self.write_and_sync(&appends);
        let mut replies = Vec::with_capacity(appends.len());
        let mut records = Vec::with_capacity(appends.len());
        for req in appends {
            if let Request::Append { record, reply, .. } = req {
                records.push(record);
                replies.push(reply);
            }
        }
        if result.is_ok() {
            self.apply(&records);
        }
        for reply in replies {
            let _ = reply.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::Closed(e.clone())),
            });
        }
    }

    fn write_and_sync(&mut self, appends: &[Request]) -> std::result::Result<(), String> {
        if let Some(why) = &self.failed {
            return Err(why.clone());
        }
        let mut buf = Vec::with_capacity(appends.iter().map(frame_len).sum());
        for req in appends {
            if let Request::Append { frame, .. } = req {
                buf.extend_from_slice(frame);
            }
        }
        let res = self.segment.append(&buf).and_then(|()| self.segment.sync());
        let c = &self.shared.counters;
        match res {
            Ok(()) => {
                c.add(&c.wal_fsyncs, 1);
                c.add(&c.wal_bytes, buf.len() as u64);
                c.record_batch(appends.len() as u64);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "wal append failed; refusing further writes");
                self.failed = Some(format!("wal write failed: {e}"));
                Err(self.failed.clone().expect("set"))
            }
        }
    }

    fn apply(&self, records: &[WalRecord]) {
        let now = (self.shared.config.clock)();
        let c = &self.shared.counters;
        for record in records {
            match record {
                WalRecord::Write(series) => {
                    let batch: Vec<_> = series.iter().map(|s| (s.id, s)).collect();
                    self.shared
                        .head
                        .lock()
                        .expect("head lock")
                        .live
                        .apply(&batch, now);
                    self.shared.note_last_timestamps(series);
                    let points: usize = series.iter().map(|s| s.points.len()).sum();
                    c.add(&c.points_ingested, points as u64);
                    c.add(&c.writes, 1);
                }
                WalRecord::DropTenant(t) => {
                    self.shared
                        .head
                        .lock()
                        .expect("head lock")
                        .live
                        .purge(|id| tenant_of(id) == *t);
                }
            }
        }
    }

    /// Freezes the live head and starts a new segment. When the head is full (`wait`), waits
    /// while an earlier frozen head is still being sealed: that wait is the engine's
    /// back-pressure on writers, and what bounds its memory to two heads.
    fn rotate(&mut self, wait: bool) -> Result<RotateOutcome> {
        if let Some(why) = &self.failed {
            return Err(Error::Closed(why.clone()));
        }
        {
            let head = self.shared.head.lock().expect("head lock");
            if head.live.is_empty() {
                return Ok(RotateOutcome::Empty);
            }
            if head.frozen.is_some() && !wait {
                return Ok(RotateOutcome::Busy);
            }
            let _unused = self
                .shared
                .head_cv
                .wait_while(head, |h| {
                    h.frozen.is_some() && !self.shared.stopping.load(Relaxed)
                })
                .expect("head lock");
        }
        let next = Segment::create(&self.shared.wal_dir(), self.segment.seq + 1)?;
        self.segment = next;
        let mut head = self.shared.head.lock().expect("head lock");
        if head.frozen.is_some() {
            return Err(Error::Closed("engine stopping".into()));
        }
        let live = std::mem::take(&mut head.live);
        head.frozen = Some(Arc::new(live));
        head.frozen_upto = self.segment.seq;
        drop(head);
        tracing::debug!(
            full = wait,
            segment = self.segment.seq,
            "head frozen for sealing"
        );
        self.shared.wake_maintenance();
        Ok(RotateOutcome::Frozen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    #[test]
    fn the_queue_holds_queue_max_requests_and_then_refuses() {
        let (tx, _rx) = queue();
        let (otx, _orx) = sync_channel(1);
        for _ in 0..QUEUE_MAX {
            tx.try_send(Request::Rotate { reply: otx.clone() }).unwrap();
        }
        let full = tx.try_send(Request::Rotate { reply: otx });
        assert!(matches!(full, Err(std::sync::mpsc::TrySendError::Full(_))));
    }

    #[test]
    fn gather_stops_at_group_bytes_max() {
        let (tx, rx) = queue();
        let (rtx, _rrx) = sync_channel(QUEUE_MAX);
        let big = GROUP_BYTES_MAX / 4;
        for _ in 0..10 {
            tx.send(Request::Append {
                record: WalRecord::DropTenant(1),
                frame: vec![0; big],
                reply: rtx.clone(),
            })
            .unwrap();
        }
        let first = rx.recv().unwrap();
        assert_eq!(gather(first, &rx).len(), 4);
    }

    #[test]
    fn gather_stops_at_group_records_max_and_after_rotate() {
        let (tx, rx) = sync_channel(QUEUE_MAX);
        let (rtx, _rrx) = sync_channel(QUEUE_MAX);
        let append = || Request::Append {
            record: WalRecord::DropTenant(1),
            frame: vec![0; 10],
            reply: rtx.clone(),
        };
        for _ in 0..GROUP_RECORDS_MAX + 10 {
            tx.send(append()).unwrap();
        }
        let first = rx.recv().unwrap();
        assert_eq!(gather(first, &rx).len(), GROUP_RECORDS_MAX);
        let first = rx.recv().unwrap();
        assert_eq!(gather(first, &rx).len(), 10);
        let (otx, _orx) = sync_channel(1);
        tx.send(append()).unwrap();
        tx.send(Request::Rotate { reply: otx }).unwrap();
        tx.send(append()).unwrap();
        let first = rx.recv().unwrap();
        assert_eq!(gather(first, &rx).len(), 2);
    }
}
