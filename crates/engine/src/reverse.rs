//! Reverse a string by Unicode scalar values, as Python's `s[::-1]` does.

/// Reverses the order of the characters (Unicode scalar values).
///
/// Like Python's `s[::-1]`, this does not keep grapheme clusters together: a letter
/// followed by a combining accent comes out as the accent followed by the letter.
///
/// ```
/// assert_eq!(engine::reverse("abc"), "cba");
/// assert_eq!(engine::reverse("añb"), "bña");
/// ```
pub fn reverse(input: &str) -> String {
    let mut out = Vec::with_capacity(input.len());
    reverse_into(input, &mut out);
    crate::into_text(out)
}

/// Appends the characters of `input` in reverse order to `out`, as [`reverse`] returns
/// them. The answer is as long as the input, so `out` grows once; ASCII text, the
/// common case, is reversed byte by byte.
///
/// ```
/// let mut out = b"OK ".to_vec();
/// engine::reverse_into("añb", &mut out);
/// assert_eq!(out, "OK bña".as_bytes());
/// ```
pub fn reverse_into(input: &str, out: &mut Vec<u8>) {
    out.reserve(input.len());
    if input.is_ascii() {
        out.extend(input.bytes().rev());
    } else {
        for c in input.chars().rev() {
            crate::push_char(out, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reverse;

    /// Reversal works on scalar values, including multi-byte ones and the empty string.
    #[test]
    fn reverses_scalars() {
        assert_eq!(reverse(""), "");
        assert_eq!(reverse("BenchmarkTestString123"), "321gnirtStseTkramhcneB");
        assert_eq!(reverse("日本語"), "語本日");
        assert_eq!(reverse("a😀b"), "b😀a");
        // e + COMBINING ACUTE: the accent now comes first, exactly as in Python.
        assert_eq!(reverse("e\u{301}x"), "x\u{301}e");
    }
}
