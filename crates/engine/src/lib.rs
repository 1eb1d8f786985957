//! The taskserver operations: swap case, evaluate arithmetic, reverse.
//!
//! Each server architecture hands a request's operation and payload to [`execute_into`],
//! which appends the answer straight to the connection's output (after `OK `), and sends
//! it or the error's one-line message; [`execute`] returns the same answer as a `String`
//! for other callers. Everyday requests (an ASCII reverse or swap case, a small integer
//! expression) are answered without allocating, and a test holds that. The operations give the
//! answers Python gives in the tutorial (`str.swapcase`, `eval`, `s[::-1]`),
//! except that evaluation is safe: arithmetic only, with bounded work.
//!
//! **Architecture invariant:** `engine` knows nothing of sockets, framing or threads; it
//! depends on no crate but std, and has no side effects (no I/O, no globals).
//!
//! # Layout
//!
//! - `case.rs`: [`swap_case`], Python's `str.swapcase` with full Unicode mappings.
//! - `reverse.rs`: [`reverse`], by Unicode scalar values.
//! - `eval/`: [`evaluate`], the safe evaluator:
//!   - `lexer.rs` turns text into tokens and names every unsupported construct;
//!   - `parser.rs` compiles tokens to postfix code with an operator stack (no recursion);
//!   - `value.rs` is Python's int/float arithmetic under the size and work limits;
//!   - `bigint.rs` is a small exact integer type, `float.rs` CPython's float rules and
//!     `repr`;
//!   - `inline.rs` holds the small lists (tokens, program, stacks, limbs) that keep a
//!     short expression's data off the heap.
//!
//! # Examples
//!
//! ```
//! use engine::{execute, Op};
//!
//! assert_eq!(execute(Op::Reverse, "abc"), Ok("cba".into()));
//! assert_eq!(execute(Op::ChangeCase, "Straße"), Ok("sTRASSE".into()));
//! assert_eq!(execute(Op::Evaluate, "2**3**2"), Ok("512".into()));
//! assert_eq!(execute(Op::Evaluate, "-7 // 2"), Ok("-4".into()));
//! assert_eq!(execute(Op::Evaluate, "6/2"), Ok("3.0".into()));
//!
//! let err = execute(Op::Evaluate, "1/0").unwrap_err();
//! assert_eq!(err.to_string(), "division by zero");
//! let err = execute(Op::Evaluate, "(1+2))").unwrap_err();
//! assert_eq!(err.to_string(), "unexpected ')' at column 6");
//! let err = execute(Op::Evaluate, "__import__('os')").unwrap_err();
//! assert!(err.to_string().starts_with("unsupported: names are not allowed"));
//! ```
//!
//! # The evaluator's language
//!
//! Python 3's arithmetic, with Python's answers: int literals (`42`, `1_000`), float
//! literals (`3.5`, `.5`, `5.`, `1e3`, `2.5E-3`), unary `+`/`-`, binary `+ - * / // % **`
//! with Python's precedence and associativity (`-2**2` is `-4`, `2**3**2` is `512`,
//! `2**-1` is `0.5`), parentheses, any spacing, and `#` comments. Lines are Python's
//! too: `\n`, `\r\n` and a lone `\r` each end a line (and a comment); a line break may
//! stand only inside parentheses, after a backslash, or among blank lines before or after
//! the whole expression; and a line that starts with a space or tab is an indentation
//! error (`1\r ` and `\x0c 2` are errors, as in Python, where `1 ` and `\x0c2` are not).
//!
//! - **`^` means `**`** here, as on a calculator (the specification asks for it):
//!   `2^10` is `1024`, with `**`'s precedence. Python would read `^` as bitwise XOR
//!   (`2^10` is `8` there), so this is the one place where the answers differ on purpose.
//! - Integers are exact; `/` always gives a float, correctly rounded even for big
//!   integers; `//` and `%` floor, for ints and floats, with CPython's sign rules.
//! - Floats are IEEE-754 doubles printed as Python's `repr` prints them (`3.0`,
//!   `1e+16`, `1e-05`, `inf`, `-0.0`). As in Python, `*`, `+` and `/` overflow quietly
//!   to `inf` while `**` reports an overflow.
//! - Anything else (names, calls, strings, attributes, comparisons, bitwise operators,
//!   commas, keywords) is an `unsupported: ...` error naming the construct and column.
//!
//! # Limits
//!
//! No request may cost more than about a millisecond of CPU or a few KiB of memory, so
//! the evaluator answers with an error instead of doing the work for:
//!
//! - expressions longer than [`MAX_EXPR_BYTES`] (4096) bytes;
//! - nesting deeper than [`MAX_DEPTH`] (100) levels of parentheses. Neither parsing
//!   nor evaluation recurses, so no input can exhaust even a small thread stack;
//! - integers larger than [`MAX_INT_BITS`] (16384) bits: the result is exact or an
//!   `integer result too large` error, never a rounded or wrapped number; `a**b` checks
//!   a lower bound of the result size before multiplying (`9**9**9` fails at once);
//! - more than [`WORK_LIMIT`] limb operations of big-number arithmetic in total,
//!   printing included (a long sum of large powers stops there).
//!
//! Python 3.11 itself refuses to print an int of more than 4300 digits (its
//! `int_max_str_digits` guard); this evaluator prints every int it accepts, up to about
//! 4,932 digits.
//!
//! Nothing panics on any input: no slicing off character boundaries, no unchecked
//! arithmetic on sizes, and both the parser and the evaluator are loops.
//!
//! Case mapping and Unicode properties come from the Rust standard library, whose
//! Unicode version may be newer than the one of the Python it is compared with; the
//! answers can differ only for characters added in between.
//!
//! # Why not fasteval
//!
//! The design card names the `fasteval` crate for evaluation. It cannot give Python's
//! answers safely: its `print()` builtin writes to the server's stderr, `-2^2` is `4`
//! there (Python: `-4`), `%` truncates instead of flooring, there is no `**` or `//`, and
//! every number is an `f64`, so integers above 2⁵³ come out wrong. Wrapping it would
//! still leave the wrong numbers, so this crate has a small parser of its own (a lexer,
//! an operator-precedence parser and a postfix evaluator, a few hundred lines) and no
//! dependencies.

mod case;
mod eval;
mod reverse;

use std::fmt;

pub use case::{swap_case, swap_case_into};
pub use eval::{
    EvalError, MAX_DEPTH, MAX_EXPR_BYTES, MAX_INT_BITS, WORK_LIMIT, evaluate, evaluate_into,
};
pub use reverse::{reverse, reverse_into};

/// One of the three operations a client can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Swap the case of every character ([`swap_case`]).
    ChangeCase,
    /// Evaluate an arithmetic expression ([`evaluate`]).
    Evaluate,
    /// Reverse the string ([`reverse`]).
    Reverse,
}

/// Why an operation failed. Only [`Op::Evaluate`] can fail.
///
/// `Display` is the one-line message a server sends after `ERR `: lowercase, no trailing
/// period, never more than a short quote of the input. It is the whole message, so
/// [`std::error::Error::source`] is `None`; [`EngineError::eval_error`] gives the
/// structured cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineError {
    eval: EvalError,
}

impl EngineError {
    /// The evaluator's error, for callers that want to match on the kind.
    pub fn eval_error(&self) -> &EvalError {
        &self.eval
    }
}

impl From<EvalError> for EngineError {
    fn from(eval: EvalError) -> Self {
        Self { eval }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.eval, f)
    }
}

impl std::error::Error for EngineError {}

/// Runs one operation on one payload.
///
/// ```
/// use engine::{execute, Op};
///
/// assert_eq!(execute(Op::Reverse, "abc"), Ok("cba".into()));
/// assert_eq!(execute(Op::Evaluate, "1_000 * 3"), Ok("3000".into()));
/// ```
///
/// # Errors
///
/// Only [`Op::Evaluate`] fails, with the [`EvalError`] of [`evaluate`]; case and
/// reverse accept every string.
pub fn execute(op: Op, input: &str) -> Result<String, EngineError> {
    let mut out = Vec::new();
    execute_into(op, input, &mut out)?;
    Ok(into_text(out))
}

/// Runs one operation on one payload and appends the answer's text (UTF-8) to `out`, the
/// same text [`execute`] returns. This is the servers' path: the answer goes straight
/// into the connection's output after `OK `, and an ASCII reverse or swap case, or a
/// small integer expression, is answered without allocating.
///
/// ```
/// use engine::{execute_into, Op};
///
/// let mut out = b"OK ".to_vec();
/// execute_into(Op::Reverse, "abc", &mut out)?;
/// assert_eq!(out, b"OK cba");
/// # Ok::<(), engine::EngineError>(())
/// ```
///
/// # Errors
///
/// As [`execute`]; `out` is then left as it was.
pub fn execute_into(op: Op, input: &str, out: &mut Vec<u8>) -> Result<(), EngineError> {
    match op {
        Op::ChangeCase => swap_case_into(input, out),
        Op::Evaluate => evaluate_into(input, out)?,
        Op::Reverse => reverse_into(input, out),
    }
    Ok(())
}

/// Appends the UTF-8 encoding of `c`.
fn push_char(out: &mut Vec<u8>, c: char) {
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}

/// The text the operations wrote as bytes. They write only whole characters of valid
/// UTF-8, so the lossy branch is never taken; it is there so that no input could turn a
/// mistake into a panic.
fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
