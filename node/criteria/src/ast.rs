//! Syntax tree of a parsed criteria text, as stored with the alarm and read by the evaluator.

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Consecutive observations a zone needs to change state, unless the criteria set it.
pub const CONSECUTIVE_COUNT_DEFAULT: u8 = 1;
/// Default consecutive count for `remote.ping` checks, whose single lost packets are common.
pub const CONSECUTIVE_COUNT_PING_DEFAULT: u8 = 3;
/// Largest `:set consecutiveCount=` accepted.
pub const CONSECUTIVE_COUNT_MAX: u8 = 5;
/// Compiled size limit of one regex, in bytes; patterns are at most 80 chars, so this only stops
/// pathological repetitions such as `a{1000}{1000}`.
pub const REGEX_SIZE_MAX: usize = 1 << 20;

/// A parsed criteria text.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Criteria {
    /// How zone states combine into the alarm state (`:set consistencyLevel=`).
    pub consistency: Consistency,
    /// `:set consecutiveCount=`; `None` means the default of the check type, see
    /// [`Criteria::consecutive_count_for`].
    pub consecutive_count: Option<u8>,
    /// The if statements, tried top to bottom; the first whose condition holds decides.
    pub rules: Vec<Rule>,
    /// The return statement after the last if statement, used when no rule matches.
    pub default_return: Option<Return>,
}

impl Criteria {
    /// Consecutive observations needed for a zone to change state, for a check of `check_type`.
    pub fn consecutive_count_for(&self, check_type: &str) -> u8 {
        self.consecutive_count
            .unwrap_or_else(|| default_consecutive_count(check_type))
    }
}

/// Default consecutive count of a check type: 3 for `remote.ping`, 1 for every other type.
pub fn default_consecutive_count(check_type: &str) -> u8 {
    if check_type == "remote.ping" {
        CONSECUTIVE_COUNT_PING_DEFAULT
    } else {
        CONSECUTIVE_COUNT_DEFAULT
    }
}

/// How zone states combine into the alarm state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Consistency {
    /// The newest zone state that differs from the current alarm state wins.
    One,
    /// The state held by a majority of the polled zones.
    #[default]
    Quorum,
    /// The state held by every polled zone.
    All,
}

/// State of an alarm or of one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AlarmState {
    /// Nothing is wrong.
    Ok,
    /// Something needs attention.
    Warning,
    /// Something is broken.
    Critical,
}

/// `if (condition) { return ...; }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The condition that selects this rule.
    pub condition: Condition,
    /// What the zone state becomes when the condition holds.
    pub result: Return,
}

/// `return new AlarmStatus(STATE[, 'message']);`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Return {
    /// The state returned.
    pub state: AlarmState,
    /// The message, with `#{metric}` placeholders still in it.
    pub message: Option<String>,
    /// Line of the `return` keyword, 1-based, for the default message.
    pub line: usize,
}

/// A condition: comparisons joined by `&&` and `||`, `&&` binding tighter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// One comparison.
    Compare(Comparison),
    /// Holds when every part holds (`a && b && c`).
    And(Vec<Condition>),
    /// Holds when any part holds (`a || b || c`).
    Or(Vec<Condition>),
}

/// One comparison of two operands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// `left op right` with one of `== != >= <= > <`.
    Relational {
        /// Left operand.
        left: Operand,
        /// Operator.
        op: RelOp,
        /// Right operand.
        right: Operand,
    },
    /// `left regex 'pattern'` or `left nregex 'pattern'`.
    Regex {
        /// The value matched against the pattern.
        left: Operand,
        /// True for `nregex`: holds when the pattern does not match.
        negated: bool,
        /// The compiled pattern.
        pattern: Pattern,
    },
}

/// A relational operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelOp {
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `<`
    #[serde(rename = "<")]
    Lt,
}

/// A value in a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operand {
    /// `metric['name']`: the metric in the newest observation.
    Metric(String),
    /// `previous(metric['name'])`: the metric in the zone's previous observation.
    Previous(String),
    /// `rate(metric['name'])`: change per second between the previous and newest observation.
    Rate(String),
    /// `percentage(metric['a'], metric['b'])`: 100 * a / b.
    Percentage(String, String),
    /// A number literal; always finite.
    Number(f64),
    /// A string literal, escapes decoded.
    Text(String),
}

/// A compiled regular expression that remembers its source; it serializes as its source.
#[derive(Debug, Clone)]
pub struct Pattern {
    regex: Regex,
}

impl Pattern {
    /// Compiles `source`, or says in lowercase why it does not compile.
    pub fn new(source: &str) -> std::result::Result<Self, String> {
        RegexBuilder::new(source)
            .size_limit(REGEX_SIZE_MAX)
            .build()
            .map(|regex| Pattern { regex })
            .map_err(describe_regex_error)
    }

    /// The pattern as written (escapes decoded).
    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    /// True when the pattern matches anywhere in `text` (searches, is not anchored).
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

/// The last line of a regex error (`error: unclosed group`) without its prefix.
fn describe_regex_error(err: regex::Error) -> String {
    match err {
        regex::Error::CompiledTooBig(_) => "regex is too large once compiled".to_string(),
        regex::Error::Syntax(text) => {
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            let reason = last.trim().trim_start_matches("error:").trim();
            if reason.is_empty() {
                "invalid regex".to_string()
            } else {
                format!("invalid regex: {reason}")
            }
        }
        _ => "invalid regex".to_string(),
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Pattern::new(&source).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_count_defaults_by_check_type() {
        let mut criteria = Criteria::default();
        assert_eq!(criteria.consecutive_count_for("remote.http"), 1);
        assert_eq!(criteria.consecutive_count_for("remote.ping"), 3);
        criteria.consecutive_count = Some(2);
        assert_eq!(criteria.consecutive_count_for("remote.ping"), 2);
        assert_eq!(criteria.consistency, Consistency::Quorum);
    }

    #[test]
    fn pattern_compiles_matches_and_round_trips() {
        let pattern = Pattern::new("^ab+c").expect("valid pattern");
        assert!(pattern.is_match("abbbc!"));
        assert!(!pattern.is_match("xabc"));
        let json = serde_json::to_string(&pattern).expect("serializes");
        assert_eq!(json, r#""^ab+c""#);
        let back: Pattern = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, pattern);
        assert!(serde_json::from_str::<Pattern>(r#""(""#).is_err());
    }

    #[test]
    fn bad_patterns_are_described() {
        assert_eq!(
            Pattern::new("(").err().as_deref(),
            Some("invalid regex: unclosed group")
        );
        let huge = Pattern::new("a{1000}{1000}").err().unwrap_or_default();
        assert!(huge.starts_with("regex is too large") || huge.starts_with("invalid regex"));
    }

    #[test]
    fn states_and_operators_serialize_as_written_in_criteria() {
        let json = serde_json::to_string(&(AlarmState::Warning, Consistency::All, RelOp::Ge));
        assert_eq!(json.expect("serializes"), r#"["WARNING","ALL",">="]"#);
    }
}
