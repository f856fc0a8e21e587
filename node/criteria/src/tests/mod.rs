//! Table and property tests of the criteria parser, and of parser and evaluator together.

mod props;

use std::collections::BTreeMap;

use super::*;

/// The two examples of criteria.md, verbatim.
const SPEC_EXAMPLE_1: &str = "\
if (metric['code'] != '200') { return new AlarmStatus(CRITICAL, 'HTTP #{code}'); }
if (metric['duration'] > 2000) { return new AlarmStatus(WARNING, 'slow: #{duration} ms'); }
return new AlarmStatus(OK);
";

const SPEC_EXAMPLE_2: &str = "\
:set consistencyLevel=ALL
:set consecutiveCount=3
if (rate(metric['bytes']) < 10 || metric['cert_end_in'] < 604800) { return new AlarmStatus(CRITICAL); }
return new AlarmStatus(OK, 'fine');
";

/// Texts that must parse.
const VALID: &[&str] = &[
    SPEC_EXAMPLE_1,
    SPEC_EXAMPLE_2,
    "",
    "# only a comment",
    "/* block */ return new AlarmStatus(OK);",
    "return new AlarmStatus(WARNING, \"double quoted\");",
    ":set consistencyLevel=ONE\nreturn new AlarmStatus(OK);",
    ":set consecutiveCount=5",
    ":set consistencyLevel = QUORUM :set consecutiveCount = 1",
    "if (metric['a'] == 1) { return new AlarmStatus(CRITICAL); }",
    "if (metric['a'] != 1 && metric['a'] >= 2 && metric['a'] <= 3 || metric['a'] > 4 \
     || metric['a'] < 5) { return new AlarmStatus(OK); }",
    "if (metric['body'] regex '^ok$') { return new AlarmStatus(OK); }",
    "if (metric['body'] nregex \"[0-9]+\\\\s*ms\") { return new AlarmStatus(WARNING); }",
    "if (previous(metric['code']) != metric['code']) \
     { return new AlarmStatus(WARNING, 'code changed from #{code}'); }",
    "if (percentage(metric['used'], metric['total']) > 90) { return new AlarmStatus(CRITICAL); }",
    "if (metric['t'] > -2 && metric['t'] < 1.2e-7 && metric['t'] != 3E+2) \
     { return new AlarmStatus(OK); }",
    "if (metric['s'] == 'a\\'b\\\"c\\\\d\\u00e9\\b\\f\\n\\r\\t') { return new AlarmStatus(OK); }",
    "if ((metric['a'] > 1 || metric['b'] > 1) && metric['c'] == 'x') \
     { return new AlarmStatus(CRITICAL); }",
    "if (((metric['a'] > 1))) { return new AlarmStatus(OK); }",
    "if (metric['a'] > 1) { return new AlarmStatus(CRITICAL); }\n\
     if (metric['a'] > 0) { return new AlarmStatus(WARNING); }",
    "if ( # comment\n metric['a'] /* inline */ > 1) \
     { return /* here */ new AlarmStatus(OK); } # end",
    "if (metric['a'] > 1) {\r\n  return new AlarmStatus(OK, 'crlf');\r\n}\r\n",
    "if (1 < 2) { return new AlarmStatus(OK); }",
    "if (metric['a'] > metric['b']) { return new AlarmStatus(WARNING); }",
    "if (10 > rate(metric['bytes'])) { return new AlarmStatus(CRITICAL); }",
    "if (previous(metric['body']) regex 'down') { return new AlarmStatus(WARNING); }",
    "if (metric [ 'a' ] == \"x\") { return new AlarmStatus ( OK , 'spaced' ) ; }",
    "if (metric['a'] == 'x') { return new AlarmStatus(OK, ''); }",
    "return new AlarmStatus(CRITICAL, 'smile \\ud83d\\ude00 #{x}');",
    "\u{feff}return new AlarmStatus(OK);",
    "if (metric['a'] == 1) { return new AlarmStatus(OK); } /* trailing **/",
    "if ('a' == 'b' || 5 == 5) { return new AlarmStatus(OK); }",
];

/// Valid texts built at the limits.
fn valid_at_limits() -> Vec<String> {
    let name = "n".repeat(METRIC_NAME_MAX);
    let literal = "l".repeat(STRING_MAX);
    let message = "m".repeat(MESSAGE_MAX);
    let ten = ["metric['a'] > 1"; COMPARISONS_MAX].join(" && ");
    let deep = format!(
        "{}metric['a'] > 1{}",
        "(".repeat(NESTING_MAX),
        ")".repeat(NESTING_MAX)
    );
    vec![
        format!(
            "if (metric['{name}'] == '{literal}') {{ return new AlarmStatus(OK, '{message}'); }}"
        ),
        format!("if ({ten}) {{ return new AlarmStatus(OK); }}"),
        format!("if ({deep}) {{ return new AlarmStatus(OK); }}"),
        format!("if (metric['a'] regex '{literal}') {{ return new AlarmStatus(OK); }}"),
    ]
}

pub(super) fn all_valid() -> Vec<String> {
    VALID
        .iter()
        .map(|text| text.to_string())
        .chain(valid_at_limits())
        .collect()
}

#[test]
fn valid_texts_parse_and_round_trip_through_json() {
    let texts = all_valid();
    assert!(texts.len() >= 25);
    for text in texts {
        let criteria = parse(&text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"));
        let json = serde_json::to_string(&criteria).expect("serializes");
        let back: Criteria = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, criteria, "{text:?}");
    }
}

/// (text, line, column, position, token, part of the message).
type Invalid = (String, usize, usize, usize, String, &'static str);

fn row(
    text: impl Into<String>,
    at: (usize, usize, usize),
    token: impl Into<String>,
    message: &'static str,
) -> Invalid {
    (text.into(), at.0, at.1, at.2, token.into(), message)
}

const IF_A: &str = "if (metric['a'] > 1) { return new AlarmStatus(OK); }";

#[rustfmt::skip]
fn invalid_table() -> Vec<Invalid> {
    let eleven = ["metric['a'] > 1"; COMPARISONS_MAX + 1].join(" && ");
    let six = ["metric['a'] > 1"; 6].join(" || ");
    let five = ["metric['b'] > 1"; 5].join(" || ");
    let long_name = "m".repeat(METRIC_NAME_MAX + 1);
    let long_literal = "x".repeat(STRING_MAX + 1);
    let long_message = "x".repeat(MESSAGE_MAX + 1);
    let cut = |s: String| s.chars().take(ERROR_TOKEN_MAX).collect::<String>();
    let too_deep = format!("if ({}metric['a'] > 1", "(".repeat(NESTING_MAX + 1));
    vec![
        row("if", (1, 3, 2), "EOF", "expected '(' after 'if'"),
        row(IF_A.replace("(OK);", "(OK)"), (1, 51, 50), "}", "expected ';'"),
        row("return new AlarmStatus(FINE);", (1, 24, 23), "FINE", "expected OK, WARNING"),
        row(":set consistencyLevel=MOST", (1, 23, 22), "MOST", "expected ONE, QUORUM or ALL"),
        row(":set consecutiveCount=6", (1, 23, 22), "6", "from 1 to 5"),
        row(":set consecutiveCount=2.5", (1, 23, 22), "2.5", "from 1 to 5"),
        row(":set consecutiveCount=2\n:set consecutiveCount=3", (2, 6, 29), "consecutiveCount",
            "duplicate setting"),
        row(":set foo=1", (1, 6, 5), "foo", "expected 'consistencyLevel' or"),
        row(format!("{IF_A}\n:set consecutiveCount=2"), (2, 1, 53), ":set",
            "settings must come before"),
        row(format!("return new AlarmStatus(OK);\n{IF_A}"), (2, 1, 28), "if",
            "expected end of input after the default return"),
        row(IF_A.replace('>', "="), (1, 17, 16), "=", "expected a comparison operator"),
        row("if (metric['a'] > 1 & metric['b'] > 2)", (1, 21, 20), "&", "expected '&&'"),
        row("if (metric['a'] regex 5)", (1, 23, 22), "5", "expected a string pattern"),
        row("if (10 regex 'a')", (1, 8, 7), "regex", "matches strings, not numbers"),
        row("if (metric['a'] regex '(')", (1, 23, 22), "'('", "invalid regex: unclosed"),
        row("if (metric['a'] > 'x')", (1, 19, 18), "'x'", "expected a number after '>'"),
        row("if ('x' < 5)", (1, 9, 8), "<", "compares numbers, not strings"),
        row("if (5 == 'x')", (1, 10, 9), "'x'", "cannot compare a number with a string"),
        row("if (rate(metric['a']) != 'x')", (1, 26, 25), "'x'", "cannot compare a number"),
        row("if ('x' == percentage(metric['a'], metric['b']))", (1, 12, 11), "percentage",
            "cannot compare a string"),
        row("if (metric[''] > 1)", (1, 12, 11), "''", "metric name must not be empty"),
        row(format!("if (metric['{long_name}'] > 1)"), (1, 12, 11), cut(format!("'{long_name}'")),
            "metric name longer than 128"),
        row(format!("if (metric['a'] == '{long_literal}')"), (1, 20, 19),
            format!("'{long_literal}'"), "string literal longer than 80"),
        row(format!("if (metric['a'] regex '{long_literal}')"), (1, 23, 22),
            format!("'{long_literal}'"), "string literal longer than 80"),
        row(format!("return new AlarmStatus(OK, '{long_message}');"), (1, 28, 27),
            cut(format!("'{long_message}'")), "message longer than 128"),
        row(format!("if ({eleven})"), (1, 195, 194), "metric", "too many comparisons"),
        row(format!("if ({six}) {{ return new AlarmStatus(OK); }}\nif ({five})"), (2, 81, 228),
            "metric", "too many comparisons"),
        row(too_deep, (1, 13, 12), "(", "nested too deeply"),
        row("if (metric['a] > 1)\n{ return new AlarmStatus(OK); }", (1, 12, 11), "'a] > 1)",
            "unterminated string"),
        row("return new AlarmStatus(OK); /* trailing", (1, 29, 28), "/*", "unterminated comment"),
        row("return new AlarmStatus(OK, 'a\\x');", (1, 30, 29), "\\x", "invalid escape"),
        row("# c\n\nif (metric['a'] @ 1)", (3, 17, 21), "@", "unexpected character"),
        row("return new AlarmStatus(OK, 'é');\nx", (2, 1, 33), "x", "expected end of input"),
        row("if (metric['a'] > 1) { }", (1, 24, 23), "}", "expected 'return'"),
        row(IF_A.replace(" }", ""), (1, 51, 50), "EOF", "expected '}'"),
        row("if (metric['a'] > 1 && )", (1, 24, 23), ")", "expected an operand"),
        row("if (metric['a'] > 1.)", (1, 19, 18), "1.", "invalid number"),
        row("if (metric['a'] > 0x10)", (1, 19, 18), "0x10", "invalid number"),
        row("if (percentage(metric['a'] metric['b']) > 1)", (1, 28, 27), "metric",
            "expected ','"),
        row("if (previous(metric['a']] > 1)", (1, 25, 24), "]", "expected ')' to close"),
        row("If (metric['a'] > 1)", (1, 1, 0), "If", "expected ':set', 'if', 'return'"),
        row(IF_A.replace("new ", ""), (1, 31, 30), "AlarmStatus", "expected 'new'"),
        row("if (metric[a] > 1)", (1, 12, 11), "a", "expected a quoted metric name"),
        row(":set consistencyLevel=ONE :set consistencyLevel=ALL", (1, 32, 31),
            "consistencyLevel", "duplicate setting"),
        row(IF_A.replace("(OK)", "(OK, 5)"), (1, 51, 50), "5", "expected a message string"),
        row(IF_A.replace("(OK)", "(OK 'm')"), (1, 50, 49), "'m'", "expected ',' or ')'"),
        row("if (metric['a'] > 1)\t\t{ return }", (1, 32, 31), "}", "expected 'new'"),
        row(format!("{IF_A} {IF_A} x"), (1, 107, 106), "x", "expected 'if', 'return' or end"),
        row("if (metric['a'] > 1) return", (1, 22, 21), "return", "expected '{'"),
        row("if (metric['é'] >\t'x')", (1, 19, 18), "'x'", "expected a number after '>'"),
    ]
}

#[test]
fn invalid_texts_point_at_the_first_bad_token() {
    let table = invalid_table();
    assert!(table.len() >= 25);
    for (text, line, column, position, token, message) in table {
        let err = parse(&text)
            .err()
            .unwrap_or_else(|| panic!("{text:?} should not parse"));
        let got = (
            err.error_line,
            err.error_column,
            err.error_position,
            err.error_token.as_str(),
        );
        assert_eq!(
            got,
            (line, column, position, token.as_str()),
            "{text:?}: {err}"
        );
        assert!(err.message.contains(message), "{text:?}: {:?}", err.message);
        check_error(&text, &err);
    }
}

#[test]
fn spec_examples_give_the_expected_trees() {
    let first = parse(SPEC_EXAMPLE_1).expect("parses");
    assert_eq!(first.consistency, Consistency::Quorum);
    assert_eq!(first.consecutive_count, None);
    assert_eq!(first.rules.len(), 2);
    let expected = Condition::Compare(Comparison::Relational {
        left: Operand::Metric("code".into()),
        op: RelOp::Ne,
        right: Operand::Text("200".into()),
    });
    assert_eq!(first.rules[0].condition, expected);
    assert_eq!(
        first.rules[1].result.message.as_deref(),
        Some("slow: #{duration} ms")
    );
    let default = Return {
        state: AlarmState::Ok,
        message: None,
        line: 3,
    };
    assert_eq!(first.default_return, Some(default));

    let second = parse(SPEC_EXAMPLE_2).expect("parses");
    assert_eq!(second.consistency, Consistency::All);
    assert_eq!(second.consecutive_count, Some(3));
    assert!(matches!(&second.rules[0].condition, Condition::Or(parts) if parts.len() == 2));
    assert_eq!(second.rules[0].result.line, 3);
    assert_eq!(
        second.default_return.and_then(|r| r.message).as_deref(),
        Some("fine")
    );
}

#[test]
fn and_binds_tighter_than_or() {
    let text = "if (metric['a'] == 1 || metric['b'] == 1 && metric['c'] == 1) \
                { return new AlarmStatus(OK); }";
    let criteria = parse(text).expect("parses");
    let cmp = |name: &str| {
        Condition::Compare(Comparison::Relational {
            left: Operand::Metric(name.into()),
            op: RelOp::Eq,
            right: Operand::Number(1.0),
        })
    };
    let expected = Condition::Or(vec![cmp("a"), Condition::And(vec![cmp("b"), cmp("c")])]);
    assert_eq!(criteria.rules[0].condition, expected);
}

/// Every error is inside the text and its line, column and token agree with its position.
fn check_error(text: &str, err: &CriteriaError) {
    let chars: Vec<char> = text.chars().collect();
    assert!(err.error_position <= chars.len(), "{text:?}: {err:?}");
    let before = &chars[..err.error_position];
    let line = 1 + before.iter().filter(|c| **c == '\n').count();
    let column = 1 + before.iter().rev().take_while(|c| **c != '\n').count();
    assert_eq!(
        (err.error_line, err.error_column),
        (line, column),
        "{text:?}: {err:?}"
    );
    if err.error_position == chars.len() {
        assert_eq!(err.error_token, "EOF", "{text:?}");
    } else {
        let rest: String = chars[err.error_position..].iter().collect();
        assert!(
            !err.error_token.is_empty() && rest.starts_with(&err.error_token),
            "{text:?}"
        );
        assert!(err.error_token.chars().count() <= ERROR_TOKEN_MAX);
    }
    let first = err.message.chars().next();
    assert!(
        first.is_some_and(|c| !c.is_uppercase()),
        "{text:?}: {:?}",
        err.message
    );
}

/// Parses `text`; checks the error if any, and otherwise that the tree round-trips and evaluates.
pub(super) fn parse_never_panics(text: &str) {
    match parse(text) {
        Err(err) => check_error(text, &err),
        Ok(criteria) => {
            let json = serde_json::to_string(&criteria).expect("serializes");
            let back: Criteria = serde_json::from_str(&json).expect("deserializes");
            assert_eq!(back, criteria);
            let obs = observation(2_000, &[("a", 1.0), ("b", 0.0), ("code", 200.0)]);
            let prev = observation(1_000, &[("a", 3.0), ("b", 0.0)]);
            let verdict = evaluate(Some(&criteria), &obs, Some(&prev));
            assert!(verdict.message.chars().count() <= VERDICT_MESSAGE_MAX);
        }
    }
}

pub(super) fn observation(timestamp_ms: i64, metrics: &[(&str, f64)]) -> Observation {
    Observation {
        timestamp_ms,
        available: true,
        status: "ok".into(),
        metrics: metrics
            .iter()
            .map(|(name, v)| (name.to_string(), MetricValue::Number(*v)))
            .collect::<BTreeMap<_, _>>(),
    }
}
