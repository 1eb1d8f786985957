//! The request and response types that sit between bytes and work, and the errors of
//! reading a request.

use std::fmt;
use std::str::FromStr;

use crate::op::{Op, UnknownOp, printable_excerpt};

/// One request: an operation and the text it works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What to do.
    pub op: Op,
    /// What to do it to; may be empty. In line framing it never holds a newline.
    pub payload: String,
}

impl Request {
    /// A request for `op` on `payload`.
    pub fn new(op: Op, payload: impl Into<String>) -> Self {
        Request {
            op,
            payload: payload.into(),
        }
    }

    /// The request as a [`RequestRef`], borrowing its payload.
    pub fn view(&self) -> RequestRef<'_> {
        RequestRef {
            op: self.op,
            payload: &self.payload,
        }
    }
}

/// A request read in place: its payload borrows the bytes it arrived in, so a server can
/// answer it without copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRef<'a> {
    /// What to do.
    pub op: Op,
    /// What to do it to; may be empty.
    pub payload: &'a str,
}

impl From<RequestRef<'_>> for Request {
    fn from(request: RequestRef<'_>) -> Self {
        Request::new(request.op, request.payload)
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The operation's result (`OK <result>` in line framing).
    Ok(String),
    /// Why there is no result, one human-readable line (`ERR <message>`).
    Err(String),
}

/// Why a received request could not be read as `<op>|<payload>`.
///
/// Each of these is answered with an error response and the connection stays usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The line was empty.
    Empty,
    /// The bytes were not UTF-8; `valid_up_to` is the offset of the first bad byte.
    NotUtf8 {
        /// How many bytes from the start of the request were valid UTF-8.
        valid_up_to: usize,
    },
    /// There was no `|` between the operation and the payload.
    Malformed,
    /// The operation was neither a known code nor a known name.
    UnknownOp(UnknownOp),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Empty => f.write_str("empty request: expected <op>|<payload>"),
            RequestError::NotUtf8 { valid_up_to } => write!(
                f,
                "request is not valid UTF-8 (bad byte at offset {valid_up_to}): expected UTF-8 text"
            ),
            RequestError::Malformed => f.write_str("malformed request: expected <op>|<payload>"),
            RequestError::UnknownOp(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RequestError {}

/// Why a received frame is answered with an error instead of reaching the engine: the
/// answer is [`crate::codec::encode_rejection`]'s, and it is the only thing a rejection
/// is for (an I/O failure is not one: it has no one to answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The frame arrived whole but is not a request; the connection stays usable.
    Invalid(RequestError),
    /// A line grew past the limit; the connection is closed after the answer, since the
    /// rest of the line cannot be told from the next request.
    TooLong {
        /// The limit in force, in bytes.
        limit: usize,
    },
}

impl From<RequestError> for Rejection {
    fn from(error: RequestError) -> Self {
        Rejection::Invalid(error)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Invalid(e) => e.fmt(f),
            Rejection::TooLong { limit } => write!(f, "request too long (limit {limit} bytes)"),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Rejection::Invalid(e) => Some(e),
            Rejection::TooLong { .. } => None,
        }
    }
}

/// Reads `<op>|<payload>` from the bytes of one request, with its terminator already removed.
///
/// # Errors
///
/// [`RequestError`] when the bytes are empty, not UTF-8, have no `|`, or name an
/// unknown operation.
pub fn parse_request(bytes: &[u8]) -> Result<Request, RequestError> {
    parse_request_ref(bytes).map(Request::from)
}

/// Reads `<op>|<payload>` as [`parse_request`] does, without copying the payload.
///
/// # Errors
///
/// As [`parse_request`].
pub fn parse_request_ref(bytes: &[u8]) -> Result<RequestRef<'_>, RequestError> {
    if bytes.is_empty() {
        return Err(RequestError::Empty);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| RequestError::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    let (op, payload) = text.split_once('|').ok_or(RequestError::Malformed)?;
    let op = Op::from_str(op).map_err(RequestError::UnknownOp)?;
    Ok(RequestRef { op, payload })
}

/// How requests and responses are delimited on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// One request per `\n`-terminated line; `OK <result>\n` or `ERR <message>\n` back.
    #[default]
    Line,
    /// The tutorial's wire format: each read of up to 1024 bytes is one request, and the
    /// answer is sent bare, with no terminator.
    Raw,
}

impl Framing {
    /// The name used on command lines (`line` or `raw`).
    pub fn name(self) -> &'static str {
        match self {
            Framing::Line => "line",
            Framing::Raw => "raw",
        }
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a framing name that is neither `line` nor `raw`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFraming(pub String);

impl fmt::Display for UnknownFraming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown framing '{}': expected line or raw",
            printable_excerpt(&self.0, 32)
        )
    }
}

impl std::error::Error for UnknownFraming {}

impl FromStr for Framing {
    type Err = UnknownFraming;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "line" => Ok(Framing::Line),
            "raw" => Ok(Framing::Raw),
            _ => Err(UnknownFraming(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload is everything after the first `|`, spaces and further bars included.
    #[test]
    fn payload_is_everything_after_first_bar() {
        assert_eq!(
            parse_request(b" case |a|b "),
            Ok(Request::new(Op::ChangeCase, "a|b "))
        );
        assert_eq!(parse_request(b"3|"), Ok(Request::new(Op::Reverse, "")));
        let read = parse_request_ref(b"reverse|a|b").unwrap();
        assert_eq!(read.payload, "a|b");
        assert_eq!(Request::from(read).view(), read);
    }

    /// Each kind of bad request has its own message.
    #[test]
    fn bad_requests() {
        assert_eq!(parse_request(b""), Err(RequestError::Empty));
        assert_eq!(parse_request(b"hello"), Err(RequestError::Malformed));
        assert_eq!(
            parse_request(b"3|ab\xffc"),
            Err(RequestError::NotUtf8 { valid_up_to: 4 })
        );
        assert_eq!(
            parse_request(b"x|y").unwrap_err().to_string(),
            "unknown operation 'x': expected 1/case, 2/eval, 3/reverse"
        );
        assert_eq!(
            RequestError::Malformed.to_string(),
            "malformed request: expected <op>|<payload>"
        );
    }

    /// Framing names parse in any case and unknown ones are named in the error.
    #[test]
    fn framing_names() {
        assert_eq!("LINE".parse(), Ok(Framing::Line));
        assert_eq!("raw".parse(), Ok(Framing::Raw));
        assert_eq!(
            "tcp".parse::<Framing>().unwrap_err().to_string(),
            "unknown framing 'tcp': expected line or raw"
        );
    }
}
