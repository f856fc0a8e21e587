//! Admission and concurrency of deliveries: how many may be pending on the node, how many
//! attempts run at once on the node, and how many at once to one receiver host, so a slow
//! receiver holds at most its own share and never the others'.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::SubmitError;

/// Most deliveries pending (accepted, not finished) on one node.
pub const DELIVERIES_QUEUED_MAX: usize = 10_000;
/// Most attempts at once on one node (`--deliveries-in-flight-max` is at most this).
pub const DELIVERIES_IN_FLIGHT_MAX: usize = 1_024;
/// Default of `--deliveries-in-flight-max`.
pub const DELIVERIES_IN_FLIGHT_DEFAULT: usize = 64;
/// Most attempts at once to one receiver host.
pub const HOST_IN_FLIGHT_MAX: usize = 4;

/// The bounds, shared by every delivery task of a notifier.
#[derive(Debug)]
pub struct Limits {
    queued_max: usize,
    queued: AtomicUsize,
    per_host: usize,
    global: Arc<Semaphore>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A place in the queue, given back on drop.
#[derive(Debug)]
pub struct Slot(Arc<Limits>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The right to make one attempt to a host; releases both permits on drop and forgets the
/// host's semaphore when nobody else holds or waits on it.
#[derive(Debug)]
pub struct Permit {
    limits: Arc<Limits>,
    host: String,
    host_permit: Option<OwnedSemaphorePermit>,
    _global: OwnedSemaphorePermit,
}

impl Drop for Permit {
    fn drop(&mut self) {
        drop(self.host_permit.take());
        let mut hosts = self.limits.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if hosts
            .get(&self.host)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            hosts.remove(&self.host);
        }
    }
}

impl Limits {
    /// At most `queued_max` pending, `in_flight` attempts on the node and `per_host` to one
    /// host (each at least 1).
    pub fn new(queued_max: usize, in_flight: usize, per_host: usize) -> Arc<Limits> {
        assert!(queued_max >= 1 && in_flight >= 1 && per_host >= 1);
        Arc::new(Limits {
            queued_max,
            queued: AtomicUsize::new(0),
            per_host,
            global: Arc::new(Semaphore::new(in_flight)),
            hosts: Mutex::new(HashMap::new()),
        })
    }

    /// A place in the queue, or `Full` when `queued_max` deliveries are pending.
    pub fn admit(self: &Arc<Self>) -> Result<Slot, SubmitError> {
        let prev = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.queued_max).then_some(n + 1)
            });
        match prev {
            Ok(_) => Ok(Slot(self.clone())),
            Err(n) => Err(SubmitError::Full(n)),
        }
    }

    /// Deliveries pending now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Waits for a turn to send to `host`: first the host's own permit, then the node's, so a
    /// delivery waiting on a busy host holds none of the node's permits.
    pub async fn acquire(self: &Arc<Self>, host: &str) -> Permit {
        let sem = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            hosts
                .entry(host.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        // Neither semaphore is ever closed.
        let host_permit = sem.acquire_owned().await.expect("host semaphore open");
        let global = self
            .global
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore open");
        Permit {
            limits: self.clone(),
            host: host.to_string(),
            host_permit: Some(host_permit),
            _global: global,
        }
    }

    /// Hosts with a semaphore now (someone holds or waits for it).
    pub fn hosts_tracked(&self) -> usize {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn admission_stops_at_the_bound_and_slots_come_back() {
        let l = Limits::new(3, 1, 1);
        let slots: Vec<Slot> = (0..3).map(|_| l.admit().expect("room")).collect();
        assert_eq!(l.admit().err(), Some(SubmitError::Full(3)));
        drop(slots);
        assert_eq!(l.queued(), 0);
        assert!(l.admit().is_ok());
    }

    #[tokio::test]
    async fn a_busy_host_does_not_take_the_nodes_permits() {
        let l = Limits::new(10, 2, 1);
        let slow = l.acquire("slow.example").await;
        // A second attempt to the slow host waits for the host, holding no node permit...
        let waiting = tokio::spawn({
            let l = l.clone();
            async move { l.acquire("slow.example").await }
        });
        tokio::task::yield_now().await;
        // ...so another host still gets the node's second permit at once.
        let fast = tokio::time::timeout(Duration::from_secs(5), l.acquire("fast.example")).await;
        assert!(fast.is_ok(), "fast host held up by the slow one");
        drop(fast);
        drop(slow);
        let again = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(again, Ok(Ok(_))));
        drop(again);
        assert_eq!(l.hosts_tracked(), 0);
    }

    #[tokio::test]
    async fn the_node_bound_holds_across_hosts() {
        let l = Limits::new(10, 2, HOST_IN_FLIGHT_MAX);
        let a = l.acquire("a").await;
        let b = l.acquire("b").await;
        let c = tokio::time::timeout(Duration::from_millis(50), l.acquire("c")).await;
        assert!(c.is_err(), "a third attempt ran past the node's bound of 2");
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(5), l.acquire("c")).await;
        assert!(c.is_ok());
        drop((b, c));
    }
}
