//! The alarm criteria language: parser to a stored syntax tree, and evaluator of one observation.
//!
//! Architecture invariant: this crate is pure. It reads no clock, does no IO, uses no tokio and
//! knows nothing of HTTP; the API layer maps [`CriteriaError`] to its `alarmParseError` body and
//! the alarm evaluator (`meridian-alarm`) feeds [`evaluate`] the observations it holds. See
//! README.md beside this crate.

mod ast;
mod error;
mod eval;
mod lexer;
mod observation;
mod parser;

#[cfg(test)]
mod tests;

pub use ast::{
    AlarmState, CONSECUTIVE_COUNT_DEFAULT, CONSECUTIVE_COUNT_MAX, CONSECUTIVE_COUNT_PING_DEFAULT,
    Comparison, Condition, Consistency, Criteria, Operand, Pattern, REGEX_SIZE_MAX, RelOp, Return,
    Rule, default_consecutive_count,
};
pub use error::{CriteriaError, ERROR_TOKEN_MAX, Result};
pub use eval::{VERDICT_MESSAGE_MAX, evaluate, interpolate};
pub use observation::{MetricValue, Observation, ZoneVerdict, format_number};
pub use parser::{
    COMPARISONS_MAX, MESSAGE_MAX, METRIC_NAME_MAX, NESTING_MAX, STRING_MAX, TEXT_MAX, parse,
};
