//! What the evaluator reads and returns: one zone's observation of a check, and its verdict.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::ast::AlarmState;

/// A metric value reported by a check: a number, or text such as an HTTP code or a body match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetricValue {
    /// A numeric metric.
    Number(f64),
    /// A text metric.
    Text(String),
}

impl MetricValue {
    /// The value as a number; text counts when it reads as a finite number.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            MetricValue::Number(v) => Some(*v),
            MetricValue::Text(text) => text_number(text),
        }
    }
}

impl fmt::Display for MetricValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricValue::Number(v) => f.write_str(&format_number(*v)),
            MetricValue::Text(text) => f.write_str(text),
        }
    }
}

/// One run of one check from one zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// When the check ran, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// False when the check could not run (connection refused, timeout, ...).
    pub available: bool,
    /// The check's status line; the failure when the check could not run.
    pub status: String,
    /// Metrics by name.
    pub metrics: BTreeMap<String, MetricValue>,
}

/// The state of one zone for one observation, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneVerdict {
    /// The zone's state.
    pub state: AlarmState,
    /// The matched return's message with metrics interpolated, or a description of the decision.
    pub message: String,
}

/// A number as a message shows it: integral values without a fractional part, `-0` as `0`.
pub fn format_number(value: f64) -> String {
    if value == 0.0 {
        "0".to_string()
    } else {
        value.to_string()
    }
}

/// Text as a number, when it reads as a finite one (surrounding whitespace ignored).
pub(crate) fn text_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An available observation with these metrics (shared by the criteria tests).
    pub(crate) fn obs(timestamp_ms: i64, metrics: &[(&str, MetricValue)]) -> Observation {
        Observation {
            timestamp_ms,
            available: true,
            status: "code=200".into(),
            metrics: metrics
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn num(v: f64) -> MetricValue {
        MetricValue::Number(v)
    }

    fn text(s: &str) -> MetricValue {
        MetricValue::Text(s.to_string())
    }

    #[test]
    fn metric_values_are_untagged_in_json() {
        let o = obs(5, &[("code", text("200")), ("ms", num(1.5))]);
        let json = serde_json::to_value(&o).expect("serializes");
        assert_eq!(
            json["metrics"],
            serde_json::json!({"code": "200", "ms": 1.5})
        );
        let back: Observation = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, o);
    }

    #[test]
    fn numbers_read_from_text_and_print_without_a_fraction_when_integral() {
        assert_eq!(text(" 12.5 ").as_number(), Some(12.5));
        assert_eq!(text("inf").as_number(), None);
        assert_eq!(text("up").as_number(), None);
        assert_eq!(num(2000.0).to_string(), "2000");
        assert_eq!(num(-0.0).to_string(), "0");
        assert_eq!(num(0.25).to_string(), "0.25");
    }
}
