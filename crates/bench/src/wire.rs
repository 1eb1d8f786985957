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
    /// the comparisons of SPEC §8.
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
#[derive(Debug)]
pub struct AnswerReader<'a> {
    exchange: &'a Exchange,
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    start: usize,
}

impl<'a> AnswerReader<'a> {
    /// A reader with an empty buffer.
    pub fn new(exchange: &'a Exchange) -> Self {
        AnswerReader {
            exchange,
            buf: Vec::with_capacity(256),
            start: 0,
        }
    }

    /// Takes one complete answer out of what has been read, if there is one.
    ///
    /// `None` means more bytes are needed; `Some(Ok(()))` a correct answer.
    pub fn take_answer(&mut self) -> Option<Result<(), WrongAnswer>> {
        let unread = &self.buf[self.start..];
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
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Some(outcome)
    }

    /// Reads once from `stream` into the buffer.
    ///
    /// # Errors
    ///
    /// [`AnswerError::Missing`] at end of stream, [`AnswerError::Wrong`] when an answer
    /// grows past a megabyte without ending, [`AnswerError::Io`] when the read fails.
    pub fn fill(&mut self, stream: &mut impl Read) -> Result<(), AnswerError> {
        if self.buf.len() - self.start > MAX_ANSWER_BYTES {
            return Err(AnswerError::Wrong(WrongAnswer {
                excerpt: excerpt(&self.buf[self.start..]),
            }));
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let read = loop {
            match stream.read(&mut self.buf[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match read {
            Ok(0) => {
                self.buf.truncate(old);
                // A raw answer that stopped short is wrong, not missing.
                if !self.exchange.line_delimited && old > 0 {
                    Err(AnswerError::Wrong(WrongAnswer {
                        excerpt: excerpt(&self.buf),
                    }))
                } else {
                    Err(AnswerError::Missing)
                }
            }
            Ok(n) => {
                self.buf.truncate(old + n);
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(old);
                Err(AnswerError::Io(e))
            }
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

    /// The seed's benchmark request and its answer, byte for byte, in both framings.
    #[test]
    fn seed_request_and_answer() {
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
        reader.read_answer(&mut input).unwrap_err();
        let mut reader = AnswerReader::new(&ex);
        let mut input: &[u8] = b"cba";
        reader.read_answer(&mut input).unwrap();
        let mut reader = AnswerReader::new(&ex);
        let mut input: &[u8] = b"xy";
        reader.fill(&mut input).unwrap();
        assert!(matches!(reader.take_answer(), Some(Err(_))));
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
