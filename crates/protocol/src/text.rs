//! Untrusted text shown to people: which characters must never reach a log line or a
//! terminal as they are. The servers' logs (`server_core::log`) and the client's terminal
//! output (`client::display`) escape the same characters; the table is here, in the leaf
//! both depend on, so that there is one copy of it.

/// Unicode's format characters (general category Cf) as inclusive ranges, sorted: from
/// `extracted/DerivedGeneralCategory.txt` of Unicode 17.0.0, the version of this
/// toolchain's `std` (`char::UNICODE_VERSION`); the list has not changed since 15.0.0.
/// They are invisible or reorder text: the soft hyphen, Arabic and Syriac marks, the
/// Mongolian vowel separator, zero-width space and (non-)joiners, the direction marks,
/// embeddings, overrides and isolates, word joiner and invisible operators, the byte order
/// mark, interlinear annotation marks, Egyptian hieroglyph and shorthand format controls,
/// musical symbol beams, and the language tags.
const FORMAT_CHARS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a format character (Unicode category Cf): invisible, or reordering the
/// text around it, so that quoted text could hide or disguise what it says.
///
/// ```
/// assert!(protocol::text::is_format_char('\u{202e}')); // right-to-left override
/// assert!(!protocol::text::is_format_char('a'));
/// ```
pub fn is_format_char(c: char) -> bool {
    FORMAT_CHARS
        .binary_search_by(|&(first, last)| {
            if last < c {
                std::cmp::Ordering::Less
            } else if first > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether `c` must not be shown as it is, to a terminal or in a log line: a control
/// character (C0, DEL, C1), which a terminal may obey or which may end a line; the Unicode
/// line or paragraph separator; or a format character ([`is_format_char`]). The servers'
/// logs and the client's terminal output escape exactly these (the logs, the backslash
/// too).
///
/// ```
/// use protocol::text::is_unsafe_to_show;
/// assert!(is_unsafe_to_show('\x1b') && is_unsafe_to_show('\u{9b}'));
/// assert!(is_unsafe_to_show('\u{2028}') && is_unsafe_to_show('\u{200b}'));
/// assert!(!is_unsafe_to_show('a') && !is_unsafe_to_show('\\') && !is_unsafe_to_show('漢'));
/// ```
pub fn is_unsafe_to_show(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_format_char(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table is sorted and its ranges disjoint, as the binary search needs, and holds
    /// the 170 code points of Cf ("Total code points: 170" in DerivedGeneralCategory-17.0.0).
    #[test]
    fn the_table_is_sorted_and_complete() {
        assert!(FORMAT_CHARS.iter().all(|&(first, last)| first <= last));
        assert!(FORMAT_CHARS.windows(2).all(|w| w[0].1 < w[1].0));
        let total: u32 = FORMAT_CHARS
            .iter()
            .map(|&(first, last)| u32::from(last) - u32::from(first) + 1)
            .sum();
        assert_eq!(total, 170);
        let found = (0..=0x10_FFFF)
            .filter_map(char::from_u32)
            .filter(|&c| is_format_char(c))
            .count();
        assert_eq!(found, 170);
    }
}
