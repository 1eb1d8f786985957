//! A small arbitrary-precision integer: exactly what the evaluator needs and no more.
//!
//! Python's integers are unbounded, and the evaluator promises never to print a wrong
//! number, so results beyond `i128` need an exact representation. Magnitudes are stored
//! as little-endian `u32` limbs so that every intermediate product fits a `u64` and
//! every quotient digit comes from a native 64-by-32-bit division (Knuth's algorithm D).
//! Sizes are bounded by the caller (see `super::value`), so schoolbook algorithms are fast
//! enough and nothing here needs to guard against huge operands on its own.

use std::cmp::Ordering;

use super::inline::Limbs;

/// A non-negative integer as little-endian base-2³² limbs, with no high zero limbs.
/// Up to 128 bits live inline, so small arithmetic never allocates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BigUint {
    limbs: Limbs,
}

impl BigUint {
    /// Zero (no limbs).
    pub(crate) fn zero() -> Self {
        Self {
            limbs: Limbs::new(),
        }
    }

    /// The value of a `u64`.
    pub(crate) fn from_u64(v: u64) -> Self {
        let mut n = Self {
            limbs: Limbs::from_slice(&[v as u32, (v >> 32) as u32]),
        };
        n.normalize();
        n
    }

    /// Parses a string of ASCII decimal digits (the caller has checked the characters).
    pub(crate) fn from_decimal(digits: &str) -> Self {
        let mut n = Self::zero();
        // Nine digits at a time keep the multiplier within one limb.
        for chunk in digits.as_bytes().chunks(9) {
            let mut mul = 1u32;
            let mut add = 0u32;
            for &b in chunk {
                mul *= 10;
                add = add * 10 + u32::from(b - b'0');
            }
            n.mul_small_add(mul, add);
        }
        n
    }

    fn normalize(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    /// Whether the value is zero.
    pub(crate) fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    /// The number of limbs: the unit in which the evaluator's work budget is counted.
    pub(crate) fn len(&self) -> u64 {
        self.limbs.len() as u64
    }

    /// The number of significant bits (0 for zero).
    pub(crate) fn bit_len(&self) -> u64 {
        match self.limbs.last() {
            None => 0,
            Some(&top) => (self.len() - 1) * 32 + u64::from(32 - top.leading_zeros()),
        }
    }

    /// Bit `i` (bit 0 is the least significant).
    pub(crate) fn bit(&self, i: u64) -> bool {
        let limb = usize::try_from(i / 32).unwrap_or(usize::MAX);
        self.limbs
            .get(limb)
            .is_some_and(|&l| (l >> (i % 32)) & 1 == 1)
    }

    /// Whether any bit below position `i` is set.
    pub(crate) fn any_bit_below(&self, i: u64) -> bool {
        let full = usize::try_from(i / 32).unwrap_or(usize::MAX);
        let full = full.min(self.limbs.len());
        if self.limbs[..full].iter().any(|&l| l != 0) {
            return true;
        }
        let rest = i % 32;
        rest != 0 && full < self.limbs.len() && self.limbs[full] & ((1u32 << rest) - 1) != 0
    }

    /// Whether the value is odd.
    pub(crate) fn is_odd(&self) -> bool {
        self.limbs.first().is_some_and(|&l| l & 1 == 1)
    }

    /// The value as a `u64`, if it fits.
    pub(crate) fn to_u64(&self) -> Option<u64> {
        match &*self.limbs {
            [] => Some(0),
            [lo] => Some(u64::from(*lo)),
            [lo, hi] => Some(u64::from(*lo) | (u64::from(*hi) << 32)),
            _ => None,
        }
    }

    /// `self = self * mul + add` for one-limb operands.
    fn mul_small_add(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in self.limbs.iter_mut() {
            let t = u64::from(*limb) * u64::from(mul) + carry;
            *limb = t as u32;
            carry = t >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
    }

    /// The sum.
    pub(crate) fn add(&self, other: &Self) -> Self {
        let (long, short) = if self.limbs.len() >= other.limbs.len() {
            (self, other)
        } else {
            (other, self)
        };
        let mut limbs = Limbs::with_capacity(long.limbs.len() + 1);
        let mut carry = 0u64;
        for (i, &l) in long.limbs.iter().enumerate() {
            let t = u64::from(l) + u64::from(short.limbs.get(i).copied().unwrap_or(0)) + carry;
            limbs.push(t as u32);
            carry = t >> 32;
        }
        if carry != 0 {
            limbs.push(carry as u32);
        }
        Self { limbs }
    }

    /// The difference `self - other`; the caller guarantees `self >= other`.
    pub(crate) fn sub(&self, other: &Self) -> Self {
        debug_assert!(self.cmp(other) != Ordering::Less);
        let mut limbs = Limbs::with_capacity(self.limbs.len());
        let mut borrow = 0i64;
        for (i, &l) in self.limbs.iter().enumerate() {
            let t = i64::from(l) - i64::from(other.limbs.get(i).copied().unwrap_or(0)) - borrow;
            // Truncating to the low 32 bits is the modular digit; the sign is the borrow.
            limbs.push(t as u32);
            borrow = i64::from(t < 0);
        }
        let mut n = Self { limbs };
        n.normalize();
        n
    }

    /// The product (schoolbook: operands are at most a few hundred limbs).
    pub(crate) fn mul(&self, other: &Self) -> Self {
        if self.is_zero() || other.is_zero() {
            return Self::zero();
        }
        let mut limbs = Limbs::zeroed(self.limbs.len() + other.limbs.len());
        for (i, &a) in self.limbs.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &b) in other.limbs.iter().enumerate() {
                // a*b + limb + carry <= (2^32-1)^2 + 2*(2^32-1) = 2^64-1: no overflow.
                let t = u64::from(a) * u64::from(b) + u64::from(limbs[i + j]) + carry;
                limbs[i + j] = t as u32;
                carry = t >> 32;
            }
            limbs[i + other.limbs.len()] = carry as u32;
        }
        let mut n = Self { limbs };
        n.normalize();
        n
    }

    /// `self * 2^bits`.
    pub(crate) fn shl(&self, bits: u64) -> Self {
        if self.is_zero() {
            return Self::zero();
        }
        let words = usize::try_from(bits / 32).unwrap_or(usize::MAX);
        let rest = (bits % 32) as u32;
        let mut limbs = Limbs::zeroed(words);
        if rest == 0 {
            limbs.extend_from_slice(&self.limbs);
        } else {
            let mut carry = 0u32;
            for &l in self.limbs.iter() {
                limbs.push((l << rest) | carry);
                carry = l >> (32 - rest);
            }
            limbs.push(carry);
        }
        let mut n = Self { limbs };
        n.normalize();
        n
    }

    /// `floor(self / 2^bits)`.
    pub(crate) fn shr(&self, bits: u64) -> Self {
        let words = usize::try_from(bits / 32).unwrap_or(usize::MAX);
        if words >= self.limbs.len() {
            return Self::zero();
        }
        let rest = (bits % 32) as u32;
        let src = &self.limbs[words..];
        let limbs = if rest == 0 {
            Limbs::from_slice(src)
        } else {
            (0..src.len())
                .map(|i| {
                    let hi = src.get(i + 1).copied().unwrap_or(0);
                    (src[i] >> rest) | (hi << (32 - rest))
                })
                .collect()
        };
        let mut n = Self { limbs };
        n.normalize();
        n
    }

    /// Quotient and remainder by a one-limb divisor (non-zero).
    fn div_rem_small(&self, d: u32) -> (Self, u32) {
        let mut limbs = Limbs::zeroed(self.limbs.len());
        let mut rem = 0u64;
        for (i, &l) in self.limbs.iter().enumerate().rev() {
            let cur = (rem << 32) | u64::from(l);
            limbs[i] = (cur / u64::from(d)) as u32;
            rem = cur % u64::from(d);
        }
        let mut q = Self { limbs };
        q.normalize();
        (q, rem as u32)
    }

    /// Divides in place by 10⁹ and returns the remainder. A constant divisor lets the
    /// compiler turn the division into a multiplication, which makes printing a
    /// 16,384-bit integer several times faster than `div_rem_small`.
    fn div_rem_billion(&mut self) -> u32 {
        const BILLION: u64 = 1_000_000_000;
        let mut rem = 0u64;
        for limb in self.limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / BILLION) as u32;
            rem = cur % BILLION;
        }
        self.normalize();
        rem as u32
    }

    /// Truncating quotient and remainder; `None` when the divisor is zero.
    pub(crate) fn div_rem(&self, d: &Self) -> Option<(Self, Self)> {
        match &*d.limbs {
            [] => return None,
            [single] => {
                let (q, r) = self.div_rem_small(*single);
                return Some((q, Self::from_u64(u64::from(r))));
            }
            _ => {}
        }
        if self.cmp(d) == Ordering::Less {
            return Some((Self::zero(), self.clone()));
        }
        // Knuth, TAOCP vol. 2, 4.3.1, algorithm D, in the form of Hacker's Delight `divmnu`.
        // Normalising so the divisor's top bit is set makes each estimated quotient digit
        // at most two too large.
        let shift = u64::from(d.limbs[d.limbs.len() - 1].leading_zeros());
        let v = d.shl(shift).limbs;
        let mut u = self.shl(shift).limbs;
        if u.len() == self.limbs.len() {
            u.push(0);
        }
        let n = v.len();
        let m = u.len() - n; // number of quotient digits
        let base = 1u64 << 32;
        let (v_top, v_next) = (u64::from(v[n - 1]), u64::from(v[n - 2]));
        let mut q = Limbs::zeroed(m);
        for j in (0..m).rev() {
            let num = (u64::from(u[j + n]) << 32) | u64::from(u[j + n - 1]);
            let mut qhat = num / v_top;
            let mut rhat = num % v_top;
            while qhat >= base || qhat * v_next > ((rhat << 32) | u64::from(u[j + n - 2])) {
                qhat -= 1;
                rhat += v_top;
                if rhat >= base {
                    break;
                }
            }
            // Multiply and subtract qhat * v from u[j..=j+n].
            let mut borrow = 0i64;
            let mut carry = 0u64;
            for i in 0..n {
                let p = qhat * u64::from(v[i]) + carry;
                carry = p >> 32;
                let t = i64::from(u[i + j]) - borrow - (p & 0xffff_ffff) as i64;
                u[i + j] = t as u32;
                borrow = i64::from(t < 0);
            }
            let t = i64::from(u[j + n]) - borrow - carry as i64;
            u[j + n] = t as u32;
            if t < 0 {
                // The estimate was one too large (rare): add the divisor back.
                qhat -= 1;
                let mut c = 0u64;
                for i in 0..n {
                    let s = u64::from(u[i + j]) + u64::from(v[i]) + c;
                    u[i + j] = s as u32;
                    c = s >> 32;
                }
                u[j + n] = u[j + n].wrapping_add(c as u32);
            }
            q[j] = qhat as u32;
        }
        let mut quotient = Self { limbs: q };
        quotient.normalize();
        u.truncate(n);
        let mut rem = Self { limbs: u };
        rem.normalize();
        Some((quotient, rem.shr(shift)))
    }

    /// Appends the decimal digits (no sign, `0` for zero). Values of up to 128 bits, the
    /// everyday answers, are printed without allocating.
    pub(crate) fn write_decimal(&self, out: &mut Vec<u8>) {
        if let Some(v) = self.to_u128() {
            write_u128(v, out);
            return;
        }
        let mut chunks = Vec::new();
        let mut n = self.clone();
        while !n.is_zero() {
            chunks.push(n.div_rem_billion());
        }
        // Not a u128, so not zero: there is a most significant chunk.
        if let Some((last, rest)) = chunks.split_last() {
            write_u64(u64::from(*last), out);
            for &chunk in rest.iter().rev() {
                write_padded(u64::from(chunk), 9, out);
            }
        }
    }

    /// The value as a `u128`, if it fits.
    fn to_u128(&self) -> Option<u128> {
        if self.limbs.len() > 4 {
            return None;
        }
        Some(
            self.limbs
                .iter()
                .rev()
                .fold(0, |acc, &limb| (acc << 32) | u128::from(limb)),
        )
    }
}

/// Appends the decimal digits of `v`.
fn write_u128(v: u128, out: &mut Vec<u8>) {
    const TEN_POW_19: u128 = 10_000_000_000_000_000_000;
    match u64::try_from(v) {
        Ok(small) => write_u64(small, out),
        Err(_) => {
            // Both parts fit a u64 or recurse once more; the low part is 19 digits.
            write_u128(v / TEN_POW_19, out);
            write_padded((v % TEN_POW_19) as u64, 19, out);
        }
    }
}

/// Appends the decimal digits of `v`.
fn write_u64(mut v: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Appends `v` as exactly `width` (at most 20) digits, leading zeros included; `v` has
/// no more digits than that.
fn write_padded(mut v: u64, width: usize, out: &mut Vec<u8>) {
    let mut digits = [b'0'; 20];
    let digits = &mut digits[..width];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(digits);
}

impl PartialOrd for BigUint {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BigUint {
    fn cmp(&self, other: &Self) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }
}

/// A signed integer: sign and magnitude, zero is never negative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BigInt {
    negative: bool,
    mag: BigUint,
}

impl BigInt {
    /// Builds a value, keeping zero non-negative.
    pub(crate) fn new(negative: bool, mag: BigUint) -> Self {
        let negative = negative && !mag.is_zero();
        Self { negative, mag }
    }

    /// The value of an `i64`.
    pub(crate) fn from_i64(v: i64) -> Self {
        Self::new(v < 0, BigUint::from_u64(v.unsigned_abs()))
    }

    /// Whether the value is below zero.
    pub(crate) fn is_negative(&self) -> bool {
        self.negative
    }

    /// Whether the value is zero.
    pub(crate) fn is_zero(&self) -> bool {
        self.mag.is_zero()
    }

    /// The absolute value.
    pub(crate) fn magnitude(&self) -> &BigUint {
        &self.mag
    }

    /// The negation.
    pub(crate) fn neg(&self) -> Self {
        Self::new(!self.negative, self.mag.clone())
    }

    /// The sum.
    pub(crate) fn add(&self, other: &Self) -> Self {
        if self.negative == other.negative {
            return Self::new(self.negative, self.mag.add(&other.mag));
        }
        match self.mag.cmp(&other.mag) {
            Ordering::Less => Self::new(other.negative, other.mag.sub(&self.mag)),
            _ => Self::new(self.negative, self.mag.sub(&other.mag)),
        }
    }

    /// The difference.
    pub(crate) fn sub(&self, other: &Self) -> Self {
        self.add(&other.neg())
    }

    /// The product.
    pub(crate) fn mul(&self, other: &Self) -> Self {
        Self::new(self.negative != other.negative, self.mag.mul(&other.mag))
    }

    /// Python's `divmod`: the quotient rounds toward negative infinity and the remainder
    /// takes the divisor's sign. `None` when the divisor is zero.
    pub(crate) fn div_mod_floor(&self, other: &Self) -> Option<(Self, Self)> {
        let (q, r) = self.mag.div_rem(&other.mag)?;
        if self.negative != other.negative && !r.is_zero() {
            // Truncation rounded toward zero; step one further down and wrap the remainder.
            let q = q.add(&BigUint::from_u64(1));
            let r = other.mag.sub(&r);
            Some((Self::new(true, q), Self::new(other.negative, r)))
        } else {
            Some((
                Self::new(self.negative != other.negative, q),
                Self::new(other.negative, r),
            ))
        }
    }

    /// Appends the decimal text, as Python's `repr` prints an int.
    pub(crate) fn write_decimal(&self, out: &mut Vec<u8>) {
        if self.negative {
            out.push(b'-');
        }
        self.mag.write_decimal(out);
    }

    /// The decimal text, as Python's `repr` prints an int.
    pub(crate) fn to_decimal(&self) -> String {
        let mut out = Vec::new();
        self.write_decimal(&mut out);
        crate::into_text(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(s: &str) -> BigInt {
        match s.strip_prefix('-') {
            Some(d) => BigInt::new(true, BigUint::from_decimal(d)),
            None => BigInt::new(false, BigUint::from_decimal(s)),
        }
    }

    /// Decimal parsing and printing round-trip across limb and chunk boundaries.
    #[test]
    fn decimal_round_trip() {
        for s in [
            "0",
            "1",
            "4294967295",
            "4294967296",
            "999999999",
            "1000000000",
            "18446744073709551616",
            "340282366920938463463374607431768211455",
            "340282366920938463463374607431768211456",
            "340282366920938463463374607431768211457",
            "10000000000000000000",
            "100000000000000000000000000000000000000",
            "-27670116110564327424",
        ] {
            assert_eq!(big(s).to_decimal(), s);
        }
    }

    /// Multi-limb division agrees with multiplication: q*d + r == n and r < d.
    #[test]
    fn division_identity() {
        let n =
            BigUint::from_decimal("123456789012345678901234567890123456789012345678901234567890");
        for d in [
            "3",
            "4294967296",
            "18446744073709551557",
            "98765432109876543210987654321",
        ] {
            let d = BigUint::from_decimal(d);
            let (q, r) = n.div_rem(&d).expect("non-zero divisor");
            assert!(r < d);
            assert_eq!(q.mul(&d).add(&r), n);
        }
    }

    /// The add-back step of algorithm D (a rare branch) gives the right answer.
    #[test]
    fn division_add_back_case() {
        // Classic trigger from Hacker's Delight's test set: u = 0x8000_0000_0000_0000_0000_0000
        // (as limbs 0,0,0x8000_0000), v = 0x8000_0000_0000_0001_0000_0000 style divisors.
        let n = BigUint {
            limbs: Limbs::from_slice(&[0, 0xfffe, 0x8000]),
        };
        let d = BigUint {
            limbs: Limbs::from_slice(&[0xffff, 0x8000]),
        };
        let (q, r) = n.div_rem(&d).expect("non-zero divisor");
        assert!(r < d);
        assert_eq!(q.mul(&d).add(&r), n);
        let n = BigUint {
            limbs: Limbs::from_slice(&[3, 0, 0x8000_0000]),
        };
        let d = BigUint {
            limbs: Limbs::from_slice(&[1, 0, 0x2000_0000]),
        };
        let (q, r) = n.div_rem(&d).expect("non-zero divisor");
        assert_eq!(q.to_u64(), Some(3));
        assert_eq!(q.mul(&d).add(&r), n);
    }

    /// Floor division and modulo follow Python's signs.
    #[test]
    fn floor_semantics() {
        let cases = [
            (-7, 2, -4, 1),
            (7, -2, -4, -1),
            (-7, -2, 3, -1),
            (7, 2, 3, 1),
            (-6, 3, -2, 0),
        ];
        for (a, b, q, r) in cases {
            let (gq, gr) = BigInt::from_i64(a)
                .div_mod_floor(&BigInt::from_i64(b))
                .expect("non-zero divisor");
            assert_eq!(
                (gq, gr),
                (BigInt::from_i64(q), BigInt::from_i64(r)),
                "{a} divmod {b}"
            );
        }
        assert!(big("5").div_mod_floor(&big("0")).is_none());
    }

    /// Signed addition crosses zero correctly and never yields a negative zero.
    #[test]
    fn signed_add() {
        assert_eq!(big("-5").add(&big("5")), big("0"));
        assert!(!big("-5").add(&big("5")).is_negative());
        assert_eq!(
            big("-18446744073709551616").add(&big("1")).to_decimal(),
            "-18446744073709551615"
        );
        assert_eq!(big("3").sub(&big("10")).to_decimal(), "-7");
    }

    /// Shifts and bit queries agree with each other.
    #[test]
    fn shifts_and_bits() {
        let n = BigUint::from_u64(0b1011).shl(70);
        assert_eq!(n.bit_len(), 74);
        assert!(n.bit(70) && n.bit(71) && !n.bit(72) && n.bit(73));
        assert!(!n.any_bit_below(70));
        assert!(n.any_bit_below(71));
        assert_eq!(n.shr(70).to_u64(), Some(0b1011));
        assert_eq!(n.shr(1000), BigUint::zero());
    }
}
