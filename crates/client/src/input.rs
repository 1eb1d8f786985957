//! Reading the user's input a line at a time without ever holding more than a bounded
//! amount of it: a line without a newline (`client < /dev/zero`) would otherwise grow in
//! memory until the allocator gives up.
//!
//! The lines are framed by `protocol`'s [`Framer`], the framer the servers run, so a line
//! is refused here exactly when a server would refuse it: over the limit, not counting
//! its ending (`\n` or `\r\n`). A line over the limit is reported as soon as it passes the
//! limit, before the rest of it has arrived, so that the caller can say so at once; the
//! rest of it is dropped as it is read.

use std::io::{self, Read};

use protocol::{Frame, Framer, Framing};

/// One line of input, as [`LineReader::next_line`] found it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// A line of at most the limit, without its `\n`. A `\r` before the `\n` is kept
    /// (callers drop it as they would), but not counted. The last line of the input may
    /// have no newline.
    Read(&'a [u8]),
    /// The line is longer than the limit. What was read of it is dropped, and so is the
    /// rest of it, its newline included, when the next line is asked for.
    TooLong,
    /// The input has ended.
    End,
}

/// The user's input, read through a [`Framer`].
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    input: R,
    framer: Framer,
}

impl<R: Read> LineReader<R> {
    /// Lines of `input` of at most `limit` bytes; never holds more than `limit + 2`.
    pub(crate) fn new(input: R, limit: usize) -> Self {
        LineReader {
            input,
            framer: Framer::new(Framing::Line, limit),
        }
    }

    /// The next line, reading the input (again when a signal interrupts the read) until
    /// one is whole or the input ends.
    ///
    /// # Errors
    ///
    /// When reading the input fails.
    pub(crate) fn next_line(&mut self) -> io::Result<Line<'_>> {
        while !self.has_line() {
            if self.framer.is_eof() {
                return Ok(Line::End);
            }
            let input = &mut self.input;
            let n = loop {
                match self
                    .framer
                    .receive_with(self.framer.room(), |buf| input.read(buf))
                {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if n == 0 {
                self.framer.receive_eof();
            }
        }
        Ok(match self.framer.next_frame() {
            Some(Frame::Complete(line) | Frame::Unterminated(line)) => Line::Read(line),
            Some(Frame::TooLong) => Line::TooLong,
            None => Line::End,
        })
    }

    /// Whether the next line (or the end of the input) is known without reading: when
    /// not, [`LineReader::next_line`] will read, and may wait.
    pub(crate) fn has_line(&mut self) -> bool {
        self.framer.has_frame() || self.framer.is_eof()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `size` bytes a read, so that lines are split across
    /// reads.
    struct Chunks<'a> {
        bytes: &'a [u8],
        size: usize,
    }

    impl Read for Chunks<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.size.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    /// Every line of `input`, read with `limit` in reads of at most `size` bytes.
    fn lines(input: &[u8], limit: usize, size: usize) -> Vec<Result<String, ()>> {
        let mut reader = LineReader::new(Chunks { bytes: input, size }, limit);
        let mut out = Vec::new();
        loop {
            match reader.next_line().unwrap() {
                Line::End => return out,
                Line::Read(line) => out.push(Ok(String::from_utf8(line.to_vec()).unwrap())),
                Line::TooLong => out.push(Err(())),
            }
        }
    }

    /// Lines of up to the limit, not counting their endings (`\n` or `\r\n`), are read
    /// without the `\n`, the last one with none; longer ones are refused and skipped
    /// whole, however the input is split, and the lines after them are read.
    #[test]
    fn bounded_lines() {
        let input = b"abcd\n12345\nxy\r\n1234\r\n12345\r\n\n\r\nlast";
        let expected = [
            Ok("abcd".to_owned()),
            Err(()),
            Ok("xy\r".into()),
            Ok("1234\r".into()),
            Err(()),
            Ok("".into()),
            Ok("\r".into()),
            Ok("last".into()),
        ];
        for size in [1, 2, 3, 5, 64] {
            assert_eq!(lines(input, 4, size), expected, "reads of {size}");
        }
        assert_eq!(lines(b"", 4, 8), []);
        assert_eq!(lines(b"123456789", 4, 8), [Err(())]);
        assert_eq!(lines(b"123456789\nok\n", 4, 8), [Err(()), Ok("ok".into())]);
    }

    /// A reader that fails with `Interrupted` before every chunk of its input.
    struct Interrupting<'a> {
        chunks: std::slice::Iter<'a, &'a [u8]>,
        interrupt: bool,
    }

    impl Read for Interrupting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let Some(chunk) = self.chunks.next() else {
                return Ok(0);
            };
            buf[..chunk.len()].copy_from_slice(chunk);
            Ok(chunk.len())
        }
    }

    /// A read that a signal interrupts is tried again at the start of a line, in its
    /// middle, in an over-long line being skipped and at the end of the input.
    #[test]
    fn interrupted_reads_are_retried() {
        let chunks: &[&[u8]] = &[b"ab", b"c\n12", b"3456", b"7\nxy", b"\r\n", b"z"];
        let mut reader = LineReader::new(
            Interrupting {
                chunks: chunks.iter(),
                interrupt: false,
            },
            4,
        );
        assert_eq!(reader.next_line().unwrap(), Line::Read(b"abc"));
        assert_eq!(reader.next_line().unwrap(), Line::TooLong);
        assert_eq!(reader.next_line().unwrap(), Line::Read(b"xy\r"));
        assert_eq!(reader.next_line().unwrap(), Line::Read(b"z"));
        assert_eq!(reader.next_line().unwrap(), Line::End);
        assert_eq!(reader.next_line().unwrap(), Line::End);
    }

    /// A line far over the limit is refused after the limit and two bytes at most,
    /// before the rest of it is read.
    #[test]
    fn too_long_is_known_early() {
        let input = vec![b'x'; 10_000];
        let mut reader = LineReader::new(input.as_slice(), 10);
        assert_eq!(reader.next_line().unwrap(), Line::TooLong);
        assert!(
            reader.input.len() >= 10_000 - 12,
            "read {}",
            10_000 - reader.input.len()
        );
        assert_eq!(reader.next_line().unwrap(), Line::End);
    }

    /// Whether a line is known without reading: a whole one or the end, not half a line.
    #[test]
    fn has_line_says_whether_a_read_may_wait() {
        let mut reader = LineReader::new(
            Chunks {
                bytes: b"a\nb\nc",
                size: 3,
            },
            10,
        );
        assert!(!reader.has_line());
        assert_eq!(reader.next_line().unwrap(), Line::Read(b"a"));
        assert!(!reader.has_line(), "`b` has no newline yet");
        assert_eq!(reader.next_line().unwrap(), Line::Read(b"b"));
        assert!(!reader.has_line(), "the end of the input is not known yet");
        assert_eq!(reader.next_line().unwrap(), Line::Read(b"c"));
        assert!(reader.has_line(), "the end is known");
        assert_eq!(reader.next_line().unwrap(), Line::End);
    }
}
