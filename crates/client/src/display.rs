//! How the server's text is shown: byte for byte, or with control characters escaped.
//!
//! A server's answer is untrusted text. Printed as it is to a terminal, an answer holding
//! `\x1b]0;pwned\x07\x1b[2J` retitles and clears the user's terminal, and OSC 52 could
//! write to the clipboard. So when the client's output is a terminal, the characters a
//! terminal would obey or that hide or reorder text are shown escaped, as the servers'
//! logs show a client's text: C0 and C1 controls and DEL (`\x1b`, `\n`, `\u{9b}`), the
//! Unicode line and paragraph separators, and the format characters (category Cf: the
//! bidirectional overrides and marks, zero-width characters, the byte order mark).
//!
//! To a pipe or a file the text is written exactly as it arrived, since that is what a
//! script reading the output expects; a person who wants the raw bytes on a terminal
//! pipes through `cat`. A backslash is not escaped: escaping is for safety, not for
//! telling `\x1b` typed by someone apart from an escaped ESC.

use std::fmt::{self, Write as _};

use protocol::text::is_unsafe_to_show;

/// How text from the server is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMode {
    /// Byte for byte (output to a pipe or a file).
    Exact,
    /// Control and format characters escaped (output to a terminal).
    Escaped,
}

impl TextMode {
    /// [`TextMode::Escaped`] for a terminal, [`TextMode::Exact`] otherwise.
    pub fn for_output(is_terminal: bool) -> TextMode {
        if is_terminal {
            TextMode::Escaped
        } else {
            TextMode::Exact
        }
    }

    /// `text` ready to be formatted in this mode.
    pub fn show(self, text: &str) -> Shown<'_> {
        Shown { text, mode: self }
    }
}

/// Server text as it is to be written (see [`TextMode::show`]); escaping happens while
/// formatting, so nothing is built for exact text.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    text: &'a str,
    mode: TextMode,
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mode == TextMode::Exact {
            return f.write_str(self.text);
        }
        for c in self.text.chars() {
            match c {
                '\t' => f.write_str(r"\t")?,
                '\n' => f.write_str(r"\n")?,
                '\r' => f.write_str(r"\r")?,
                c if c.is_ascii_control() => write!(f, r"\x{:02x}", u32::from(c))?,
                c if is_unsafe_to_show(c) => write!(f, r"\u{{{:x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Escapes, C1 controls, direction overrides and marks, zero-width characters and the
    /// line separator are escaped for a terminal; ordinary text, accents and CJK are not;
    /// exact mode changes nothing.
    #[test]
    fn terminal_text_is_escaped() {
        let hostile = "\x1b]0;pwned\x07\x1b[2Ja\tb\r\n\u{7f}\u{9b}2J\u{202e}\u{200f}\u{200b}\u{feff}\u{2028}\\x1b Straße 漢字";
        assert_eq!(
            TextMode::Escaped.show(hostile).to_string(),
            r"\x1b]0;pwned\x07\x1b[2Ja\tb\r\n\x7f\u{9b}2J\u{202e}\u{200f}\u{200b}\u{feff}\u{2028}\x1b Straße 漢字"
        );
        assert_eq!(TextMode::Exact.show(hostile).to_string(), hostile);
        assert_eq!(TextMode::for_output(true), TextMode::Escaped);
        assert_eq!(TextMode::for_output(false), TextMode::Exact);
    }

    /// What is escaped on a terminal is what the servers' logs escape (but for the
    /// backslash, which only the logs escape, to read back unambiguously): this holds what
    /// each one writes, character by character, to `protocol::text::is_unsafe_to_show`.
    /// Its table holds Unicode's 170 format characters.
    #[test]
    fn escapes_what_the_server_logs_escape() {
        let mut format = 0;
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            format += usize::from(protocol::text::is_format_char(c));
            if c == '\\' {
                continue;
            }
            let text = c.to_string();
            let logged = server_core::log::Untrusted(&text).to_string() != text;
            let shown = TextMode::Escaped.show(&text).to_string() != text;
            assert_eq!(shown, logged, "{c:?}");
            assert_eq!(shown, is_unsafe_to_show(c), "{c:?}");
        }
        assert_eq!(format, 170);
    }
}
