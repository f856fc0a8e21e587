//! Pollers: the (check, zone) pairs this node owns for its region, polled on a fixed cadence
//! through one dial path that enforces the address policy.

pub mod certs;
pub mod dial;
pub mod observation;
pub mod policy;
pub mod probes;
pub mod schedule;
pub mod tls;

pub use observation::{Metric, MetricValue, Observation, ProbeOutcome};
