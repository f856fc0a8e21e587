//! Evaluates one zone's observation against parsed criteria, giving the zone's state and message.
//!
//! Pure: the observation carries its own timestamp, so no clock is read.

use std::collections::BTreeMap;

use super::ast::{AlarmState, Comparison, Condition, Criteria, Operand, RelOp, Return};
use super::observation::{MetricValue, Observation, ZoneVerdict, format_number, text_number};

/// Longest message of a verdict, in chars; interpolated metric values or a long failure status
/// are cut to this length.
pub const VERDICT_MESSAGE_MAX: usize = 1024;

/// The zone's state for `obs`, given the zone's previous observation `prev` (for `previous()` and
/// `rate()`).
///
/// A check that could not run is CRITICAL with its status as the message, whatever the criteria.
/// Without criteria, an available check is OK. Otherwise the first rule whose condition holds
/// decides, then the default return; when nothing matches the zone is OK.
pub fn evaluate(
    criteria: Option<&Criteria>,
    obs: &Observation,
    prev: Option<&Observation>,
) -> ZoneVerdict {
    if !obs.available {
        let message = if obs.status.is_empty() {
            "check could not run"
        } else {
            &obs.status
        };
        return verdict(AlarmState::Critical, message.to_string());
    }
    let Some(criteria) = criteria else {
        let message = if obs.status.is_empty() {
            "available"
        } else {
            &obs.status
        };
        return verdict(AlarmState::Ok, message.to_string());
    };
    let scope = Scope { obs, prev };
    if let Some(rule) = criteria
        .rules
        .iter()
        .find(|rule| scope.holds(&rule.condition))
    {
        let default = format!("matched return statement on line {}", rule.result.line);
        return verdict(rule.result.state, scope.message(&rule.result, default));
    }
    match &criteria.default_return {
        Some(result) => {
            let default = "matched default return statement".to_string();
            verdict(result.state, scope.message(result, default))
        }
        None => verdict(AlarmState::Ok, "no return statement matched".to_string()),
    }
}

fn verdict(state: AlarmState, mut message: String) -> ZoneVerdict {
    if let Some((cut, _)) = message.char_indices().nth(VERDICT_MESSAGE_MAX) {
        message.truncate(cut);
    }
    ZoneVerdict { state, message }
}

/// Replaces each `#{name}` in `template` by the metric's value; a placeholder naming a metric the
/// observation does not have, or an unclosed one, is left as written.
pub fn interpolate(template: &str, metrics: &BTreeMap<String, MetricValue>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("#{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            rest = &rest[start..];
            break;
        };
        match metrics.get(after[..end].trim()) {
            Some(value) => out.push_str(&value.to_string()),
            None => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// An operand's value in one observation.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Number(f64),
    Text(&'a str),
}

impl<'a> Value<'a> {
    fn of(metric: &'a MetricValue) -> Self {
        match metric {
            MetricValue::Number(v) => Value::Number(*v),
            MetricValue::Text(text) => Value::Text(text),
        }
    }

    fn as_number(self) -> Option<f64> {
        match self {
            Value::Number(v) => Some(v),
            Value::Text(text) => text_number(text),
        }
    }
}

/// The observations a condition is evaluated against.
struct Scope<'a> {
    obs: &'a Observation,
    prev: Option<&'a Observation>,
}

impl<'a> Scope<'a> {
    fn message(&self, result: &Return, default: String) -> String {
        match &result.message {
            Some(template) => interpolate(template, &self.obs.metrics),
            None => default,
        }
    }

    fn holds(&self, condition: &'a Condition) -> bool {
        match condition {
            Condition::Compare(comparison) => self.compare(comparison),
            Condition::And(parts) => parts.iter().all(|part| self.holds(part)),
            Condition::Or(parts) => parts.iter().any(|part| self.holds(part)),
        }
    }

    /// False whenever an operand has no value (missing metric, no previous observation, ...).
    fn compare(&self, comparison: &'a Comparison) -> bool {
        match comparison {
            Comparison::Relational { left, op, right } => {
                match (self.value(left), self.value(right)) {
                    (Some(l), Some(r)) => relate(l, *op, r),
                    _ => false,
                }
            }
            Comparison::Regex {
                left,
                negated,
                pattern,
            } => {
                let matched = match self.value(left) {
                    Some(Value::Text(text)) => pattern.is_match(text),
                    Some(Value::Number(v)) => pattern.is_match(&format_number(v)),
                    None => return false,
                };
                matched != *negated
            }
        }
    }

    fn value(&self, operand: &'a Operand) -> Option<Value<'a>> {
        match operand {
            Operand::Metric(name) => self.obs.metrics.get(name).map(Value::of),
            Operand::Previous(name) => self.prev?.metrics.get(name).map(Value::of),
            Operand::Rate(name) => self.rate(name).map(Value::Number),
            Operand::Percentage(part, whole) => self.percentage(part, whole).map(Value::Number),
            Operand::Number(v) => Some(Value::Number(*v)),
            Operand::Text(text) => Some(Value::Text(text)),
        }
    }

    /// Change per second between the previous and this observation; none when time did not move
    /// forward.
    fn rate(&self, name: &str) -> Option<f64> {
        let prev = self.prev?;
        let elapsed_ms = self.obs.timestamp_ms.checked_sub(prev.timestamp_ms)?;
        if elapsed_ms <= 0 {
            return None;
        }
        let now = self.obs.metrics.get(name)?.as_number()?;
        let before = prev.metrics.get(name)?.as_number()?;
        Some((now - before) / (elapsed_ms as f64 / 1000.0))
    }

    /// 100 * part / whole; none when whole is 0.
    fn percentage(&self, part: &str, whole: &str) -> Option<f64> {
        let whole = self.obs.metrics.get(whole)?.as_number()?;
        let part = self.obs.metrics.get(part)?.as_number()?;
        if whole == 0.0 {
            None
        } else {
            Some(100.0 * part / whole)
        }
    }
}

/// Strings compare as strings; otherwise both sides must read as numbers. An ordering of
/// values that are not both numbers is false, and so is `==` between them (`!=` true).
fn relate(left: Value<'_>, op: RelOp, right: Value<'_>) -> bool {
    if let (Value::Text(l), Value::Text(r)) = (left, right) {
        match op {
            RelOp::Eq => return l == r,
            RelOp::Ne => return l != r,
            _ => {}
        }
    }
    let (Some(l), Some(r)) = (left.as_number(), right.as_number()) else {
        return op == RelOp::Ne;
    };
    match op {
        RelOp::Eq => l == r,
        RelOp::Ne => l != r,
        RelOp::Ge => l >= r,
        RelOp::Le => l <= r,
        RelOp::Gt => l > r,
        RelOp::Lt => l < r,
    }
}

#[cfg(test)]
mod tests {
    use super::super::observation::tests::obs;
    use super::super::parse;
    use super::*;

    fn num(v: f64) -> MetricValue {
        MetricValue::Number(v)
    }

    fn text(s: &str) -> MetricValue {
        MetricValue::Text(s.to_string())
    }

    /// True when `condition` holds for `now` (and `prev`).
    fn holds(condition: &str, now: &Observation, prev: Option<&Observation>) -> bool {
        let text = format!("if ({condition}) {{ return new AlarmStatus(CRITICAL); }}");
        let criteria = parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        evaluate(Some(&criteria), now, prev).state == AlarmState::Critical
    }

    #[test]
    fn every_relational_operator_on_numbers() {
        let o = obs(0, &[("a", num(5.0))]);
        let cases = [
            ("==", [false, true, false]),
            ("!=", [true, false, true]),
            (">=", [true, true, false]),
            ("<=", [false, true, true]),
            (">", [true, false, false]),
            ("<", [false, false, true]),
        ];
        for (op, expected) in cases {
            for (literal, want) in ["4", "5", "6"].iter().zip(expected) {
                assert_eq!(
                    holds(&format!("metric['a'] {op} {literal}"), &o, None),
                    want,
                    "{op}"
                );
            }
        }
    }

    #[test]
    fn strings_compare_as_strings_and_numbers_coerce() {
        let o = obs(
            0,
            &[("code", text("200")), ("n", num(200.0)), ("s", text("abc"))],
        );
        assert!(holds("metric['code'] == '200'", &o, None));
        assert!(!holds("metric['code'] != '200'", &o, None));
        assert!(holds("metric['code'] == 200", &o, None));
        assert!(holds("metric['n'] == '200'", &o, None));
        assert!(holds("metric['code'] >= 199.5", &o, None));
        assert!(!holds("metric['s'] > 1", &o, None));
        assert!(!holds("metric['s'] == 1", &o, None));
        assert!(holds("metric['s'] != 1", &o, None));
        assert!(holds("metric['s'] == metric['s']", &o, None));
        assert!(holds("metric['code'] == metric['n']", &o, None));
    }

    #[test]
    fn regex_and_nregex_search_the_value() {
        let o = obs(0, &[("body", text("status: up")), ("n", num(404.0))]);
        assert!(holds("metric['body'] regex 'up$'", &o, None));
        assert!(!holds("metric['body'] regex '^up'", &o, None));
        assert!(holds("metric['body'] nregex 'down'", &o, None));
        assert!(!holds("metric['body'] nregex 'status'", &o, None));
        assert!(holds("metric['n'] regex '^4\\\\d\\\\d$'", &o, None));
    }

    #[test]
    fn a_missing_metric_makes_every_comparison_false() {
        let o = obs(0, &[("a", num(1.0))]);
        for condition in [
            "metric['x'] == 1",
            "metric['x'] != 1",
            "metric['x'] != 'y'",
            "metric['x'] < 1",
            "metric['x'] regex 'y'",
            "metric['x'] nregex 'y'",
            "previous(metric['a']) != 0",
            "percentage(metric['a'], metric['x']) >= 0",
            "percentage(metric['x'], metric['a']) >= 0",
        ] {
            assert!(!holds(condition, &o, None), "{condition}");
        }
        assert!(holds("metric['x'] != 1 || metric['a'] == 1", &o, None));
    }

    #[test]
    fn previous_reads_the_previous_observation() {
        let prev = obs(1_000, &[("code", text("500"))]);
        let now = obs(2_000, &[("code", text("200"))]);
        assert!(holds(
            "previous(metric['code']) == '500'",
            &now,
            Some(&prev)
        ));
        assert!(holds(
            "previous(metric['code']) != metric['code']",
            &now,
            Some(&prev)
        ));
        assert!(!holds(
            "previous(metric['code']) != metric['code']",
            &now,
            None
        ));
    }

    #[test]
    fn rate_is_change_per_second() {
        let prev = obs(10_000, &[("bytes", num(1_000.0))]);
        let now = obs(12_000, &[("bytes", num(1_500.0))]);
        assert!(holds("rate(metric['bytes']) == 250", &now, Some(&prev)));
        assert!(holds("rate(metric['bytes']) > 249.9", &now, Some(&prev)));
        assert!(holds(
            "rate(metric['bytes']) < 0",
            &obs(13_000, &[("bytes", num(0.0))]),
            Some(&now)
        ));
        assert!(!holds("rate(metric['bytes']) >= 0", &now, None));
        let same_time = obs(10_000, &[("bytes", num(2_000.0))]);
        assert!(!holds(
            "rate(metric['bytes']) >= 0",
            &same_time,
            Some(&prev)
        ));
        let far = obs(i64::MIN, &[("bytes", num(1.0))]);
        assert!(!holds("rate(metric['bytes']) >= 0", &now, Some(&far)));
    }

    #[test]
    fn percentage_is_a_hundred_times_the_ratio() {
        let o = obs(
            0,
            &[
                ("used", num(30.0)),
                ("total", num(120.0)),
                ("zero", num(0.0)),
            ],
        );
        assert!(holds(
            "percentage(metric['used'], metric['total']) == 25",
            &o,
            None
        ));
        assert!(!holds(
            "percentage(metric['used'], metric['zero']) >= 0",
            &o,
            None
        ));
        assert!(!holds(
            "percentage(metric['used'], metric['zero']) != 0",
            &o,
            None
        ));
    }

    #[test]
    fn literals_compare_with_each_other() {
        let o = obs(0, &[]);
        assert!(holds(
            "1 < 2 && 'a' == 'a' && 'a' != 'b' && -2 == -2.0",
            &o,
            None
        ));
        assert!(!holds("2 <= 1.2e-7", &o, None));
    }

    #[test]
    fn a_check_that_could_not_run_is_critical_with_its_failure() {
        let criteria = parse("return new AlarmStatus(OK);").expect("parses");
        let mut o = obs(0, &[]);
        o.available = false;
        o.status = "connection refused".into();
        let verdict = evaluate(Some(&criteria), &o, None);
        assert_eq!(verdict.state, AlarmState::Critical);
        assert_eq!(verdict.message, "connection refused");
        o.status.clear();
        assert_eq!(evaluate(None, &o, None).message, "check could not run");
    }

    #[test]
    fn without_criteria_availability_decides() {
        let o = obs(0, &[]);
        let verdict = evaluate(None, &o, None);
        assert_eq!(
            (verdict.state, verdict.message.as_str()),
            (AlarmState::Ok, "code=200")
        );
    }

    #[test]
    fn first_match_wins_then_default_then_ok() {
        let text = "if (metric['a'] > 1) { return new AlarmStatus(CRITICAL, 'big #{a}'); }\n\
                    if (metric['a'] > 0) { return new AlarmStatus(WARNING); }\n\
                    return new AlarmStatus(OK);";
        let criteria = parse(text).expect("parses");
        let run = |v: f64| evaluate(Some(&criteria), &obs(0, &[("a", num(v))]), None);
        assert_eq!(
            run(2.0),
            ZoneVerdict {
                state: AlarmState::Critical,
                message: "big 2".into()
            }
        );
        let warning = "matched return statement on line 2".to_string();
        assert_eq!(
            run(0.5),
            ZoneVerdict {
                state: AlarmState::Warning,
                message: warning
            }
        );
        let default = "matched default return statement".to_string();
        assert_eq!(
            run(0.0),
            ZoneVerdict {
                state: AlarmState::Ok,
                message: default
            }
        );

        let no_default = parse("if (metric['a'] > 1) { return new AlarmStatus(CRITICAL); }");
        let no_default = no_default.expect("parses");
        let verdict = evaluate(Some(&no_default), &obs(0, &[("a", num(0.0))]), None);
        assert_eq!(verdict.state, AlarmState::Ok);
        assert_eq!(verdict.message, "no return statement matched");
    }

    #[test]
    fn interpolation_formats_values_and_keeps_unknown_placeholders() {
        let metrics: BTreeMap<String, MetricValue> = [
            ("code".to_string(), text("503")),
            ("ms".to_string(), num(2000.0)),
            ("ratio".to_string(), num(0.25)),
            ("neg".to_string(), num(-0.0)),
        ]
        .into_iter()
        .collect();
        let got = interpolate("#{code} #{ ms }ms #{ratio} #{neg} #{nope} #{code", &metrics);
        assert_eq!(got, "503 2000ms 0.25 0 #{nope} #{code");
        assert_eq!(interpolate("", &metrics), "");
        assert_eq!(interpolate("#{}}#{", &metrics), "#{}}#{");
        assert_eq!(format_number(1.2e-7), "0.00000012");
        assert_eq!(format_number(-3.0), "-3");
    }

    #[test]
    fn verdict_messages_are_bounded() {
        let long = "x".repeat(VERDICT_MESSAGE_MAX * 2);
        let criteria = parse("return new AlarmStatus(WARNING, '#{body}#{body}');").expect("parses");
        let verdict = evaluate(Some(&criteria), &obs(0, &[("body", text(&long))]), None);
        assert_eq!(verdict.message.chars().count(), VERDICT_MESSAGE_MAX);
        let mut failed = obs(0, &[]);
        failed.available = false;
        failed.status = "é".repeat(VERDICT_MESSAGE_MAX + 1);
        let verdict = evaluate(None, &failed, None);
        assert_eq!(verdict.message.chars().count(), VERDICT_MESSAGE_MAX);
    }
}
