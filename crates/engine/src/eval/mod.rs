//! The safe arithmetic evaluator: Python 3's answers on the arithmetic subset, and an
//! error for everything else.
//!
//! The pipeline is `lexer` (text to tokens), `parser` (a shunting yard from tokens to a
//! postfix program), then a loop over the program with `value`'s arithmetic. Every stage
//! is bounded: [`MAX_EXPR_BYTES`] of text, [`MAX_DEPTH`] levels of nesting, integers of
//! at most [`MAX_INT_BITS`] bits and at most [`WORK_LIMIT`] units of big-number work.

mod bigint;
mod float;
mod inline;
mod lexer;
mod parser;
mod value;

use std::fmt;

use inline::SmallList;
use parser::Instr;
use value::{Meter, Value};

/// The longest expression accepted, in bytes. Real arithmetic is far shorter; the bound
/// keeps parsing work and memory small even for a 64 KiB protocol line.
pub const MAX_EXPR_BYTES: usize = 4096;

/// The deepest nesting of parentheses accepted. Parsing and evaluation are loops, so
/// this is not about the stack; it matches the spirit of Python's own limit (200) and
/// keeps absurd input out.
pub const MAX_DEPTH: usize = 100;

/// The largest integer magnitude, in bits (about 4,900 decimal digits). Beyond it the
/// answer is [`EvalError::IntegerTooLarge`], never a rounded or wrapped number.
pub const MAX_INT_BITS: u64 = 16_384;

/// The big-number work one evaluation may do, in 32-bit limb operations (a product of an
/// m-limb and an n-limb integer costs m·n). It caps the CPU time of expressions built
/// from many individually allowed big operations at about a millisecond.
pub const WORK_LIMIT: u64 = 1_000_000;

/// Why an expression has no value.
///
/// `Display` gives a one-line, lowercase message without a trailing period that says
/// what was wrong and where; it quotes at most a few characters of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvalError {
    /// The expression is empty or only whitespace.
    Empty,
    /// The expression is longer than [`MAX_EXPR_BYTES`].
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// Parentheses nest deeper than [`MAX_DEPTH`].
    TooDeep {
        /// The limit in levels.
        limit: usize,
    },
    /// A token where it cannot go, e.g. `1 +* 2` or `(1))`.
    UnexpectedToken {
        /// The token as quoted in the message, e.g. `')'`.
        token: String,
        /// 1-based column (in characters) of the token.
        column: usize,
    },
    /// The expression stops where an operand is still needed, e.g. `1 +`.
    UnexpectedEnd,
    /// The expression stops inside parentheses.
    Unclosed {
        /// 1-based column of the `(` that is never closed.
        column: usize,
    },
    /// A character that belongs to no token, e.g. `$`.
    UnexpectedChar {
        /// The character, escaped.
        ch: String,
        /// 1-based column of the character.
        column: usize,
    },
    /// A line that starts with a space or tab after a line break, or after a form feed at
    /// the start, e.g. `1\r ` or `\x0c 2` (Python raises `IndentationError`).
    UnexpectedIndent {
        /// 1-based column where the indented line starts.
        column: usize,
    },
    /// A malformed number, e.g. `1__0`, `1e`, `012`.
    InvalidNumber {
        /// The literal, shortened if long.
        text: String,
        /// 1-based column where the literal starts.
        column: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Valid Python that is outside the arithmetic subset: names, calls, strings,
    /// attributes, comparisons, bitwise operators, and so on.
    Unsupported {
        /// What kind of construct, as a sentence fragment.
        what: &'static str,
        /// The token that starts it, shortened if long.
        token: String,
        /// 1-based column of that token.
        column: usize,
    },
    /// `/` or `//` by zero.
    DivisionByZero,
    /// `%` by zero.
    ModuloByZero,
    /// `0 ** negative` (Python raises `ZeroDivisionError`).
    ZeroToNegativePower,
    /// An integer result larger than [`MAX_INT_BITS`] bits.
    IntegerTooLarge {
        /// The limit in bits.
        limit_bits: u64,
    },
    /// An integer too large for a double took part in float arithmetic.
    IntTooLargeForFloat,
    /// `int / int` whose quotient is beyond the double range.
    QuotientTooLargeForFloat,
    /// `**` on floats overflowed (Python raises `OverflowError`; other float operators
    /// give `inf` instead, as in Python).
    FloatOverflow,
    /// A negative number raised to a fractional power (Python returns a `complex`).
    ComplexResult,
    /// The expression needs more than [`WORK_LIMIT`] units of big-number work.
    TooMuchWork {
        /// The limit in limb operations.
        limit: u64,
    },
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty expression: expected arithmetic such as 1+2*3"),
            Self::TooLong { limit } => write!(f, "expression too long (limit {limit} bytes)"),
            Self::TooDeep { limit } => {
                write!(f, "nesting too deep (limit {limit} levels of parentheses)")
            }
            Self::UnexpectedToken { token, column } => {
                write!(f, "unexpected {token} at column {column}")
            }
            Self::UnexpectedEnd => {
                f.write_str("unexpected end of expression: expected a number or '('")
            }
            Self::Unclosed { column } => write!(
                f,
                "unexpected end of expression: '(' at column {column} is never closed"
            ),
            Self::UnexpectedChar { ch, column } => {
                write!(f, "unexpected character '{ch}' at column {column}")
            }
            Self::UnexpectedIndent { column } => write!(
                f,
                "unexpected indent at column {column}: a line cannot start with a space or tab"
            ),
            Self::InvalidNumber {
                text,
                column,
                reason,
            } => write!(f, "invalid number '{text}' at column {column}: {reason}"),
            Self::Unsupported {
                what,
                token,
                column,
            } => write!(f, "unsupported: {what} ('{token}' at column {column})"),
            Self::DivisionByZero => f.write_str("division by zero"),
            Self::ModuloByZero => f.write_str("modulo by zero"),
            Self::ZeroToNegativePower => {
                f.write_str("division by zero: 0 cannot be raised to a negative power")
            }
            Self::IntegerTooLarge { limit_bits } => {
                write!(f, "integer result too large (limit {limit_bits} bits)")
            }
            Self::IntTooLargeForFloat => f.write_str("integer too large to convert to float"),
            Self::QuotientTooLargeForFloat => {
                f.write_str("integer division result too large for a float")
            }
            Self::FloatOverflow => f.write_str("float overflow: result of ** is too large"),
            Self::ComplexResult => {
                f.write_str("complex result: negative number raised to a fractional power")
            }
            Self::TooMuchWork { limit } => write!(
                f,
                "expression too expensive (limit {limit} units of big-number work)"
            ),
        }
    }
}

impl std::error::Error for EvalError {}

/// Evaluates an arithmetic expression and returns Python's `repr` of its value.
///
/// The grammar is Python's arithmetic: int and float literals (`1_000`, `.5`, `1e3`),
/// unary `+`/`-`, binary `+ - * / // % **` with Python's precedence and
/// associativity, and parentheses. `^` is read as `**` (Python would read it as XOR).
///
/// ```
/// assert_eq!(engine::evaluate("-2**2").as_deref(), Ok("-4"));
/// assert_eq!(engine::evaluate("2^10").as_deref(), Ok("1024"));
/// assert_eq!(engine::evaluate("7.5 // 2").as_deref(), Ok("3.0"));
/// assert_eq!(engine::evaluate("0.1 + 0.2").as_deref(), Ok("0.30000000000000004"));
/// assert_eq!(engine::evaluate("2**100").as_deref(), Ok("1267650600228229401496703205376"));
/// ```
///
/// # Errors
///
/// An [`EvalError`] for text outside the grammar (with its column), for arithmetic
/// Python also refuses (division by zero, float overflow in `**`, complex results), and
/// for work beyond the limits ([`MAX_EXPR_BYTES`], [`MAX_DEPTH`], [`MAX_INT_BITS`],
/// [`WORK_LIMIT`]).
pub fn evaluate(expr: &str) -> Result<String, EvalError> {
    let mut out = Vec::new();
    evaluate_into(expr, &mut out)?;
    Ok(crate::into_text(out))
}

/// Evaluates an arithmetic expression as [`evaluate`] does and appends Python's `repr` of
/// its value to `out`, which is left as it was on an error. A small integer expression
/// (`1+2*3`) is evaluated without allocating.
///
/// ```
/// let mut out = b"OK ".to_vec();
/// engine::evaluate_into("2**10", &mut out)?;
/// assert_eq!(out, b"OK 1024");
/// assert!(engine::evaluate_into("1/0", &mut out).is_err());
/// assert_eq!(out, b"OK 1024");
/// # Ok::<(), engine::EvalError>(())
/// ```
///
/// # Errors
///
/// As [`evaluate`].
pub fn evaluate_into(expr: &str, out: &mut Vec<u8>) -> Result<(), EvalError> {
    if expr.len() > MAX_EXPR_BYTES {
        return Err(EvalError::TooLong {
            limit: MAX_EXPR_BYTES,
        });
    }
    let code = parser::compile(lexer::tokenize(expr)?)?;
    let mut meter = Meter::new();
    let mut stack: SmallList<Value, 8> = SmallList::new();
    for instr in code {
        let value = match instr {
            Instr::Int(n) => value::int_literal(n)?,
            Instr::Float(x) => Value::Float(x),
            Instr::Neg => stack.pop().ok_or(EvalError::UnexpectedEnd)?.neg(),
            Instr::Binary(op) => {
                // The parser emits two operands before every operator, so these pops
                // always succeed; an error rather than a panic keeps that a local claim.
                let b = stack.pop().ok_or(EvalError::UnexpectedEnd)?;
                let a = stack.pop().ok_or(EvalError::UnexpectedEnd)?;
                value::binary(op, &a, &b, &mut meter)?
            }
        };
        stack.push(value);
    }
    let value = stack.pop().ok_or(EvalError::UnexpectedEnd)?;
    meter.charge_repr(&value)?;
    value.write_repr(out);
    Ok(())
}

#[cfg(test)]
mod tests;
