//! Parse errors of the criteria language: where the first bad token is and what was expected.

use serde::{Deserialize, Serialize};

/// Longest `error_token` reported, in chars. Longer tokens (a huge string literal) are cut to this
/// length so that an error body stays small whatever the input.
pub const ERROR_TOKEN_MAX: usize = 128;

/// Result of parsing criteria text.
pub type Result<T> = std::result::Result<T, CriteriaError>;

/// A criteria text that does not parse, pointing at the first bad token.
///
/// Serializes with exactly the field names of the `alarmParseError` details object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} at line {error_line}, column {error_column}")]
pub struct CriteriaError {
    /// Line of the bad token, 1-based; only `\n` starts a new line.
    pub error_line: usize,
    /// Column of the bad token in chars (Unicode scalar values), 1-based.
    pub error_column: usize,
    /// Offset of the bad token from the start of the text in chars, 0-based.
    pub error_position: usize,
    /// Text of the bad token as written, or `EOF` at the end of the text.
    pub error_token: String,
    /// What was wrong or expected, lowercase.
    pub message: String,
}

/// A place in the criteria text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Location {
    /// Char offset, 0-based.
    pub(crate) position: usize,
    /// Line, 1-based.
    pub(crate) line: usize,
    /// Column in chars, 1-based.
    pub(crate) column: usize,
}

impl Location {
    /// The start of a text.
    pub(crate) fn start() -> Self {
        Location {
            position: 0,
            line: 1,
            column: 1,
        }
    }
}

impl CriteriaError {
    /// An error at `at` for the token whose text is `token`; an empty token means the end of text.
    pub(crate) fn at(at: Location, token: &str, message: impl Into<String>) -> Self {
        let error_token = if token.is_empty() {
            "EOF".to_string()
        } else {
            token.chars().take(ERROR_TOKEN_MAX).collect()
        };
        CriteriaError {
            error_line: at.line,
            error_column: at.column,
            error_position: at.position,
            error_token,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_the_api_field_names() {
        let at = Location {
            position: 7,
            line: 2,
            column: 3,
        };
        let err = CriteriaError::at(at, "&", "expected '&&'");
        let json = serde_json::to_value(&err).expect("serializes");
        let expected = serde_json::json!({
            "error_line": 2,
            "error_column": 3,
            "error_position": 7,
            "error_token": "&",
            "message": "expected '&&'",
        });
        assert_eq!(json, expected);
        assert_eq!(err.to_string(), "expected '&&' at line 2, column 3");
    }

    #[test]
    fn empty_token_is_eof_and_long_tokens_are_cut() {
        let err = CriteriaError::at(Location::start(), "", "expected 'if'");
        assert_eq!(err.error_token, "EOF");
        let long = "x".repeat(ERROR_TOKEN_MAX + 50);
        let err = CriteriaError::at(Location::start(), &long, "too long");
        assert_eq!(err.error_token.chars().count(), ERROR_TOKEN_MAX);
    }
}
