//! [`Connection`]: the client's side of a stream — requests written in batches,
//! responses read through the [`Framer`] with a size limit — over any `Read + Write`.

use std::fmt;
use std::io::{self, Read, Write};

use crate::codec::{self, BadResponse, EncodeError};
use crate::framer::{DEFAULT_MAX_REQUEST_BYTES, Frame, Framer};
use crate::message::{Framing, Request, Response};

/// How much is asked of the stream in one read, at most.
const READ_CHUNK: usize = 16 * 1024;

/// How much the first read asks for. Each read that comes back full doubles the next
/// one's size up to [`READ_CHUNK`], so a connection that waits for one short response at
/// a time touches only this much buffer memory, while one that reads a pipelined batch
/// soon reads in large chunks.
const FIRST_READ: usize = 512;

/// Pending output beyond this is written at once rather than held for the end of a batch,
/// so that a long batch of requests cannot grow the output buffer without bound.
const FLUSH_THRESHOLD: usize = 64 * 1024;

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

/// A client's stream with its read and write buffers.
///
/// Reading frames responses with a [`Framer`], so it never holds more than
/// `max_frame_bytes + 2` bytes of a line, whatever the peer sends. Writing appends to a
/// buffer that goes out with one `write` when the caller waits for an answer: every read
/// that would block first flushes what is pending, so a batch of pipelined requests goes
/// out together and a lone request at once. Callers that stop reading call
/// [`Connection::flush`] themselves.
///
/// A read error such as a timeout leaves the buffers consistent, so the caller may check
/// its own state (a deadline) and call the read again.
#[derive(Debug)]
pub struct Connection<S> {
    stream: S,
    framer: Framer,
    /// Encoded output; `out[written..]` is not yet on the wire.
    out: Vec<u8>,
    written: usize,
    /// How much the next line-framed read asks for.
    chunk: usize,
}

impl<S: Read + Write> Connection<S> {
    /// A connection whose response lines may be as long as the servers' default request
    /// limit ([`DEFAULT_MAX_REQUEST_BYTES`]).
    pub fn new(stream: S, framing: Framing) -> Self {
        Self::with_limit(stream, framing, DEFAULT_MAX_REQUEST_BYTES)
    }

    /// A connection whose response lines may be at most `max_frame_bytes` long, not
    /// counting the newline and a `\r` before it. In raw framing a response is one read of
    /// at most `max_frame_bytes`.
    pub fn with_limit(stream: S, framing: Framing, max_frame_bytes: usize) -> Self {
        Connection {
            stream,
            framer: Framer::new(framing, max_frame_bytes),
            out: Vec::new(),
            written: 0,
            chunk: FIRST_READ,
        }
    }

    /// The framing in use.
    pub fn framing(&self) -> Framing {
        self.framer.framing()
    }

    /// The stream, for socket options and addresses.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Whether a whole response is already buffered, so that reading it will not block.
    pub fn has_buffered_response(&mut self) -> bool {
        self.framer.has_frame()
    }

    /// Reads the next response: `Ok(None)` when the peer closed the stream cleanly, between
    /// responses.
    ///
    /// In raw framing a response is whatever one read returns, as the tutorial's client does.
    ///
    /// # Errors
    ///
    /// [`ResponseError`] when the stream fails, what arrives is not a response, or (line
    /// framing) the stream ends in the middle of a response line
    /// ([`ResponseError::Truncated`]).
    pub fn read_response(&mut self) -> Result<Option<Response>, ResponseError> {
        while !self.framer.has_frame() {
            if self.framer.is_eof() {
                return Ok(None);
            }
            self.fill().map_err(ResponseError::Io)?;
        }
        let limit = self.framer.limit();
        let framing = self.framer.framing();
        match self.framer.next_frame() {
            None => Ok(None),
            Some(Frame::Complete(bytes)) => match framing {
                Framing::Line => codec::decode_line_response(bytes)
                    .map(Some)
                    .map_err(ResponseError::Malformed),
                Framing::Raw => Ok(Some(codec::decode_raw_response(bytes))),
            },
            Some(Frame::Unterminated(bytes)) => Err(ResponseError::Truncated {
                received: bytes.len(),
            }),
            Some(Frame::TooLong) => Err(ResponseError::TooLong { limit }),
        }
    }

    /// Queues a request; it goes out with the next flush or the next blocking read.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] when the framing cannot carry the request; nothing is queued.
    pub fn write_request(&mut self, request: &Request) -> Result<(), WriteRequestError> {
        codec::encode_request(request, self.framing(), &mut self.out)
            .map_err(WriteRequestError::Encode)?;
        if self.out.len() - self.written >= FLUSH_THRESHOLD {
            self.flush().map_err(WriteRequestError::Io)?;
        }
        Ok(())
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

    /// Flushes pending output (the peer may be waiting for it before it answers), then
    /// reads what the framer has room for into it; the end of the stream is told to it.
    fn fill(&mut self) -> io::Result<()> {
        self.flush()?;
        let room = self.framer.room();
        // A raw response is one read, so raw reads are never cut smaller.
        let want = match self.framer.framing() {
            Framing::Line => room.min(self.chunk),
            Framing::Raw => room,
        };
        let stream = &mut self.stream;
        let n = loop {
            match self.framer.receive_with(want, |buf| stream.read(buf)) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if n == want {
            self.chunk = (self.chunk * 2).min(READ_CHUNK);
        }
        if n == 0 {
            self.framer.receive_eof();
        }
        Ok(())
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

    /// Every response until the end of the stream or the first error.
    fn responses(conn: &mut Connection<Script>) -> (Vec<Response>, Option<ResponseError>) {
        let mut got = Vec::new();
        loop {
            match conn.read_response() {
                Ok(Some(response)) => got.push(response),
                Ok(None) => return (got, None),
                Err(e) => return (got, Some(e)),
            }
        }
    }

    /// The client side: requests written in a batch, with one write before the first
    /// read, and responses read back in order however they are split.
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
        assert_eq!(conn.get_ref().writes, 0, "held until a read would wait");
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

    /// Responses split byte by byte, with `\r\n` endings, are put back together.
    #[test]
    fn responses_split_byte_by_byte() {
        let bytes = b"OK olleh\r\nOK \n";
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        let mut conn = Connection::new(Script::new(&chunks), Framing::Line);
        let (got, error) = responses(&mut conn);
        assert!(error.is_none(), "{error:?}");
        // The decoder keeps a `\r` of a response: servers never send one.
        assert_eq!(
            got,
            [Response::Ok("olleh\r".into()), Response::Ok(String::new())]
        );
    }

    /// Whether the next response is already buffered (reading it will not block).
    #[test]
    fn buffered_response() {
        let mut conn = Connection::new(Script::new(&[b"OK a\nOK b\nOK", b" c\n"]), Framing::Line);
        assert!(!conn.has_buffered_response());
        conn.read_response().unwrap();
        assert!(conn.has_buffered_response());
        conn.read_response().unwrap();
        assert!(
            !conn.has_buffered_response(),
            "half a line is not a response"
        );
        assert_eq!(
            conn.read_response().unwrap(),
            Some(Response::Ok("c".into()))
        );
    }

    /// A response line of the limit is read, with `\n` or `\r\n`; a longer one is refused
    /// before its end arrives, holding no more than the limit + 2 bytes.
    #[test]
    fn length_limit() {
        let mut conn = Connection::with_limit(
            Script::new(&[b"OK aaaaaaa\r\nOK bbbbbbb\n"]),
            Framing::Line,
            10,
        );
        assert_eq!(
            responses(&mut conn).0,
            [
                Response::Ok("aaaaaaa\r".into()),
                Response::Ok("bbbbbbb".into())
            ]
        );

        let long = vec![b'a'; 1 << 20];
        let mut conn = Connection::with_limit(Script::new(&[&long]), Framing::Line, 10);
        assert!(matches!(
            conn.read_response(),
            Err(ResponseError::TooLong { limit: 10 })
        ));
        let unread: usize = conn.get_ref().reads.iter().flatten().map(Vec::len).sum();
        assert!(unread >= long.len() - 12, "read {}", long.len() - unread);
    }

    /// A connection that waits for short responses keeps a small buffer, and one that
    /// reads a long pipelined batch soon reads in large chunks.
    #[test]
    fn read_size_adapts() {
        let mut conn = Connection::new(Script::new(&[b"OK abc\n"]), Framing::Line);
        conn.read_response().unwrap();
        assert_eq!(conn.chunk, FIRST_READ);

        let flood = b"OK abc\n".repeat(20_000);
        let mut conn = Connection::new(Script::new(&[&flood]), Framing::Line);
        while conn.read_response().unwrap().is_some() {}
        assert_eq!(conn.chunk, READ_CHUNK);
    }

    /// A timeout in the middle of a line loses nothing: reading again goes on where it was.
    #[test]
    fn read_error_keeps_partial_line() {
        let mut script = Script::new(&[b"OK ab"]);
        script
            .reads
            .push_back(Err(io::ErrorKind::WouldBlock.into()));
        script.reads.push_back(Ok(b"c\n".to_vec()));
        let mut conn = Connection::new(script, Framing::Line);
        assert!(matches!(conn.read_response(), Err(ResponseError::Io(_))));
        assert_eq!(
            conn.read_response().unwrap(),
            Some(Response::Ok("abc".into()))
        );
    }

    /// Raw framing: each read is one response, however long within the limit, and
    /// requests carry no terminator.
    #[test]
    fn raw_framing() {
        let long = vec![b'x'; 3000];
        let mut conn = Connection::with_limit(
            Script::new(&[
                b"hELLO",
                b"Invalid choice",
                b"Error: division by zero",
                &long,
            ]),
            Framing::Raw,
            4096,
        );
        conn.write_request(&Request::new(Op::ChangeCase, "Hello"))
            .unwrap();
        let (got, error) = responses(&mut conn);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(
            got,
            [
                Response::Ok("hELLO".into()),
                Response::Err("Invalid choice".into()),
                Response::Err("division by zero".into()),
                Response::Ok("x".repeat(3000)),
            ]
        );
        assert_eq!(conn.get_ref().written, b"1|Hello");
    }

    /// A response cut off by the end of the stream is an error, not an answer, however it
    /// was split; a clean end between responses is not an error.
    #[test]
    fn truncated_response_is_an_error() {
        for chunks in [
            &[b"OK hel".as_slice()][..],
            &[b"OK a\nOK hel"],
            &[b"O", b"K", b" hel"],
        ] {
            let mut conn = Connection::new(Script::new(chunks), Framing::Line);
            let (answers, error) = responses(&mut conn);
            let error = error.expect("a truncated answer read as a clean end");
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
        let (answers, error) = responses(&mut conn);
        assert_eq!(answers, [Response::Ok("a".into())]);
        assert!(error.is_none(), "a clean end is not an error: {error:?}");
    }

    /// What arrives that is not a response is named.
    #[test]
    fn garbage_is_malformed() {
        let mut conn = Connection::new(Script::new(&[b"HELLO\n"]), Framing::Line);
        assert!(matches!(
            conn.read_response(),
            Err(ResponseError::Malformed(_))
        ));
    }
}
