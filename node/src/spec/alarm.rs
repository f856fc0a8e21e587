//! `AlarmConfig`: an alarm as every subsystem sees it, parsed once from a request body (with
//! full validation) or from its stored record, and turned into the evaluator's
//! `meridian_alarm::AlarmSpec` together with its check. The criteria text is stored; its parsed
//! form is built when needed, never kept in the replicated record.

use std::collections::BTreeMap;

use meridian_criteria as criteria;
use meridian_raft::model::{ConfigState, ObjectKind, ObjectRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::check::CheckSpec;
use super::fields::{bad, label, metadata, typed, typed_body};
use crate::error::Error;

/// Statistics a threshold alarm may use.
pub const STATISTICS: [&str; 8] = ["average", "min", "max", "sum", "count", "p50", "p90", "p99"];
/// Comparisons a threshold alarm may use.
pub const COMPARISONS: [&str; 4] = [">", ">=", "<", "<="];
/// How a threshold alarm treats periods without data.
pub const MISSING_DATA: [&str; 4] = ["missing", "ignore", "breaching", "notBreaching"];
/// Shortest and longest threshold period, seconds.
pub const THRESHOLD_PERIOD_MIN: u32 = 30;
pub const THRESHOLD_PERIOD_MAX: u32 = 86_400;
/// Most evaluation periods of a threshold alarm.
pub const EVALUATION_PERIODS_MAX: u32 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlarmBody {
    label: Option<String>,
    check_id: Option<String>,
    criteria: Option<String>,
    threshold: Option<Value>,
    notification_plan_id: Option<String>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// A CloudWatch-style threshold as stored.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub metric: Option<String>,
    #[serde(default = "default_statistic")]
    pub statistic: String,
    #[serde(default = "default_period")]
    pub period: u32,
    pub comparison: Option<String>,
    pub threshold: Option<f64>,
    #[serde(default = "one")]
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: Option<u32>,
    #[serde(default = "default_missing")]
    pub treat_missing_data: String,
    /// The state the alarm takes when the threshold is breached.
    #[serde(default = "default_state")]
    pub state: String,
}

fn default_statistic() -> String {
    "average".into()
}
fn default_period() -> u32 {
    60
}
fn one() -> u32 {
    1
}
fn default_missing() -> String {
    "missing".into()
}
fn default_state() -> String {
    "CRITICAL".into()
}

/// How an alarm decides: criteria text, a threshold, or (neither) the check's availability.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmRule {
    Availability,
    Criteria(String),
    Threshold(Threshold),
}

/// An alarm's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmConfig {
    pub label: String,
    pub check_id: String,
    pub plan_id: String,
    pub disabled: bool,
    pub rule: AlarmRule,
    pub metadata: BTreeMap<String, String>,
}

/// Why a body is refused: a field error, or a criteria parse error locating the bad token.
#[derive(Debug)]
pub enum AlarmRefusal {
    Field(Error),
    Criteria(criteria::CriteriaError),
}

impl<E: Into<Error>> From<E> for AlarmRefusal {
    fn from(e: E) -> Self {
        AlarmRefusal::Field(e.into())
    }
}

impl AlarmConfig {
    /// Validates a whole alarm body for `entity` of `tenant`: its check must be the entity's and
    /// its plan must exist; criteria must parse.
    pub fn from_body(
        state: &ConfigState,
        tenant: &str,
        entity: Option<&str>,
        body: Map<String, Value>,
    ) -> Result<AlarmConfig, AlarmRefusal> {
        let a: AlarmBody = typed_body(body)?;
        let label = label(a.label.as_deref())?;
        let check_id = check_of_entity(state, tenant, entity, a.check_id.as_deref())?;
        let plan_id = plan(state, tenant, a.notification_plan_id.as_deref())?;
        metadata(&a.metadata)?;
        let rule = match (a.criteria, a.threshold) {
            (Some(_), Some(_)) => {
                return Err(bad("criteria: give criteria or threshold, not both".into()).into());
            }
            (Some(text), None) => {
                criteria::parse(&text).map_err(AlarmRefusal::Criteria)?;
                AlarmRule::Criteria(text)
            }
            (None, Some(t)) => AlarmRule::Threshold(threshold(typed("threshold", t)?)?),
            (None, None) => AlarmRule::Availability,
        };
        Ok(AlarmConfig {
            label,
            check_id,
            plan_id,
            disabled: a.disabled,
            rule,
            metadata: a.metadata,
        })
    }

    /// Reads a stored alarm (validated when written; only its shape is checked here).
    pub fn from_record(record: &ObjectRecord) -> Result<AlarmConfig, Error> {
        let Value::Object(mut body) = record.body.clone() else {
            return Err(bad("body: a stored alarm is not an object".into()));
        };
        // Records written before the parsed criteria stopped being stored carry it still.
        body.retain(|k, _| !k.starts_with('_'));
        let a: AlarmBody = typed_body(body)?;
        let rule = match (a.criteria, a.threshold) {
            (Some(text), _) => AlarmRule::Criteria(text),
            (None, Some(t)) => AlarmRule::Threshold(typed("threshold", t)?),
            (None, None) => AlarmRule::Availability,
        };
        Ok(AlarmConfig {
            label: a.label.unwrap_or_default(),
            check_id: a.check_id.unwrap_or_default(),
            plan_id: a.notification_plan_id.unwrap_or_default(),
            disabled: a.disabled,
            rule,
            metadata: a.metadata,
        })
    }

    /// The stored JSON form.
    pub fn to_body(&self) -> Value {
        let mut body = json!({
            "label": self.label, "check_id": self.check_id,
            "notification_plan_id": self.plan_id, "disabled": self.disabled,
            "metadata": self.metadata,
        });
        match &self.rule {
            AlarmRule::Availability => {}
            AlarmRule::Criteria(text) => body["criteria"] = json!(text),
            AlarmRule::Threshold(t) => {
                body["threshold"] = serde_json::to_value(t).unwrap_or(Value::Null)
            }
        }
        body
    }

    /// The objects this alarm depends on.
    pub fn refs(&self) -> Vec<(ObjectKind, String)> {
        vec![
            (ObjectKind::Check, self.check_id.clone()),
            (ObjectKind::Plan, self.plan_id.clone()),
        ]
    }

    /// The evaluator's view of this alarm on `check`.
    pub fn evaluator_spec(&self, check: &CheckSpec) -> Result<meridian_alarm::AlarmSpec, Error> {
        let rule = match &self.rule {
            AlarmRule::Availability => {
                meridian_alarm::Rule::from_criteria(None, check.details.check_type())
            }
            AlarmRule::Criteria(text) => {
                let c = criteria::parse(text).map_err(|e| bad(format!("criteria: {e}")))?;
                meridian_alarm::Rule::from_criteria(Some(c), check.details.check_type())
            }
            AlarmRule::Threshold(t) => meridian_alarm::Rule::Threshold(threshold_spec(t)?),
        };
        Ok(meridian_alarm::AlarmSpec {
            period_ms: i64::from(check.period_s) * 1000,
            zones: check.zones.clone(),
            rule,
        })
    }
}

/// A stored threshold as the evaluator's `ThresholdSpec`.
pub fn threshold_spec(t: &Threshold) -> Result<meridian_alarm::ThresholdSpec, Error> {
    use meridian_alarm::{Comparison, MissingData, State, Statistic};
    let field = |f: &str| bad(format!("threshold.{f}: not understood in a stored alarm"));
    Ok(meridian_alarm::ThresholdSpec {
        metric: t.metric.clone().ok_or_else(|| field("metric"))?,
        statistic: Statistic::from_name(&t.statistic).ok_or_else(|| field("statistic"))?,
        period_ms: i64::from(t.period) * 1000,
        comparison: t
            .comparison
            .as_deref()
            .and_then(Comparison::from_symbol)
            .ok_or_else(|| field("comparison"))?,
        threshold: t.threshold.ok_or_else(|| field("threshold"))?,
        evaluation_periods: t.evaluation_periods,
        datapoints_to_alarm: t.datapoints_to_alarm.unwrap_or(t.evaluation_periods),
        treat_missing_data: MissingData::from_name(&t.treat_missing_data)
            .ok_or_else(|| field("treat_missing_data"))?,
        state: State::from_name(&t.state).ok_or_else(|| field("state"))?,
    })
}

/// The alarm's check: required, and a check of the alarm's own entity.
fn check_of_entity(
    state: &ConfigState,
    tenant: &str,
    entity: Option<&str>,
    id: Option<&str>,
) -> Result<String, Error> {
    let Some(id) = id else {
        return Err(bad("check_id: is required".into()));
    };
    let found = state.object(tenant, ObjectKind::Check, id);
    if found.is_none_or(|c| c.parent.as_deref() != entity) {
        let en = entity.unwrap_or_default();
        return Err(bad(format!(
            "check_id: check {id} does not exist on entity {en}"
        )));
    }
    Ok(id.to_string())
}

/// The alarm's notification plan: required, and existing.
fn plan(state: &ConfigState, tenant: &str, id: Option<&str>) -> Result<String, Error> {
    let Some(id) = id else {
        return Err(bad("notification_plan_id: is required".into()));
    };
    if state.object(tenant, ObjectKind::Plan, id).is_none() {
        return Err(bad(format!(
            "notification_plan_id: plan {id} does not exist"
        )));
    }
    Ok(id.to_string())
}

fn one_of(field: &str, v: &str, allowed: &[&str]) -> Result<(), Error> {
    if allowed.contains(&v) {
        return Ok(());
    }
    Err(bad(format!(
        "{field}: {v:?} is not one of {}",
        allowed.join(", ")
    )))
}

/// Validates a `threshold` object (fields named under `threshold.`).
pub fn parse_threshold(v: Value) -> Result<Threshold, Error> {
    threshold(typed("threshold", v)?)
}

fn threshold(t: Threshold) -> Result<Threshold, Error> {
    match &t.metric {
        None => return Err(bad("threshold.metric: is required".into())),
        Some(m) if m.is_empty() || m.chars().count() > meridian_criteria::METRIC_NAME_MAX => {
            return Err(bad(format!(
                "threshold.metric: must be 1 to {} characters",
                meridian_criteria::METRIC_NAME_MAX
            )));
        }
        Some(_) => {}
    }
    one_of("threshold.statistic", &t.statistic, &STATISTICS)?;
    if !(THRESHOLD_PERIOD_MIN..=THRESHOLD_PERIOD_MAX).contains(&t.period) {
        let (lo, hi) = (THRESHOLD_PERIOD_MIN, THRESHOLD_PERIOD_MAX);
        return Err(bad(format!(
            "threshold.period: {} must be {lo}..={hi} seconds",
            t.period
        )));
    }
    let Some(cmp) = &t.comparison else {
        return Err(bad("threshold.comparison: is required".into()));
    };
    one_of("threshold.comparison", cmp, &COMPARISONS)?;
    if !t.threshold.is_some_and(f64::is_finite) {
        return Err(bad(
            "threshold.threshold: a finite number is required".into()
        ));
    }
    if !(1..=EVALUATION_PERIODS_MAX).contains(&t.evaluation_periods) {
        return Err(bad(format!(
            "threshold.evaluation_periods: must be 1..={EVALUATION_PERIODS_MAX}"
        )));
    }
    let m = t.datapoints_to_alarm.unwrap_or(t.evaluation_periods);
    if m == 0 || m > t.evaluation_periods {
        return Err(bad(
            "threshold.datapoints_to_alarm: must be 1..=evaluation_periods".into(),
        ));
    }
    one_of(
        "threshold.treat_missing_data",
        &t.treat_missing_data,
        &MISSING_DATA,
    )?;
    one_of("threshold.state", &t.state, &["WARNING", "CRITICAL"])?;
    Ok(Threshold {
        datapoints_to_alarm: Some(m),
        ..t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: Value) -> Result<Value, Error> {
        let t = threshold(typed("threshold", v)?)?;
        Ok(serde_json::to_value(t).unwrap_or(Value::Null))
    }

    #[test]
    fn threshold_defaults_and_refusals() {
        let ok =
            t(json!({"metric": "duration", "comparison": ">", "threshold": 2000})).expect("valid");
        assert_eq!(ok["statistic"], "average");
        assert_eq!(ok["datapoints_to_alarm"], 1);
        let cases = [
            (
                json!({"comparison": ">", "threshold": 1}),
                "threshold.metric",
            ),
            (
                json!({"metric": "m", "comparison": "~", "threshold": 1}),
                "threshold.comparison",
            ),
            (
                json!({"metric": "m", "comparison": ">"}),
                "threshold.threshold",
            ),
            (
                json!({"metric": "m", "comparison": ">", "threshold": 1, "statistic": "p42"}),
                "threshold.statistic",
            ),
            (
                json!({"metric": "m", "comparison": ">", "threshold": 1, "evaluation_periods": 3, "datapoints_to_alarm": 4}),
                "threshold.datapoints_to_alarm",
            ),
            (
                json!({"metric": "m", "comparison": ">", "threshold": 1, "period": 5}),
                "threshold.period",
            ),
        ];
        for (v, field) in cases {
            let e = t(v).expect_err(field);
            assert!(e.to_string().starts_with(field), "{e}");
        }
    }
}
