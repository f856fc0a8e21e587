//! The pollers' outbound observation stream: every observation is offered to each subscriber
//! (the series writer, the alarm evaluator's feed) through a bounded queue that drops its
//! oldest entry when full, and counts what it dropped. A slow subscriber never slows polling.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::observation::Observation;

/// Most subscribers of one sink.
pub const SUBSCRIBERS_MAX: usize = 16;
/// Largest queue of one subscriber.
pub const QUEUE_MAX: usize = 1_000_000;

struct Queue {
    name: &'static str,
    items: Mutex<VecDeque<Arc<Observation>>>,
    capacity: usize,
    dropped: AtomicU64,
    ready: Notify,
}

/// Where pollers publish observations.
#[derive(Default)]
pub struct ObservationSink {
    queues: Mutex<Vec<Arc<Queue>>>,
    published: AtomicU64,
}

/// One subscriber's end of the stream.
pub struct Subscription {
    queue: Arc<Queue>,
}

impl ObservationSink {
    /// Adds a subscriber whose queue holds at most `capacity` observations (1..=`QUEUE_MAX`).
    pub fn subscribe(&self, name: &'static str, capacity: usize) -> Subscription {
        assert!((1..=QUEUE_MAX).contains(&capacity), "queue capacity");
        let queue = Arc::new(Queue {
            name,
            items: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity,
            dropped: AtomicU64::new(0),
            ready: Notify::new(),
        });
        let mut queues = self.queues.lock().expect("sink lock");
        assert!(queues.len() < SUBSCRIBERS_MAX, "too many subscribers");
        queues.push(queue.clone());
        Subscription { queue }
    }

    /// Offers `o` to every subscriber, dropping each full queue's oldest entry.
    pub fn publish(&self, o: Observation) {
        self.published.fetch_add(1, Ordering::Relaxed);
        let o = Arc::new(o);
        for q in self.queues.lock().expect("sink lock").iter() {
            let mut items = q.items.lock().expect("queue lock");
            if items.len() >= q.capacity {
                items.pop_front();
                q.dropped.fetch_add(1, Ordering::Relaxed);
            }
            items.push_back(o.clone());
            drop(items);
            q.ready.notify_one();
        }
    }

    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// (subscriber, queued, dropped) for `/metrics`.
    pub fn queues(&self) -> Vec<(&'static str, usize, u64)> {
        let queues = self.queues.lock().expect("sink lock");
        queues
            .iter()
            .map(|q| {
                let len = q.items.lock().expect("queue lock").len();
                (q.name, len, q.dropped.load(Ordering::Relaxed))
            })
            .collect()
    }
}

impl Subscription {
    /// Waits for observations and takes up to `max` of them, oldest first.
    pub async fn next_batch(&self, max: usize) -> Vec<Arc<Observation>> {
        loop {
            let notified = self.queue.ready.notified();
            {
                let mut items = self.queue.items.lock().expect("queue lock");
                if !items.is_empty() {
                    let n = items.len().min(max.max(1));
                    return items.drain(..n).collect();
                }
            }
            notified.await;
        }
    }

    pub fn dropped(&self) -> u64 {
        self.queue.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(ts: i64) -> Observation {
        Observation {
            check_id: "ch".into(),
            entity_id: "en".into(),
            tenant_id: "t".into(),
            monitoring_zone_id: "r1".into(),
            node_id: 1,
            timestamp: ts,
            available: true,
            status: String::new(),
            metrics: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_its_oldest_and_counts_it() {
        let sink = ObservationSink::default();
        let slow = sink.subscribe("slow", 3);
        let fast = sink.subscribe("fast", 100);
        for ts in 0..5 {
            sink.publish(obs(ts));
        }
        let got: Vec<i64> = slow
            .next_batch(10)
            .await
            .iter()
            .map(|o| o.timestamp)
            .collect();
        assert_eq!(got, [2, 3, 4], "the two oldest were dropped");
        assert_eq!(slow.dropped(), 2);
        assert_eq!(fast.next_batch(2).await.len(), 2);
        assert_eq!(fast.next_batch(10).await.len(), 3);
        assert_eq!(fast.dropped(), 0);
        assert_eq!(sink.published(), 5);
    }

    #[tokio::test]
    async fn a_waiting_subscriber_wakes_on_publish() {
        let sink = Arc::new(ObservationSink::default());
        let sub = sink.subscribe("w", 10);
        let s2 = sink.clone();
        let t = tokio::spawn(async move { sub.next_batch(10).await.len() });
        tokio::task::yield_now().await;
        s2.publish(obs(1));
        assert_eq!(t.await.expect("join"), 1);
    }
}
