//! The three operations a request can name, and how their names are read.

use std::fmt;
use std::str::FromStr;

/// An operation the service performs on a request's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Swap the case of every character (`1` or `case`).
    ChangeCase,
    /// Evaluate an arithmetic expression (`2` or `eval`).
    Evaluate,
    /// Reverse the string (`3` or `reverse`).
    Reverse,
}

impl Op {
    /// Every operation, in wire-code order.
    pub const ALL: [Op; 3] = [Op::ChangeCase, Op::Evaluate, Op::Reverse];

    /// The numeric code sent on the wire (`1`, `2` or `3`), as the tutorial's client sends it.
    pub fn code(self) -> u8 {
        match self {
            Op::ChangeCase => 1,
            Op::Evaluate => 2,
            Op::Reverse => 3,
        }
    }

    /// The name accepted in place of the code (`case`, `eval` or `reverse`).
    pub fn name(self) -> &'static str {
        match self {
            Op::ChangeCase => "case",
            Op::Evaluate => "eval",
            Op::Reverse => "reverse",
        }
    }

    /// Whether `s` (already trimmed) is this operation's code or, in any case, its name.
    /// It compares bytes in place: this runs once per request, where building the code's
    /// text to compare with would allocate every time.
    fn is_named_by(self, s: &str) -> bool {
        s.as_bytes() == [b'0' + self.code()] || s.eq_ignore_ascii_case(self.name())
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for an operation that is neither a known code nor a known name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownOp {
    /// What was sent in the operation's place, shortened and with control characters
    /// escaped so that it is safe to echo into a one-line message or a log.
    pub given: String,
}

impl fmt::Display for UnknownOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown operation '{}': expected 1/case, 2/eval, 3/reverse",
            self.given
        )
    }
}

impl std::error::Error for UnknownOp {}

impl FromStr for Op {
    type Err = UnknownOp;

    /// Reads `1`/`2`/`3` or `case`/`eval`/`reverse`, ignoring case and surrounding spaces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Op::ALL
            .into_iter()
            .find(|op| op.is_named_by(s))
            .ok_or_else(|| UnknownOp {
                given: printable_excerpt(s, 32),
            })
    }
}

/// At most `max_chars` characters of `s`, with control characters escaped (`\n`, `\u{7}`)
/// and `…` appended when it was cut, so that untrusted text can be quoted in one line.
pub fn printable_excerpt(s: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes and names, any case, with spaces around, all parse.
    #[test]
    fn parses_codes_and_names() {
        assert_eq!("1".parse(), Ok(Op::ChangeCase));
        assert_eq!(" 2 ".parse(), Ok(Op::Evaluate));
        assert_eq!("3".parse(), Ok(Op::Reverse));
        assert_eq!("CASE".parse(), Ok(Op::ChangeCase));
        assert_eq!("\tEval ".parse(), Ok(Op::Evaluate));
        assert_eq!("Reverse".parse(), Ok(Op::Reverse));
    }

    /// Anything else is refused with a message that names it and lists what is expected.
    #[test]
    fn unknown_op_message() {
        let err = "x".parse::<Op>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown operation 'x': expected 1/case, 2/eval, 3/reverse"
        );
        assert!("4".parse::<Op>().is_err());
        assert!("01".parse::<Op>().is_err());
        assert!("".parse::<Op>().is_err());
    }

    /// Hostile operation text is cut short and cannot carry a newline into a message.
    #[test]
    fn unknown_op_is_escaped_and_cut() {
        let long = "a\nb".repeat(100);
        let err = long.parse::<Op>().unwrap_err();
        assert!(!err.to_string().contains('\n'));
        assert!(err.given.starts_with("a\\nb"));
        assert!(err.given.ends_with('…'));
    }
}
