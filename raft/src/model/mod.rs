//! The replicated configuration model: commands, their results and the pure `apply`.
//!
//! Architecture invariant: pure. `apply` reads no clock and does no IO; the proposer stamps
//! every time and id into the command, so every node computes the same state from the same log.

mod apply;
mod command;
mod records;
mod state;
#[cfg(test)]
mod tests;

pub use apply::apply;
pub use command::{ApplyError, ApplyErrorKind, Command, CommandResult, Op, PutMode};
pub use records::{
    AlarmStateRecord, ClusterInfo, DeliveryRecord, MemberRecord, ObjectKind, ObjectRecord,
    TenantRecord,
};
pub use state::{ConfigState, Image, StateKey};

/// How long a request id is remembered for exactly-once retries (by proposer time).
pub const REQUEST_TTL_MS: i64 = 24 * 3600 * 1000;
/// The most request ids remembered; the oldest are forgotten first.
pub const REQUEST_IDS_MAX: usize = 100_000;
/// The most alarm state changes kept for the change log.
pub const ALARM_CHANGES_MAX: usize = 10_000;
