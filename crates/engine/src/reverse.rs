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
    input.chars().rev().collect()
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
