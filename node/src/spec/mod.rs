//! Typed configuration: checks (and, as they are typed, the other tenant objects) parsed once,
//! either from a request body with full validation or from their stored record.
//!
//! Architecture invariant: the only module that turns configuration JSON into typed specs. The
//! HTTP API validates by building these; pollers, the evaluator and the notifier read them.
//! Nothing derived (a compiled regex, a criteria AST) is stored in the replicated record.

pub mod alarm;
pub mod check;
pub mod details;
pub mod fields;
pub mod notification;

pub use alarm::{AlarmConfig, AlarmRule};
pub use check::{CheckLimits, CheckSpec, Target};
pub use details::{Details, DnsDetails, HttpDetails, PingDetails, TcpDetails, TlsDetails};
pub use notification::{NotificationSpec, PlanSpec, Secret};
