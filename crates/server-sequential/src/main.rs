//! `server-sequential`: the taskserver serving one client at a time.
//!
//! The one process accepts a client, serves it until it leaves, and only then accepts
//! the next. While a client is being served the others wait in the listen backlog: their
//! connections are made by the kernel, but their requests wait unanswered — the tutorial's
//! demonstration of why a server needs concurrency. `--idle-timeout` keeps one silent
//! client from holding the server forever. `--max-clients` does not apply.
//!
//! # Layout
//!
//! - `main`: the accept loop: accept, serve to the end, next.
//!
//! Architecture invariant: this file is the sequential architecture and nothing else;
//! everything the servers share is in `server-core`.

use std::process::ExitCode;

use clap::Parser;
use server_core::{Architecture, Server, ServerArgs, StartError, Who};

const SEQUENTIAL: Architecture = Architecture {
    title: "Sequential Server",
    pid_label: "PID",
    workers: 0,
    describe: |_, _| {
        "-- Only handles one client at a time; the others wait in the backlog --".into()
    },
};

/// The taskserver, serving one client at a time.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    server_core::exit_status("server-sequential", run(Cli::parse().server))
}

fn run(args: ServerArgs) -> Result<(), StartError> {
    let mut server = Server::start(args, &SEQUENTIAL)?;
    let log = server.log();
    let service = server.service();
    log.info(&Who::Main, format_args!("Waiting for connections..."));
    while let Some(client) = server.accept() {
        let peer = client.peer;
        // A SIGTERM usually arrives while a client is being served, in this loop's
        // only thread: the session closes the listener as soon as it notices, so new
        // clients are refused from then on instead of queueing for a server that is going.
        service.serve_with(client, &Who::MainProcess, &mut || server.close_listener());
        log.info(
            &Who::Main,
            format_args!("Connection from {peer} closed. Ready for next client."),
        );
    }
    server.stop_accepting(0);
    server.finish(0);
    Ok(())
}
