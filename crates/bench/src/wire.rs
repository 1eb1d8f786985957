//! What goes on the wire: the request bytes a client sends, the exact bytes it expects
//! back, and a reader that takes answers out of a connection and checks them.
//!
//! bench never parses an answer to find out whether it is right: it computes, before the
//! run, the exact bytes a correct server writes (with the engine and the protocol's own
//! encoder) and compares byte for byte. That makes the check cheap enough for millions of
//! answers a second and strict enough to catch a single wrong character.

use std::io::{self, Read};

use protocol::codec::{EncodeError, encode_request, encode_response};
use protocol::{Framing, Op, Request, Response};

/// The most bytes one read takes from a socket.
const READ_CHUNK: usize = 64 * 1024;

/// The read buffer of a connection that waits for one short answer at a time (a burst
/// client, a connection per request); it grows for longer ones.
pub(crate) const ONE_ANSWER_BYTES: usize = 512;

/// The longest answer bench waits for before calling it wrong, so that a server that
/// never sends a newline cannot make bench buffer without bound.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// One request and the answer a correct server gives to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The bytes of one request, terminator included.
    pub request: Vec<u8>,
    /// The bytes of the correct answer, terminator included.
    pub expected: Vec<u8>,
    /// Whether answers end in `\n` (line framing, Redis); raw answers have no terminator
    /// and are as long as the expected one.
    pub line_delimited: bool,
    /// A short description for reports, e.g. `3|BenchmarkTestString123`.
    pub label: String,
}

/// Why a request cannot be benchmarked.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The payload cannot be carried by the framing.
    #[error("cannot encode the request: {0}")]
    Encode(#[from] EncodeError),
}

impl Exchange {
    /// A taskserver request for `op` on `payload`, with the answer the engine gives.
    ///
    /// # Errors
    ///
    /// [`ExchangeError::Encode`] when the payload holds a newline (line framing) or is
    /// too long for one raw read.
    pub fn task(op: Op, payload: &str, framing: Framing) -> Result<Exchange, ExchangeError> {
        let mut request = Vec::new();
        encode_request(&Request::new(op, payload), framing, &mut request)?;
        let answer = match engine::execute(engine_op(op), payload) {
            Ok(result) => Response::Ok(result),
            Err(e) => Response::Err(e.to_string()),
        };
        let mut expected = Vec::new();
        encode_response(&answer, framing, &mut expected);
        Ok(Exchange {
            request,
            expected,
            line_delimited: framing == Framing::Line,
            label: format!("{}|{}", op.code(), payload),
        })
    }

    /// Redis's inline `PING`, answered `+PONG`: the same load against `redis-server`, for
    /// the performance comparisons.
    pub fn redis_ping() -> Exchange {
        Exchange {
            request: b"PING\r\n".to_vec(),
            expected: b"+PONG\r\n".to_vec(),
            line_delimited: true,
            label: "PING (redis inline)".into(),
        }
    }
}

/// The engine's name for a protocol operation: the two leaves do not know each other.
fn engine_op(op: Op) -> engine::Op {
    match op {
        Op::ChangeCase => engine::Op::ChangeCase,
        Op::Evaluate => engine::Op::Evaluate,
        Op::Reverse => engine::Op::Reverse,
    }
}

/// An answer that was not the expected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongAnswer {
    /// The start of what arrived, escaped for a one-line message.
    pub excerpt: String,
}

/// What reading one answer can end in, besides the right answer.
#[derive(Debug)]
pub enum AnswerError {
    /// The answer arrived and was wrong.
    Wrong(WrongAnswer),
    /// The server closed the connection before the answer was complete.
    Missing,
    /// The socket failed (reset, timeout, …).
    Io(io::Error),
}

/// Reads answers from a connection and checks them against one [`Exchange`].
///
/// The buffer is allocated (and zeroed) once and grows only when an answer does not fit,
/// so a read costs no allocation or clearing however many are made: a burst keeps
/// thousands of readers alive, and throughput mode calls `fill` millions of times.
#[derive(Debug)]
pub struct AnswerReader<'a> {
    exchange: &'a Exchange,
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    start: usize,
    /// Where it ends: `buf[end..]` is free space for the next read.
    end: usize,
}

impl<'a> AnswerReader<'a> {
    /// A reader with a buffer of [`READ_CHUNK`] bytes, for connections that receive many
    /// answers per read.
    pub fn new(exchange: &'a Exchange) -> Self {
        Self::with_buffer(exchange, READ_CHUNK)
    }

    /// A reader with a buffer of `bytes` (at least the expected answer's length), for
    /// connections that receive one answer at a time.
    pub fn with_buffer(exchange: &'a Exchange, bytes: usize) -> Self {
        AnswerReader {
            exchange,
            buf: vec![0; bytes.max(exchange.expected.len()).max(16)],
            start: 0,
            end: 0,
        }
    }

    /// Takes one complete answer out of what has been read, if there is one.
    ///
    /// `None` means more bytes are needed; `Some(Ok(()))` a correct answer.
    pub fn take_answer(&mut self) -> Option<Result<(), WrongAnswer>> {
        let unread = &self.buf[self.start..self.end];
        let expected = &self.exchange.expected;
        let (len, right) = if self.exchange.line_delimited {
            let end = unread.iter().position(|&b| b == b'\n')? + 1;
            (end, &unread[..end] == expected.as_slice())
        } else if unread.len() >= expected.len() {
            (expected.len(), unread.starts_with(expected))
        } else if expected.starts_with(unread) {
            return None;
        } else {
            // Shorter than expected and already different: wrong whatever follows.
            (unread.len(), false)
        };
        let answer = &unread[..len];
        let outcome = if right {
            Ok(())
        } else {
            Err(WrongAnswer {
                excerpt: excerpt(answer),
            })
        };
        self.start += len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Some(outcome)
    }

    /// Reads once from `stream` into the buffer.
    ///
    /// # Errors
    ///
    /// [`AnswerError::Missing`] at end of stream, [`AnswerError::Wrong`] when an answer
    /// grows past a megabyte without ending, [`AnswerError::Io`] when the read fails
    /// (including `WouldBlock` on a non-blocking stream with nothing to read).
    pub fn fill(&mut self, stream: &mut impl Read) -> Result<(), AnswerError> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() > MAX_ANSWER_BYTES {
                return Err(AnswerError::Wrong(WrongAnswer {
                    excerpt: excerpt(&self.buf[self.start..self.end]),
                }));
            } else {
                let grown = self.buf.len() * 2;
                self.buf.resize(grown, 0);
            }
        }
        let read = loop {
            match stream.read(&mut self.buf[self.end..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match read {
            Ok(0) => {
                let unread = &self.buf[self.start..self.end];
                // A raw answer that stopped short is wrong, not missing.
                if !self.exchange.line_delimited && !unread.is_empty() {
                    Err(AnswerError::Wrong(WrongAnswer {
                        excerpt: excerpt(unread),
                    }))
                } else {
                    Err(AnswerError::Missing)
                }
            }
            Ok(n) => {
                self.end += n;
                Ok(())
            }
            Err(e) => Err(AnswerError::Io(e)),
        }
    }

    /// Reads until one whole answer has arrived and checks it.
    ///
    /// # Errors
    ///
    /// As [`AnswerReader::fill`], and [`AnswerError::Wrong`] for a wrong answer.
    pub fn read_answer(&mut self, stream: &mut impl Read) -> Result<(), AnswerError> {
        loop {
            match self.take_answer() {
                Some(Ok(())) => return Ok(()),
                Some(Err(wrong)) => return Err(AnswerError::Wrong(wrong)),
                None => self.fill(stream)?,
            }
        }
    }
}

/// The start of `bytes` as one escaped line, for error messages.
fn excerpt(bytes: &[u8]) -> String {
    protocol::op::printable_excerpt(&String::from_utf8_lossy(bytes), 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tutorial's benchmark request and its answer, byte for byte, in both framings.
    #[test]
    fn tutorial_request_and_answer() {
        let line = Exchange::task(Op::Reverse, "BenchmarkTestString123", Framing::Line).unwrap();
        assert_eq!(line.request, b"3|BenchmarkTestString123\n");
        assert_eq!(line.expected, b"OK 321gnirtStseTkramhcneB\n");
        let raw = Exchange::task(Op::Reverse, "BenchmarkTestString123", Framing::Raw).unwrap();
        assert_eq!(raw.request, b"3|BenchmarkTestString123");
        assert_eq!(raw.expected, b"321gnirtStseTkramhcneB");
    }

    /// Answers split over reads, several in one read, and a wrong one are told apart.
    #[test]
    fn line_answers_are_checked() {
        let ex = Exchange::task(Op::Reverse, "ab", Framing::Line).unwrap();
        let mut reader = AnswerReader::new(&ex);
        let mut input: &[u8] = b"OK b";
        reader.fill(&mut input).unwrap();
        assert!(reader.take_answer().is_none());
        let mut input: &[u8] = b"a\nOK ba\nERR nope\n";
        reader.fill(&mut input).unwrap();
        assert_eq!(reader.take_answer(), Some(Ok(())));
        assert_eq!(reader.take_answer(), Some(Ok(())));
        let wrong = reader.take_answer().unwrap().unwrap_err();
        assert_eq!(wrong.excerpt, "ERR nope\\n");
        assert!(reader.take_answer().is_none());
        let mut empty: &[u8] = b"";
        assert!(matches!(reader.fill(&mut empty), Err(AnswerError::Missing)));
    }

    /// A raw answer is right only when all its bytes arrived; a short one at EOF is wrong.
    #[test]
    fn raw_answers_are_checked() {
        let ex = Exchange::task(Op::Reverse, "abc", Framing::Raw).unwrap();
        let mut reader = AnswerReader::new(&ex);
        let mut input: &[u8] = b"cb";
        assert!(matches!(
            reader.read_answer(&mut input),
            Err(AnswerError::Wrong(_))
        ));
        let mut reader = AnswerReader::new(&ex);
        let mut input: &[u8] = b"cba";
        reader.read_answer(&mut input).unwrap();
        let mut reader = AnswerReader::new(&ex);
        let mut input: &[u8] = b"xy";
        reader.fill(&mut input).unwrap();
        assert!(matches!(reader.take_answer(), Some(Err(_))));
    }

    /// A small buffer compacts and grows: an answer longer than it, arriving a few bytes
    /// at a time behind one already taken, is still read whole and checked.
    #[test]
    fn small_buffer_grows_and_compacts() {
        let ex = Exchange::task(Op::Reverse, &"x".repeat(100), Framing::Line).unwrap();
        let mut wire = ex.expected.repeat(3);
        wire.extend_from_slice(b"OK wrong\n");
        let mut reader = AnswerReader::with_buffer(&ex, 16);
        let mut answers = Vec::new();
        for chunk in wire.chunks(7) {
            let mut input = chunk;
            while !input.is_empty() {
                reader.fill(&mut input).unwrap();
                while let Some(answer) = reader.take_answer() {
                    answers.push(answer.is_ok());
                }
            }
        }
        assert_eq!(answers, [true, true, true, false]);
    }

    /// Redis's inline PING is answered +PONG.
    #[test]
    fn redis_ping_bytes() {
        let ex = Exchange::redis_ping();
        let mut reader = AnswerReader::new(&ex);
        let mut input: &[u8] = b"+PONG\r\n-ERR x\r\n";
        assert!(reader.read_answer(&mut input).is_ok());
        assert!(matches!(
            reader.read_answer(&mut input),
            Err(AnswerError::Wrong(_))
        ));
    }
}
