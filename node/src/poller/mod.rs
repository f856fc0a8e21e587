//! Pollers: the (check, zone) pairs this node owns for its region, polled on a fixed cadence
//! through one dial path that enforces the address policy.

pub mod observation;
pub mod policy;
pub mod schedule;

pub use observation::{Metric, MetricValue, Observation, ProbeOutcome};
