//! Liveness: nodes heartbeat the leader; the leader commits `NodeDown`/`NodeUp` through Raft
//! with hysteresis, so every node derives the same placement from the same committed state.
//!
//! A node is marked down after `liveness_down_after_ms` without a heartbeat, and up again after
//! heartbeats arrived steadily for two intervals. A new leader waits `liveness_down_after_ms`
//! before marking anyone down, so it does not blame nodes for its own late start.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use meridian_proto::Envelope;
use meridian_raft::model::Op;
use meridian_raft::network::{decode, encode};
use openraft::Instant as _;
use openraft::async_runtime::WatchReceiver;

use crate::node::{LeaderRoute, Node};
use crate::peer_msgs::{Heartbeat, HeartbeatOk, PeerResult};

#[derive(Debug, Clone, Copy)]
struct Seen {
    streak_start: Instant,
    last: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    /// Leader side: when each node was last heard, and since when steadily.
    seen: HashMap<u64, Seen>,
    /// When this node last became leader.
    leader_since: Option<Instant>,
    /// Follower side: last heartbeat answered by a leader that had a quorum.
    quorum_contact: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Liveness {
    inner: Mutex<Inner>,
}

/// What the leader should commit for one member.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Down,
    Up,
    Keep,
}

/// Pure hysteresis rule for one member.
pub fn judge(
    up: bool,
    seen: Option<(Instant, Instant)>,
    now: Instant,
    interval: Duration,
    down_after: Duration,
) -> Verdict {
    match (up, seen) {
        (true, None) => Verdict::Down,
        (true, Some((_, last))) if now.duration_since(last) > down_after => Verdict::Down,
        (false, Some((streak, last)))
            if now.duration_since(last) <= interval * 2
                && now.duration_since(streak) >= interval * 2 =>
        {
            Verdict::Up
        }
        _ => Verdict::Keep,
    }
}

/// (streak start, last heartbeat) of `id`. A member noticed for the first time (e.g. it just
/// joined) counts as heard from now, so it gets the same grace as every member at election.
fn seen_or_first_notice(
    seen: &mut HashMap<u64, Seen>,
    id: u64,
    now: Instant,
) -> (Instant, Instant) {
    let s = seen.entry(id).or_insert(Seen {
        streak_start: now,
        last: now,
    });
    (s.streak_start, s.last)
}

impl Liveness {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("liveness lock")
    }

    pub fn record_heartbeat(&self, from: u64) {
        let now = Instant::now();
        let mut inner = self.lock();
        let gap = Duration::from_secs(2);
        let e = inner.seen.entry(from).or_insert(Seen {
            streak_start: now,
            last: now,
        });
        if now.duration_since(e.last) > gap {
            e.streak_start = now;
        }
        e.last = now;
    }

    pub fn record_quorum_contact(&self) {
        self.lock().quorum_contact = Some(Instant::now());
    }

    pub fn last_quorum_contact(&self) -> Option<Instant> {
        self.lock().quorum_contact
    }
}

impl Node {
    /// Leader: whether a quorum acknowledged it within the lease.
    pub fn leader_has_quorum(&self) -> bool {
        let m = self.raft.metrics().borrow_watched().clone();
        let mut voters = m.membership_config.membership().voter_ids();
        let sole_voter = voters.next() == Some(self.id) && voters.next().is_none();
        m.current_leader == Some(self.id)
            && (sole_voter
                || m.last_quorum_acked.as_ref().is_some_and(|t| {
                    t.elapsed() <= Duration::from_millis(self.cfg.quorum_lease_ms)
                }))
    }

    /// Whether this node heard from a quorum within its lease (as leader, or through a leader).
    pub fn has_quorum_contact(&self) -> bool {
        if self.leader_has_quorum() {
            return true;
        }
        let lease = Duration::from_millis(self.cfg.quorum_lease_ms);
        self.liveness
            .last_quorum_contact()
            .is_some_and(|t| t.elapsed() <= lease)
    }

    /// Runs until `stop` resolves: heartbeats as follower, liveness decisions as leader.
    pub async fn run_liveness(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let interval = Duration::from_millis(self.cfg.liveness_interval_ms);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            match self.leader_route() {
                LeaderRoute::Local => self.leader_liveness_round(interval).await,
                LeaderRoute::Remote { id, addr } => {
                    self.liveness.lock().leader_since = None;
                    self.send_heartbeat(id, &addr, interval).await;
                }
                LeaderRoute::Unknown => self.liveness.lock().leader_since = None,
            }
        }
    }

    async fn send_heartbeat(&self, leader: u64, addr: &str, interval: Duration) {
        let env = Envelope {
            target_node_id: leader,
            payload: encode(&Heartbeat { from: self.id }),
        };
        let Ok(mut client) = self.peers.client(addr) else {
            return;
        };
        let Ok(reply) = client
            .heartbeat(self.peers.request(env, interval * 2))
            .await
        else {
            return;
        };
        if let Ok(Ok(ok)) = decode::<PeerResult<HeartbeatOk>>(&reply.into_inner().payload)
            && ok.leader_has_quorum
        {
            self.liveness.record_quorum_contact();
        }
    }

    async fn leader_liveness_round(&self, interval: Duration) {
        let now = Instant::now();
        let down_after = Duration::from_millis(self.cfg.liveness_down_after_ms);
        let since = {
            let mut inner = self.liveness.lock();
            if inner.leader_since.is_none() {
                // A new leader starts with a clean slate and a grace period.
                inner.seen.clear();
                inner.leader_since = Some(now);
            }
            let since = inner.leader_since.unwrap_or(now);
            inner.seen.insert(
                self.id,
                Seen {
                    streak_start: since,
                    last: now,
                },
            );
            since
        };
        if now.duration_since(since) < down_after || !self.leader_has_quorum() {
            return;
        }
        let members: Vec<(u64, bool)> = self
            .state
            .read(|s| s.members().map(|m| (m.id, m.up)).collect());
        for (id, up) in members {
            let seen = Some(seen_or_first_notice(
                &mut self.liveness.lock().seen,
                id,
                now,
            ));
            let op = match judge(up, seen, now, interval, down_after) {
                Verdict::Down => Op::SetMemberStatus { id, up: false },
                Verdict::Up => Op::SetMemberStatus { id, up: true },
                Verdict::Keep => continue,
            };
            let down = matches!(op, Op::SetMemberStatus { up: false, .. });
            match self.write(op, None).await {
                Ok(_) if down => {
                    tracing::warn!(node_id = id, "marking node down");
                    self.metrics.liveness_marked_down.inc();
                }
                Ok(_) => {
                    tracing::info!(node_id = id, "marking node up");
                    self.metrics.liveness_marked_up.inc();
                }
                Err(e) => tracing::warn!(node_id = id, error = %e, "liveness change not committed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_noticed_for_the_first_time_gets_the_grace_period() {
        let t0 = Instant::now();
        let (i, d) = (Duration::from_millis(500), Duration::from_secs(3));
        let mut seen = HashMap::new();
        let first = seen_or_first_notice(&mut seen, 4, t0);
        assert_eq!(judge(true, Some(first), t0 + i, i, d), Verdict::Keep);
        // Still silent after the grace period: down.
        let later = seen_or_first_notice(&mut seen, 4, t0 + d * 2);
        assert_eq!(judge(true, Some(later), t0 + d * 2, i, d), Verdict::Down);
    }

    #[test]
    fn hysteresis() {
        let t0 = Instant::now();
        let i = Duration::from_millis(500);
        let d = Duration::from_secs(3);
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(judge(true, Some((t0, t0)), at(2000), i, d), Verdict::Keep);
        assert_eq!(judge(true, Some((t0, t0)), at(3500), i, d), Verdict::Down);
        assert_eq!(judge(true, None, at(10), i, d), Verdict::Down);
        // Back, but not yet steadily: stays down; steady for two intervals: up.
        assert_eq!(
            judge(false, Some((at(5000), at(5000))), at(5100), i, d),
            Verdict::Keep
        );
        assert_eq!(
            judge(false, Some((at(5000), at(6000))), at(6100), i, d),
            Verdict::Up
        );
        assert_eq!(
            judge(false, Some((at(5000), at(6000))), at(9000), i, d),
            Verdict::Keep
        );
    }
}
