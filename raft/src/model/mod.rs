//! The replicated configuration model: commands, their results and the pure `apply`.
//!
//! Architecture invariant: pure. `apply` reads no clock and does no IO; the proposer stamps
//! every time and id into the command, so every node computes the same state from the same log.

mod apply;
mod command;
mod records;
mod state;
mod tenants;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bounds;
#[cfg(test)]
mod tests_idem;
#[cfg(test)]
mod tests_refs;
#[cfg(test)]
mod tests_tenants;

pub use apply::{REFERRERS_SHOWN_MAX, apply};
pub use command::{
    ApplyError, ApplyErrorKind, Command, CommandResult, Op, PutMode, TransitionFacts,
};
pub use records::{
    AlarmStateRecord, ClusterInfo, DeliveryFacts, DeliveryRecord, MemberRecord, ObjectKind,
    ObjectRecord, TenantRecord, TokenRecord,
};
pub use state::{ConfigState, Image, StateKey};

/// Most working tokens a tenant holds at once (so a token can be rotated without downtime).
pub const TOKENS_PER_TENANT_MAX: usize = 5;

/// How long a request id is remembered for exactly-once retries (by proposer time).
pub const REQUEST_TTL_MS: i64 = 24 * 3600 * 1000;
/// The most request ids remembered; the oldest are forgotten first.
pub const REQUEST_IDS_MAX: usize = 100_000;
/// The most alarm state changes kept for the change log.
pub const ALARM_CHANGES_MAX: usize = 10_000;
/// How long the alarm changelog keeps a transition (30 days), ms of proposer time.
pub const CHANGELOG_TTL_MS: i64 = 30 * 86_400_000;
/// Most delivery records kept; the oldest are dropped first.
pub const DELIVERIES_MAX: usize = 100_000;
/// How long a delivery record is kept (30 days), ms of proposer time.
pub const DELIVERY_TTL_MS: i64 = 30 * 86_400_000;

/// The most objects of one kind a tenant may hold (enforced by `apply`, so every node agrees).
/// Defaults, documented in the API reference: 10,000 entities, 50,000 checks, 50,000 alarms,
/// 1,000 notifications, 1,000 notification plans, 1,000 suppressions.
pub const fn objects_per_tenant_max(kind: ObjectKind) -> usize {
    match kind {
        ObjectKind::Entity => 10_000,
        ObjectKind::Check | ObjectKind::Alarm => 50_000,
        ObjectKind::Notification | ObjectKind::Plan | ObjectKind::Suppression => 1_000,
    }
}
