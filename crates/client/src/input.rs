//! Reading the user's input a line at a time without ever holding more than a bounded
//! amount of it: a line without a newline (`client < /dev/zero`) would otherwise grow in
//! memory until the allocator gives up.
//!
//! A line over the limit is reported as soon as it passes the limit, before the rest of it
//! has arrived, so that the caller can say so at once; [`skip_line`] then reads the rest
//! without keeping it.

use std::io::{self, BufRead};

/// One line of input, as [`read_line`] found it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line of at most the limit, without its `\n`, in the caller's buffer. A `\r`
    /// before the `\n` is kept (callers drop it as they would), but not counted. The
    /// last line of the input may have no newline.
    Read,
    /// The line is longer than the limit. What was read of it is discarded; the rest, its
    /// newline included, is still unread (call [`skip_line`]).
    TooLong,
    /// The input has ended.
    End,
}

/// Reads the next line into `line` (replacing what it held) without its `\n`, as long as
/// it is at most `limit` bytes; never holds more than `limit + 1` bytes of it.
///
/// The limit counts the line without its ending, whichever it is (`\n` or `\r\n`), since
/// that is how the line is sent: the request decoder drops one trailing `\r`.
///
/// # Errors
///
/// When reading the input fails.
pub(crate) fn read_line(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Line> {
    line.clear();
    loop {
        // Room for the limit and a `\r` that may end the line: one byte more.
        let room = (limit + 1).saturating_sub(line.len());
        let (available, take, newline) = with_input(input, |available| {
            let newline = available.iter().position(|&b| b == b'\n');
            let take = newline.unwrap_or(available.len());
            if take <= room {
                line.extend_from_slice(&available[..take]);
            }
            (available.len(), take, newline.is_some())
        })?;
        if available == 0 {
            // Every earlier pass without a newline kept at least one byte, so an empty
            // line here means the input ended before this line began.
            return Ok(if line.is_empty() {
                Line::End
            } else {
                finish(line, limit)
            });
        }
        if take > room {
            line.clear();
            input.consume(room);
            return Ok(Line::TooLong);
        }
        if newline {
            let verdict = finish(line, limit);
            // A refused line leaves its newline for `skip_line`, as promised.
            let ending = usize::from(verdict == Line::Read);
            input.consume(take + ending);
            return Ok(verdict);
        }
        input.consume(take);
    }
}

/// The verdict on a whole line, measured without a `\r` that ends it.
fn finish(line: &mut Vec<u8>, limit: usize) -> Line {
    let ending = usize::from(line.last() == Some(&b'\r'));
    if line.len() - ending > limit {
        line.clear();
        return Line::TooLong;
    }
    Line::Read
}

/// Reads and drops the rest of the current line, its `\n` included; stops at the end of
/// the input.
///
/// # Errors
///
/// When reading the input fails.
pub(crate) fn skip_line(input: &mut impl BufRead) -> io::Result<()> {
    loop {
        // How much to consume, and whether that ends the line.
        let (take, done) = with_input(input, |available| {
            match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), available.is_empty()),
            }
        })?;
        input.consume(take);
        if done {
            return Ok(());
        }
    }
}

/// Looks at the buffered input, reading more when there is none (again when a signal
/// interrupts the read), and returns what `look` makes of it; `look` is given an empty
/// slice at the end of the input. Taking a closure rather than returning the slice keeps
/// the borrow of `input` inside this function, so the retry loop borrows it afresh each
/// time.
fn with_input<R: BufRead, T>(input: &mut R, look: impl FnOnce(&[u8]) -> T) -> io::Result<T> {
    loop {
        match input.fill_buf() {
            Ok(available) => return Ok(look(available)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Read};

    use super::*;

    /// Every line of `input`, read with `limit` through a buffer of `capacity` bytes
    /// (so that lines are split across fills), over-long ones skipped.
    fn lines(input: &[u8], limit: usize, capacity: usize) -> Vec<Result<String, Line>> {
        let mut reader = BufReader::with_capacity(capacity, input);
        let mut line = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line(&mut reader, &mut line, limit).unwrap() {
                Line::End => return out,
                Line::Read => out.push(Ok(String::from_utf8(line.clone()).unwrap())),
                Line::TooLong => {
                    assert!(line.is_empty());
                    skip_line(&mut reader).unwrap();
                    out.push(Err(Line::TooLong));
                }
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
            Err(Line::TooLong),
            Ok("xy\r".into()),
            Ok("1234\r".into()),
            Err(Line::TooLong),
            Ok("".into()),
            Ok("\r".into()),
            Ok("last".into()),
        ];
        for capacity in [1, 2, 3, 5, 64] {
            assert_eq!(lines(input, 4, capacity), expected, "capacity {capacity}");
        }
        assert_eq!(lines(b"", 4, 8), []);
        assert_eq!(lines(b"123456789", 4, 8), [Err(Line::TooLong)]);
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

    /// A read that a signal interrupts is tried again, by both `read_line` and
    /// `skip_line`, at the start of a line, in its middle and at the end of the input.
    #[test]
    fn interrupted_reads_are_retried() {
        let chunks: &[&[u8]] = &[b"ab", b"c\n1234", b"56\nxy", b"\r\n", b"z"];
        let mut reader = BufReader::new(Interrupting {
            chunks: chunks.iter(),
            interrupt: false,
        });
        let mut line = Vec::new();
        assert_eq!(read_line(&mut reader, &mut line, 4).unwrap(), Line::Read);
        assert_eq!(line, b"abc");
        assert_eq!(read_line(&mut reader, &mut line, 4).unwrap(), Line::TooLong);
        skip_line(&mut reader).unwrap();
        assert_eq!(read_line(&mut reader, &mut line, 4).unwrap(), Line::Read);
        assert_eq!(line, b"xy\r");
        assert_eq!(read_line(&mut reader, &mut line, 4).unwrap(), Line::Read);
        assert_eq!(line, b"z");
        assert_eq!(read_line(&mut reader, &mut line, 4).unwrap(), Line::End);
        skip_line(&mut reader).unwrap();
    }

    /// A line far over the limit is refused after the limit and one byte, before the
    /// rest of it is read.
    #[test]
    fn too_long_is_known_early() {
        let input = vec![b'x'; 10_000];
        let mut reader = BufReader::with_capacity(16, input.as_slice());
        let mut line = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut line, 10).unwrap(),
            Line::TooLong
        );
        assert!(line.capacity() <= 16, "{}", line.capacity());
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest.len(), 10_000 - 11);
    }
}
