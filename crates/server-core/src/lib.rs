//! What the seven taskserver architectures share: the command line, the listening
//! socket, the one [`Session`] that every connection is, logging, the banner and
//! graceful shutdown.
//!
//! The session is a state machine with no I/O inside ([`session`]): bytes and the time
//! go in, bytes to send, the next deadline and the end come out. It has three drivers:
//! [`Service::serve`], a blocking loop for the architectures that give a client a process
//! or a thread (sequential, forking, threaded, prefork, pool); the mio loop of
//! `server-evented`; and the tokio task of `server-async`.
//!
//! A blocking server binary parses its `Cli` (with [`ServerArgs`] flattened in), calls
//! [`Server::start`], and then runs its own accept loop around [`Server::accept`] (or
//! [`Server::next_event`]) and [`Service::serve`]:
//!
//! ```no_run
//! use server_core::{Architecture, Server, ServerArgs, Who};
//!
//! const SEQUENTIAL: Architecture = Architecture {
//!     title: "Sequential Server",
//!     pid_label: "PID",
//!     workers: 0,
//!     describe: |_, _| "-- Only one client at a time --".into(),
//! };
//!
//! fn run(args: ServerArgs) -> Result<(), server_core::StartError> {
//!     let mut server = Server::start(args, &SEQUENTIAL)?;
//!     let service = server.service();
//!     while let Some(client) = server.accept() {
//!         service.serve(client, &Who::MainProcess);
//!     }
//!     server.stop_accepting(0);
//!     server.finish(0);
//!     Ok(())
//! }
//! ```
//!
//! # Layout
//!
//! - [`config`]: [`ServerArgs`], every flag with its default, and the
//!   [`Config`] read from it (`--interface` is resolved with `if-addrs` while parsing).
//! - [`listener`]: binding with socket2 (`SO_REUSEADDR`, the backlog), accepting with
//!   errors sorted into "go on" and "back off", and raising the open-file limit.
//! - [`session`]: [`Session`], every rule of a connection — framing, the limit, `ERR`
//!   answers, the delay as a deadline, `--work` one request per step, the writing rule,
//!   the idle timeout, a client that stops reading, a turn of computing, draining and
//!   the deadline on shutdown, what is logged — and no I/O; its one question,
//!   [`Session::poll_output`], answers with an [`Output`].
//! - [`blocking`]: [`Service`], the blocking driver of a session over a `TcpStream` (a
//!   `poll` on the socket and the shutdown [`blocking::Bell`]), and the factory the other
//!   drivers open sessions from.
//! - [`ledger`]: [`Ledger`], the count of requests received and not yet answered, in
//!   memory shared with forked children: what the last line of a shutdown reports.
//! - [`log`]: the tutorial's log lines with a time stamp and who served them, one `write(2)`
//!   per line, untrusted text escaped and cut.
//! - [`backoff`]: when to try again after a worker could not be started (prefork, pool).
//! - [`banner`]: the start-up banner with the PID and the real `Listening on` address.
//! - [`shutdown`]: the SIGINT/SIGTERM/SIGHUP flag and the self-pipe that wakes the accept loop
//!   (also on SIGCHLD).
//! - [`gate`]: a counting gate that caps clients served at once (the threaded server).
//! - [`handoff`]: one acceptor dealing clients out round-robin to a few serving threads'
//!   inboxes (the evented server's loops, the uring server's rings).
//! - `server`: [`Server`], the started server with the waits an accept loop needs.
//! - [`work`]: `--work`, CPU time burnt per request on the thread's own CPU clock.
//!
//! Architecture invariant: server-core knows how to serve one connection and how to
//! start and stop; it never decides how connections are spread over processes or threads
//! — that is each server binary's `main.rs`.
//!
//! # Shutdown
//!
//! SIGINT, SIGTERM and SIGHUP (a closed terminal) set a flag and write a byte to a
//! self-pipe (signal-hook; the
//! handlers do nothing else, and no thread is started, so the forking parent stays
//! single-threaded). The accept loop waits in `poll(2)` on the listener *and* the pipe,
//! so it wakes at once whichever thread took the signal. Then:
//!
//! 1. the loop ends and the listener is closed, so new connections are refused;
//! 2. each session answers the request it is working on (a `--delay` that has begun is
//!    finished), then every request already received — buffered, or arriving within
//!    20 ms — and closes; an idle connection closes at once;
//! 3. at the deadline (`--shutdown-timeout` from the signal) each session stops reading,
//!    cuts the held request's delay short and answers everything it has received, with
//!    no delay; what is not answered 100 ms later ([`session::LAST_WORDS`]) is abandoned
//!    and counted in the shared [`Ledger`];
//! 4. the binary waits for its sessions up to the deadline (the threaded server on its
//!    [`Gate`], the forking parent reaping its children, which it sends SIGTERM since a
//!    `kill` reaches only the parent; the event loops and the tokio runtime a grace of
//!    200 ms past it, [`session::DRIVER_GRACE`]), gives up on the rest (the forking
//!    parent SIGKILLs them), and says how it went: `Shut down cleanly` and exit status 0
//!    only when nothing was left unanswered; otherwise `Shut down with N request(s) left
//!    unanswered at the deadline` and exit status 3 ([`UNANSWERED_STATUS`]).
//!
//! How does a blocking session notice? The blocking driver waits in `poll(2)` on its
//! socket and on the shutdown [`blocking::Bell`], an `eventfd` the main thread rings in
//! [`Server::stop_accepting`]; a signal also interrupts the `poll` of the thread it lands
//! on (the sequential server, a forked child or worker). So every blocking session wakes
//! at once, and it still looks at the flag at least every [`blocking::TICK`] (250 ms).
//! Its sessions are told a deadline [`session::DRIVER_GRACE`] early, so that their last
//! answers are out before a forked child's parent SIGKILLs it at the deadline. A client
//! that trickles bytes cannot hold a session past a deadline, since the session checks
//! its deadlines on every step. The event loop and the tokio task wait for readiness or
//! the session's next deadline, and are woken by the main thread.
//!
//! # Decisions the protocol leaves open
//!
//! - The idle timeout counts from the last answer *sent* (or the connection), never while
//!   a request is held or being answered, and not from the last byte: a client trickling
//!   one line slower than the timeout is cut off too.
//! - A `--delay` running into the shutdown deadline is cut short: the request is answered
//!   at once (the blocking driver aims [`session::DRIVER_GRACE`] early, so a forked
//!   child's answer is out before its parent's SIGKILL).
//! - Duration flags beyond a century mean forever ([`config::FOREVER`]); no deadline can
//!   overflow.
//! - `--max-request-bytes` counts a line without its `\n` or `\r\n`. With raw framing a
//!   request is one read of at most min(1024, N) bytes, as the tutorial's `recv(1024)`.
//! - A write that makes no progress for `min(--idle-timeout, --shutdown-timeout)` ends
//!   the connection: the client has stopped reading its answers.
//! - After refusing an over-long line the server shuts its sending side and reads and
//!   drops the rest for up to 500 ms before closing, so the refusal is not lost to a
//!   reset.
//! - All log lines, warnings included, go to standard output, in one stream and order;
//!   only a failure to start goes to standard error (exit status 1). Bad flags are
//!   clap's errors (exit status 2). Time stamps are local time.
//! - A second SIGINT/SIGTERM/SIGHUP does nothing more; `--shutdown-timeout` bounds the wait.
//! - The sequential server ignores `--max-clients` (it serves one at a time).

pub mod backoff;
pub mod banner;
pub mod blocking;
pub mod config;
pub mod gate;
pub mod handoff;
pub mod ledger;
pub mod listener;
pub mod log;
mod server;
pub mod session;
pub mod shutdown;
pub mod work;

pub use backoff::Backoff;
pub use banner::Architecture;
pub use blocking::Service;
pub use config::{Config, Level, ServerArgs};
pub use gate::{Gate, Permit};
pub use ledger::Ledger;
pub use listener::Client;
pub use log::{Log, Who};
pub use server::{Event, Server, StartError, UNANSWERED_STATUS, exit_child, exit_status};
pub use session::{End, Output, Session};
pub use shutdown::Shutdown;
