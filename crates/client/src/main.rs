//! `client`: the taskserver's command-line client — the tutorial's interactive menu,
//! one-shot requests for scripts, and a pipelined batch mode.
//!
//! # Layout
//!
//! This file only parses the command line, connects, picks the mode and turns the
//! outcome into an exit code; the work is in the `client` library.
//!
//! Architecture invariant: the client speaks only the wire protocol; it knows nothing of
//! how a server is built.

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use client::{Client, TextMode, menu, target};
use protocol::{Framing, Op, Request, Response};

const EXIT_CODES: &str = "\
Modes:
  client                    the interactive menu (1-4), as the tutorial's client
  client OP PAYLOAD...      one request; prints only the result (words are joined by spaces)
  client --batch < FILE     one request per `op|payload` line, pipelined; prints one line
                            per input line, in order: `OK <result>` or `ERR <message>`

OP is 1/case, 2/eval or 3/reverse. Put flags before OP: everything after it is payload.

Exit codes:
  0  success (the menu ended by choice 4 or end of input; every request answered OK)
  1  the server answered a request with an error (one-shot: `Error: <message>` on
     stderr; batch: any ERR line, lines refused by the client included)
  2  no connection (refused, unknown host or interface), no whole answer within
     --timeout, the server went away or cut an answer short, or a usage error: a wrong
     command line, or a one-shot payload the protocol cannot carry (a newline, or a
     request over 65536 bytes), which is never sent

Output: to a terminal, control characters in the server's answers are shown escaped
(\\x1b, \\u{202e}) so that a server cannot retitle, clear or otherwise drive it; to a pipe
or a file, answers are written byte for byte.";

/// The usage line of every error: the three modes, since clap's own line for a batch
/// with an operation (`client --batch [OP] <PAYLOAD>...`) reads as if a batch took one.
const USAGE: &str = "\
client [OPTIONS]                  the interactive menu
       client [OPTIONS] OP PAYLOAD...    one request
       client [OPTIONS] --batch < FILE   one request per line of FILE (no OP: each line has its own)";

/// The taskserver client.
#[derive(Debug, Parser)]
#[command(name = "client", version, about, after_help = EXIT_CODES, override_usage = USAGE)]
struct Cli {
    /// Server host name or address, IPv4 or IPv6
    #[arg(long, default_value = "127.0.0.1", conflicts_with = "interface")]
    host: String,

    /// Connect to the first IPv4 address of this network interface (e.g. eth0), as the
    /// tutorial did, instead of --host
    #[arg(long, value_name = "NAME")]
    interface: Option<String>,

    /// Server port
    #[arg(long, short, default_value_t = 65432)]
    port: u16,

    /// Wire framing: `line` (OK/ERR lines, pipelining) or `raw` (the tutorial's format,
    /// for the tutorial's own Python server)
    #[arg(long, default_value = "line")]
    framing: Framing,

    /// Limit on connecting, and on each round trip: the whole answer must arrive within
    /// it (`500ms`, `10s`, `1m`; `0` waits forever)
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,

    /// Read `op|payload` lines from stdin, send them pipelined, print one line each
    #[arg(long, conflicts_with = "op")]
    batch: bool,

    /// One-shot operation: 1/case, 2/eval or 3/reverse
    op: Option<Op>,

    /// One-shot payload: the words after OP, joined by single spaces
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, requires = "op")]
    payload: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // Output into a closed pipe (`client --batch < f | head -1`) ends quietly.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Nothing more can be done if stderr is gone too.
            let _ = writeln!(io::stderr(), "client: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let addrs: Vec<SocketAddr> = match &cli.interface {
        Some(name) => vec![SocketAddr::new(target::interface_ipv4(name)?, cli.port)],
        None => target::resolve(&cli.host, cli.port)?,
    };
    let timeout = (!cli.timeout.is_zero()).then_some(cli.timeout);
    // A one-shot request the protocol cannot carry is a usage error, said before connecting.
    let one_shot = cli.op.map(|op| Request::new(op, cli.payload.join(" ")));
    if let Some(request) = &one_shot {
        client::check_request(request, cli.framing)?;
    }
    let mut client = Client::connect_any(&addrs, cli.framing, timeout)?;

    let stdout_mode = TextMode::for_output(io::stdout().is_terminal());
    if cli.batch {
        let summary = client.run_batch(io::stdin(), io::stdout().lock(), stdout_mode)?;
        return Ok(if summary.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }

    if let Some(request) = one_shot {
        return match client.request(&request) {
            Ok(Response::Ok(result)) => {
                let mut out = io::stdout().lock();
                writeln!(out, "{}", stdout_mode.show(&result)).and_then(|()| out.flush())?;
                Ok(ExitCode::SUCCESS)
            }
            Ok(Response::Err(message)) => {
                let stderr_mode = TextMode::for_output(io::stderr().is_terminal());
                let _ = writeln!(io::stderr(), "Error: {}", stderr_mode.show(&message));
                Ok(ExitCode::from(1))
            }
            // A request the client refuses to send (see `ClientError::is_fatal`) is a usage
            // error like any other wrong argument: exit 2, through `main`.
            Err(e) => Err(e.into()),
        };
    }

    menu::run_menu(
        &mut client,
        io::stdin().lock(),
        io::stdout().lock(),
        stdout_mode,
    )
    .context("the session ended")?;
    Ok(ExitCode::SUCCESS)
}

/// Whether writing to stdout failed because its reader went away. Socket errors never
/// show as a broken pipe here: the library turns them into "the server closed the
/// connection".
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
