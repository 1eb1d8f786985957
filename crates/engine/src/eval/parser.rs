//! An operator-precedence parser that compiles tokens to a postfix program.
//!
//! It is Dijkstra's shunting yard with Python's binding powers: a loop with an explicit
//! operator stack, so no input can make it recurse, whatever the nesting. Evaluation
//! of the postfix output is a loop too. The nesting limit is therefore about sane input
//! (Python stops at 200 parentheses), not about the thread's stack: the engine runs on
//! the small stacks of the threaded server.

use super::bigint::BigInt;
use super::inline::SmallList;
use super::lexer::{Token, TokenKind, Tokens, unsupported};
use super::{EvalError, MAX_DEPTH};

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
}

/// One step of the postfix program.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Instr {
    Int(BigInt),
    Float(f64),
    Neg,
    Binary(BinOp),
}

/// A postfix program; a short expression's stays on the stack.
pub(crate) type Code = SmallList<Instr, 16>;

/// What waits on the operator stack.
#[derive(Clone, Copy, Debug)]
enum Pending {
    /// An open parenthesis and its column, for the "never closed" message.
    Open(usize),
    /// Unary minus; unary plus is the identity on ints and floats (even `-0.0`), so it
    /// leaves no trace.
    Neg,
    Binary(BinOp),
}

/// Binding power of unary minus: looser than `**` on its right, tighter than `*`, so
/// `-2**2` is `-(2**2)` and `-2*3` is `(-2)*3`, as in Python.
const UNARY_BP: u8 = 30;
const POW_BP: u8 = 40;

/// The binary operator a token stands for, if any.
fn binary(kind: &TokenKind) -> Option<BinOp> {
    Some(match kind {
        TokenKind::Plus => BinOp::Add,
        TokenKind::Minus => BinOp::Sub,
        TokenKind::Star => BinOp::Mul,
        TokenKind::Slash => BinOp::Div,
        TokenKind::DoubleSlash => BinOp::FloorDiv,
        TokenKind::Percent => BinOp::Mod,
        TokenKind::Power => BinOp::Pow,
        _ => return None,
    })
}

/// Binding power of a binary operator.
fn binding_power(op: BinOp) -> u8 {
    match op {
        BinOp::Add | BinOp::Sub => 10,
        BinOp::Mul | BinOp::Div | BinOp::FloorDiv | BinOp::Mod => 20,
        BinOp::Pow => POW_BP,
    }
}

impl Pending {
    /// Binding power while on the stack (parentheses hold everything back).
    fn power(self) -> u8 {
        match self {
            Self::Open(_) => 0,
            Self::Neg => UNARY_BP,
            Self::Binary(op) => binding_power(op),
        }
    }

    fn emit(self, code: &mut Code) {
        match self {
            Self::Neg => code.push(Instr::Neg),
            Self::Binary(op) => code.push(Instr::Binary(op)),
            Self::Open(_) => {}
        }
    }
}

fn unexpected(token: &Token) -> EvalError {
    EvalError::UnexpectedToken {
        token: token.kind.describe(),
        column: token.column,
    }
}

/// Compiles tokens to postfix code.
///
/// # Errors
///
/// `Empty` for no tokens, syntax errors with the column of the offending token,
/// `UnexpectedEnd`/`Unclosed` when the text stops early, `TooDeep` beyond
/// [`MAX_DEPTH`] open parentheses, and calls (`f(x)`, `2(3)`).
pub(crate) fn compile(tokens: Tokens) -> Result<Code, EvalError> {
    if tokens.is_empty() {
        return Err(EvalError::Empty);
    }
    let mut code = Code::new();
    let mut stack: SmallList<Pending, 8> = SmallList::new();
    let mut open = 0usize;
    // Whether the next token must start an operand (else it must follow one).
    let mut want_operand = true;
    for token in tokens {
        if want_operand {
            match token.kind {
                TokenKind::Int(n) => code.push(Instr::Int(n)),
                TokenKind::Float(x) => code.push(Instr::Float(x)),
                TokenKind::Plus => continue,
                TokenKind::Minus => {
                    stack.push(Pending::Neg);
                    continue;
                }
                TokenKind::LParen => {
                    open += 1;
                    if open > MAX_DEPTH {
                        return Err(EvalError::TooDeep { limit: MAX_DEPTH });
                    }
                    stack.push(Pending::Open(token.column));
                    continue;
                }
                _ => return Err(unexpected(&token)),
            }
            want_operand = false;
        } else if let Some(op) = binary(&token.kind) {
            let power = binding_power(op);
            // Pop what binds at least as tightly (left-associative), or strictly more
            // tightly for `**`, which is right-associative.
            while let Some(&top) = stack.last() {
                let pops = if op == BinOp::Pow {
                    top.power() > power
                } else {
                    top.power() >= power
                };
                if !pops {
                    break;
                }
                top.emit(&mut code);
                stack.pop();
            }
            stack.push(Pending::Binary(op));
            want_operand = true;
        } else {
            match token.kind {
                TokenKind::RParen => loop {
                    match stack.pop() {
                        Some(Pending::Open(_)) => {
                            open -= 1;
                            break;
                        }
                        Some(pending) => pending.emit(&mut code),
                        None => return Err(unexpected(&token)),
                    }
                },
                // `f(x)`, `2(3)`, `(1)(2)`: a call, which Python would attempt.
                TokenKind::LParen => {
                    return Err(unsupported("calls are not allowed", "(", token.column));
                }
                _ => return Err(unexpected(&token)),
            }
        }
    }
    if want_operand {
        return Err(EvalError::UnexpectedEnd);
    }
    while let Some(pending) = stack.pop() {
        if let Pending::Open(column) = pending {
            return Err(EvalError::Unclosed { column });
        }
        pending.emit(&mut code);
    }
    Ok(code)
}
