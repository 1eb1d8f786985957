//! A Pratt parser that compiles tokens to a postfix program.
//!
//! Producing postfix (reverse Polish) code instead of a tree means evaluation is a plain
//! loop over a stack, so only parsing recurses, and parsing recursion is bounded by the
//! nesting limit: parentheses and the right operand of `**` each count one level. Chains
//! of unary signs are gathered in a loop, so `- - - ... 1` costs no stack at all.

use super::bigint::BigInt;
use super::lexer::{Token, TokenKind};
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

/// Binding power of the operand of a unary sign: tighter than `*`, looser than `**`,
/// so `-2**2` is `-(2**2)` and `-2*3` is `(-2)*3`, as in Python.
const UNARY_BP: u8 = 30;

/// Left and right binding powers. Left-associative operators bind their right side one
/// step tighter; `**` binds its right side looser, which makes it right-associative.
fn infix(kind: &TokenKind) -> Option<(BinOp, u8, u8)> {
    Some(match kind {
        TokenKind::Plus => (BinOp::Add, 10, 11),
        TokenKind::Minus => (BinOp::Sub, 10, 11),
        TokenKind::Star => (BinOp::Mul, 20, 21),
        TokenKind::Slash => (BinOp::Div, 20, 21),
        TokenKind::DoubleSlash => (BinOp::FloorDiv, 20, 21),
        TokenKind::Percent => (BinOp::Mod, 20, 21),
        TokenKind::Power => (BinOp::Pow, 40, 39),
        _ => return None,
    })
}

struct Parser {
    tokens: std::vec::IntoIter<Token>,
    peeked: Option<Token>,
    code: Vec<Instr>,
}

impl Parser {
    fn peek(&self) -> Option<&TokenKind> {
        self.peeked.as_ref().map(|t| &t.kind)
    }

    fn advance(&mut self) -> Option<Token> {
        std::mem::replace(&mut self.peeked, self.tokens.next())
    }

    fn unexpected(token: Option<Token>) -> EvalError {
        match token {
            Some(t) => EvalError::UnexpectedToken {
                token: t.kind.describe(),
                column: t.column,
            },
            None => EvalError::UnexpectedEnd,
        }
    }

    /// An expression whose operators all bind at least `min_bp`.
    fn expr(&mut self, min_bp: u8, depth: usize) -> Result<(), EvalError> {
        let mut negations = 0usize;
        let mut signs = false;
        while let Some(TokenKind::Plus | TokenKind::Minus) = self.peek() {
            signs = true;
            if let Some(TokenKind::Minus) = self.advance().map(|t| t.kind) {
                negations += 1;
            }
        }
        self.atom(depth)?;
        if signs {
            self.infix_loop(UNARY_BP, depth)?;
            // Unary plus is the identity on ints and floats (even on -0.0), and two
            // negations cancel exactly, so only the parity of the minus signs matters.
            if negations % 2 == 1 {
                self.code.push(Instr::Neg);
            }
        }
        self.infix_loop(min_bp, depth)
    }

    fn infix_loop(&mut self, min_bp: u8, depth: usize) -> Result<(), EvalError> {
        while let Some((op, left, right)) = self.peek().and_then(infix) {
            if left < min_bp {
                break;
            }
            self.advance();
            let depth = if op == BinOp::Pow {
                // A `**` chain recurses once per operator: count it as nesting.
                let deeper = depth + 1;
                if deeper > MAX_DEPTH {
                    return Err(EvalError::TooDeep { limit: MAX_DEPTH });
                }
                deeper
            } else {
                depth
            };
            self.expr(right, depth)?;
            self.code.push(Instr::Binary(op));
        }
        Ok(())
    }

    /// A number or a parenthesised expression.
    fn atom(&mut self, depth: usize) -> Result<(), EvalError> {
        let token = self.advance();
        match token.as_ref().map(|t| &t.kind) {
            Some(TokenKind::Int(n)) => self.code.push(Instr::Int(n.clone())),
            Some(TokenKind::Float(x)) => self.code.push(Instr::Float(*x)),
            Some(TokenKind::LParen) => {
                let open_column = token.as_ref().map_or(0, |t| t.column);
                if depth + 1 > MAX_DEPTH {
                    return Err(EvalError::TooDeep { limit: MAX_DEPTH });
                }
                self.expr(0, depth + 1)?;
                match self.advance() {
                    Some(Token {
                        kind: TokenKind::RParen,
                        ..
                    }) => {}
                    None => {
                        return Err(EvalError::Unclosed {
                            column: open_column,
                        });
                    }
                    other => return Err(Self::unexpected(other)),
                }
            }
            _ => return Err(Self::unexpected(token)),
        }
        if let Some(Token {
            kind: TokenKind::LParen,
            column,
        }) = self.peeked
        {
            // `f(x)`, `2(3)`, `(1)(2)`: a call, which Python would attempt.
            return Err(EvalError::Unsupported {
                what: "calls are not allowed",
                token: "(".to_owned(),
                column,
            });
        }
        Ok(())
    }
}

/// Compiles tokens to postfix code.
///
/// # Errors
///
/// Syntax errors with the column of the offending token, `UnexpectedEnd` when the text
/// stops early, `TooDeep` beyond [`MAX_DEPTH`] levels of nesting, and calls.
pub(crate) fn compile(tokens: Vec<Token>) -> Result<Vec<Instr>, EvalError> {
    let mut tokens = tokens.into_iter();
    let peeked = tokens.next();
    if peeked.is_none() {
        return Err(EvalError::Empty);
    }
    let mut parser = Parser {
        tokens,
        peeked,
        code: Vec::new(),
    };
    parser.expr(0, 0)?;
    match parser.advance() {
        None => Ok(parser.code),
        other => Err(Parser::unexpected(other)),
    }
}
