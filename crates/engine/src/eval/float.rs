//! IEEE-754 doubles the way CPython treats them: exact conversion from big integers,
//! correctly rounded integer division, floor division and modulo with CPython's sign
//! rules, `**` with CPython's special cases, and `repr` text.

use super::bigint::BigUint;

/// The double nearest to `m * 2^e`, where `sticky` says the true value is a little more
/// than that (by less than `2^e`); ties go to even, as IEEE-754 and CPython round.
/// `None` when the result overflows the double range.
///
/// Callers that pass `sticky` must give `m` at least 55 significant bits, so that the
/// extra amount can only ever matter below the rounding bit.
pub(crate) fn round_to_f64(m: &BigUint, e: i64, sticky: bool) -> Option<f64> {
    let bits = i64::try_from(m.bit_len()).ok()?;
    if bits == 0 {
        return Some(0.0);
    }
    let top_exp = bits.checked_add(e)?.checked_sub(1)?;
    if top_exp > 1023 {
        return None;
    }
    // Normal doubles keep 53 bits; subnormals lose one for every binade below 2^-1022.
    let precision = if top_exp >= -1022 {
        53
    } else {
        53 - (-1022 - top_exp)
    };
    let drop = bits - precision;
    let (mantissa, scale) = if drop <= 0 {
        (m.to_u64()?, e)
    } else {
        let d = drop as u64;
        let mut kept = m.shr(d).to_u64()?;
        let half = m.bit(d - 1);
        let rest = sticky || m.any_bit_below(d - 1);
        if half && (rest || kept & 1 == 1) {
            kept += 1;
        }
        (kept, e + drop)
    };
    let x = scale_by_power_of_two(mantissa as f64, scale);
    (!x.is_infinite()).then_some(x)
}

/// `x * 2^s` for an integer `x <= 2^54` whose product is representable; done in two
/// exact steps when `2^s` itself is below the normal range.
fn scale_by_power_of_two(x: f64, s: i64) -> f64 {
    fn pow2(s: i64) -> f64 {
        // Only called with -1022 <= s <= 1023, so the biased exponent is in 1..=2046.
        f64::from_bits(((s + 1023) as u64) << 52)
    }
    if s > 1023 {
        f64::INFINITY
    } else if s >= -1022 {
        x * pow2(s)
    } else {
        x * pow2(s + 52) * pow2(-52)
    }
}

/// Python's `float % float` (`float_rem` in CPython): the result has the divisor's sign.
/// The caller has rejected a zero divisor.
pub(crate) fn py_mod(v: f64, w: f64) -> f64 {
    let m = v % w;
    if m != 0.0 {
        if (w < 0.0) != (m < 0.0) { m + w } else { m }
    } else {
        // fmod's zero sign differs across platforms; Python gives the divisor's.
        0.0f64.copysign(w)
    }
}

/// Python's `float // float` (`_float_div_mod` in CPython), including its snapping of the
/// quotient to the nearest integer and the sign of a zero quotient.
/// The caller has rejected a zero divisor.
pub(crate) fn py_floor_div(v: f64, w: f64) -> f64 {
    let m = v % w;
    let mut div = (v - m) / w;
    if m != 0.0 && (w < 0.0) != (m < 0.0) {
        div -= 1.0;
    }
    if div != 0.0 {
        // `v - m` is not always an exact multiple of `w` in floating point; snap to the
        // nearest integer as CPython does.
        let mut floordiv = div.floor();
        if div - floordiv > 0.5 {
            floordiv += 1.0;
        }
        floordiv
    } else {
        0.0f64.copysign(v / w)
    }
}

/// Why a float power has no float answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PowError {
    /// `0.0 ** negative` (Python raises `ZeroDivisionError`).
    ZeroToNegative,
    /// A negative base and a non-integral exponent (Python returns a `complex`).
    Complex,
    /// The result is too large for a double (Python raises `OverflowError`).
    Overflow,
}

/// CPython's `DOUBLE_IS_ODD_INTEGER`.
fn is_odd_integer(x: f64) -> bool {
    x.abs() % 2.0 == 1.0
}

/// Python's `float ** float` (`float_pow` in CPython): its special cases first, then the
/// C library's `pow`, which is what CPython calls too.
pub(crate) fn py_pow(v: f64, w: f64) -> Result<f64, PowError> {
    if w == 0.0 {
        return Ok(1.0);
    }
    if v.is_nan() {
        return Ok(v);
    }
    if w.is_nan() {
        return Ok(if v == 1.0 { 1.0 } else { w });
    }
    if w.is_infinite() {
        let a = v.abs();
        return Ok(if a == 1.0 {
            1.0
        } else if (w > 0.0) == (a > 1.0) {
            f64::INFINITY
        } else {
            0.0
        });
    }
    if v.is_infinite() {
        let odd = is_odd_integer(w);
        return Ok(if w > 0.0 {
            if odd { v } else { v.abs() }
        } else if odd {
            0.0f64.copysign(v)
        } else {
            0.0
        });
    }
    if v == 0.0 {
        if w < 0.0 {
            return Err(PowError::ZeroToNegative);
        }
        return Ok(if is_odd_integer(w) { v } else { 0.0 });
    }
    let mut base = v;
    let mut negate = false;
    if v < 0.0 {
        if w != w.floor() {
            return Err(PowError::Complex);
        }
        base = -v;
        negate = is_odd_integer(w);
    }
    if base == 1.0 {
        return Ok(if negate { -1.0 } else { 1.0 });
    }
    let r = base.powf(w);
    if r.is_infinite() {
        return Err(PowError::Overflow);
    }
    Ok(if negate { -r } else { r })
}

/// The shortest decimal digits that read back as `x` (positive, finite), and the decimal
/// exponent of the first digit.
///
/// Rust's `{:e}` gives the shortest length, but when two strings of that length are
/// equally close to `x` it may pick the upper one, where Python's dtoa rounds half to even
/// (`900719925474099.25` is `...099.2` in Python). Rust's fixed-precision formatting is
/// exact and rounds half to even, so the correctly rounded string of the shortest length
/// is used whenever it reads back as `x`.
fn shortest_digits(x: f64) -> (String, i32) {
    let split = |sci: &str| -> (String, i32) {
        let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        (digits, exp.parse().unwrap_or(0))
    };
    let shortest = format!("{x:e}");
    let (digits, exp) = split(&shortest);
    let nearest = format!("{:.*e}", digits.len().saturating_sub(1), x);
    if nearest != shortest && nearest.parse::<f64>() == Ok(x) {
        let (mut digits, exp) = split(&nearest);
        while digits.len() > 1 && digits.ends_with('0') {
            digits.pop();
        }
        return (digits, exp);
    }
    (digits, exp)
}

/// Python's `repr(float)`: the shortest digits that round-trip, in positional notation
/// when the decimal exponent is in `-4..16` and in `1e+16` style otherwise.
pub(crate) fn repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    let (digits, exp) = shortest_digits(x.abs());
    let n = digits.len() as i32;
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.unsigned_abs());
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(point.unsigned_abs() as usize)
        )
    } else if point >= n {
        format!("{sign}{digits}{}.0", "0".repeat((point - n) as usize))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Float text matches Python's repr in every notation it switches between.
    #[test]
    fn repr_matches_python() {
        let cases = [
            (3.0, "3.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345.6, "123456789012345.6"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (1.5e-7, "1.5e-07"),
            (1e300, "1e+300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (-2.5, "-2.5"),
            (1.0 / 3.0, "0.3333333333333333"),
            // A tie between two shortest strings: Python rounds half to even.
            (9007199254740993.0 / 10.0, "900719925474099.2"),
            (0.5e16 / 7.0, "714285714285714.2"),
        ];
        for (x, want) in cases {
            assert_eq!(repr(x), want, "{x:?}");
        }
    }

    /// Modulo and floor division follow CPython's sign rules, including signed zeros.
    #[test]
    fn mod_and_floor_div() {
        assert_eq!(py_mod(-7.5, 2.0), 0.5);
        assert_eq!(py_floor_div(7.5, 2.0), 3.0);
        assert_eq!(repr(py_mod(6.0, -3.0)), "-0.0");
        assert_eq!(repr(py_mod(-6.0, 3.0)), "0.0");
        assert_eq!(repr(py_floor_div(-0.0, 5.0)), "-0.0");
        assert_eq!(repr(py_floor_div(0.5, -3.0)), "-1.0");
        assert_eq!(repr(py_floor_div(1.0, f64::INFINITY)), "0.0");
        assert_eq!(repr(py_floor_div(-1.0, f64::INFINITY)), "-1.0");
        assert!(py_floor_div(f64::INFINITY, 1.0).is_nan());
    }

    /// Float powers keep CPython's special cases ahead of libm.
    #[test]
    fn pow_special_cases() {
        assert_eq!(py_pow(0.0, -1.0), Err(PowError::ZeroToNegative));
        assert_eq!(py_pow(-8.0, 0.5), Err(PowError::Complex));
        assert_eq!(py_pow(2.0, 10000.0), Err(PowError::Overflow));
        assert_eq!(py_pow(-2.0, 3.0), Ok(-8.0));
        assert_eq!(py_pow(f64::NAN, 0.0), Ok(1.0));
        assert_eq!(py_pow(-1.0, f64::INFINITY), Ok(1.0));
        assert_eq!(repr(py_pow(-0.0, 3.0).unwrap_or(1.0)), "-0.0");
        assert_eq!(py_pow(2.0, -1.0), Ok(0.5));
    }

    /// Rounding from big integers is correct at ties, subnormals and overflow.
    #[test]
    fn rounding() {
        let two53 = BigUint::from_u64(1 << 53);
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: even wins.
        let tie = two53.add(&BigUint::from_u64(1));
        assert_eq!(round_to_f64(&tie, 0, false), Some(9007199254740992.0));
        // A sticky bit breaks the tie upward.
        assert_eq!(
            round_to_f64(&tie.shl(2), -2, true),
            Some(9007199254740994.0)
        );
        assert_eq!(
            round_to_f64(&BigUint::from_u64(1), -1074, false),
            Some(5e-324)
        );
        assert_eq!(round_to_f64(&BigUint::from_u64(1), -1075, false), Some(0.0));
        assert_eq!(
            round_to_f64(&BigUint::from_u64(3), -1076, false),
            Some(5e-324)
        );
        assert_eq!(round_to_f64(&BigUint::from_u64(1), 1024, false), None);
        assert_eq!(
            round_to_f64(&BigUint::from_u64(1), 1023, false),
            Some(2f64.powi(1023))
        );
    }
}
