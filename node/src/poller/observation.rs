//! What one poll of one check from one zone found: the observation every later subsystem (the
//! results API, the series store, the alarm evaluator) reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Units a metric may carry (spec/checks.md).
pub const UNITS: [&str; 4] = ["ms", "bytes", "s", "percent"];

/// A metric's value with its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum MetricValue {
    Int(i64),
    Double(f64),
    String(String),
    Bool(bool),
}

impl MetricValue {
    /// The number to store in a series: ints, doubles and bools (as 0/1); strings have none.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            MetricValue::Int(i) => Some(*i as f64),
            MetricValue::Double(d) => Some(*d),
            MetricValue::Bool(b) => Some(f64::from(u8::from(*b))),
            MetricValue::String(_) => None,
        }
    }
}

/// One metric of an observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    #[serde(flatten)]
    pub value: MetricValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

impl Metric {
    pub fn int(v: i64) -> Metric {
        Metric {
            value: MetricValue::Int(v),
            unit: None,
        }
    }

    pub fn double(v: f64) -> Metric {
        Metric {
            value: MetricValue::Double(v),
            unit: None,
        }
    }

    pub fn string(v: impl Into<String>) -> Metric {
        Metric {
            value: MetricValue::String(v.into()),
            unit: None,
        }
    }

    pub fn bool(v: bool) -> Metric {
        Metric {
            value: MetricValue::Bool(v),
            unit: None,
        }
    }

    /// A duration in milliseconds (a double).
    pub fn ms(v: f64) -> Metric {
        Metric::double(v).with_unit("ms")
    }

    /// Sets the unit, one of `UNITS`.
    pub fn with_unit(mut self, unit: &str) -> Metric {
        debug_assert!(UNITS.contains(&unit), "unknown unit {unit}");
        self.unit = Some(unit.to_string());
        self
    }
}

/// What a probe found, before it is stamped with where and when it ran.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProbeOutcome {
    /// False when the check could not run to an answer (resolve failure, refused, timeout, TLS
    /// handshake failure, target refused by policy).
    pub available: bool,
    /// A few words: `code=200,rt=0.041s,bytes=512`, or why it was not available.
    pub status: String,
    pub metrics: BTreeMap<String, Metric>,
}

impl ProbeOutcome {
    /// A poll that could not run to an answer.
    pub fn unavailable(status: impl Into<String>) -> ProbeOutcome {
        ProbeOutcome {
            available: false,
            status: status.into(),
            metrics: BTreeMap::new(),
        }
    }
}

/// One observation: a probe's outcome for a check from a zone, stamped by the polling node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub check_id: String,
    pub entity_id: String,
    pub tenant_id: String,
    pub monitoring_zone_id: String,
    pub node_id: u64,
    /// Start of the poll, ms since the epoch.
    pub timestamp: i64,
    pub available: bool,
    pub status: String,
    pub metrics: BTreeMap<String, Metric>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metrics_serialize_in_the_documented_shape() {
        let m = Metric::ms(41.5);
        assert_eq!(
            serde_json::to_value(&m).expect("json"),
            json!({"type": "double", "unit": "ms", "value": 41.5})
        );
        assert_eq!(
            serde_json::to_value(Metric::string("200")).expect("json"),
            json!({"type": "string", "value": "200"})
        );
        let back: Metric =
            serde_json::from_value(json!({"type": "bool", "value": true})).expect("parse");
        assert_eq!(back.value.as_f64(), Some(1.0));
        assert_eq!(Metric::string("x").value.as_f64(), None);
    }
}
