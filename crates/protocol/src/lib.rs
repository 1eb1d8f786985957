//! The taskserver wire protocol: what a request and a response are, how they are framed
//! on a byte stream ([`Framer`], with no I/O), and the client's [`Connection`], which
//! writes requests and reads responses over any `Read + Write`.
//!
//! # Line framing (the default)
//!
//! One request per line, `<op>|<payload>\n`, where `<op>` is `1`/`case`, `2`/`eval` or
//! `3`/`reverse` (any case, spaces around it ignored) and the payload is everything after
//! the first `|`; one trailing `\r` is dropped. Each request gets one line back, in order:
//! `OK <result>\n` or `ERR <message>\n`. Bad input gets an `ERR` and the connection
//! stays usable; a line over the size limit gets `ERR request too long (limit N bytes)`
//! and the connection is closed.
//!
//! # Raw framing (the tutorial's)
//!
//! Each read of up to 1024 bytes is one request, `choice|payload`, and the answer goes
//! back bare: the result, `Error: <message>`, or `Invalid choice`. This is byte for byte
//! what the tutorial's Python client and server speak, so either can talk to ours.
//!
//! ```
//! use protocol::{Frame, Framer, Framing, Op, Request, Response, codec};
//!
//! // A server's side: two pipelined requests in one read, and their answers.
//! let mut framer = Framer::new(Framing::Line, protocol::DEFAULT_MAX_REQUEST_BYTES);
//! framer.receive(b"3|abc\nEVAL|1+2\n");
//! let mut requests = Vec::new();
//! while let Some(Frame::Complete(line)) = framer.next_frame() {
//!     requests.push(codec::decode_line_request(line)?);
//! }
//! assert_eq!(requests, [Request::new(Op::Reverse, "abc"), Request::new(Op::Evaluate, "1+2")]);
//! let mut answers = Vec::new();
//! codec::encode_response(&Response::Ok("cba".into()), Framing::Line, &mut answers);
//! codec::encode_response(&Response::Ok("3".into()), Framing::Line, &mut answers);
//! assert_eq!(answers, b"OK cba\nOK 3\n");
//! # Ok::<(), protocol::RequestError>(())
//! ```
//!
//! # Layout
//!
//! - [`op`]: the three operations and how their codes and names are read.
//! - `message`: [`Request`], [`Response`], [`Framing`], the errors of a bad request and
//!   the [`Rejection`] a server answers instead of a result.
//! - `framer`: [`Framer`], the one sans-I/O framer (line and raw framing, the limit,
//!   how much may be read now) that servers, the client and its input reader share.
//! - [`codec`]: encoding and decoding of single frames, with no I/O.
//! - `connection`: [`Connection`], the client's side: batched writing of requests,
//!   size-limited reading of responses through the framer.
//! - [`text`]: the characters untrusted text must not show as they are (format characters).
//!
//! Architecture invariant: `protocol` knows nothing of sockets' life cycle, threads or
//! what the operations do; it depends on no crate but std.

pub mod codec;
mod connection;
mod framer;
mod message;
pub mod op;
pub mod text;

pub use connection::{Connection, ResponseError, WriteRequestError};
pub use framer::{DEFAULT_MAX_REQUEST_BYTES, Frame, Framer};
pub use message::{
    Framing, Rejection, Request, RequestError, RequestRef, Response, UnknownFraming, parse_request,
    parse_request_ref,
};
pub use op::{Op, UnknownOp};
