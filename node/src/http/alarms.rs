//! `/v1/entities/{en}/alarms` (tenant token): when a check's results mean trouble, and whom to
//! tell. Either `criteria` in the alarm language (parsed here, its syntax tree stored for the
//! evaluator) or a CloudWatch-style `threshold`; neither means the check's availability decides.

use std::collections::BTreeMap;

use axum::Router;
use meridian_criteria as criteria;
use meridian_raft::model::{ConfigState, ObjectKind, ObjectRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::AppState;
use super::resource::{self, Ctx, Prepared, RResult, Rejection, Resource};
use crate::error::Error;
use crate::spec::fields::{bad, label, metadata, typed, typed_body};

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

pub fn routes() -> Router<AppState> {
    resource::routes::<Alarms>()
}

pub struct Alarms;

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

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Threshold {
    metric: Option<String>,
    #[serde(default = "default_statistic")]
    statistic: String,
    #[serde(default = "default_period")]
    period: u32,
    comparison: Option<String>,
    threshold: Option<f64>,
    #[serde(default = "one")]
    evaluation_periods: u32,
    datapoints_to_alarm: Option<u32>,
    #[serde(default = "default_missing")]
    treat_missing_data: String,
    /// The state the alarm takes when the threshold is breached.
    #[serde(default = "default_state")]
    state: String,
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

impl Resource for Alarms {
    const KIND: ObjectKind = ObjectKind::Alarm;
    const COLLECTION: &'static str = "/v1/entities/{entity_id}/alarms";

    fn prepare(ctx: &Ctx<'_>, body: Map<String, Value>) -> RResult<Prepared> {
        let a: AlarmBody = typed_body(body)?;
        let label = label(a.label.as_deref())?;
        let check = check_of_entity(ctx, a.check_id.as_deref())?;
        let plan = plan(ctx, a.notification_plan_id.as_deref())?;
        metadata(&a.metadata)?;
        let mut body = json!({
            "label": label, "check_id": check, "notification_plan_id": plan,
            "disabled": a.disabled, "metadata": a.metadata,
        });
        match (a.criteria, a.threshold) {
            (Some(_), Some(_)) => {
                return Err(bad("criteria: give criteria or threshold, not both".into()).into());
            }
            (Some(text), None) => {
                let ast = criteria::parse(&text).map_err(|error| Rejection::Parse {
                    field: "criteria",
                    error,
                })?;
                body["criteria"] = Value::String(text);
                body["_criteria_ast"] =
                    serde_json::to_value(&ast).map_err(|e| Error::Internal(e.to_string()))?;
            }
            (None, Some(t)) => body["threshold"] = threshold(typed("threshold", t)?)?,
            (None, None) => {}
        }
        let refs = vec![(ObjectKind::Check, check), (ObjectKind::Plan, plan)];
        Ok(Prepared { body, refs })
    }

    fn decorate(state: &ConfigState, o: &ObjectRecord, out: &mut Map<String, Value>) {
        let s = state
            .alarm_state(&o.tenant, &o.id)
            .map_or("UNKNOWN", |a| a.state.as_str());
        out.insert("state".into(), Value::String(s.to_string()));
    }
}

/// The alarm's check: required, and a check of the alarm's own entity.
fn check_of_entity(ctx: &Ctx<'_>, id: Option<&str>) -> Result<String, Error> {
    let Some(id) = id else {
        return Err(bad("check_id: is required".into()));
    };
    let found = ctx.state.object(ctx.tenant, ObjectKind::Check, id);
    if found.is_none_or(|c| c.parent.as_deref() != ctx.parent) {
        let en = ctx.parent.unwrap_or_default();
        return Err(bad(format!(
            "check_id: check {id} does not exist on entity {en}"
        )));
    }
    Ok(id.to_string())
}

/// The alarm's notification plan: required, and existing.
fn plan(ctx: &Ctx<'_>, id: Option<&str>) -> Result<String, Error> {
    let Some(id) = id else {
        return Err(bad("notification_plan_id: is required".into()));
    };
    if ctx.state.object(ctx.tenant, ObjectKind::Plan, id).is_none() {
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

fn threshold(t: Threshold) -> Result<Value, Error> {
    match &t.metric {
        None => return Err(bad("threshold.metric: is required".into())),
        Some(m) if m.is_empty() || m.chars().count() > criteria::METRIC_NAME_MAX => {
            return Err(bad(format!(
                "threshold.metric: must be 1 to {} characters",
                criteria::METRIC_NAME_MAX
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
    let t = Threshold {
        datapoints_to_alarm: Some(m),
        ..t
    };
    serde_json::to_value(t).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: Value) -> Result<Value, Error> {
        threshold(typed("threshold", v)?)
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
