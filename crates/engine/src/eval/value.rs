//! Values and Python's arithmetic on them, under a size limit and a work budget.

use super::bigint::BigInt;
use super::float::{self, PowError};
use super::parser::BinOp;
use super::{EvalError, MAX_INT_BITS, WORK_LIMIT};

/// A Python number: an exact integer or an IEEE-754 double.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Int(BigInt),
    Float(f64),
}

impl Value {
    /// Appends Python's `repr` of the value. Floats still go through a `String`: their
    /// shortest round-trip digits come from std's formatter.
    pub(crate) fn write_repr(&self, out: &mut Vec<u8>) {
        match self {
            Self::Int(n) => n.write_decimal(out),
            Self::Float(x) => out.extend_from_slice(float::repr(*x).as_bytes()),
        }
    }

    /// Unary minus.
    pub(crate) fn neg(&self) -> Self {
        match self {
            Self::Int(n) => Self::Int(n.neg()),
            Self::Float(x) => Self::Float(-x),
        }
    }
}

/// Counts the limb operations an evaluation has done, so that a long expression of
/// individually allowed big-number operations still cannot run for long.
pub(crate) struct Meter {
    left: u64,
}

impl Meter {
    pub(crate) fn new() -> Self {
        Self { left: WORK_LIMIT }
    }

    /// Charges for printing a value: decimal conversion of an n-limb integer costs about
    /// n² limb divisions, each slower than a multiplication step.
    pub(crate) fn charge_repr(&mut self, value: &Value) -> Result<(), EvalError> {
        match value {
            Value::Int(n) => self.charge(n.magnitude().len().pow(2)),
            Value::Float(_) => Ok(()),
        }
    }

    fn charge(&mut self, cost: u64) -> Result<(), EvalError> {
        self.left = self
            .left
            .checked_sub(cost)
            .ok_or(EvalError::TooMuchWork { limit: WORK_LIMIT })?;
        Ok(())
    }
}

/// Rejects integers beyond the size limit; every integer result passes through here.
fn checked(n: BigInt) -> Result<Value, EvalError> {
    if n.magnitude().bit_len() > MAX_INT_BITS {
        Err(EvalError::IntegerTooLarge {
            limit_bits: MAX_INT_BITS,
        })
    } else {
        Ok(Value::Int(n))
    }
}

/// Python's `float(int)`: correctly rounded, an error beyond the double range.
fn int_to_f64(n: &BigInt) -> Result<f64, EvalError> {
    let x = float::round_to_f64(n.magnitude(), 0, false).ok_or(EvalError::IntTooLargeForFloat)?;
    Ok(if n.is_negative() { -x } else { x })
}

fn to_f64(v: &Value) -> Result<f64, EvalError> {
    match v {
        Value::Int(n) => int_to_f64(n),
        Value::Float(x) => Ok(*x),
    }
}

/// Python's `int / int`: the correctly rounded quotient, even when neither operand is
/// exactly representable as a double (as CPython's `long_true_divide` guarantees).
fn int_true_div(a: &BigInt, b: &BigInt, meter: &mut Meter) -> Result<Value, EvalError> {
    if b.is_zero() {
        return Err(EvalError::DivisionByZero);
    }
    let negative = a.is_negative() != b.is_negative();
    let (a, b) = (a.magnitude(), b.magnitude());
    let x = if a.is_zero() {
        0.0
    } else {
        // Scale so the integer quotient has at least 55 bits: 53 to keep, one to round
        // on, and the remainder as a sticky bit below them.
        let shift = 55 + i64::try_from(b.bit_len()).unwrap_or(i64::MAX)
            - i64::try_from(a.bit_len()).unwrap_or(i64::MAX);
        let (num, den) = if shift >= 0 {
            (a.shl(shift.unsigned_abs()), b.clone())
        } else {
            (a.clone(), b.shl(shift.unsigned_abs()))
        };
        meter.charge((num.len() + 1) * (den.len() + 1))?;
        let (q, r) = num.div_rem(&den).ok_or(EvalError::DivisionByZero)?;
        float::round_to_f64(&q, -shift, !r.is_zero()).ok_or(EvalError::QuotientTooLargeForFloat)?
    };
    Ok(Value::Float(if negative { -x } else { x }))
}

/// Python's `int ** int`.
fn int_pow(a: &BigInt, b: &BigInt, meter: &mut Meter) -> Result<Value, EvalError> {
    if b.is_negative() {
        // Python computes a negative integer power in floating point.
        return float_pow(int_to_f64(a)?, int_to_f64(b)?);
    }
    let one = BigInt::from_i64(1);
    if b.is_zero() || *a == one {
        return Ok(Value::Int(one));
    }
    if a.is_zero() {
        return Ok(Value::Int(a.clone()));
    }
    if *a == one.neg() {
        return Ok(Value::Int(if b.magnitude().is_odd() {
            a.clone()
        } else {
            one
        }));
    }
    // |a| >= 2 here, so |a|^b >= 2^((bits(a) - 1) * b): reject hopeless sizes before any
    // work, whatever the exponent's size (`9**9**9`, `2**99999999`).
    let too_large = EvalError::IntegerTooLarge {
        limit_bits: MAX_INT_BITS,
    };
    let exp = b.magnitude().to_u64().ok_or(too_large.clone())?;
    let floor_bits = (a.magnitude().bit_len() - 1).saturating_mul(exp);
    if floor_bits >= MAX_INT_BITS {
        return Err(too_large);
    }
    // Left-to-right square-and-multiply: every intermediate is a power a^k with k <= b,
    // so none is larger than the result, and the size check after each step is exact.
    let mut result = one;
    for i in (0..64 - exp.leading_zeros()).rev() {
        meter.charge(result.magnitude().len().pow(2) + 1)?;
        result = result.mul(&result);
        if (exp >> i) & 1 == 1 {
            meter.charge(result.magnitude().len() * a.magnitude().len() + 1)?;
            result = result.mul(a);
        }
        if result.magnitude().bit_len() > MAX_INT_BITS {
            return Err(too_large);
        }
    }
    Ok(Value::Int(result))
}

fn float_pow(a: f64, b: f64) -> Result<Value, EvalError> {
    float::py_pow(a, b).map(Value::Float).map_err(|e| match e {
        PowError::ZeroToNegative => EvalError::ZeroToNegativePower,
        PowError::Complex => EvalError::ComplexResult,
        PowError::Overflow => EvalError::FloatOverflow,
    })
}

fn int_op(op: BinOp, a: &BigInt, b: &BigInt, meter: &mut Meter) -> Result<Value, EvalError> {
    let (la, lb) = (a.magnitude().len(), b.magnitude().len());
    match op {
        BinOp::Add | BinOp::Sub => {
            meter.charge(la.max(lb) + 1)?;
            checked(if op == BinOp::Add { a.add(b) } else { a.sub(b) })
        }
        BinOp::Mul => {
            meter.charge(la * lb + 1)?;
            checked(a.mul(b))
        }
        BinOp::Div => int_true_div(a, b, meter),
        BinOp::FloorDiv | BinOp::Mod => {
            meter.charge((la + 1) * (lb + 1))?;
            let (q, r) = a.div_mod_floor(b).ok_or(if op == BinOp::Mod {
                EvalError::ModuloByZero
            } else {
                EvalError::DivisionByZero
            })?;
            checked(if op == BinOp::Mod { r } else { q })
        }
        BinOp::Pow => int_pow(a, b, meter),
    }
}

fn float_op(op: BinOp, a: f64, b: f64) -> Result<Value, EvalError> {
    // Only `**` reports overflow in Python; `*`, `+` and `/` quietly give inf.
    Ok(Value::Float(match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div | BinOp::FloorDiv if b == 0.0 => return Err(EvalError::DivisionByZero),
        BinOp::Div => a / b,
        BinOp::FloorDiv => float::py_floor_div(a, b),
        BinOp::Mod if b == 0.0 => return Err(EvalError::ModuloByZero),
        BinOp::Mod => float::py_mod(a, b),
        BinOp::Pow => return float_pow(a, b),
    }))
}

/// Applies a binary operator with Python's semantics: int with int stays exact (except
/// `/` and negative powers), anything with a float converts the int to a float first.
pub(crate) fn binary(
    op: BinOp,
    a: &Value,
    b: &Value,
    meter: &mut Meter,
) -> Result<Value, EvalError> {
    meter.charge(1)?;
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => int_op(op, x, y, meter),
        _ => float_op(op, to_f64(a)?, to_f64(b)?),
    }
}

/// The integer value of a literal, checked against the size limit.
pub(crate) fn int_literal(n: BigInt) -> Result<Value, EvalError> {
    checked(n)
}
