//! The taskserver client: connect to a server, send requests, get typed responses —
//! one at a time ([`Client::request`]) or a whole file pipelined
//! ([`Client::run_batch`]) — and the tutorial's interactive menu ([`menu::run_menu`]).
//! The `client` binary is a thin command line over this library.
//!
//! ```no_run
//! use std::time::Duration;
//! use client::Client;
//! use protocol::{Framing, Op, Request, Response};
//!
//! let addr = "127.0.0.1:65432".parse()?;
//! let mut client = Client::connect(addr, Framing::Line, Some(Duration::from_secs(10)))?;
//! let response = client.request(&Request::new(Op::Reverse, "abc"))?;
//! assert_eq!(response, Response::Ok("cba".into()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//!
//! - `client`: [`Client`], one connection and one request/response round trip at a time.
//! - [`batch`]: [`Client::run_batch`], every line of an input pipelined over one
//!   connection by a writer thread while the caller's thread reads the responses.
//! - [`menu`]: the tutorial's menu loop, word for word, over any input and output.
//! - [`target`]: where to connect: host names and literals, and `--interface` lookup.
//! - [`display`]: [`TextMode`], the server's text byte for byte or, for a terminal, with
//!   control characters escaped.
//! - `input`: reading the user's lines without ever holding more than the request limit.
//! - `error`: [`ConnectError`] and [`ClientError`], whose messages say what to do.
//!
//! Architecture invariant: the client speaks only the wire protocol; it knows nothing of
//! how a server is built, and depends on no workspace crate but `protocol`.

pub mod batch;
mod client;
pub mod display;
mod error;
mod input;
pub mod menu;
pub mod target;

pub use batch::{BatchError, BatchSummary};
pub use client::{Client, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, check_request};
pub use display::TextMode;
pub use error::{ClientError, ConnectError, START_SERVER_HINT};
