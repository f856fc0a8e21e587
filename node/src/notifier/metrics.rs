//! The notifier's metrics: deliveries by type and outcome, delivery latency, attempts, and how
//! many deliveries are queued, in flight or waiting to retry; rendered in the Prometheus text
//! format for `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::metrics::{Counter, metric, sample};

/// The notification types, in the order of the per-type counters.
pub const KINDS: [&str; 4] = ["webhook", "slack", "pagerduty", "email"];
/// Upper bounds of the delivery latency buckets, seconds (from accepted to done).
pub const LATENCY_BUCKETS_S: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
];

/// A gauge that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The delivery latency histogram, over `LATENCY_BUCKETS_S` (deliveries retry for minutes).
#[derive(Debug)]
pub struct Histogram(crate::metrics::Histogram);

impl Default for Histogram {
    fn default() -> Self {
        Histogram(crate::metrics::Histogram::with_bounds(&LATENCY_BUCKETS_S))
    }
}

impl std::ops::Deref for Histogram {
    type Target = crate::metrics::Histogram;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Every notifier metric.
#[derive(Debug, Default)]
pub struct NotifierMetrics {
    sent: [Counter; KINDS.len()],
    failed: [Counter; KINDS.len()],
    /// Attempts made (first tries and retries).
    pub attempts: Counter,
    /// Deliveries refused because the queue was full.
    pub rejected_full: Counter,
    /// Deliveries accepted and not done yet.
    pub queued: Gauge,
    /// Attempts being made right now.
    pub in_flight: Gauge,
    /// Deliveries waiting for their next retry.
    pub retry_waiting: Gauge,
    /// From accepted to done.
    pub latency: Histogram,
}

fn kind_index(kind: &str) -> usize {
    let i = KINDS.iter().position(|k| *k == kind);
    assert!(i.is_some(), "unknown notification type {kind}");
    i.unwrap_or(0)
}

impl NotifierMetrics {
    /// Counts one finished delivery of type `kind`.
    pub fn done(&self, kind: &str, sent: bool) {
        let i = kind_index(kind);
        if sent { &self.sent[i] } else { &self.failed[i] }.inc();
    }

    /// Deliveries of type `kind` with the given outcome so far.
    pub fn count(&self, kind: &str, sent: bool) -> u64 {
        let i = kind_index(kind);
        if sent { &self.sent[i] } else { &self.failed[i] }.get()
    }

    /// Appends every metric in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let name = "meridian_notifier_deliveries_total";
        let _ = writeln!(
            out,
            "# HELP {name} Deliveries finished, by type and outcome.\n# TYPE {name} counter"
        );
        for (i, kind) in KINDS.iter().enumerate() {
            let sent = self.sent[i].get();
            sample(
                out,
                name,
                &format!("type=\"{kind}\",outcome=\"sent\""),
                sent,
            );
            let failed = self.failed[i].get();
            sample(
                out,
                name,
                &format!("type=\"{kind}\",outcome=\"failed\""),
                failed,
            );
        }
        let help = "Seconds from a delivery's acceptance to its outcome.";
        self.latency
            .render(out, "meridian_notifier_delivery_seconds", help);
        let attempts = self.attempts.get();
        let help = "Attempts to send, first tries and retries.";
        metric(
            out,
            "meridian_notifier_attempts_total",
            "counter",
            help,
            attempts,
        );
        let help = "Deliveries refused because the queue was full.";
        let rejected = self.rejected_full.get();
        metric(
            out,
            "meridian_notifier_rejected_total",
            "counter",
            help,
            rejected,
        );
        let help = "Deliveries accepted and not finished.";
        metric(
            out,
            "meridian_notifier_queued",
            "gauge",
            help,
            self.queued.get(),
        );
        let help = "Attempts in progress.";
        metric(
            out,
            "meridian_notifier_in_flight",
            "gauge",
            help,
            self.in_flight.get(),
        );
        let help = "Deliveries waiting for their next retry.";
        let waiting = self.retry_waiting.get();
        metric(
            out,
            "meridian_notifier_retry_queue_depth",
            "gauge",
            help,
            waiting,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = NotifierMetrics::default();
        m.done("webhook", true);
        m.done("webhook", true);
        m.done("email", false);
        m.latency.observe(Duration::from_millis(40));
        m.latency.observe(Duration::from_secs(2));
        m.latency.observe(Duration::from_secs(7200));
        m.retry_waiting.inc();
        let mut out = String::new();
        m.render(&mut out);
        for line in [
            "meridian_notifier_deliveries_total{type=\"webhook\",outcome=\"sent\"} 2",
            "meridian_notifier_deliveries_total{type=\"email\",outcome=\"failed\"} 1",
            "meridian_notifier_deliveries_total{type=\"slack\",outcome=\"sent\"} 0",
            "meridian_notifier_delivery_seconds_bucket{le=\"0.05\"} 1",
            "meridian_notifier_delivery_seconds_bucket{le=\"2.5\"} 2",
            "meridian_notifier_delivery_seconds_bucket{le=\"3600\"} 2",
            "meridian_notifier_delivery_seconds_bucket{le=\"+Inf\"} 3",
            "meridian_notifier_delivery_seconds_count 3",
            "meridian_notifier_retry_queue_depth 1",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing from\n{out}");
        }
    }
}
