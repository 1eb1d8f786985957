//! Swap case exactly as Python's `str.swapcase`.
//!
//! Uppercase characters take their full lowercase mapping and lowercase characters their
//! full uppercase mapping (`ß` becomes `SS`); everything else, titlecase letters such as
//! `ǅ` included, is kept. Capital sigma lowers to final `ς` at the end of a word, by the
//! same Final_Sigma rule Python and Rust's `str::to_lowercase` apply.

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
        if probe.to_lowercase().contains('ς') {
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

/// Whether the capital sigma at `i` ends a word: a cased letter before it and none after
/// it, skipping case-ignorable characters on both sides.
fn is_final_sigma(chars: &[char], i: usize) -> bool {
    let before = chars[..i]
        .iter()
        .rev()
        .map(|&c| classify(c))
        .find(|&k| k != Class::Ignorable);
    let after = chars[i + 1..]
        .iter()
        .map(|&c| classify(c))
        .find(|&k| k != Class::Ignorable);
    before == Some(Class::Cased) && after != Some(Class::Cased)
}

/// Swaps the case of every character, as Python's `str.swapcase` does.
///
/// ```
/// assert_eq!(engine::swap_case("Hello, World"), "hELLO, wORLD");
/// assert_eq!(engine::swap_case("Straße"), "sTRASSE");
/// assert_eq!(engine::swap_case("ΣΑΣ"), "σας");
/// ```
pub fn swap_case(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    // Only capital sigma needs context; collect the characters only when it occurs.
    let chars: Vec<char> = if input.contains('Σ') {
        input.chars().collect()
    } else {
        Vec::new()
    };
    for (i, c) in input.chars().enumerate() {
        if c == 'Σ' {
            out.push(if is_final_sigma(&chars, i) {
                'ς'
            } else {
                'σ'
            });
        } else if c.is_uppercase() {
            out.extend(c.to_lowercase());
        } else if c.is_lowercase() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}
