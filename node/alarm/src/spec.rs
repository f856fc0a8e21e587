//! What an evaluator needs to know of an alarm and its check, typed and validated once.

use std::collections::BTreeSet;

use meridian_criteria::{CONSECUTIVE_COUNT_MAX, Consistency, Criteria};

use crate::error::{AlarmError, Result};
use crate::state::State;

/// Monitoring zone id (`mzord`, `mzlon`, ...).
pub type ZoneId = String;

/// Most zones one check may poll; an evaluator holds one window per zone.
pub const ZONES_MAX: usize = 64;
/// Longest check or threshold period accepted, in ms (one day).
pub const PERIOD_MS_MAX: i64 = 86_400_000;
/// Most evaluation periods (N) of a threshold alarm, as the API accepts.
pub const EVALUATION_PERIODS_MAX: u32 = 100;
/// Longest metric name, in chars, as the criteria language accepts.
pub const METRIC_NAME_MAX: usize = meridian_criteria::METRIC_NAME_MAX;

/// One alarm, as its evaluator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    /// The check's period in ms: freshness of zone votes and the re-check rate derive from it.
    pub period_ms: i64,
    /// The zones the check polls (`monitoring_zones_poll`), each once.
    pub zones: Vec<ZoneId>,
    /// How observations become a state.
    pub rule: Rule,
}

/// How an alarm turns observations into a state.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Per-zone criteria (none: the check's availability decides), combined across zones.
    Criteria {
        /// The parsed criteria; `None` for an alarm without criteria.
        criteria: Option<Criteria>,
        /// Consecutive agreeing observations a zone needs to change state (1..=5); resolve it
        /// with `Criteria::consecutive_count_for(check_type)`.
        consecutive_count: u8,
    },
    /// A CloudWatch-style threshold over the observations of all zones.
    Threshold(ThresholdSpec),
}

impl Rule {
    /// The rule of `criteria` for a check of `check_type`, with that type's default count.
    pub fn from_criteria(criteria: Option<Criteria>, check_type: &str) -> Rule {
        let consecutive_count = match &criteria {
            Some(c) => c.consecutive_count_for(check_type),
            None => meridian_criteria::default_consecutive_count(check_type),
        };
        Rule::Criteria {
            criteria,
            consecutive_count,
        }
    }

    /// The consistency level zones are combined with (QUORUM without criteria).
    pub fn consistency(&self) -> Consistency {
        match self {
            Rule::Criteria {
                criteria: Some(c), ..
            } => c.consistency,
            _ => Consistency::default(),
        }
    }
}

/// `threshold {metric, statistic, period, comparison, threshold, evaluation_periods,
/// datapoints_to_alarm, treat_missing_data, state}` of spec/alarms.md.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdSpec {
    /// The numeric metric compared.
    pub metric: String,
    /// What each period bucket reduces its values to.
    pub statistic: Statistic,
    /// Bucket length in ms.
    pub period_ms: i64,
    /// `statistic <comparison> threshold` breaches.
    pub comparison: Comparison,
    /// The threshold, finite.
    pub threshold: f64,
    /// N: how many of the newest buckets are evaluated.
    pub evaluation_periods: u32,
    /// M: breaching buckets among the N that raise the alarm.
    pub datapoints_to_alarm: u32,
    /// What a bucket without data counts as.
    pub treat_missing_data: MissingData,
    /// The state when breached: `Warning` or `Critical`.
    pub state: State,
}

/// Statistic of one period bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// Mean of the values.
    Average,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Sum of the values.
    Sum,
    /// Number of values.
    Count,
    /// Median (nearest rank).
    P50,
    /// 90th percentile (nearest rank).
    P90,
    /// 99th percentile (nearest rank).
    P99,
}

impl Statistic {
    /// The statistic named as the API names it (`average`, `min`, ..., `p99`).
    pub fn from_name(name: &str) -> Option<Statistic> {
        Some(match name {
            "average" => Statistic::Average,
            "min" => Statistic::Min,
            "max" => Statistic::Max,
            "sum" => Statistic::Sum,
            "count" => Statistic::Count,
            "p50" => Statistic::P50,
            "p90" => Statistic::P90,
            "p99" => Statistic::P99,
            _ => return None,
        })
    }

    /// The name the API uses.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::Average => "average",
            Statistic::Min => "min",
            Statistic::Max => "max",
            Statistic::Sum => "sum",
            Statistic::Count => "count",
            Statistic::P50 => "p50",
            Statistic::P90 => "p90",
            Statistic::P99 => "p99",
        }
    }
}

/// Comparison of a bucket's statistic with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
}

impl Comparison {
    /// The comparison written as the API writes it (`>`, `>=`, `<`, `<=`).
    pub fn from_symbol(symbol: &str) -> Option<Comparison> {
        Some(match symbol {
            ">" => Comparison::Greater,
            ">=" => Comparison::GreaterOrEqual,
            "<" => Comparison::Less,
            "<=" => Comparison::LessOrEqual,
            _ => return None,
        })
    }

    /// Whether `value <op> threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Greater => value > threshold,
            Comparison::GreaterOrEqual => value >= threshold,
            Comparison::Less => value < threshold,
            Comparison::LessOrEqual => value <= threshold,
        }
    }

    /// The symbol, for messages.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
        }
    }
}

/// CloudWatch's `TreatMissingData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingData {
    /// `missing`: with too few points the alarm goes to UNKNOWN (INSUFFICIENT_DATA).
    Missing,
    /// `ignore`: with too few points the alarm keeps its state.
    Ignore,
    /// `breaching`: a missing bucket breaches.
    Breaching,
    /// `notBreaching`: a missing bucket does not breach.
    NotBreaching,
}

impl MissingData {
    /// Every mode.
    pub const ALL: [MissingData; 4] = [
        MissingData::Missing,
        MissingData::Ignore,
        MissingData::Breaching,
        MissingData::NotBreaching,
    ];

    /// The mode named as the API names it.
    pub fn from_name(name: &str) -> Option<MissingData> {
        Some(match name {
            "missing" => MissingData::Missing,
            "ignore" => MissingData::Ignore,
            "breaching" => MissingData::Breaching,
            "notBreaching" => MissingData::NotBreaching,
            _ => return None,
        })
    }
}

impl AlarmSpec {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        check_period("period_ms", self.period_ms)?;
        if self.zones.is_empty() || self.zones.len() > ZONES_MAX {
            let message = format!("must name 1 to {ZONES_MAX} zones, not {}", self.zones.len());
            return Err(AlarmError::invalid("zones", message));
        }
        let distinct: BTreeSet<&ZoneId> = self.zones.iter().collect();
        if distinct.len() != self.zones.len() {
            return Err(AlarmError::invalid("zones", "a zone is named twice"));
        }
        match &self.rule {
            Rule::Criteria {
                consecutive_count, ..
            } => {
                if !(1..=CONSECUTIVE_COUNT_MAX).contains(consecutive_count) {
                    let message = format!("must be 1..={CONSECUTIVE_COUNT_MAX}");
                    return Err(AlarmError::invalid("consecutive_count", message));
                }
                Ok(())
            }
            Rule::Threshold(t) => t.validate(),
        }
    }
}

impl ThresholdSpec {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let name_len = self.metric.chars().count();
        if name_len == 0 || name_len > METRIC_NAME_MAX {
            let message = format!("must be 1 to {METRIC_NAME_MAX} characters");
            return Err(AlarmError::invalid("threshold.metric", message));
        }
        check_period("threshold.period", self.period_ms)?;
        if !self.threshold.is_finite() {
            return Err(AlarmError::invalid("threshold.threshold", "must be finite"));
        }
        let n = self.evaluation_periods;
        if !(1..=EVALUATION_PERIODS_MAX).contains(&n) {
            let message = format!("must be 1..={EVALUATION_PERIODS_MAX}");
            return Err(AlarmError::invalid("threshold.evaluation_periods", message));
        }
        if !(1..=n).contains(&self.datapoints_to_alarm) {
            let message = "must be 1..=evaluation_periods";
            return Err(AlarmError::invalid(
                "threshold.datapoints_to_alarm",
                message,
            ));
        }
        if !matches!(self.state, State::Warning | State::Critical) {
            return Err(AlarmError::invalid(
                "threshold.state",
                "must be WARNING or CRITICAL",
            ));
        }
        Ok(())
    }
}

fn check_period(field: &'static str, period_ms: i64) -> Result<()> {
    if !(1..=PERIOD_MS_MAX).contains(&period_ms) {
        let message = format!("{period_ms} must be 1..={PERIOD_MS_MAX} ms");
        return Err(AlarmError::invalid(field, message));
    }
    Ok(())
}
