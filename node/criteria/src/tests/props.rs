//! Property tests: no input makes the parser panic, and evaluation agrees with reference models.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::super::*;
use super::{all_valid, observation, parse_never_panics};

/// Pieces of the language, to build texts that get deep into the grammar.
const FRAGMENTS: &[&str] = &[
    "if",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ";",
    "metric",
    "metric['a']",
    "previous",
    "rate",
    "percentage",
    "'a'",
    "\"b\"",
    "'#{a}'",
    "1",
    "-2",
    "1.2e-7",
    "==",
    "!=",
    ">=",
    "<=",
    ">",
    "<",
    "regex",
    "nregex",
    "'^a+$'",
    "'('",
    "&&",
    "||",
    "return",
    "new",
    "AlarmStatus",
    "OK",
    "WARNING",
    "CRITICAL",
    ":set",
    "consistencyLevel",
    "consecutiveCount",
    "=",
    "ONE",
    "ALL",
    "3",
    "# c\n",
    "/*",
    "*/",
    "\\",
    "'",
    "\"",
    "\n",
    "é",
    "\r\n",
    "\t",
];

fn fragment_text() -> impl Strategy<Value = String> {
    let piece = (
        0..FRAGMENTS.len(),
        prop_oneof![Just(""), Just(" "), Just("\n")],
    );
    prop::collection::vec(piece, 0..60).prop_map(|pieces| {
        pieces
            .into_iter()
            .map(|(i, sep)| format!("{}{sep}", FRAGMENTS[i]))
            .collect::<String>()
    })
}

/// An edit of a text: at a char index, delete some chars and insert a string.
fn mutated_valid() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0..4usize,
        prop_oneof![
            Just(String::new()),
            "[ -~]{0,3}".prop_map(|s| s),
            (0..FRAGMENTS.len()).prop_map(|i| FRAGMENTS[i].to_string()),
        ],
    );
    let texts = all_valid();
    (0..texts.len(), prop::collection::vec(edit, 1..5)).prop_map(move |(which, edits)| {
        let mut chars: Vec<char> = texts[which].chars().collect();
        for (at, delete, insert) in edits {
            let start = at.index(chars.len() + 1);
            let end = (start + delete).min(chars.len());
            chars.splice(start..end, insert.chars());
        }
        chars.into_iter().collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        parse_never_panics(&text);
    }

    #[test]
    fn fragment_soups_never_panic(text in fragment_text()) {
        parse_never_panics(&text);
    }

    #[test]
    fn mutated_valid_texts_never_panic(text in mutated_valid()) {
        parse_never_panics(&text);
    }
}

/// `metric['m{i}'] == 1` chained by `&&` (true) or `||` (false), with metric values 0, 1 or
/// missing, against a reference that splits on `||` first.
fn chain_and_values() -> impl Strategy<Value = (Vec<bool>, Vec<Option<bool>>)> {
    (1..=COMPARISONS_MAX).prop_flat_map(|n| {
        let ops = prop::collection::vec(any::<bool>(), n - 1);
        let values = prop::collection::vec(prop::option::of(any::<bool>()), n);
        (ops, values)
    })
}

fn reference_chain(ands: &[bool], values: &[Option<bool>]) -> bool {
    let mut any = false;
    let mut all = values.first().copied().flatten() == Some(true);
    for (and, value) in ands.iter().zip(&values[1..]) {
        let holds = *value == Some(true);
        if *and {
            all &= holds;
        } else {
            any |= all;
            all = holds;
        }
    }
    any || all
}

/// An operator and what it means on two numbers.
type NumericOp = (&'static str, fn(f64, f64) -> bool);

const OPS: &[NumericOp] = &[
    ("==", |a, b| a == b),
    ("!=", |a, b| a != b),
    (">=", |a, b| a >= b),
    ("<=", |a, b| a <= b),
    (">", |a, b| a > b),
    ("<", |a, b| a < b),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn conditions_follow_the_precedence_of_the_reference((ands, values) in chain_and_values()) {
        let mut text = String::from("if (");
        for i in 0..values.len() {
            if i > 0 {
                text.push_str(if ands[i - 1] { " && " } else { " || " });
            }
            text.push_str(&format!("metric['m{i}'] == 1"));
        }
        text.push_str(") { return new AlarmStatus(CRITICAL); }");
        let criteria = parse(&text).expect("parses");
        let metrics: Vec<(String, f64)> = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (format!("m{i}"), if v { 1.0 } else { 0.0 })))
            .collect();
        let named: Vec<(&str, f64)> = metrics.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let verdict = evaluate(Some(&criteria), &observation(0, &named), None);
        let expected = if reference_chain(&ands, &values) {
            AlarmState::Critical
        } else {
            AlarmState::Ok
        };
        prop_assert_eq!(verdict.state, expected);
    }

    #[test]
    fn numeric_comparisons_follow_f64(
        op in 0..OPS.len(),
        value in -1e6f64..1e6,
        literal in prop_oneof![-1e6f64..1e6, Just(0.0), Just(-2.0), Just(1.2e-7)],
        same in any::<bool>(),
    ) {
        let literal = if same { value } else { literal };
        let (symbol, reference) = OPS[op];
        let text = format!(
            "if (metric['x'] {symbol} {literal}) {{ return new AlarmStatus(CRITICAL); }}"
        );
        let criteria = parse(&text).expect("parses");
        let verdict = evaluate(Some(&criteria), &observation(0, &[("x", value)]), None);
        let expected =
            if reference(value, literal) { AlarmState::Critical } else { AlarmState::Ok };
        prop_assert_eq!(verdict.state, expected, "{}", text);
    }
}

proptest! {
    #[test]
    fn interpolation_never_panics(template in any::<String>(), value in any::<String>()) {
        let metrics: BTreeMap<String, MetricValue> =
            [("a".to_string(), MetricValue::Text(value.clone()))].into_iter().collect();
        let out = interpolate(&template, &metrics);
        if !template.contains("#{") {
            prop_assert_eq!(&out, &template);
        }
        let prefixed = interpolate(&format!("<#{{a}}>{template}"), &metrics);
        prop_assert_eq!(prefixed, format!("<{value}>{out}"));
    }
}
