//! Lexer of the criteria language: text into tokens, each with its line, column and char offset.
//!
//! Tokens are produced one at a time, on demand, so that the parser reports the first bad token of
//! the text even when a lexical error follows a grammar error.

use super::error::{CriteriaError, Location, Result};

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// A word: keyword, function, setting, state or consistency level.
    Ident,
    /// `:set`
    SetDirective,
    /// A number literal, always finite.
    Number(f64),
    /// A string literal with its escapes decoded.
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Semicolon,
    /// `=`, only meaningful in `:set`.
    Assign,
    EqEq,
    NotEq,
    Ge,
    Le,
    Gt,
    Lt,
    AndAnd,
    OrOr,
    /// The end of the text; its text is empty.
    Eof,
}

/// A token with the source text it was read from and where that text starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'a> {
    pub(crate) kind: TokenKind,
    pub(crate) text: &'a str,
    pub(crate) at: Location,
}

/// Reads tokens from criteria text, skipping whitespace and comments.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    /// Byte offset of the next char; always on a char boundary.
    byte: usize,
    /// Location of the next char.
    at: Location,
}

const ESCAPES_EXPECTED: &str =
    "invalid escape, expected one of \\\" \\' \\\\ \\b \\f \\n \\r \\t \\uXXXX";

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer {
            src,
            byte: 0,
            at: Location::start(),
        }
    }

    /// The next token; at the end of the text, `Eof` every time it is asked.
    pub(crate) fn next_token(&mut self) -> Result<Token<'a>> {
        self.skip_trivia()?;
        let (start, start_byte) = (self.at, self.byte);
        let Some(c) = self.peek() else {
            return Ok(Token {
                kind: TokenKind::Eof,
                text: "",
                at: start,
            });
        };
        let kind = match c {
            '\'' | '"' => self.string(start, start_byte)?,
            '-' | '0'..='9' => self.number(start, start_byte)?,
            ':' => self.directive(start, start_byte)?,
            c if is_ident_start(c) => {
                self.bump_while(is_ident_continue);
                TokenKind::Ident
            }
            c => self.punctuation(c, start, start_byte)?,
        };
        Ok(Token {
            kind,
            text: self.slice(start_byte, self.byte),
            at: start,
        })
    }

    fn slice(&self, from: usize, to: usize) -> &'a str {
        self.src.get(from..to).unwrap_or("")
    }

    fn rest(&self) -> &'a str {
        self.src.get(self.byte..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.byte += c.len_utf8();
        self.at.position += 1;
        if c == '\n' {
            self.at.line += 1;
            self.at.column = 1;
        } else {
            self.at.column += 1;
        }
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.bump();
        }
        found
    }

    fn bump_while(&mut self, keep: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
    }

    /// An error for the text read since `start`.
    fn error_since(&self, start: Location, start_byte: usize, message: &str) -> CriteriaError {
        let text = self.slice(start_byte, self.byte).trim_end_matches('\r');
        CriteriaError::at(start, text, message)
    }

    /// Skips whitespace, `# ...` line comments and `/* ... */` block comments.
    fn skip_trivia(&mut self) -> Result<()> {
        loop {
            match self.peek() {
                // A byte order mark is invisible; accept it like whitespace.
                Some(c) if c.is_whitespace() || c == '\u{feff}' => {
                    self.bump();
                }
                Some('#') => self.bump_while(|c| c != '\n'),
                Some('/') if self.peek_second() == Some('*') => self.block_comment()?,
                _ => return Ok(()),
            }
        }
    }

    fn block_comment(&mut self) -> Result<()> {
        let start = self.at;
        self.bump();
        self.bump();
        loop {
            match self.bump() {
                None => {
                    return Err(CriteriaError::at(
                        start,
                        "/*",
                        "unterminated comment, expected '*/'",
                    ));
                }
                Some('*') if self.eat('/') => return Ok(()),
                Some(_) => {}
            }
        }
    }

    fn punctuation(&mut self, c: char, start: Location, start_byte: usize) -> Result<TokenKind> {
        self.bump();
        let kind = match c {
            '(' => TokenKind::LParen,
            ')' => TokenKind::RParen,
            '{' => TokenKind::LBrace,
            '}' => TokenKind::RBrace,
            '[' => TokenKind::LBracket,
            ']' => TokenKind::RBracket,
            ',' => TokenKind::Comma,
            ';' => TokenKind::Semicolon,
            '=' if self.eat('=') => TokenKind::EqEq,
            '=' => TokenKind::Assign,
            '!' if self.eat('=') => TokenKind::NotEq,
            '>' if self.eat('=') => TokenKind::Ge,
            '>' => TokenKind::Gt,
            '<' if self.eat('=') => TokenKind::Le,
            '<' => TokenKind::Lt,
            '&' if self.eat('&') => TokenKind::AndAnd,
            '|' if self.eat('|') => TokenKind::OrOr,
            '!' => return Err(self.error_since(start, start_byte, "expected '!='")),
            '&' => return Err(self.error_since(start, start_byte, "expected '&&'")),
            '|' => return Err(self.error_since(start, start_byte, "expected '||'")),
            _ => return Err(self.error_since(start, start_byte, "unexpected character")),
        };
        Ok(kind)
    }

    /// `:set`; any other word after a colon is an error.
    fn directive(&mut self, start: Location, start_byte: usize) -> Result<TokenKind> {
        self.bump();
        self.bump_while(is_ident_continue);
        if self.slice(start_byte, self.byte) == ":set" {
            Ok(TokenKind::SetDirective)
        } else {
            Err(self.error_since(start, start_byte, "expected ':set'"))
        }
    }

    /// `-?digits(.digits)?([eE][+-]?digits)?`; letters, digits or dots glued to it make the
    /// whole run one bad token.
    fn number(&mut self, start: Location, start_byte: usize) -> Result<TokenKind> {
        self.eat('-');
        let mut well_formed = self.digits();
        if self.eat('.') {
            well_formed &= self.digits();
        }
        if self.eat('e') || self.eat('E') {
            let _sign = self.eat('+') || self.eat('-');
            well_formed &= self.digits();
        }
        if self
            .peek()
            .is_some_and(|c| is_ident_continue(c) || c == '.')
        {
            well_formed = false;
            self.bump_while(|c| is_ident_continue(c) || c == '.');
        }
        if !well_formed {
            let message = "invalid number, expected digits as in 200, -2 or 1.2e-7";
            return Err(self.error_since(start, start_byte, message));
        }
        match self.slice(start_byte, self.byte).parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(TokenKind::Number(value)),
            _ => Err(self.error_since(start, start_byte, "number out of range")),
        }
    }

    /// True when at least one digit was read.
    fn digits(&mut self) -> bool {
        let before = self.byte;
        self.bump_while(|c| c.is_ascii_digit());
        self.byte > before
    }

    /// A string in `'` or `"`; it may not span lines.
    fn string(&mut self, start: Location, start_byte: usize) -> Result<TokenKind> {
        let quote = self.bump();
        let mut value = String::new();
        loop {
            match self.peek() {
                None | Some('\n') => {
                    let message = "unterminated string, expected a closing quote";
                    return Err(self.error_since(start, start_byte, message));
                }
                Some('\\') => value.push(self.escape(start, start_byte)?),
                Some(c) => {
                    self.bump();
                    if Some(c) == quote {
                        return Ok(TokenKind::Str(value));
                    }
                    value.push(c);
                }
            }
        }
    }

    /// One escape sequence; errors point at its backslash.
    fn escape(&mut self, start: Location, start_byte: usize) -> Result<char> {
        let (esc_at, esc_byte) = (self.at, self.byte);
        self.bump();
        let decoded = match self.peek() {
            None | Some('\n') => {
                let message = "unterminated string, expected a closing quote";
                return Err(self.error_since(start, start_byte, message));
            }
            Some('u') => {
                self.bump();
                return self.unicode_escape(esc_at, esc_byte);
            }
            Some('"') => '"',
            Some('\'') => '\'',
            Some('\\') => '\\',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some(_) => {
                self.bump();
                return Err(self.error_since(esc_at, esc_byte, ESCAPES_EXPECTED));
            }
        };
        self.bump();
        Ok(decoded)
    }

    /// The digits of `\uXXXX`, with a UTF-16 surrogate pair written as two escapes.
    fn unicode_escape(&mut self, esc_at: Location, esc_byte: usize) -> Result<char> {
        let bad = |lexer: &Self, message: &str| Err(lexer.error_since(esc_at, esc_byte, message));
        let hex_expected = "expected 4 hex digits after '\\u'";
        let unpaired = "invalid unicode escape, unpaired surrogate";
        let Some(high) = self.hex4() else {
            return bad(self, hex_expected);
        };
        let code = match high {
            0xD800..=0xDBFF => {
                if !(self.peek() == Some('\\') && self.peek_second() == Some('u')) {
                    return bad(self, unpaired);
                }
                self.bump();
                self.bump();
                let Some(low) = self.hex4() else {
                    return bad(self, hex_expected);
                };
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return bad(self, unpaired);
                }
                0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            }
            _ => high,
        };
        match char::from_u32(code) {
            Some(c) => Ok(c),
            None => bad(self, unpaired),
        }
    }

    /// Up to four hex digits; `None` when fewer than four are there (those read stay read).
    fn hex4(&mut self) -> Option<u32> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = self.peek()?.to_digit(16)?;
            self.bump();
            value = value * 16 + digit;
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kind, text, line, column and position of a token.
    type Lexed = (TokenKind, String, usize, usize, usize);

    fn tokens(text: &str) -> Result<Vec<Lexed>> {
        let mut lexer = Lexer::new(text);
        let mut out = Vec::new();
        loop {
            let t = lexer.next_token()?;
            let done = t.kind == TokenKind::Eof;
            out.push((
                t.kind,
                t.text.to_string(),
                t.at.line,
                t.at.column,
                t.at.position,
            ));
            if done {
                return Ok(out);
            }
        }
    }

    fn kinds(text: &str) -> Vec<TokenKind> {
        let toks = tokens(text).expect("lexes");
        toks.into_iter().map(|t| t.0).collect()
    }

    fn lex_error(text: &str) -> (usize, usize, usize, String) {
        let err = tokens(text).expect_err("lexing fails");
        (
            err.error_line,
            err.error_column,
            err.error_position,
            err.error_token,
        )
    }

    #[test]
    fn operators_and_punctuation() {
        use TokenKind::*;
        let got = kinds("== != >= <= > < && || = ( ) { } [ ] , ;");
        let want = [
            EqEq, NotEq, Ge, Le, Gt, Lt, AndAnd, OrOr, Assign, LParen, RParen, LBrace, RBrace,
            LBracket, RBracket, Comma, Semicolon, Eof,
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn numbers() {
        let got = kinds("200 -2 1.2e-7 3E+2 0.5");
        let want: Vec<TokenKind> = [200.0, -2.0, 1.2e-7, 300.0, 0.5]
            .into_iter()
            .map(TokenKind::Number)
            .chain([TokenKind::Eof])
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn strings_decode_every_escape() {
        let got = kinds(r#"'a\"b\'c\\d\be\ff\ng\rh\ti\u00e9' "it's" '\ud83d\ude00'"#);
        let want = [
            TokenKind::Str("a\"b'c\\d\u{8}e\u{c}f\ng\rh\ti\u{e9}".to_string()),
            TokenKind::Str("it's".to_string()),
            TokenKind::Str("\u{1F600}".to_string()),
            TokenKind::Eof,
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn comments_are_skipped_and_positions_count_chars() {
        let toks = tokens("# é comment\n/* multi\nline */ :set 'é'  x\r\n  y").expect("lexes");
        let places: Vec<(String, usize, usize, usize)> =
            toks.into_iter().map(|t| (t.1, t.2, t.3, t.4)).collect();
        let want = [
            (":set".to_string(), 3, 9, 29),
            ("'é'".to_string(), 3, 14, 34),
            ("x".to_string(), 3, 19, 39),
            ("y".to_string(), 4, 3, 44),
            (String::new(), 4, 4, 45),
        ];
        assert_eq!(places, want);
    }

    #[test]
    fn errors_point_at_the_bad_text() {
        assert_eq!(lex_error("a & b"), (1, 3, 2, "&".into()));
        assert_eq!(lex_error("a | b"), (1, 3, 2, "|".into()));
        assert_eq!(lex_error("!x"), (1, 1, 0, "!".into()));
        assert_eq!(lex_error("\n  @"), (2, 3, 3, "@".into()));
        assert_eq!(lex_error("x /* open"), (1, 3, 2, "/*".into()));
        assert_eq!(lex_error("x / y"), (1, 3, 2, "/".into()));
        assert_eq!(lex_error(":sat"), (1, 1, 0, ":sat".into()));
        assert_eq!(lex_error("1.x"), (1, 1, 0, "1.x".into()));
        assert_eq!(lex_error("12abc"), (1, 1, 0, "12abc".into()));
        assert_eq!(lex_error("1e+"), (1, 1, 0, "1e+".into()));
        assert_eq!(lex_error("- 1"), (1, 1, 0, "-".into()));
        assert_eq!(lex_error("1e999"), (1, 1, 0, "1e999".into()));
        assert_eq!(lex_error("'abc\r\ndef'"), (1, 1, 0, "'abc".into()));
        assert_eq!(lex_error("'ab\\qc'"), (1, 4, 3, "\\q".into()));
        assert_eq!(lex_error("'ab\\u12'"), (1, 4, 3, "\\u12".into()));
        assert_eq!(lex_error("'\\ud800x'"), (1, 2, 1, "\\ud800".into()));
        assert_eq!(lex_error("'\\udc00'"), (1, 2, 1, "\\udc00".into()));
        assert_eq!(lex_error("'é\\"), (1, 1, 0, "'é\\".into()));
    }

    #[test]
    fn eof_repeats() {
        let mut lexer = Lexer::new("  ");
        for _ in 0..3 {
            let t = lexer.next_token().expect("lexes");
            assert_eq!((t.kind, t.at.position), (TokenKind::Eof, 2));
        }
    }
}
