//! Swap case exactly as Python's `str.swapcase`.
//!
//! Uppercase characters take their full lowercase mapping and lowercase characters their
//! full uppercase mapping (`ß` becomes `SS`); everything else, titlecase letters such as
//! `ǅ` included, is kept. Capital sigma lowers to final `ς` at the end of a word, by the
//! same Final_Sigma rule Python and Rust's `str::to_lowercase` apply.

use std::collections::HashMap;

/// What a character is for the Final_Sigma rule.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Case_Ignorable (apostrophes, combining marks, ...): skipped when looking for context.
    Ignorable,
    /// Cased and not case-ignorable.
    Cased,
    /// Neither.
    Other,
}

fn is_titlecase(c: char) -> bool {
    // The 31 characters of general category Lt; std has no query for it and the set has
    // been stable since Unicode 4.
    matches!(c, '\u{1C5}' | '\u{1C8}' | '\u{1CB}' | '\u{1F2}' | '\u{1F88}'..='\u{1F8F}'
        | '\u{1F98}'..='\u{1F9F}' | '\u{1FA8}'..='\u{1FAF}' | '\u{1FBC}' | '\u{1FCC}' | '\u{1FFC}')
}

fn classify(c: char) -> Class {
    if c.is_ascii() {
        return match c {
            'a'..='z' | 'A'..='Z' => Class::Cased,
            '\'' | '.' | ':' | '^' | '`' => Class::Ignorable,
            _ => Class::Other,
        };
    }
    // std does not expose Case_Ignorable, but `str::to_lowercase` applies the Final_Sigma
    // rule with it: probing a tiny string asks std's own Unicode tables.
    let cased = c.is_lowercase() || c.is_uppercase() || is_titlecase(c);
    let mut probe = String::with_capacity(8);
    if cased {
        // "AΣc": sigma is final exactly when c is skipped as ignorable.
        probe.push_str("AΣ");
        probe.push(c);
        // Look at the probe's own sigma (the second character), not at `c`'s mapping.
        if probe.to_lowercase().chars().nth(1) == Some('ς') {
            Class::Ignorable
        } else {
            Class::Cased
        }
    } else {
        // "AcΣ": sigma is final exactly when c is skipped (c is not cased).
        probe.push('A');
        probe.push(c);
        probe.push('Σ');
        if probe.to_lowercase().ends_with('ς') {
            Class::Ignorable
        } else {
            Class::Other
        }
    }
}

/// Classifies characters, remembering each answer: the probe in [`classify`] allocates,
/// and text that repeats a few characters around many sigmas would otherwise pay for it
/// every time.
#[derive(Default)]
struct Classifier {
    seen: HashMap<char, Class>,
}

impl Classifier {
    fn class(&mut self, c: char) -> Class {
        if c.is_ascii() {
            return classify(c);
        }
        *self.seen.entry(c).or_insert_with(|| classify(c))
    }

    /// Whether the capital sigma at `i` ends a word: a cased letter before it and none
    /// after it, skipping case-ignorable characters on both sides. Sigma itself is cased,
    /// so the scans from successive sigmas never overlap and the total work is linear.
    fn is_final_sigma(&mut self, chars: &[char], i: usize) -> bool {
        let before = chars[..i]
            .iter()
            .rev()
            .map(|&c| self.class(c))
            .find(|&k| k != Class::Ignorable);
        let after = chars[i + 1..]
            .iter()
            .map(|&c| self.class(c))
            .find(|&k| k != Class::Ignorable);
        before == Some(Class::Cased) && after != Some(Class::Cased)
    }
}

/// Swaps the case of every character, as Python's `str.swapcase` does.
///
/// ```
/// assert_eq!(engine::swap_case("Hello, World"), "hELLO, wORLD");
/// assert_eq!(engine::swap_case("Straße"), "sTRASSE");
/// assert_eq!(engine::swap_case("ΣΑΣ"), "σας");
/// ```
pub fn swap_case(input: &str) -> String {
    let mut out = Vec::with_capacity(input.len());
    swap_case_into(input, &mut out);
    crate::into_text(out)
}

/// Appends `input` with its case swapped to `out`, as [`swap_case`] returns it. ASCII
/// text, the common case, is swapped byte by byte without allocating; other text needs
/// a little memory only around a capital sigma.
///
/// ```
/// let mut out = b"OK ".to_vec();
/// engine::swap_case_into("Straße", &mut out);
/// assert_eq!(out, b"OK sTRASSE");
/// ```
pub fn swap_case_into(input: &str, out: &mut Vec<u8>) {
    out.reserve(input.len());
    if input.is_ascii() {
        // The same answer as the full mappings below, a byte at a time.
        out.extend(input.bytes().map(|b| {
            if b.is_ascii_uppercase() {
                b.to_ascii_lowercase()
            } else {
                b.to_ascii_uppercase()
            }
        }));
        return;
    }
    // Only capital sigma needs context; collect the characters only when it occurs.
    let chars: Vec<char> = if input.contains('Σ') {
        input.chars().collect()
    } else {
        Vec::new()
    };
    let mut classifier = Classifier::default();
    for (i, c) in input.chars().enumerate() {
        if c == 'Σ' {
            let lower = if classifier.is_final_sigma(&chars, i) {
                'ς'
            } else {
                'σ'
            };
            crate::push_char(out, lower);
        } else if c.is_uppercase() {
            c.to_lowercase().for_each(|l| crate::push_char(out, l));
        } else if c.is_lowercase() {
            c.to_uppercase().for_each(|u| crate::push_char(out, u));
        } else {
            crate::push_char(out, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::swap_case;

    /// Each pair is (input, Python 3.11's `input.swapcase()`).
    const PYTHON: &[(&str, &str)] = &[
        ("", ""),
        ("Hello, World", "hELLO, wORLD"),
        ("Straße", "sTRASSE"),
        ("123 abc ΑΒΓ", "123 ABC αβγ"),
        ("İstanbul", "i\u{307}STANBUL"),
        ("ŉ", "ʼN"),
        ("ﬁ", "FI"),
        ("ⓐⒶ", "Ⓐⓐ"),
    ];

    /// Full case mappings, one character to several, as Python's `str.swapcase`.
    #[test]
    fn full_mappings() {
        for (input, want) in PYTHON {
            assert_eq!(swap_case(input), *want, "{input:?}");
        }
    }

    /// Titlecase letters such as `ǅ` are neither upper nor lower: Python keeps them.
    #[test]
    fn titlecase_is_kept() {
        assert_eq!(swap_case("ǅungla"), "ǅUNGLA");
        assert_eq!(swap_case("ᾈ"), "ᾈ");
    }

    /// Capital sigma lowers to final `ς` only at the end of a word, skipping
    /// case-ignorable characters (apostrophes, combining marks) on both sides.
    #[test]
    fn final_sigma() {
        let cases = [
            ("ΣΑΣ", "σας"),
            ("ΣΑΣ ΣΑΣ", "σας σας"),
            ("Σ", "σ"),
            ("ΑΣ.", "ας."),
            ("ΑΣ'Α", "ασ'α"),
            ("ΌΣΟΣ", "όσος"),
            ("ΑΣ\u{301}", "ας\u{301}"),
            ("aΣ\u{301}b", "Aσ\u{301}B"),
            ("ΑΣ1", "ας1"),
        ];
        for (input, want) in cases {
            assert_eq!(swap_case(input), want, "{input:?}");
        }
    }

    /// Long runs of case-ignorable characters around many sigmas stay linear.
    #[test]
    fn sigma_context_scan_is_linear() {
        let input = format!("Α{}", "Σ'".repeat(30_000));
        let out = swap_case(&input);
        assert!(out.starts_with("ασ'σ'"));
        assert!(out.ends_with("ς'"));
    }
}
