//! The taskserver wire protocol: what a request and a response are, how they are framed
//! on a byte stream, and a [`Connection`] that reads and writes them over any
//! `Read + Write`.
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
//! # Raw framing (the seed's)
//!
//! Each read of up to 1024 bytes is one request, `choice|payload`, and the answer goes
//! back bare: the result, `Error: <message>`, or `Invalid choice`. This is byte for byte
//! what the seed's Python client and server speak, so either can talk to ours.
//!
//! ```
//! use protocol::{Connection, Framing, Op, Request, Response};
//! use std::io::Cursor;
//!
//! // Two pipelined requests, answered with one write.
//! let mut wire = Cursor::new(b"3|abc\nEVAL|1+2\n".to_vec());
//! let mut conn = Connection::new(&mut wire, Framing::Line);
//! assert_eq!(conn.read_request()?, Some(Request::new(Op::Reverse, "abc")));
//! assert_eq!(conn.read_request()?, Some(Request::new(Op::Evaluate, "1+2")));
//! assert_eq!(conn.read_request()?, None);
//! # Ok::<(), protocol::ReadError>(())
//! ```
//!
//! # Layout
//!
//! - [`op`]: the three operations and how their codes and names are read.
//! - `message`: [`Request`], [`Response`], [`Framing`] and the errors of a bad request.
//! - [`codec`]: encoding and decoding of single frames, with no I/O.
//! - `connection`: [`Connection`], buffered and size-limited reading, batched writing.
//! - [`text`]: the characters untrusted text must not show as they are (format characters).
//!
//! Architecture invariant: `protocol` knows nothing of sockets' life cycle, threads or
//! what the operations do; it depends on no crate but std.

pub mod codec;
mod connection;
mod message;
pub mod op;
pub mod text;

pub use connection::{
    Connection, DEFAULT_MAX_REQUEST_BYTES, ReadError, ResponseError, WriteRequestError,
};
pub use message::{
    Framing, Request, RequestError, RequestRef, Response, UnknownFraming, parse_request,
    parse_request_ref,
};
pub use op::{Op, UnknownOp};
