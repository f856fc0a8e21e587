//! Alarm decisions: zone windows and consecutive counts, zone votes combined by consistency
//! level, CloudWatch-style threshold alarms (M of N with `TreatMissingData`), the transition to
//! propose, the zones to re-check, and the notifications a committed transition makes out.
//!
//! Architecture invariant: this crate is pure. No tokio, no clock, no IO: observations and
//! `now_ms` come in, decisions go out, and the node's evaluator shell carries them out (proposes
//! the transition through Raft, asks pollers for re-checks, delivers notifications).
//!
//! Architecture invariant: an evaluator never resets an alarm. It starts from the committed
//! state and sequence with empty windows and proposes a transition only when fresh
//! observations justify a state different from the committed one.
//!
//! See README.md beside this crate for the properties and how the tests check them.

mod consistency;
mod decision;
mod delivery;
mod dry_run;
mod error;
mod evaluator;
mod m_of_n;
mod spec;
mod state;
mod threshold;
mod zone;

pub use consistency::{Vote, combine, effective_voters};
pub use decision::{Decision, Transition, ZoneObservation, ZoneReport};
pub use delivery::{
    AlarmRef, Delivery, PLAN_NOTIFICATIONS_MAX, Plan, deliveries, event_id,
    notify_after_suppression,
};
pub use dry_run::{DRY_RUN_OBSERVATIONS_MAX, DryRun, DryRunValue, dry_run};
pub use error::{AlarmError, Result};
pub use evaluator::AlarmEvaluator;
pub use m_of_n::{Outcome, Point, decide, evaluation_range};
pub use meridian_criteria::{Consistency, Criteria, MetricValue, Observation};
pub use spec::{
    AlarmSpec, Comparison, EVALUATION_PERIODS_MAX, METRIC_NAME_MAX, MissingData, PERIOD_MS_MAX,
    Rule, Statistic, ThresholdSpec, ZONES_MAX, ZoneId,
};
pub use state::{Committed, State};
pub use threshold::{BUCKET_SAMPLES_MAX, BUCKETS_MAX, Range, ThresholdWindow, nearest_rank};
pub use zone::{ZONE_WINDOW_MAX, ZoneState, ZoneWindow};
