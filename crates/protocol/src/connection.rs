//! [`Connection`]: buffered, size-limited reading of frames and batched writing, over any
//! `Read + Write`.

use std::fmt;
use std::io::{self, Read, Write};
use std::ops::Range;

use crate::codec::{self, BadResponse, EncodeError, RAW_READ_SIZE};
use crate::message::{Framing, Request, RequestError, Response};

/// The default limit on one request line, in bytes (64 KiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 64 * 1024;

/// How much is asked of the stream in one read, at most.
const READ_CHUNK: usize = 16 * 1024;

/// How much the first read asks for. Each read that comes back full doubles the next
/// one's size up to [`READ_CHUNK`], so a connection that sends one short request at a
/// time (or none: thousands of idle clients) touches only this much buffer memory, while
/// a pipelining one soon reads in large chunks.
const FIRST_READ: usize = 512;

/// Pending output beyond this is written at once rather than held for the end of a batch,
/// so that a flood of tiny pipelined requests cannot grow the output buffer without bound.
const FLUSH_THRESHOLD: usize = 64 * 1024;

/// Why a request could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The stream failed (reset, timed out, …); the connection is finished.
    Io(io::Error),
    /// The request arrived but could not be read; answer it with
    /// [`Connection::write_rejection`]. The connection stays usable.
    Invalid(RequestError),
    /// A line grew past the limit without a newline. Answer it with
    /// [`Connection::write_rejection`] and close: the rest of the line cannot be framed.
    TooLong {
        /// The limit in force, in bytes.
        limit: usize,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "read failed: {e}"),
            ReadError::Invalid(e) => e.fmt(f),
            ReadError::TooLong { limit } => write!(f, "request too long (limit {limit} bytes)"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            ReadError::Invalid(e) => Some(e),
            ReadError::TooLong { .. } => None,
        }
    }
}

/// Why a response could not be read.
#[derive(Debug)]
pub enum ResponseError {
    /// The stream failed; the connection is finished.
    Io(io::Error),
    /// A response line grew past the limit without a newline.
    TooLong {
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// What arrived was not a response.
    Malformed(BadResponse),
    /// The stream ended in the middle of a response line: the peer closed the connection
    /// before the newline, so the answer is incomplete. (Raw framing has no terminator,
    /// so there an answer cut short cannot be told from a whole one.)
    Truncated {
        /// The bytes of the unfinished line that did arrive.
        received: usize,
    },
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::Io(e) => write!(f, "read failed: {e}"),
            ResponseError::TooLong { limit } => {
                write!(f, "response too long (limit {limit} bytes)")
            }
            ResponseError::Malformed(e) => e.fmt(f),
            ResponseError::Truncated { received } => write!(
                f,
                "the stream ended in the middle of a response ({received} bytes without a newline)"
            ),
        }
    }
}

impl std::error::Error for ResponseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ResponseError::Io(e) => Some(e),
            ResponseError::TooLong { .. } | ResponseError::Truncated { .. } => None,
            ResponseError::Malformed(e) => Some(e),
        }
    }
}

/// Frame-level failures shared by both directions.
enum FrameError {
    Io(io::Error),
    TooLong,
    /// The stream ended after this many bytes of a line that has no newline.
    Truncated(usize),
}

/// What a line that the end of the stream cuts short is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LastLine {
    /// A frame like any other: a request's sender may omit the last newline (`printf
    /// '3|abc' | nc`), and nothing is lost by serving it.
    Frame,
    /// An error: a response without its newline is one the server did not finish
    /// sending, and printing it would pass a fragment off as the answer.
    Truncated,
}

/// A stream with its read and write buffers.
///
/// Reading never holds more than `max_frame_bytes + 1` bytes, whatever the peer sends.
/// Writing appends to a buffer that goes out with one `write` when the caller has nothing
/// left to answer: every read that would block first flushes what is pending, so a batch
/// of pipelined requests is answered with one write and a lone request is answered at
/// once. Callers that stop reading call [`Connection::flush`] themselves.
///
/// A read error such as a timeout leaves the buffers consistent, so the caller may check
/// its own state (a shutdown flag, an idle deadline) and call the read again.
#[derive(Debug)]
pub struct Connection<S> {
    stream: S,
    framing: Framing,
    max_frame_bytes: usize,
    /// Received bytes; `buf[start..]` is not yet consumed.
    buf: Vec<u8>,
    start: usize,
    /// `buf[start..scanned]` is known to hold no newline.
    scanned: usize,
    /// Encoded output; `out[written..]` is not yet on the wire.
    out: Vec<u8>,
    written: usize,
    /// How much the next line-framed read asks for.
    chunk: usize,
}

impl<S: Read + Write> Connection<S> {
    /// A connection with the default request limit ([`DEFAULT_MAX_REQUEST_BYTES`]).
    pub fn new(stream: S, framing: Framing) -> Self {
        Self::with_limit(stream, framing, DEFAULT_MAX_REQUEST_BYTES)
    }

    /// A connection whose frames (request or response lines) may be at most
    /// `max_frame_bytes` long, not counting the newline. Raw framing reads at most
    /// [`RAW_READ_SIZE`] bytes a request whatever the limit.
    pub fn with_limit(stream: S, framing: Framing, max_frame_bytes: usize) -> Self {
        Connection {
            stream,
            framing,
            max_frame_bytes: max_frame_bytes.max(1),
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            out: Vec::new(),
            written: 0,
            chunk: FIRST_READ,
        }
    }

    /// The framing in use.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The stream, for socket options and addresses.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Whether a complete line is already buffered — a request on a server's side, a
    /// response on a client's — so that reading it will not block.
    pub fn has_buffered_request(&self) -> bool {
        self.framing == Framing::Line && self.buf[self.scanned..].contains(&b'\n')
    }

    /// Reads the next request: `Ok(None)` when the peer closed the stream cleanly.
    ///
    /// A last line that ends at end of stream without a newline is still a request.
    ///
    /// # Errors
    ///
    /// [`ReadError::Invalid`] for a request that arrived but cannot be read (answer it and
    /// go on), [`ReadError::TooLong`] for a line over the limit (answer it and close),
    /// [`ReadError::Io`] when the stream fails.
    pub fn read_request(&mut self) -> Result<Option<Request>, ReadError> {
        let frame = match self.framing {
            Framing::Line => self.next_line(LastLine::Frame),
            Framing::Raw => self.next_read(RAW_READ_SIZE),
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(None),
            Err(FrameError::Io(e)) => return Err(ReadError::Io(e)),
            // Requests never ask for `LastLine::Truncated`.
            Err(FrameError::TooLong | FrameError::Truncated(_)) => {
                return Err(ReadError::TooLong {
                    limit: self.max_frame_bytes,
                });
            }
        };
        let bytes = &self.buf[frame];
        let request = match self.framing {
            Framing::Line => codec::decode_line_request(bytes),
            Framing::Raw => crate::parse_request(bytes),
        };
        request.map(Some).map_err(ReadError::Invalid)
    }

    /// Reads the next response: `Ok(None)` when the peer closed the stream cleanly, between
    /// responses.
    ///
    /// In raw framing a response is whatever one read returns, as the seed's client does.
    ///
    /// # Errors
    ///
    /// [`ResponseError`] when the stream fails, what arrives is not a response, or (line
    /// framing) the stream ends in the middle of a response line
    /// ([`ResponseError::Truncated`]).
    pub fn read_response(&mut self) -> Result<Option<Response>, ResponseError> {
        let frame = match self.framing {
            Framing::Line => self.next_line(LastLine::Truncated),
            Framing::Raw => self.next_read(self.max_frame_bytes),
        };
        match frame {
            Ok(Some(frame)) => {
                let bytes = &self.buf[frame];
                match self.framing {
                    Framing::Line => codec::decode_line_response(bytes)
                        .map(Some)
                        .map_err(ResponseError::Malformed),
                    Framing::Raw => Ok(Some(codec::decode_raw_response(bytes))),
                }
            }
            Ok(None) => Ok(None),
            Err(FrameError::Io(e)) => Err(ResponseError::Io(e)),
            Err(FrameError::TooLong) => Err(ResponseError::TooLong {
                limit: self.max_frame_bytes,
            }),
            Err(FrameError::Truncated(received)) => Err(ResponseError::Truncated { received }),
        }
    }

    /// Queues a response; it goes out with the next flush.
    ///
    /// # Errors
    ///
    /// Only when pending output passed the flush threshold and writing it failed.
    pub fn write_response(&mut self, response: &Response) -> io::Result<()> {
        codec::encode_response(response, self.framing, &mut self.out);
        self.flush_if_large()
    }

    /// Queues the answer to a request that could not be read (see [`ReadError`]).
    ///
    /// # Errors
    ///
    /// Only when pending output passed the flush threshold and writing it failed.
    pub fn write_rejection(&mut self, error: &ReadError) -> io::Result<()> {
        match error {
            ReadError::Invalid(e) => codec::encode_rejection(e, self.framing, &mut self.out),
            other => codec::encode_response(
                &Response::Err(other.to_string()),
                self.framing,
                &mut self.out,
            ),
        }
        self.flush_if_large()
    }

    /// Queues a request; it goes out with the next flush or the next blocking read.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] when the framing cannot carry the request; nothing is queued.
    pub fn write_request(&mut self, request: &Request) -> Result<(), WriteRequestError> {
        codec::encode_request(request, self.framing, &mut self.out)
            .map_err(WriteRequestError::Encode)?;
        self.flush_if_large().map_err(WriteRequestError::Io)
    }

    /// Writes all pending output.
    ///
    /// # Errors
    ///
    /// When the stream fails; what was not written stays pending.
    pub fn flush(&mut self) -> io::Result<()> {
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.written = 0;
        self.stream.flush()
    }

    /// The stream back, dropping anything buffered.
    pub fn into_inner(self) -> S {
        self.stream
    }

    fn flush_if_large(&mut self) -> io::Result<()> {
        if self.out.len() - self.written >= FLUSH_THRESHOLD {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// The next `\n`-terminated line (without the `\n`) as a range of `buf`; `last` says
    /// what a line that the end of the stream cuts short is.
    fn next_line(&mut self, last: LastLine) -> Result<Option<Range<usize>>, FrameError> {
        loop {
            if let Some(i) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + i;
                let line = self.start..end;
                self.start = end + 1;
                self.scanned = self.start;
                return Ok(Some(line));
            }
            self.scanned = self.buf.len();
            let pending = self.buf.len() - self.start;
            if pending > self.max_frame_bytes {
                return Err(FrameError::TooLong);
            }
            // Room for the rest of a line of the maximum length and its newline, no more.
            let room = self.max_frame_bytes + 1 - pending;
            let want = room.min(self.chunk);
            let n = self.fill(want)?;
            if n == want {
                self.chunk = (self.chunk * 2).min(READ_CHUNK);
            }
            if n == 0 {
                if self.start == self.buf.len() {
                    return Ok(None);
                }
                if last == LastLine::Truncated {
                    return Err(FrameError::Truncated(self.buf.len() - self.start));
                }
                let line = self.start..self.buf.len();
                self.start = self.buf.len();
                self.scanned = self.start;
                return Ok(Some(line));
            }
        }
    }

    /// Whatever one read of up to `max` bytes returns, as a range of `buf`.
    fn next_read(&mut self, max: usize) -> Result<Option<Range<usize>>, FrameError> {
        // Raw framing keeps nothing from one read to the next.
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        let n = self.fill(max)?;
        self.start = n;
        self.scanned = n;
        Ok((n > 0).then_some(0..n))
    }

    /// Flushes pending output (the peer may be waiting for it before it sends more), then
    /// reads up to `max` more bytes onto the end of `buf`. Returns how many arrived.
    fn fill(&mut self, max: usize) -> Result<usize, FrameError> {
        self.flush().map_err(FrameError::Io)?;
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + max, 0);
        let result = loop {
            match self.stream.read(&mut self.buf[len..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(len + n);
        result.map_err(FrameError::Io)
    }
}

/// Why a request could not be sent.
#[derive(Debug)]
pub enum WriteRequestError {
    /// The framing cannot carry it.
    Encode(EncodeError),
    /// The stream failed.
    Io(io::Error),
}

impl fmt::Display for WriteRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteRequestError::Encode(e) => e.fmt(f),
            WriteRequestError::Io(e) => write!(f, "write failed: {e}"),
        }
    }
}

impl std::error::Error for WriteRequestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteRequestError::Encode(e) => Some(e),
            WriteRequestError::Io(e) => Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::Op;

    /// A stream that hands out scripted reads, one chunk per call (so that a test decides
    /// exactly how the bytes are split), and records every write.
    #[derive(Default)]
    struct Script {
        reads: VecDeque<io::Result<Vec<u8>>>,
        written: Vec<u8>,
        writes: usize,
    }

    impl Script {
        fn new(chunks: &[&[u8]]) -> Self {
            Script {
                reads: chunks.iter().map(|c| Ok(c.to_vec())).collect(),
                ..Script::default()
            }
        }
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.reads.pop_front() {
                None => Ok(0),
                Some(Err(e)) => Err(e),
                Some(Ok(mut chunk)) => {
                    let n = chunk.len().min(buf.len());
                    buf[..n].copy_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        self.reads.push_front(Ok(chunk.split_off(n)));
                    }
                    Ok(n)
                }
            }
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Answers every request a server would, the way the server loop does.
    fn serve(conn: &mut Connection<Script>) {
        loop {
            match conn.read_request() {
                Ok(None) => break,
                Ok(Some(request)) => {
                    let reversed = request.payload.chars().rev().collect();
                    conn.write_response(&Response::Ok(reversed)).unwrap();
                }
                Err(e @ ReadError::Invalid(_)) => conn.write_rejection(&e).unwrap(),
                Err(e @ ReadError::TooLong { .. }) => {
                    conn.write_rejection(&e).unwrap();
                    break;
                }
                Err(ReadError::Io(e)) => panic!("unexpected I/O error: {e}"),
            }
        }
        conn.flush().unwrap();
    }

    fn served(chunks: &[&[u8]], limit: usize) -> Script {
        let mut conn = Connection::with_limit(Script::new(chunks), Framing::Line, limit);
        serve(&mut conn);
        conn.into_inner()
    }

    /// Several requests in one read are all answered, in order, with one write.
    #[test]
    fn pipelined_requests_answered_in_one_write() {
        let script = served(&[b"3|abc\n1|x\n3|\n"], 100);
        assert_eq!(script.written, b"OK cba\nOK x\nOK \n");
        assert_eq!(script.writes, 1);
    }

    /// A request split over many reads, byte by byte, is put back together.
    #[test]
    fn request_split_byte_by_byte() {
        let bytes = b"reverse|hello\r\n";
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        let script = served(&chunks, 100);
        assert_eq!(script.written, b"OK olleh\n");
    }

    /// A lone request is answered before the next read, not held back.
    #[test]
    fn lone_requests_are_flushed_before_blocking() {
        let mut conn = Connection::new(Script::new(&[b"3|ab\n", b"3|cd\n"]), Framing::Line);
        assert_eq!(
            conn.read_request().unwrap(),
            Some(Request::new(Op::Reverse, "ab"))
        );
        conn.write_response(&Response::Ok("ba".into())).unwrap();
        assert_eq!(
            conn.get_ref().writes,
            0,
            "nothing written while a request is buffered?"
        );
        assert!(!conn.has_buffered_request());
        conn.read_request().unwrap();
        assert_eq!(conn.get_ref().written, b"OK ba\n");
    }

    /// Bad requests get their error and the requests after them are still served.
    #[test]
    fn bad_requests_keep_connection_usable() {
        let script = served(
            &[b"\n", b"nobar\n", b"9|x\n", b"3|\xff\xfe\n", b"3|ok\n"],
            100,
        );
        let text = String::from_utf8(script.written).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "ERR empty request: expected <op>|<payload>",
                "ERR malformed request: expected <op>|<payload>",
                "ERR unknown operation '9': expected 1/case, 2/eval, 3/reverse",
                "ERR request is not valid UTF-8 (bad byte at offset 2): expected UTF-8 text",
                "OK ko",
            ]
        );
    }

    /// A line of exactly the limit is served; one byte more is refused and ends the
    /// connection, and no more than limit + 1 bytes are ever buffered.
    #[test]
    fn length_limit() {
        let exact = [b"3|".as_slice(), &[b'a'; 8], b"\n"].concat();
        assert_eq!(served(&[&exact], 10).written, b"OK aaaaaaaa\n");

        let long = vec![b'a'; 1 << 20];
        let mut conn = Connection::with_limit(Script::new(&[&long]), Framing::Line, 10);
        assert!(matches!(
            conn.read_request(),
            Err(ReadError::TooLong { limit: 10 })
        ));
        assert!(
            conn.buf.capacity() <= 11 + READ_CHUNK,
            "buffered {}",
            conn.buf.capacity()
        );
        assert!(conn.buf.len() <= 11);
        let script = served(&[&long, b"\n3|never\n"], 10);
        assert_eq!(script.written, b"ERR request too long (limit 10 bytes)\n");
    }

    /// A connection that sends short requests keeps a small buffer, and one that
    /// pipelines a lot soon reads in large chunks.
    #[test]
    fn read_size_adapts() {
        let mut conn = Connection::new(Script::new(&[b"3|abc\n"]), Framing::Line);
        conn.read_request().unwrap();
        assert!(
            conn.buf.capacity() <= 2 * FIRST_READ,
            "{}",
            conn.buf.capacity()
        );

        let flood = b"3|abc\n".repeat(20_000);
        let mut conn = Connection::new(Script::new(&[&flood]), Framing::Line);
        while conn.read_request().unwrap().is_some() {}
        assert_eq!(conn.chunk, READ_CHUNK);
    }

    /// A last request with no newline before end of stream is still answered.
    #[test]
    fn unterminated_last_line() {
        assert_eq!(served(&[b"3|ab\n3|cd"], 100).written, b"OK ba\nOK dc\n");
    }

    /// A timeout in the middle of a line loses nothing: reading again goes on where it was.
    #[test]
    fn read_error_keeps_partial_line() {
        let mut script = Script::new(&[b"3|ab"]);
        script
            .reads
            .push_back(Err(io::ErrorKind::WouldBlock.into()));
        script.reads.push_back(Ok(b"c\n".to_vec()));
        let mut conn = Connection::new(script, Framing::Line);
        assert!(matches!(conn.read_request(), Err(ReadError::Io(_))));
        assert_eq!(
            conn.read_request().unwrap(),
            Some(Request::new(Op::Reverse, "abc"))
        );
    }

    /// Raw framing: each read is one request, and answers carry no terminator.
    #[test]
    fn raw_framing() {
        let mut conn = Connection::new(Script::new(&[b"1|Hello", b"7|x", b"oops"]), Framing::Raw);
        assert_eq!(
            conn.read_request().unwrap(),
            Some(Request::new(Op::ChangeCase, "Hello"))
        );
        conn.write_response(&Response::Ok("hELLO".into())).unwrap();
        let unknown = conn.read_request().unwrap_err();
        conn.write_rejection(&unknown).unwrap();
        let malformed = conn.read_request().unwrap_err();
        conn.write_rejection(&malformed).unwrap();
        assert_eq!(conn.read_request().unwrap(), None);
        conn.flush().unwrap();
        assert_eq!(
            conn.get_ref().written,
            b"hELLOInvalid choiceError: malformed request: expected <op>|<payload>"
        );
    }

    /// A response cut off by the end of the stream is an error, not an answer, however it
    /// was split; a request cut off the same way is still served.
    #[test]
    fn truncated_response_is_an_error() {
        for chunks in [
            &[b"OK hel".as_slice()][..],
            &[b"OK a\nOK hel"],
            &[b"O", b"K", b" hel"],
        ] {
            let mut conn = Connection::new(Script::new(chunks), Framing::Line);
            let mut answers = Vec::new();
            let error = loop {
                match conn.read_response() {
                    Ok(Some(response)) => answers.push(response),
                    Ok(None) => panic!("a truncated answer read as a clean end: {chunks:?}"),
                    Err(e) => break e,
                }
            };
            assert!(
                matches!(error, ResponseError::Truncated { received: 6 }),
                "{chunks:?}: {error:?}"
            );
            assert!(answers.iter().all(|a| *a == Response::Ok("a".into())));
            assert_eq!(
                error.to_string(),
                "the stream ended in the middle of a response (6 bytes without a newline)"
            );
        }
        let mut conn = Connection::new(Script::new(&[b"OK a\n"]), Framing::Line);
        assert_eq!(
            conn.read_response().unwrap(),
            Some(Response::Ok("a".into()))
        );
        assert_eq!(
            conn.read_response().unwrap(),
            None,
            "a clean end is not an error"
        );
        let mut conn = Connection::new(Script::new(&[b"3|h", b"el"]), Framing::Line);
        assert_eq!(
            conn.read_request().unwrap(),
            Some(Request::new(Op::Reverse, "hel"))
        );
    }

    /// The client side: requests written in a batch, responses read back in order.
    #[test]
    fn client_side_round_trip() {
        let mut conn = Connection::new(
            Script::new(&[b"OK cba\nERR division", b" by zero\n"]),
            Framing::Line,
        );
        conn.write_request(&Request::new(Op::Reverse, "abc"))
            .unwrap();
        conn.write_request(&Request::new(Op::Evaluate, "1/0"))
            .unwrap();
        assert_eq!(
            conn.read_response().unwrap(),
            Some(Response::Ok("cba".into()))
        );
        assert_eq!(
            conn.read_response().unwrap(),
            Some(Response::Err("division by zero".into()))
        );
        assert_eq!(conn.read_response().unwrap(), None);
        assert_eq!(conn.get_ref().written, b"3|abc\n2|1/0\n");
        assert_eq!(conn.get_ref().writes, 1);
    }
}
