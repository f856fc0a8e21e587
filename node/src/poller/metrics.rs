//! The pollers' counters for `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::metrics::{Counter, Histogram, metric, sample};

/// How a poll ended, as counted on `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Available,
    Unavailable,
    Timeout,
    Refused,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Available => "available",
            Outcome::Unavailable => "unavailable",
            Outcome::Timeout => "timeout",
            Outcome::Refused => "refused",
        }
    }
}

#[derive(Debug, Default)]
pub struct PollerMetrics {
    polls: Mutex<BTreeMap<(&'static str, Outcome), u64>>,
    pub duration: Histogram,
    pub schedule_lag: Histogram,
    pub in_flight: AtomicI64,
    pub owned: AtomicI64,
    pub skipped: Counter,
    pub refused_by_policy: Counter,
    pub latest_dropped: Counter,
}

impl PollerMetrics {
    pub fn count(&self, check_type: &'static str, outcome: Outcome) {
        *self
            .polls
            .lock()
            .expect("poll counts lock")
            .entry((check_type, outcome))
            .or_default() += 1;
        if outcome == Outcome::Refused {
            self.refused_by_policy.inc();
        }
    }

    /// Polls of one type and outcome so far.
    pub fn polls(&self, check_type: &str, outcome: Outcome) -> u64 {
        let polls = self.polls.lock().expect("poll counts lock");
        polls
            .iter()
            .filter(|((t, o), _)| *t == check_type && *o == outcome)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Appends the pollers' metrics in the Prometheus text format.
    pub fn render(&self, out: &mut String, icmp_mode: &str, queues: &[(&str, usize, u64)]) {
        let name = "meridian_polls_total";
        let _ = writeln!(
            out,
            "# HELP {name} Polls finished, by check type and outcome.\n# TYPE {name} counter"
        );
        for ((t, o), n) in self.polls.lock().expect("poll counts lock").iter() {
            sample(
                out,
                name,
                &format!("type=\"{t}\",outcome=\"{}\"", o.name()),
                n,
            );
        }
        self.duration.render(
            out,
            "meridian_poll_duration_seconds",
            "How long polls took.",
        );
        self.schedule_lag.render(
            out,
            "meridian_poll_schedule_lag_seconds",
            "How late polls started after their due time.",
        );
        let gauge = |out: &mut String, n: &str, h: &str, v: i64| metric(out, n, "gauge", h, v);
        gauge(
            out,
            "meridian_polls_in_flight",
            "Polls running now.",
            self.in_flight.load(Ordering::Relaxed),
        );
        gauge(
            out,
            "meridian_poll_pairs_owned",
            "(check, zone) pairs this node polls.",
            self.owned.load(Ordering::Relaxed),
        );
        let counter = |out: &mut String, n: &str, h: &str, v: u64| metric(out, n, "counter", h, v);
        counter(
            out,
            "meridian_polls_skipped_total",
            "Polls that could not start within their period.",
            self.skipped.get(),
        );
        counter(
            out,
            "meridian_polls_refused_by_policy_total",
            "Polls whose target the address policy refused.",
            self.refused_by_policy.get(),
        );
        let icmp = "meridian_icmp_mode";
        let _ = writeln!(
            out,
            "# HELP {icmp} How this node sends pings (datagram, raw or none).\n# TYPE {icmp} gauge"
        );
        sample(out, icmp, &format!("mode=\"{icmp_mode}\""), 1);
        let q = "meridian_observations_dropped_total";
        let _ = writeln!(
            out,
            "# HELP {q} Observations a slow subscriber's full queue dropped.\n# TYPE {q} counter"
        );
        for (sub, _, dropped) in queues {
            sample(out, q, &format!("subscriber=\"{sub}\""), dropped);
        }
    }
}
