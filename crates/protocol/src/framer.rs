//! [`Framer`]: cutting a byte stream into frames, with no I/O. The rules of line and raw
//! framing, and how an owner drives it, are on the type.

use std::collections::VecDeque;

use crate::message::Framing;

/// The default limit on one request line, in bytes (64 KiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 64 * 1024;

/// What [`Framer::next_frame`] found in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole frame: a line without its `\n` (a `\r` before it kept), or one raw read.
    Complete(&'a [u8]),
    /// The stream ended in the middle of a line: these bytes arrived, no `\n` after them.
    Unterminated(&'a [u8]),
    /// A line longer than the limit, not counting its `\n` and one `\r` before it. None of
    /// it is kept; the rest of it is skipped as it arrives.
    TooLong,
}

/// A sans-I/O framer: bytes in, frames out.
///
/// This is the one framer of the workspace: every server's session frames requests with
/// it, the client's [`crate::Connection`] frames responses with it, and the client's
/// standard-input reader the lines a user types or pipes in. It never reads: its owner
/// asks how much may be read ([`Framer::room`]), reads, hands the bytes over
/// ([`Framer::receive`], or [`Framer::receive_with`] to read straight into the framer's
/// buffer), says when the stream ended ([`Framer::receive_eof`]), and takes frames with
/// [`Framer::next_frame`] until there is none, then reads again. "Need more bytes" is
/// `None`, a normal outcome.
///
/// ```
/// use protocol::{Frame, Framer, Framing};
///
/// let mut framer = Framer::new(Framing::Line, 6);
/// let mut lines = Vec::new();
/// // Five reads as they came off a socket, the last one the end of the stream.
/// for read in [&b"3|ab\n3|c"[..], b"d\r\n3|", b"012345", b"6789\n1|x", b""] {
///     assert!(read.len() <= framer.room());
///     if read.is_empty() {
///         framer.receive_eof();
///     } else {
///         framer.receive(read);
///     }
///     while let Some(frame) = framer.next_frame() {
///         lines.push(match frame {
///             Frame::Complete(line) => String::from_utf8_lossy(line).into_owned(),
///             Frame::Unterminated(line) => format!("{} (cut off)", String::from_utf8_lossy(line)),
///             Frame::TooLong => "too long".to_owned(),
///         });
///     }
/// }
/// assert_eq!(lines, ["3|ab", "3|cd\r", "too long", "1|x (cut off)"]);
/// ```
///
/// # Line framing
///
/// A frame is a line without its `\n`. A `\r` before the `\n` stays in the frame (the
/// request decoder drops it) but is not counted against the limit, so a line of the limit
/// sent with `\r\n` (`nc -C`, telnet) is not refused. A line longer than the limit is
/// [`Frame::TooLong`] as soon as it can no longer fit, before the rest of it has arrived;
/// what arrived of it is dropped, the rest is dropped as it comes, up to and including its
/// `\n`, and framing goes on after it. (A server closes the connection instead; the
/// client's input reader goes on with the next line.) A caller that reads no more than
/// [`Framer::room`] each time makes the framer hold at most the limit + 2 bytes: a line of
/// the limit and its `\r\n`. At the end of the stream a last line without its `\n` is
/// [`Frame::Unterminated`]: a request may end so (`printf '3|abc' | nc`), a response may
/// not.
///
/// # Raw framing (the tutorial's)
///
/// Each read is one frame of at most the limit; bytes handed over in one piece larger than
/// that are cut into frames of the limit. Nothing is kept from one read to the next, so
/// [`Framer::room`] is the limit when nothing is held and 0 otherwise.
///
/// # Buffer
///
/// One `Vec<u8>`, reused: `buf[start..]` is not yet framed. The `\n`s of each read are
/// counted as it arrives (one pass the compiler vectorizes), so how many frames wait is
/// known without a scan ([`Framer::frames_waiting`]) and a partial line is never searched;
/// a search for the end of a line starts where the last one stopped (`buf[start..scanned]`
/// holds no `\n`), so no byte is searched twice however a line is split over reads.
/// Frames are borrowed from the buffer, so taking one allocates nothing; what was framed
/// is dropped from the front only when more bytes arrive.
#[derive(Debug)]
pub struct Framer {
    framing: Framing,
    /// The longest line (line framing) or read (raw framing), at least 1.
    limit: usize,
    /// Received bytes; `buf[start..]` is not yet framed.
    buf: Vec<u8>,
    start: usize,
    /// `buf[start..scanned]` holds no `\n` (line framing).
    scanned: usize,
    /// Raw framing: the lengths of the frames in `buf[start..]`, in order.
    raw_frames: VecDeque<usize>,
    /// Line framing: how many `\n` `buf[start..]` holds, counted as bytes arrive.
    lines: usize,
    /// Line framing: where the bytes after the last `\n` received begin.
    tail: usize,
    /// Line framing: the rest of an over-long line is being dropped.
    skipping: bool,
    /// The stream has ended; nothing more is received.
    eof: bool,
}

impl Framer {
    /// A framer for `framing` whose frames hold at most `limit` bytes (at least 1): the
    /// longest line, not counting its ending, or the largest read.
    pub fn new(framing: Framing, limit: usize) -> Framer {
        Framer {
            framing,
            limit: limit.max(1),
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            raw_frames: VecDeque::new(),
            lines: 0,
            tail: 0,
            skipping: false,
            eof: false,
        }
    }

    /// The framing in use.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The limit in force, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many bytes may be read now. 0 while frames may be waiting (call
    /// [`Framer::next_frame`] until it says `None`), once the stream has ended, and in raw
    /// framing while a read is held. Reading more breaks the bound on what is held.
    pub fn room(&self) -> usize {
        if self.eof || self.scanned < self.buf.len() {
            return 0;
        }
        match self.framing {
            // Room for the rest of a line of the limit and its `\r\n`, no more.
            Framing::Line => (self.limit + 2).saturating_sub(self.buffered()),
            Framing::Raw if self.buffered() == 0 => self.limit,
            Framing::Raw => 0,
        }
    }

    /// How many received bytes are not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether the stream has ended ([`Framer::receive_eof`]).
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Takes bytes that arrived (at most [`Framer::room`]). After the end of the stream
    /// they are ignored.
    pub fn receive(&mut self, bytes: &[u8]) {
        if self.eof || bytes.is_empty() {
            return;
        }
        self.compact();
        let from = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.count_frames(from);
    }

    /// Reads into the framer's buffer: `read` is given `max` bytes of room (at most
    /// [`Framer::room`]) and returns how many it filled; that many are received and
    /// returned. This saves the copy [`Framer::receive`] makes. A read that fails or
    /// returns 0 adds nothing, and returning 0 does not end the stream
    /// ([`Framer::receive_eof`] does). After the end of the stream `read` is not called.
    ///
    /// # Errors
    ///
    /// Whatever `read` returns.
    pub fn receive_with<E>(
        &mut self,
        max: usize,
        read: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        if self.eof {
            return Ok(0);
        }
        self.compact();
        let len = self.buf.len();
        self.buf.resize(len + max, 0);
        let result = read(&mut self.buf[len..]);
        let filled = result.as_ref().map_or(0, |&n| n.min(max));
        self.buf.truncate(len + filled);
        self.count_frames(len);
        result.map(|_| filled)
    }

    /// The stream has ended: what is held is still framed, and a last line without its
    /// `\n` comes out as [`Frame::Unterminated`].
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// The next frame, or `None` when more bytes are needed (or, after the end of the
    /// stream, when there are no more frames).
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        match self.framing {
            Framing::Line => self.next_line(),
            Framing::Raw => self.next_read(),
        }
    }

    /// Whether [`Framer::next_frame`] has a frame now, without more bytes: the next read
    /// of the owner's can wait. Scans what is not yet scanned, once.
    pub fn has_frame(&mut self) -> bool {
        match self.framing {
            Framing::Raw => !self.raw_frames.is_empty(),
            Framing::Line => {
                self.skip_rest_of_long_line()
                    && (self.find_newline().is_some()
                        || cannot_fit(self.unframed(), self.limit)
                        || (self.eof && self.buffered() > 0))
            }
        }
    }

    /// How many frames [`Framer::next_frame`] will give from what is held now, without
    /// more bytes (a line cut off by the end of the stream and a line too long each
    /// count). Known without a scan: `\n`s are counted as they arrive.
    pub fn frames_waiting(&self) -> usize {
        match self.framing {
            Framing::Raw => self.raw_frames.len(),
            Framing::Line => {
                // The first `\n` while skipping ends the over-long line: no frame.
                let ends_skip = self.skipping && self.lines > 0;
                // While skipping with no `\n` held, all that is held is of the skipped line.
                let last = if self.skipping && self.lines == 0 {
                    &[][..]
                } else {
                    &self.buf[self.tail.max(self.start)..]
                };
                let last_is_frame = !last.is_empty() && (self.eof || cannot_fit(last, self.limit));
                self.lines - usize::from(ends_skip) + usize::from(last_is_frame)
            }
        }
    }

    /// Lets go of everything held and of its memory (after a refusal, at the end of a
    /// connection).
    pub fn release(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
        self.scanned = 0;
        self.raw_frames = VecDeque::new();
        self.lines = 0;
        self.tail = 0;
    }

    /// The line framing's next frame.
    fn next_line(&mut self) -> Option<Frame<'_>> {
        if !self.skip_rest_of_long_line() {
            return None;
        }
        if let Some(end) = self.find_newline() {
            self.lines -= 1;
            let line = self.start..end;
            self.start = end + 1;
            self.scanned = self.start;
            let line = &self.buf[line];
            if line.strip_suffix(b"\r").unwrap_or(line).len() > self.limit {
                return Some(Frame::TooLong);
            }
            return Some(Frame::Complete(line));
        }
        if cannot_fit(self.unframed(), self.limit) {
            self.drop_unframed();
            self.skipping = !self.eof;
            return Some(Frame::TooLong);
        }
        if self.eof && self.buffered() > 0 {
            let line = self.start..self.buf.len();
            self.drop_unframed();
            return Some(Frame::Unterminated(&self.buf[line]));
        }
        None
    }

    /// The raw framing's next frame.
    fn next_read(&mut self) -> Option<Frame<'_>> {
        let len = self.raw_frames.pop_front()?;
        let frame = self.start..self.start + len;
        self.start += len;
        // Raw frames need no scanning; `start <= scanned` all the same.
        self.scanned = self.start;
        Some(Frame::Complete(&self.buf[frame]))
    }

    /// While an over-long line is being skipped, drops what arrived of it; returns whether
    /// its `\n` has come (framing goes on).
    fn skip_rest_of_long_line(&mut self) -> bool {
        if !self.skipping {
            return true;
        }
        match self.find_newline() {
            Some(end) => {
                self.lines -= 1;
                self.start = end + 1;
                self.scanned = self.start;
                self.skipping = false;
                true
            }
            None => {
                self.drop_unframed();
                // Nothing more of the line will come: it is over.
                self.skipping = !self.eof;
                self.eof
            }
        }
    }

    /// The position of the next `\n`, looking only past what was scanned before, and only
    /// when one is held; moves `scanned` up to it (or to the end).
    fn find_newline(&mut self) -> Option<usize> {
        if self.lines == 0 {
            self.scanned = self.buf.len();
            return None;
        }
        match self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.scanned += i;
                Some(self.scanned)
            }
            None => {
                self.scanned = self.buf.len();
                None
            }
        }
    }

    /// The bytes received and not yet framed.
    fn unframed(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Marks everything held as framed (dropped).
    fn drop_unframed(&mut self) {
        self.start = self.buf.len();
        self.scanned = self.start;
        self.lines = 0;
    }

    /// Keeps only what is not yet framed, at the front of the buffer, so that a stream of
    /// lines that never ends on a line boundary cannot grow it past the limit.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.tail = self.tail.saturating_sub(self.start);
            self.start = 0;
        }
    }

    /// Counts what `buf[from..]`, which just arrived in one read, adds: in raw framing
    /// frames of at most the limit, in line framing `\n`s.
    fn count_frames(&mut self, from: usize) {
        match self.framing {
            Framing::Raw => {
                let mut len = self.buf.len() - from;
                while len > 0 {
                    let frame = len.min(self.limit);
                    self.raw_frames.push_back(frame);
                    len -= frame;
                }
            }
            Framing::Line => {
                let arrived = &self.buf[from..];
                let newlines = arrived.iter().filter(|&&b| b == b'\n').count();
                if newlines > 0 {
                    self.lines += newlines;
                    self.tail = from
                        + arrived
                            .iter()
                            .rposition(|&b| b == b'\n')
                            .map_or(0, |i| i + 1);
                }
            }
        }
    }
}

/// Whether an unfinished line (no `\n` yet) is already longer than `limit`, whatever
/// ending it gets: past the limit and a `\r`, or past the limit with a last byte that is
/// not a `\r`.
fn cannot_fit(pending: &[u8], limit: usize) -> bool {
    pending.len() > limit + 1 || (pending.len() == limit + 1 && pending.last() != Some(&b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every frame of `reads`, handed over one read at a time, then the end of the stream,
    /// as strings (`!` for a line too long, `…` after an unterminated one).
    fn frames(framing: Framing, limit: usize, reads: &[&[u8]]) -> Vec<String> {
        let mut framer = Framer::new(framing, limit);
        let mut out = Vec::new();
        let mut take = |framer: &mut Framer| {
            while let Some(frame) = framer.next_frame() {
                out.push(match frame {
                    Frame::Complete(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    Frame::Unterminated(bytes) => format!("{}…", String::from_utf8_lossy(bytes)),
                    Frame::TooLong => "!".to_owned(),
                });
            }
        };
        for read in reads {
            framer.receive(read);
            take(&mut framer);
        }
        framer.receive_eof();
        take(&mut framer);
        out
    }

    /// Lines come out without their `\n`, a `\r` before it kept, however they are split.
    #[test]
    fn lines_split_anywhere() {
        let whole = frames(Framing::Line, 100, &[b"3|abc\ncase|x\r\n\n3|last"]);
        assert_eq!(whole, ["3|abc", "case|x\r", "", "3|last…"]);
        let bytes = b"3|abc\ncase|x\r\n\n3|last";
        let single: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(frames(Framing::Line, 100, &single), whole);
    }

    /// A line of the limit is a frame, with `\n` or `\r\n`; one byte more is too long,
    /// and so is one with two `\r`s; framing goes on with the next line.
    #[test]
    fn the_limit_does_not_count_one_trailing_cr() {
        assert_eq!(
            frames(Framing::Line, 4, &[b"abcd\nabcd\r\nabcde\nabcd\r\r\nok"]),
            ["abcd", "abcd\r", "!", "!", "ok…"]
        );
        // At the end of the stream as well.
        assert_eq!(frames(Framing::Line, 4, &[b"abcd\r"]), ["abcd\r…"]);
        assert_eq!(frames(Framing::Line, 4, &[b"abcde"]), ["!"]);
    }

    /// An over-long line is refused as soon as it cannot fit, before its `\n` arrives:
    /// at the limit + 1 bytes unless the last is a `\r`, at the limit + 2 bytes otherwise.
    #[test]
    fn too_long_is_known_early() {
        let mut framer = Framer::new(Framing::Line, 4);
        framer.receive(b"abcd");
        assert_eq!(framer.next_frame(), None);
        assert_eq!(framer.room(), 2);
        framer.receive(b"\r");
        assert_eq!(framer.next_frame(), None, "a \\r\\n may still end it");
        assert_eq!(framer.room(), 1);
        framer.receive(b"x");
        assert_eq!(framer.next_frame(), Some(Frame::TooLong));
        assert_eq!(framer.buffered(), 0, "nothing of it is kept");

        let mut framer = Framer::new(Framing::Line, 4);
        framer.receive(b"abcde");
        assert_eq!(framer.next_frame(), Some(Frame::TooLong));
    }

    /// The rest of an over-long line is dropped as it arrives, up to its `\n`, holding
    /// no more than one read of it; the next line is framed.
    #[test]
    fn the_rest_of_a_long_line_is_skipped() {
        let mut framer = Framer::new(Framing::Line, 4);
        framer.receive(b"abcdefg");
        assert_eq!(framer.next_frame(), Some(Frame::TooLong));
        for _ in 0..100 {
            assert_eq!(framer.room(), 6);
            framer.receive(b"xxxxxx");
            assert_eq!(framer.next_frame(), None);
            assert_eq!(framer.buffered(), 0);
        }
        framer.receive(b"x\n3|a\n");
        assert_eq!(framer.next_frame(), Some(Frame::Complete(b"3|a")));
        assert_eq!(framer.next_frame(), None);
        // The end of the stream in the middle of the skipped line ends it.
        assert_eq!(frames(Framing::Line, 4, &[b"abcdefg", b"hij"]), ["!"]);
    }

    /// `room` leaves space for a line of the limit and its `\r\n`, and is 0 while frames
    /// may be waiting or after the end of the stream.
    #[test]
    fn room_bounds_what_is_held() {
        let mut framer = Framer::new(Framing::Line, 100);
        assert_eq!(framer.room(), 102);
        framer.receive(b"3|ab");
        assert_eq!(framer.room(), 0, "not scanned yet");
        assert_eq!(framer.next_frame(), None);
        assert_eq!(framer.room(), 98);
        framer.receive(b"\n3|");
        assert_eq!(framer.room(), 0);
        assert!(framer.has_frame());
        assert_eq!(framer.room(), 0, "a frame is waiting");
        assert_eq!(framer.next_frame(), Some(Frame::Complete(b"3|ab")));
        assert_eq!(framer.room(), 0, "`3|` is not scanned yet");
        assert!(!framer.has_frame());
        assert_eq!(framer.room(), 100);
        framer.receive_eof();
        assert_eq!(framer.room(), 0);
        assert!(framer.has_frame());
        assert_eq!(framer.next_frame(), Some(Frame::Unterminated(b"3|")));
        assert!(!framer.has_frame());
        assert_eq!(framer.next_frame(), None);
    }

    /// `frames_waiting` counts what `next_frame` will give without more bytes: lines,
    /// a line that cannot fit, a line cut off by the end, not the end of a skipped line.
    #[test]
    fn frames_waiting_counts_what_next_frame_gives() {
        let mut framer = Framer::new(Framing::Line, 4);
        framer.receive(b"a\nb\nc");
        assert_eq!(framer.frames_waiting(), 2);
        assert!(framer.next_frame().is_some());
        assert_eq!(framer.frames_waiting(), 1);
        assert!(framer.next_frame().is_some());
        assert_eq!(framer.next_frame(), None);
        framer.receive(b"defgh");
        assert_eq!(framer.frames_waiting(), 1, "`cdefgh` cannot fit");
        assert_eq!(framer.next_frame(), Some(Frame::TooLong));
        framer.receive(b"x\ny\nz");
        assert_eq!(
            framer.frames_waiting(),
            1,
            "the first `\\n` ends the skipped line"
        );
        assert_eq!(framer.next_frame(), Some(Frame::Complete(b"y")));
        assert_eq!(framer.frames_waiting(), 0);
        framer.receive_eof();
        assert_eq!(framer.frames_waiting(), 1, "`z` cut off by the end");
        assert_eq!(framer.next_frame(), Some(Frame::Unterminated(b"z")));
        assert_eq!(framer.frames_waiting(), 0);
    }

    /// A stream of pipelined lines that never ends on a line boundary keeps the buffer
    /// within the limit + 2 bytes.
    #[test]
    fn the_buffer_stays_small() {
        let mut framer = Framer::new(Framing::Line, 10);
        let stream = b"3|abc\n".repeat(1000);
        let mut fed = 0;
        let mut count = 0;
        while fed < stream.len() {
            let n = framer.room().min(stream.len() - fed);
            framer.receive(&stream[fed..fed + n]);
            fed += n;
            while let Some(frame) = framer.next_frame() {
                assert_eq!(frame, Frame::Complete(b"3|abc"));
                count += 1;
            }
            assert!(framer.buf.capacity() <= 2 * 12, "{}", framer.buf.capacity());
        }
        assert_eq!(count, 1000);
    }

    /// Reads `bytes` straight into the framer's buffer.
    fn read_in(framer: &mut Framer, bytes: &[u8]) -> usize {
        let filled = framer.receive_with(bytes.len(), |buf| {
            buf.copy_from_slice(bytes);
            Ok::<_, ()>(bytes.len())
        });
        filled.unwrap_or_default()
    }

    /// Reading straight into the buffer: what `read` fills is received; a failed read
    /// adds nothing and loses nothing held.
    #[test]
    fn receive_with_reads_into_the_buffer() {
        let mut framer = Framer::new(Framing::Line, 100);
        let n = framer.receive_with(framer.room(), |buf| {
            buf[..4].copy_from_slice(b"3|ab");
            Ok::<_, ()>(4)
        });
        assert_eq!(n, Ok(4));
        assert_eq!(framer.next_frame(), None);
        let failed = framer.receive_with(framer.room(), |buf| {
            buf[0] = b'\n';
            Err("timed out")
        });
        assert_eq!(failed, Err("timed out"));
        assert_eq!(framer.buffered(), 4);
        assert_eq!(read_in(&mut framer, b"c\n"), 2);
        assert_eq!(framer.next_frame(), Some(Frame::Complete(b"3|abc")));
    }

    /// Raw framing: each read is one frame, cut at the limit, and nothing is read while
    /// one is held.
    #[test]
    fn raw_reads_are_frames() {
        assert_eq!(
            frames(Framing::Raw, 4, &[b"1|Hi", b"\n\n", b"2|1+1xx"]),
            ["1|Hi", "\n\n", "2|1+", "1xx"]
        );
        let mut framer = Framer::new(Framing::Raw, 1024);
        assert_eq!(framer.room(), 1024);
        framer.receive(b"1|a");
        assert_eq!(framer.room(), 0);
        assert_eq!(
            read_in(&mut framer, b"3|b"),
            3,
            "more than `room` is taken all the same"
        );
        assert!(framer.has_frame());
        assert_eq!(framer.next_frame(), Some(Frame::Complete(b"1|a")));
        assert_eq!(framer.next_frame(), Some(Frame::Complete(b"3|b")));
        assert_eq!(framer.next_frame(), None);
        assert_eq!(framer.room(), 1024);
    }

    /// Bytes after the end of the stream are ignored, and `release` lets go of memory.
    #[test]
    fn after_the_end() {
        let mut framer = Framer::new(Framing::Line, 100);
        framer.receive(b"3|a");
        framer.receive_eof();
        framer.receive(b"\n");
        assert_eq!(framer.receive_with(5, |_| Ok::<_, ()>(5)), Ok(0));
        assert_eq!(framer.next_frame(), Some(Frame::Unterminated(b"3|a")));
        assert_eq!(framer.next_frame(), None);
        framer.release();
        assert_eq!(framer.buf.capacity(), 0);
    }
}
