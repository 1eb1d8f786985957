//! Encoding and decoding of single frames, for both framings, with no I/O.
//!
//! Line framing: `<op>|<payload>\n` → `OK <result>\n` or `ERR <message>\n`.
//! Raw framing (the tutorial's): `<op>|<payload>` as one read of up to
//! [`RAW_READ_SIZE`] bytes → the bare result, `Error: <message>` or `Invalid choice`.

use std::convert::Infallible;
use std::fmt;
use std::io::Write as _;
use std::ops::Range;

use crate::message::{Framing, Rejection, Request, RequestError, RequestRef, Response};
use crate::op::printable_excerpt;

/// The most a raw-framed request may hold: the tutorial reads requests with `recv(1024)`,
/// so anything longer would be split into several requests.
pub const RAW_READ_SIZE: usize = 1024;

/// The raw framing's answer to an unknown operation, word for word as the tutorial's server.
pub const RAW_INVALID_CHOICE: &str = "Invalid choice";

/// Why a request cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// In line framing a newline would end the request early.
    PayloadHasNewline,
    /// In raw framing the request would not fit one read of the tutorial's server.
    TooLongForRaw {
        /// The request's size in bytes.
        len: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::PayloadHasNewline => {
                f.write_str("payload contains a newline, which line framing cannot carry")
            }
            EncodeError::TooLongForRaw { len } => write!(
                f,
                "request is {len} bytes; raw framing carries at most {RAW_READ_SIZE}"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadResponse {
    /// The start of what arrived, escaped and shortened for a message.
    pub excerpt: String,
}

impl fmt::Display for BadResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed response '{}': expected OK <result> or ERR <message>",
            self.excerpt
        )
    }
}

impl std::error::Error for BadResponse {}

/// Appends the encoding of `request` to `out`.
///
/// Line framing sends the numeric code, as the tutorial's client does: `3|abc\n`.
///
/// # Errors
///
/// [`EncodeError`] when the payload holds a newline (line framing) or the request is
/// longer than [`RAW_READ_SIZE`] (raw framing); `out` is left as it was.
pub fn encode_request(
    request: &Request,
    framing: Framing,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let payload = request.payload.as_bytes();
    match framing {
        Framing::Line if payload.contains(&b'\n') => return Err(EncodeError::PayloadHasNewline),
        Framing::Raw if payload.len() + 2 > RAW_READ_SIZE => {
            return Err(EncodeError::TooLongForRaw {
                len: payload.len() + 2,
            });
        }
        _ => {}
    }
    out.push(b'0' + request.op.code());
    out.push(b'|');
    out.extend_from_slice(payload);
    if framing == Framing::Line {
        out.push(b'\n');
    }
    Ok(())
}

/// Reads one request from the bytes of a line with its `\n` removed; one trailing `\r`
/// is dropped so that `nc -C` and telnet work.
///
/// # Errors
///
/// As [`crate::parse_request`].
pub fn decode_line_request(line: &[u8]) -> Result<Request, RequestError> {
    decode_line_request_ref(line).map(Request::from)
}

/// Reads one request from a line as [`decode_line_request`] does, without copying the
/// payload.
///
/// # Errors
///
/// As [`crate::parse_request`].
pub fn decode_line_request_ref(line: &[u8]) -> Result<RequestRef<'_>, RequestError> {
    crate::parse_request_ref(line.strip_suffix(b"\r").unwrap_or(line))
}

/// Reads one request from a frame: a line with its `\n` removed, or one raw read.
///
/// # Errors
///
/// As [`crate::parse_request`].
pub fn decode_request(frame: &[u8], framing: Framing) -> Result<Request, RequestError> {
    match framing {
        Framing::Line => decode_line_request(frame),
        Framing::Raw => crate::parse_request(frame),
    }
}

/// Appends the encoding of `response` to `out`.
pub fn encode_response(response: &Response, framing: Framing, out: &mut Vec<u8>) {
    match response {
        Response::Ok(result) => {
            let Ok(_) = encode_answer(framing, out, |out| {
                out.extend_from_slice(result.as_bytes());
                Ok::<(), Infallible>(())
            });
        }
        Response::Err(message) => encode_error(message, framing, out),
    }
}

/// Appends the answer that `produce` writes, framed, straight into `out`: the servers'
/// path, with no `String` in between. `produce` appends the result's text after `OK `
/// (line framing; nothing before it in raw framing), and the frame is finished after it
/// (`\n` in line framing). If `produce` fails instead, whatever it wrote is dropped and
/// its error is encoded as the answer (`ERR <message>\n`, or the raw `Error: <message>`).
///
/// Returns where the result's text sits in `out` (for a log line), or the error that was
/// encoded.
///
/// ```
/// use protocol::{Framing, codec};
///
/// let mut out = Vec::new();
/// let ok = codec::encode_answer(Framing::Line, &mut out, |out| {
///     out.extend_from_slice(b"cba");
///     Ok::<(), String>(())
/// });
/// assert_eq!(ok, Ok(3..6));
/// let err = codec::encode_answer(Framing::Line, &mut out, |out| {
///     out.extend_from_slice(b"half an answer");
///     Err("division by zero")
/// });
/// assert_eq!(err, Err("division by zero"));
/// assert_eq!(out, b"OK cba\nERR division by zero\n");
/// ```
///
/// # Errors
///
/// `produce`'s error, after encoding it.
pub fn encode_answer<E: fmt::Display>(
    framing: Framing,
    out: &mut Vec<u8>,
    produce: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<Range<usize>, E> {
    let mark = out.len();
    if framing == Framing::Line {
        out.extend_from_slice(b"OK ");
    }
    let start = out.len();
    match produce(out) {
        Ok(()) => {
            finish_frame(framing, out, start);
            let end = out.len() - usize::from(framing == Framing::Line);
            Ok(start..end)
        }
        Err(e) => {
            out.truncate(mark);
            encode_error(&e, framing, out);
            Err(e)
        }
    }
}

/// Appends an error answer with `message`'s text: `ERR <message>\n`, or the raw
/// framing's `Error: <message>`.
pub fn encode_error(message: &(impl fmt::Display + ?Sized), framing: Framing, out: &mut Vec<u8>) {
    out.extend_from_slice(match framing {
        Framing::Line => b"ERR ",
        Framing::Raw => b"Error: ",
    });
    let start = out.len();
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{message}");
    finish_frame(framing, out, start);
}

/// Appends the answer to a frame that is not a request: `ERR <why>\n`, or the raw
/// framing's `Error: <why>`, except that the raw framing answers an unknown operation
/// with the tutorial's `Invalid choice`.
pub fn encode_rejection(rejection: &Rejection, framing: Framing, out: &mut Vec<u8>) {
    match (framing, rejection) {
        (Framing::Raw, Rejection::Invalid(RequestError::UnknownOp(_))) => {
            out.extend_from_slice(RAW_INVALID_CHOICE.as_bytes());
        }
        _ => encode_error(rejection, framing, out),
    }
}

/// Ends a frame whose text is `out[start..]`. In line framing a newline inside the text
/// would end the frame early, so it is escaped before the terminating `\n`; the engine
/// never produces one from a payload that had none, and error messages are one line, so
/// this is a guard (one scan of the answer), not a path taken.
fn finish_frame(framing: Framing, out: &mut Vec<u8>, start: usize) {
    if framing == Framing::Raw {
        return;
    }
    if out[start..].contains(&b'\n') {
        let text = out.split_off(start);
        for &b in &text {
            if b == b'\n' {
                out.extend_from_slice(b"\\n");
            } else {
                out.push(b);
            }
        }
    }
    out.push(b'\n');
}

/// Reads a line-framed response with its `\n` removed.
///
/// # Errors
///
/// [`BadResponse`] when the line is not UTF-8 or starts with neither `OK ` nor `ERR `.
pub fn decode_line_response(line: &[u8]) -> Result<Response, BadResponse> {
    let bad = || BadResponse {
        excerpt: printable_excerpt(&String::from_utf8_lossy(line), 40),
    };
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    if let Some(result) = text.strip_prefix("OK ") {
        Ok(Response::Ok(result.to_owned()))
    } else if text == "OK" {
        Ok(Response::Ok(String::new()))
    } else if let Some(message) = text.strip_prefix("ERR ") {
        Ok(Response::Err(message.to_owned()))
    } else {
        Err(bad())
    }
}

/// Reads a raw-framed response: `Error: <message>` and `Invalid choice` are errors and
/// anything else is a result. The raw framing cannot tell a result that happens to read
/// `Invalid choice` from the error; that ambiguity is the tutorial's and is kept for
/// compatibility. Bytes that are not UTF-8 are replaced with U+FFFD.
pub fn decode_raw_response(bytes: &[u8]) -> Response {
    let text = String::from_utf8_lossy(bytes);
    if let Some(message) = text.strip_prefix("Error: ") {
        Response::Err(message.to_owned())
    } else if text == RAW_INVALID_CHOICE {
        Response::Err(RAW_INVALID_CHOICE.to_owned())
    } else {
        Response::Ok(text.into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Op;

    fn encoded_response(response: &Response, framing: Framing) -> Vec<u8> {
        let mut out = Vec::new();
        encode_response(response, framing, &mut out);
        out
    }

    /// The exact bytes of every line-framed response form.
    #[test]
    fn line_response_bytes() {
        let ok = Response::Ok("cba".into());
        assert_eq!(encoded_response(&ok, Framing::Line), b"OK cba\n");
        let empty = Response::Ok(String::new());
        assert_eq!(encoded_response(&empty, Framing::Line), b"OK \n");
        let err = Response::Err("division by zero".into());
        assert_eq!(
            encoded_response(&err, Framing::Line),
            b"ERR division by zero\n"
        );
    }

    /// A newline inside an answer cannot end its line early: it is escaped.
    #[test]
    fn newline_in_an_answer_is_escaped() {
        let ok = Response::Ok("a\nb".into());
        assert_eq!(encoded_response(&ok, Framing::Line), b"OK a\\nb\n");
        let err = Response::Err("x\ny".into());
        assert_eq!(encoded_response(&err, Framing::Line), b"ERR x\\ny\n");
        assert_eq!(encoded_response(&ok, Framing::Raw), b"a\nb");
    }

    /// An answer written in place: the result's range is returned, a failure's partial
    /// output is dropped and its error framed instead, in both framings.
    #[test]
    fn answers_written_in_place() {
        let mut out = b"OK earlier\n".to_vec();
        let range = encode_answer(Framing::Line, &mut out, |out| {
            out.extend_from_slice(b"42");
            Ok::<(), &str>(())
        });
        assert_eq!(range, Ok(14..16));
        let err = encode_answer(Framing::Line, &mut out, |out| {
            out.extend_from_slice(b"partial");
            Err("modulo by zero")
        });
        assert_eq!(err, Err("modulo by zero"));
        assert_eq!(out, b"OK earlier\nOK 42\nERR modulo by zero\n");
        let mut raw = Vec::new();
        assert_eq!(
            encode_answer(Framing::Raw, &mut raw, |out| {
                out.extend_from_slice(b"HELLO");
                Ok::<(), &str>(())
            }),
            Ok(0..5)
        );
        assert!(encode_answer(Framing::Raw, &mut raw, |_| Err("bad")).is_err());
        assert_eq!(raw, b"HELLOError: bad");
    }

    /// The exact bytes of every raw-framed response form, as the tutorial's server sends them.
    #[test]
    fn raw_response_bytes() {
        let ok = Response::Ok("HELLO".into());
        assert_eq!(encoded_response(&ok, Framing::Raw), b"HELLO");
        let err = Response::Err("division by zero".into());
        assert_eq!(
            encoded_response(&err, Framing::Raw),
            b"Error: division by zero"
        );
        let mut out = Vec::new();
        let unknown = Rejection::Invalid(crate::parse_request(b"9|x").unwrap_err());
        encode_rejection(&unknown, Framing::Raw, &mut out);
        assert_eq!(out, b"Invalid choice");
        out.clear();
        encode_rejection(&unknown, Framing::Line, &mut out);
        assert_eq!(
            out,
            b"ERR unknown operation '9': expected 1/case, 2/eval, 3/reverse\n"
        );
    }

    /// Every other rejection is an error answer with its reason, in both framings.
    #[test]
    fn rejection_bytes() {
        let mut out = Vec::new();
        let too_long = Rejection::TooLong { limit: 10 };
        encode_rejection(&too_long, Framing::Line, &mut out);
        assert_eq!(out, b"ERR request too long (limit 10 bytes)\n");
        out.clear();
        encode_rejection(&too_long, Framing::Raw, &mut out);
        assert_eq!(out, b"Error: request too long (limit 10 bytes)");
        out.clear();
        encode_rejection(
            &Rejection::Invalid(RequestError::Malformed),
            Framing::Raw,
            &mut out,
        );
        assert_eq!(out, b"Error: malformed request: expected <op>|<payload>");
    }

    /// Requests go out with the numeric code; raw framing adds no terminator.
    #[test]
    fn request_bytes() {
        let mut out = Vec::new();
        encode_request(&Request::new(Op::Reverse, "abc"), Framing::Line, &mut out).unwrap();
        assert_eq!(out, b"3|abc\n");
        out.clear();
        encode_request(&Request::new(Op::ChangeCase, "hi"), Framing::Raw, &mut out).unwrap();
        assert_eq!(out, b"1|hi");
    }

    /// What a framing cannot carry is refused before anything is written.
    #[test]
    fn unencodable_requests() {
        let mut out = Vec::new();
        let newline = Request::new(Op::Reverse, "a\nb");
        assert_eq!(
            encode_request(&newline, Framing::Line, &mut out),
            Err(EncodeError::PayloadHasNewline)
        );
        let long = Request::new(Op::Reverse, "x".repeat(RAW_READ_SIZE));
        assert!(encode_request(&long, Framing::Raw, &mut out).is_err());
        assert!(out.is_empty());
    }

    /// One trailing carriage return is dropped; a second one is payload.
    #[test]
    fn crlf() {
        assert_eq!(
            decode_line_request(b"3|ab\r"),
            Ok(Request::new(Op::Reverse, "ab"))
        );
        assert_eq!(
            decode_line_request(b"3|ab\r\r"),
            Ok(Request::new(Op::Reverse, "ab\r"))
        );
        assert_eq!(decode_line_request(b"\r"), Err(RequestError::Empty));
    }

    /// Line responses decode back to what was encoded; garbage is named.
    #[test]
    fn line_response_round_trip() {
        for response in [
            Response::Ok("x y".into()),
            Response::Ok(String::new()),
            Response::Err("bad".into()),
        ] {
            let mut bytes = encoded_response(&response, Framing::Line);
            assert_eq!(bytes.pop(), Some(b'\n'));
            assert_eq!(decode_line_response(&bytes), Ok(response));
        }
        assert_eq!(
            decode_line_response(b"HELLO").unwrap_err().to_string(),
            "malformed response 'HELLO': expected OK <result> or ERR <message>"
        );
    }

    /// Raw responses are told apart by the tutorial's error prefixes.
    #[test]
    fn raw_response_decoding() {
        assert_eq!(decode_raw_response(b"6"), Response::Ok("6".into()));
        assert_eq!(
            decode_raw_response(b"Error: division by zero"),
            Response::Err("division by zero".into())
        );
        assert_eq!(
            decode_raw_response(b"Invalid choice"),
            Response::Err("Invalid choice".into())
        );
    }
}
