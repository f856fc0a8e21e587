//! Recursive-descent parser of the criteria language: text in, [`Criteria`] or first bad token out.
//!
//! Every check of a token (grammar, limits, types, regex) runs while that token is the current one,
//! before the next token is read, so the error reported is always the first bad token in the text.

use super::ast::{
    AlarmState, Comparison, Condition, Consistency, Criteria, Operand, Pattern, RelOp, Return, Rule,
};
use super::error::{CriteriaError, Location, Result};
use super::lexer::{Lexer, Token, TokenKind};

/// Longest metric name, in chars.
pub const METRIC_NAME_MAX: usize = 128;
/// Longest string literal in a comparison (including regex patterns), in chars after unescaping.
pub const STRING_MAX: usize = 80;
/// Longest return message, in chars after unescaping, before interpolation.
pub const MESSAGE_MAX: usize = 128;
/// Most comparisons in one criteria text, across all its if statements.
pub const COMPARISONS_MAX: usize = 10;
/// Deepest nesting of parentheses inside a condition (the `if (` itself not counted).
pub const NESTING_MAX: usize = 8;

/// Longest criteria text, in chars (the limit of the Rackspace API).
pub const TEXT_MAX: usize = 16_384;

/// Parses a criteria text.
pub fn parse(text: &str) -> Result<Criteria> {
    if let Some((byte, _)) = text.char_indices().nth(TEXT_MAX) {
        return Err(text_too_long(text, byte));
    }
    let mut lexer = Lexer::new(text);
    let tok = lexer.next_token()?;
    Parser {
        lexer,
        tok,
        comparisons: 0,
        depth: 0,
    }
    .criteria()
}

/// What an operand is known to be before evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Text,
    /// A metric: number or string, known only from the observation.
    Unknown,
}

/// A comparison operator.
enum Operator {
    Relational(RelOp),
    /// `regex`, or `nregex` when true.
    Match(bool),
}

const OPERAND_EXPECTED: &str = "expected an operand: metric['name'], previous(...), rate(...), \
                                percentage(...), a number or a string";

struct Parser<'a> {
    lexer: Lexer<'a>,
    /// The current token, not yet consumed.
    tok: Token<'a>,
    comparisons: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// Consumes the current token and returns it.
    fn advance(&mut self) -> Result<Token<'a>> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    /// An error at the current token.
    fn error(&self, message: impl Into<String>) -> CriteriaError {
        CriteriaError::at(self.tok.at, self.tok.text, message)
    }

    fn is_word(&self, word: &str) -> bool {
        self.tok.kind == TokenKind::Ident && self.tok.text == word
    }

    fn expect(&mut self, kind: TokenKind, message: &str) -> Result<Token<'a>> {
        if self.tok.kind == kind {
            self.advance()
        } else {
            Err(self.error(message))
        }
    }

    fn expect_word(&mut self, word: &str, message: &str) -> Result<()> {
        if !self.is_word(word) {
            return Err(self.error(message));
        }
        self.advance().map(drop)
    }

    /// The current string literal's value, if no longer than `max` chars; consumes it.
    fn string(&mut self, max: usize, what: &str, expected: &str) -> Result<String> {
        let TokenKind::Str(value) = &self.tok.kind else {
            return Err(self.error(expected));
        };
        if value.chars().count() > max {
            return Err(self.error(format!("{what} longer than {max} characters")));
        }
        let value = value.clone();
        self.advance()?;
        Ok(value)
    }

    fn criteria(mut self) -> Result<Criteria> {
        let mut criteria = Criteria::default();
        let mut level_set = false;
        while self.tok.kind == TokenKind::SetDirective {
            self.setting(&mut criteria, &mut level_set)?;
        }
        while self.is_word("if") {
            criteria.rules.push(self.if_statement()?);
        }
        if self.is_word("return") {
            criteria.default_return = Some(self.return_statement()?);
        }
        if self.tok.kind == TokenKind::Eof {
            return Ok(criteria);
        }
        let message = if criteria.default_return.is_some() {
            "expected end of input after the default return statement"
        } else if self.tok.kind == TokenKind::SetDirective {
            "settings must come before the first if statement"
        } else if criteria.rules.is_empty() {
            "expected ':set', 'if', 'return' or end of input"
        } else {
            "expected 'if', 'return' or end of input"
        };
        Err(self.error(message))
    }

    /// `:set consistencyLevel=LEVEL` or `:set consecutiveCount=N`; each at most once.
    fn setting(&mut self, criteria: &mut Criteria, level_set: &mut bool) -> Result<()> {
        self.advance()?;
        let is_level = self.is_word("consistencyLevel");
        if !is_level && !self.is_word("consecutiveCount") {
            let message = "expected 'consistencyLevel' or 'consecutiveCount' after ':set'";
            return Err(self.error(message));
        }
        let duplicate = if is_level {
            *level_set
        } else {
            criteria.consecutive_count.is_some()
        };
        if duplicate {
            return Err(self.error(format!("duplicate setting '{}'", self.tok.text)));
        }
        let name = self.advance()?.text;
        self.expect(TokenKind::Assign, &format!("expected '=' after '{name}'"))?;
        if is_level {
            criteria.consistency = self.consistency_level()?;
            *level_set = true;
        } else {
            criteria.consecutive_count = Some(self.consecutive_count()?);
        }
        Ok(())
    }

    fn consistency_level(&mut self) -> Result<Consistency> {
        let level = match self.tok.text {
            "ONE" => Consistency::One,
            "QUORUM" => Consistency::Quorum,
            "ALL" => Consistency::All,
            _ => return Err(self.error("expected ONE, QUORUM or ALL")),
        };
        self.advance()?;
        Ok(level)
    }

    fn consecutive_count(&mut self) -> Result<u8> {
        let max = super::ast::CONSECUTIVE_COUNT_MAX;
        let count = match self.tok.kind {
            TokenKind::Number(v) if v.fract() == 0.0 && v >= 1.0 && v <= f64::from(max) => v,
            _ => return Err(self.error(format!("expected a consecutive count from 1 to {max}"))),
        };
        self.advance()?;
        // In 1..=5 and integral, checked above, so the cast is exact.
        Ok(count as u8)
    }

    /// `if ( condition ) { return_statement }`
    fn if_statement(&mut self) -> Result<Rule> {
        self.advance()?;
        self.expect(TokenKind::LParen, "expected '(' after 'if'")?;
        let condition = self.any_of()?;
        self.expect(TokenKind::RParen, "expected '&&', '||' or ')'")?;
        self.expect(TokenKind::LBrace, "expected '{' after the condition")?;
        if !self.is_word("return") {
            return Err(self.error("expected 'return'"));
        }
        let result = self.return_statement()?;
        self.expect(TokenKind::RBrace, "expected '}' after the return statement")?;
        Ok(Rule { condition, result })
    }

    /// `return new AlarmStatus(STATE[, 'message']);`
    fn return_statement(&mut self) -> Result<Return> {
        let line = self.tok.at.line;
        self.advance()?;
        self.expect_word("new", "expected 'new' after 'return'")?;
        self.expect_word("AlarmStatus", "expected 'AlarmStatus' after 'new'")?;
        self.expect(TokenKind::LParen, "expected '(' after 'AlarmStatus'")?;
        let state = match self.tok.text {
            "OK" => AlarmState::Ok,
            "WARNING" => AlarmState::Warning,
            "CRITICAL" => AlarmState::Critical,
            _ => return Err(self.error("expected OK, WARNING or CRITICAL")),
        };
        self.advance()?;
        let mut message = None;
        if self.tok.kind == TokenKind::Comma {
            self.advance()?;
            message = Some(self.string(MESSAGE_MAX, "message", "expected a message string")?);
        }
        let close = if message.is_some() {
            "expected ')' after the message"
        } else {
            "expected ',' or ')' after the state"
        };
        self.expect(TokenKind::RParen, close)?;
        self.expect(TokenKind::Semicolon, "expected ';' after ')'")?;
        Ok(Return {
            state,
            message,
            line,
        })
    }

    /// `all_of { '||' all_of }`
    fn any_of(&mut self) -> Result<Condition> {
        let mut parts = vec![self.all_of()?];
        while self.tok.kind == TokenKind::OrOr {
            self.advance()?;
            parts.push(self.all_of()?);
        }
        Ok(join(parts, Condition::Or))
    }

    /// `primary { '&&' primary }`
    fn all_of(&mut self) -> Result<Condition> {
        let mut parts = vec![self.primary()?];
        while self.tok.kind == TokenKind::AndAnd {
            self.advance()?;
            parts.push(self.primary()?);
        }
        Ok(join(parts, Condition::And))
    }

    /// `'(' any_of ')'` or a comparison.
    fn primary(&mut self) -> Result<Condition> {
        if self.tok.kind != TokenKind::LParen {
            return self.comparison().map(Condition::Compare);
        }
        if self.depth == NESTING_MAX {
            let message = format!("parentheses nested too deeply, at most {NESTING_MAX} levels");
            return Err(self.error(message));
        }
        self.depth += 1;
        self.advance()?;
        let inner = self.any_of()?;
        self.expect(TokenKind::RParen, "expected '&&', '||' or ')'")?;
        self.depth -= 1;
        Ok(inner)
    }

    /// `operand op operand`, type-checked where the types are known from the text.
    fn comparison(&mut self) -> Result<Comparison> {
        if self.comparisons == COMPARISONS_MAX {
            let message = format!("too many comparisons, at most {COMPARISONS_MAX} per alarm");
            return Err(self.error(message));
        }
        self.comparisons += 1;
        let left_kind = self.operand_kind()?;
        let left = self.operand()?;
        match self.operator() {
            Some(Operator::Relational(op)) => self.relational(left, left_kind, op),
            Some(Operator::Match(negated)) => self.regex_match(left, left_kind, negated),
            None => {
                Err(self
                    .error("expected a comparison operator: ==, !=, >=, <=, >, <, regex or nregex"))
            }
        }
    }

    fn operator(&self) -> Option<Operator> {
        let op = match self.tok.kind {
            TokenKind::EqEq => Operator::Relational(RelOp::Eq),
            TokenKind::NotEq => Operator::Relational(RelOp::Ne),
            TokenKind::Ge => Operator::Relational(RelOp::Ge),
            TokenKind::Le => Operator::Relational(RelOp::Le),
            TokenKind::Gt => Operator::Relational(RelOp::Gt),
            TokenKind::Lt => Operator::Relational(RelOp::Lt),
            _ if self.is_word("regex") => Operator::Match(false),
            _ if self.is_word("nregex") => Operator::Match(true),
            _ => return None,
        };
        Some(op)
    }

    fn relational(&mut self, left: Operand, left_kind: Kind, op: RelOp) -> Result<Comparison> {
        let ordering = !matches!(op, RelOp::Eq | RelOp::Ne);
        if ordering && left_kind == Kind::Text {
            let text = self.tok.text;
            return Err(self.error(format!("'{text}' compares numbers, not strings")));
        }
        let op_text = self.advance()?.text;
        let right_kind = self.operand_kind()?;
        let message = match (left_kind, right_kind) {
            (_, Kind::Text) if ordering => Some(format!("expected a number after '{op_text}'")),
            (Kind::Number, Kind::Text) => Some("cannot compare a number with a string".into()),
            (Kind::Text, Kind::Number) => Some("cannot compare a string with a number".into()),
            _ => None,
        };
        if let Some(message) = message {
            return Err(self.error(message));
        }
        let right = self.operand()?;
        Ok(Comparison::Relational { left, op, right })
    }

    fn regex_match(&mut self, left: Operand, left_kind: Kind, negated: bool) -> Result<Comparison> {
        if left_kind == Kind::Number {
            let text = self.tok.text;
            return Err(self.error(format!("'{text}' matches strings, not numbers")));
        }
        let op_text = self.advance()?.text;
        let TokenKind::Str(source) = &self.tok.kind else {
            return Err(self.error(format!("expected a string pattern after '{op_text}'")));
        };
        if source.chars().count() > STRING_MAX {
            return Err(self.error(format!(
                "string literal longer than {STRING_MAX} characters"
            )));
        }
        let pattern = Pattern::new(source).map_err(|reason| self.error(reason))?;
        self.advance()?;
        Ok(Comparison::Regex {
            left,
            negated,
            pattern,
        })
    }

    /// What the operand starting at the current token is; an error if none starts here.
    fn operand_kind(&self) -> Result<Kind> {
        match self.tok.kind {
            TokenKind::Number(_) => Ok(Kind::Number),
            TokenKind::Str(_) => Ok(Kind::Text),
            _ if self.is_word("metric") || self.is_word("previous") => Ok(Kind::Unknown),
            _ if self.is_word("rate") || self.is_word("percentage") => Ok(Kind::Number),
            _ => Err(self.error(OPERAND_EXPECTED)),
        }
    }

    fn operand(&mut self) -> Result<Operand> {
        match self.tok.kind {
            TokenKind::Number(value) => {
                self.advance()?;
                Ok(Operand::Number(value))
            }
            TokenKind::Str(_) => {
                let text = self.string(STRING_MAX, "string literal", OPERAND_EXPECTED)?;
                Ok(Operand::Text(text))
            }
            _ if self.is_word("metric") => self.metric().map(Operand::Metric),
            _ if self.is_word("previous") => self.function_of_metric().map(Operand::Previous),
            _ if self.is_word("rate") => self.function_of_metric().map(Operand::Rate),
            _ if self.is_word("percentage") => self.percentage(),
            _ => Err(self.error(OPERAND_EXPECTED)),
        }
    }

    /// `metric['name']`
    fn metric(&mut self) -> Result<String> {
        self.expect_word("metric", "expected metric['name']")?;
        self.expect(TokenKind::LBracket, "expected '[' after 'metric'")?;
        if matches!(&self.tok.kind, TokenKind::Str(name) if name.is_empty()) {
            return Err(self.error("metric name must not be empty"));
        }
        let name = self.string(
            METRIC_NAME_MAX,
            "metric name",
            "expected a quoted metric name",
        )?;
        self.expect(TokenKind::RBracket, "expected ']' after the metric name")?;
        Ok(name)
    }

    /// `previous(metric['name'])` or `rate(metric['name'])`
    fn function_of_metric(&mut self) -> Result<String> {
        let function = self.advance()?.text;
        self.expect(
            TokenKind::LParen,
            &format!("expected '(' after '{function}'"),
        )?;
        let name = self.metric()?;
        self.expect(
            TokenKind::RParen,
            &format!("expected ')' to close '{function}('"),
        )?;
        Ok(name)
    }

    /// `percentage(metric['part'], metric['whole'])`
    fn percentage(&mut self) -> Result<Operand> {
        self.advance()?;
        self.expect(TokenKind::LParen, "expected '(' after 'percentage'")?;
        let part = self.metric()?;
        self.expect(
            TokenKind::Comma,
            "expected ',' between the metrics of 'percentage'",
        )?;
        let whole = self.metric()?;
        self.expect(TokenKind::RParen, "expected ')' to close 'percentage('")?;
        Ok(Operand::Percentage(part, whole))
    }
}

/// The error for a text longer than [`TEXT_MAX`]: it points at the first char beyond the limit.
fn text_too_long(text: &str, byte: usize) -> CriteriaError {
    let (kept, beyond) = text.split_at(byte);
    let line = 1 + kept.matches('\n').count();
    let column = 1 + kept
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count());
    let at = Location {
        position: TEXT_MAX,
        line,
        column,
    };
    CriteriaError::at(
        at,
        beyond,
        format!("criteria text longer than {TEXT_MAX} characters"),
    )
}

/// One part stays itself; several are combined by `make`.
fn join(mut parts: Vec<Condition>, make: fn(Vec<Condition>) -> Condition) -> Condition {
    match parts.pop() {
        Some(only) if parts.is_empty() => only,
        Some(last) => {
            parts.push(last);
            make(parts)
        }
        None => make(parts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_at(text: &str) -> (usize, String) {
        let err = parse(text).expect_err("does not parse");
        (err.error_position, err.error_token)
    }

    #[test]
    fn a_grammar_error_is_reported_before_a_later_lexical_error() {
        assert_eq!(error_at("if x 'unterminated"), (3, "x".into()));
        assert_eq!(error_at("if (metric['a'] regex '(' @"), (22, "'('".into()));
        assert_eq!(
            error_at("return new AlarmStatus(OK, '#{a}') /*"),
            (35, "/*".into())
        );
    }

    #[test]
    fn texts_longer_than_the_limit_are_rejected_at_the_limit() {
        let comment = format!("#{}\n", "c".repeat(98));
        let at_limit = comment.repeat(TEXT_MAX / 100) + &"x".repeat(TEXT_MAX % 100 - 1) + "\n";
        assert_eq!(at_limit.chars().count(), TEXT_MAX);
        let err = parse(&at_limit).expect_err("x is not a statement");
        assert_eq!((err.error_line, err.error_column), (TEXT_MAX / 100 + 1, 1));
        let over = at_limit.replace('\n', "é") + "\nz";
        let err = parse(&over).expect_err("too long");
        let got = (err.error_line, err.error_column, err.error_position);
        assert_eq!(got, (1, TEXT_MAX + 1, TEXT_MAX));
        assert_eq!(err.error_token, "\nz");
        assert_eq!(err.message, "criteria text longer than 16384 characters");
    }

    #[test]
    fn an_empty_text_has_no_rules_and_quorum() {
        let criteria = parse(" \n# nothing\n").expect("parses");
        assert_eq!(criteria, Criteria::default());
    }

    #[test]
    fn operands_and_regex_build_the_expected_tree() {
        let text = "if (percentage(metric['a'], metric['b']) >= 50 && previous(metric['c']) \
                    nregex 'x+') { return new AlarmStatus(WARNING, 'w'); }";
        let criteria = parse(text).expect("parses");
        let Condition::And(parts) = &criteria.rules[0].condition else {
            panic!("expected an and: {criteria:?}");
        };
        let percentage = Comparison::Relational {
            left: Operand::Percentage("a".into(), "b".into()),
            op: RelOp::Ge,
            right: Operand::Number(50.0),
        };
        assert_eq!(parts[0], Condition::Compare(percentage));
        let Condition::Compare(Comparison::Regex {
            left,
            negated,
            pattern,
        }) = &parts[1]
        else {
            panic!("expected a regex: {parts:?}");
        };
        assert_eq!(
            (left, *negated, pattern.as_str()),
            (&Operand::Previous("c".into()), true, "x+")
        );
    }
}
