//! Turns expression text into tokens, rejecting everything outside the arithmetic subset
//! with a message that names the construct (`unsupported: names are not allowed ...`).

use std::borrow::Cow;

use super::EvalError;
use super::bigint::{BigInt, BigUint};
use super::inline::SmallList;

/// One token and the 1-based character column where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) column: usize,
}

/// The tokens of an expression; a short one's stay on the stack.
pub(crate) type Tokens = SmallList<Token, 16>;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TokenKind {
    Int(BigInt),
    Float(f64),
    Plus,
    Minus,
    Star,
    Slash,
    DoubleSlash,
    Percent,
    /// `**`, or `^`, which this evaluator reads as `**` (Python would read it as XOR).
    Power,
    LParen,
    RParen,
}

impl TokenKind {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            // The value rather than the literal's spelling: this path is rare and the
            // tokens stay small.
            Self::Int(n) => format!("number '{}'", quote(&n.to_decimal())),
            Self::Float(x) => format!("number '{}'", quote(&super::float::repr(*x))),
            Self::Plus => "'+'".to_owned(),
            Self::Minus => "'-'".to_owned(),
            Self::Star => "'*'".to_owned(),
            Self::Slash => "'/'".to_owned(),
            Self::DoubleSlash => "'//'".to_owned(),
            Self::Percent => "'%'".to_owned(),
            Self::Power => "'**'".to_owned(),
            Self::LParen => "'('".to_owned(),
            Self::RParen => "')'".to_owned(),
        }
    }
}

/// Keywords get their own message: `1 if 1 else 2` is a conditional, not a name.
const KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
    "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
    "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

const BITWISE: &str = "bitwise operators are not allowed (^ is read as **)";
const COMPARISON: &str = "comparisons are not allowed";

/// At most this many characters of the input are ever quoted back in a message.
const QUOTE_LIMIT: usize = 16;

/// A short, one-line, escaped rendering of a piece of input for an error message.
pub(crate) fn quote(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(QUOTE_LIMIT)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(QUOTE_LIMIT).is_some() {
        out.push_str("...");
    }
    out
}

/// The error for a token on a line after the line break `c` at `column`, outside
/// parentheses: Python's eval ends the expression at the break.
fn line_break_error(c: char, column: usize) -> EvalError {
    unsupported(
        "line breaks outside parentheses are not allowed",
        &c.to_string(),
        column,
    )
}

/// The error for valid Python outside the arithmetic subset, quoting its first token.
pub(crate) fn unsupported(what: &'static str, token: &str, column: usize) -> EvalError {
    EvalError::Unsupported {
        what,
        token: quote(token),
        column,
    }
}

/// Whitespace as Python's tokenizer accepts it anywhere between tokens. Line breaks are
/// handled apart: Python ends the expression at one unless it is inside parentheses.
/// (Python refuses a vertical tab, `\x0b`, as a non-printable character; so do we.)
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// A line break as Python reads source text: `\n`, `\r` or `\r\n` (Python turns the
/// last two into `\n` before tokenizing, so a comment also ends at a lone `\r`).
fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r')
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of the next character.
    pos: usize,
    /// 1-based column (in characters) of the next character.
    column: usize,
    /// Parentheses opened and not yet closed, as far as the tokens tell.
    open_parens: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.text[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        self.column += 1;
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// Consumes the next character and, if it comes again, the repeat: `*` or `**`.
    fn single_or_doubled(&mut self, single: TokenKind, doubled: TokenKind) -> TokenKind {
        match self.bump() {
            Some(c) if self.eat(c) => doubled,
            _ => single,
        }
    }

    /// Consumes characters while `f` holds and returns them.
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        &self.text[start..self.pos]
    }

    /// Digits with single underscores between them, as Python's `digitpart`.
    /// Returns false on a misplaced underscore (`1__0`, `1_`).
    fn digit_part(&mut self) -> bool {
        let mut prev_digit = false;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                prev_digit = true;
            } else if c == '_' {
                if !prev_digit || !self.peek2().is_some_and(|n| n.is_ascii_digit()) {
                    return false;
                }
                prev_digit = false;
            } else {
                break;
            }
            self.bump();
        }
        true
    }

    fn number(&mut self, column: usize) -> Result<TokenKind, EvalError> {
        let start = self.pos;
        let invalid = |lexer: &mut Self, reason: &'static str| {
            // Quote the whole malformed literal, letters and all.
            lexer.take_while(|c| is_name_char(c) || c == '.');
            EvalError::InvalidNumber {
                text: quote(&lexer.text[start..lexer.pos]),
                column,
                reason,
            }
        };
        let int_digits = self.peek().is_some_and(|c| c.is_ascii_digit());
        if !self.digit_part() {
            return Err(invalid(self, "an underscore must sit between two digits"));
        }
        let mut is_float = false;
        if int_digits
            && self.text[start..self.pos] == *"0"
            && matches!(self.peek(), Some('x' | 'X' | 'o' | 'O' | 'b' | 'B'))
        {
            self.take_while(is_name_char);
            return Err(unsupported(
                "hexadecimal, octal and binary literals are not allowed",
                &self.text[start..self.pos],
                column,
            ));
        }
        if self.eat('.') {
            is_float = true;
            if self.peek().is_some_and(|c| c.is_ascii_digit()) && !self.digit_part() {
                return Err(invalid(self, "an underscore must sit between two digits"));
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let digit_follows = match self.peek2() {
                Some('+' | '-') => {
                    self.text[self.pos + 2..].starts_with(|c: char| c.is_ascii_digit())
                }
                Some(c) => c.is_ascii_digit(),
                None => false,
            };
            if !digit_follows {
                return Err(invalid(self, "the exponent needs digits"));
            }
            is_float = true;
            self.bump();
            if !self.eat('+') {
                self.eat('-');
            }
            if !self.digit_part() {
                return Err(invalid(self, "an underscore must sit between two digits"));
            }
        }
        let literal = &self.text[start..self.pos];
        if matches!(self.peek(), Some('j' | 'J')) {
            self.bump();
            return Err(unsupported(
                "complex numbers are not allowed",
                &self.text[start..self.pos],
                column,
            ));
        }
        if self.peek().is_some_and(is_name_char) {
            return Err(invalid(self, "a number cannot run into a name"));
        }
        // Underscores are rare: copy the literal without them only when there are some.
        let clean: Cow<'_, str> = if literal.contains('_') {
            Cow::Owned(literal.replace('_', ""))
        } else {
            Cow::Borrowed(literal)
        };
        if is_float {
            // Rust's parser rounds correctly, as Python's does; out-of-range values become
            // infinity in both (`1e309`).
            clean
                .parse::<f64>()
                .map(TokenKind::Float)
                .map_err(|_| invalid(self, "not a valid float"))
        } else if clean.len() > 1 && clean.starts_with('0') && clean.bytes().any(|b| b != b'0') {
            Err(invalid(
                self,
                "leading zeros are not permitted (Python reads 0o17 as octal)",
            ))
        } else {
            Ok(TokenKind::Int(BigInt::new(
                false,
                BigUint::from_decimal(&clean),
            )))
        }
    }

    /// Consumes one line break: `\n`, `\r`, or `\r\n` as one.
    fn line_break(&mut self) {
        if self.bump() == Some('\r') {
            self.eat('\n');
        }
    }

    /// Reads from the start of a line outside parentheses to its first token, as Python's
    /// tokenizer does. Blank lines (space, form feeds and a comment at most) are skipped.
    /// A line whose first token follows a space or tab is indented, which Python refuses
    /// (`IndentationError`); a form feed sets the indentation back to none, so `\x0c2` is
    /// fine and `\x0c 2` is not, and a backslash that continues the indentation onto the
    /// next line keeps the indentation it has (`\t\\\n2` is indented). `ended` is the
    /// line break that ended the expression's line and its column, if one did: then only
    /// blank lines may follow.
    fn line_start(&mut self, ended: Option<(char, usize)>) -> Result<(), EvalError> {
        loop {
            let line_column = self.column;
            // Whether a space or tab came since the last form feed, and whether one had
            // come before a line continuation (Python takes the first such indentation).
            let mut indented = false;
            let mut indented_before_continuation = false;
            loop {
                match self.peek() {
                    Some(c) if is_space(c) => {
                        indented = c != '\x0c';
                        self.bump();
                    }
                    Some('\\') if self.peek2().is_some_and(is_line_break) => {
                        indented_before_continuation |= indented;
                        self.continuation()?;
                    }
                    _ => break,
                }
            }
            let indented = indented || indented_before_continuation;
            match self.peek() {
                Some('#') => {
                    // A comment, then its line break; at the end of the text there is
                    // none, and `line_break` consumes nothing.
                    self.take_while(|c| !is_line_break(c));
                    self.line_break();
                }
                Some(c) if is_line_break(c) => self.line_break(),
                // Space alone is an empty expression, and says so.
                None if indented && ended.is_some() => {
                    return Err(EvalError::UnexpectedIndent {
                        column: line_column,
                    });
                }
                None => return Ok(()),
                Some(_) => {
                    if let Some((c, column)) = ended {
                        return Err(line_break_error(c, column));
                    }
                    if indented {
                        return Err(EvalError::UnexpectedIndent {
                            column: line_column,
                        });
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Consumes a backslash and the line break after it, which join two lines into one.
    /// Python refuses one at the very end (`1+\\\n`).
    fn continuation(&mut self) -> Result<(), EvalError> {
        self.bump();
        self.line_break();
        if self.peek().is_none() {
            return Err(EvalError::UnexpectedEnd);
        }
        Ok(())
    }

    fn next_token(&mut self) -> Result<Option<Token>, EvalError> {
        loop {
            match self.peek() {
                Some(c) if is_space(c) => {
                    self.bump();
                }
                Some(c) if is_line_break(c) => {
                    let column = self.column;
                    self.line_break();
                    if self.open_parens == 0 {
                        // Outside parentheses Python's eval ends the expression at a line
                        // break; only blank lines may follow. (Before the first token,
                        // `line_start` has already skipped the blank lines.)
                        self.line_start(Some((c, column)))?;
                    }
                }
                Some('#') => {
                    // A comment runs to the end of the line, as in Python source.
                    self.take_while(|c| !is_line_break(c));
                }
                Some('\\') if self.peek2().is_some_and(is_line_break) => {
                    // A backslash at the end of a line joins the next one to it.
                    self.continuation()?;
                }
                _ => break,
            }
        }
        let column = self.column;
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        // The character and the next one, for two-character operators in messages.
        let rest = &self.text[self.pos..];
        let two = &rest[..rest.char_indices().nth(2).map_or(rest.len(), |(i, _)| i)];
        let kind = match c {
            '0'..='9' => self.number(column)?,
            '.' if self.peek2().is_some_and(|c| c.is_ascii_digit()) => self.number(column)?,
            '+' | '-' | '%' | '(' | ')' | '^' => {
                self.bump();
                match c {
                    '+' => TokenKind::Plus,
                    '-' => TokenKind::Minus,
                    '%' => TokenKind::Percent,
                    '(' => {
                        self.open_parens += 1;
                        TokenKind::LParen
                    }
                    ')' => {
                        self.open_parens = self.open_parens.saturating_sub(1);
                        TokenKind::RParen
                    }
                    _ => TokenKind::Power,
                }
            }
            '*' => self.single_or_doubled(TokenKind::Star, TokenKind::Power),
            '/' => self.single_or_doubled(TokenKind::Slash, TokenKind::DoubleSlash),
            '<' | '>' if two == "<<" || two == ">>" => {
                return Err(unsupported(BITWISE, two, column));
            }
            '<' | '>' if two.ends_with('=') => {
                return Err(unsupported(COMPARISON, two, column));
            }
            '<' | '>' => return Err(unsupported(COMPARISON, &two[..1], column)),
            '=' | '!' if two.ends_with('=') && two.len() == 2 => {
                return Err(unsupported(COMPARISON, two, column));
            }
            '&' | '|' | '~' => return Err(unsupported(BITWISE, &two[..1], column)),
            '=' => return Err(unsupported("assignment is not allowed", "=", column)),
            '\'' | '"' => {
                return Err(unsupported("strings are not allowed", &two[..1], column));
            }
            '.' => return Err(unsupported("attribute access is not allowed", ".", column)),
            ',' => {
                return Err(unsupported(
                    "commas (tuples, arguments) are not allowed",
                    ",",
                    column,
                ));
            }
            '[' | ']' => {
                return Err(unsupported(
                    "lists and subscripts are not allowed",
                    &two[..1],
                    column,
                ));
            }
            '{' | '}' => {
                return Err(unsupported(
                    "dicts and sets are not allowed",
                    &two[..1],
                    column,
                ));
            }
            '@' => {
                return Err(unsupported(
                    "matrix multiplication is not allowed",
                    "@",
                    column,
                ));
            }
            c if is_name_char(c) => {
                let name = self.take_while(is_name_char);
                let what = if KEYWORDS.contains(&name) {
                    "keywords are not allowed"
                } else {
                    "names are not allowed"
                };
                return Err(unsupported(what, &self.text[start..self.pos], column));
            }
            c => {
                return Err(EvalError::UnexpectedChar {
                    ch: quote(&c.to_string()),
                    column,
                });
            }
        };
        Ok(Some(Token { kind, column }))
    }
}

/// Splits `text` into tokens.
///
/// # Errors
///
/// The first malformed literal or character outside the arithmetic subset, with its column.
pub(crate) fn tokenize(text: &str) -> Result<Tokens, EvalError> {
    let mut lexer = Lexer {
        text,
        pos: 0,
        column: 1,
        open_parens: 0,
    };
    // Python's eval drops leading spaces and tabs (not form feeds) before tokenizing.
    lexer.take_while(|c| c == ' ' || c == '\t');
    lexer.line_start(None)?;
    let mut tokens = Tokens::new();
    while let Some(token) = lexer.next_token()? {
        tokens.push(token);
    }
    Ok(tokens)
}
