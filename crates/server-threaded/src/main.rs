//! `server-threaded`: the taskserver with one OS thread per client.
//!
//! The main thread only accepts. Each client gets a named thread (`client-1`,
//! `client-2`, …) that serves it to the end and exits, so clients are served at the
//! same time and share one address space. At most `--max-clients` threads run at once:
//! the main thread takes a place at a [`Gate`] *before* it accepts, so when all places
//! are taken it stops accepting and the next clients wait in the listen backlog — none
//! is refused. In a burst it accepts every queued client (while places are free) before
//! starting their threads, so the backlog drains at accept speed, not spawn speed.
//!
//! Stacks are [`STACK_SIZE`] (256 KiB) instead of Rust's default 2 MiB: a session needs
//! little (its buffers are on the heap, the evaluator's recursion is bounded at
//! `engine::MAX_DEPTH`), and small stacks let 10,000 clients fit in memory. Measured:
//! the deepest expression the engine accepts runs in under 128 KiB in a release build
//! but overflows 128 KiB in a debug build, whose frames are larger; 256 KiB serves both.
//! Only the pages a thread touches count toward memory, a few KiB for most clients.
//!
//! # Layout
//!
//! - `main`: the accept loop: a place at the gate, accept (and whatever else is queued),
//!   then, on SIGINT/SIGTERM/SIGHUP, wait for the threads.
//! - `spawn`: a named thread that serves one client and gives its place back.
//!
//! Architecture invariant: this file is the thread-per-client architecture and nothing
//! else; everything the servers share is in `server-core`.

use std::process::ExitCode;
use std::thread;

use clap::Parser;
use server_core::{Architecture, Client, Gate, Permit, Server, ServerArgs, StartError, Who};

/// Each client thread's stack. The integration tests check that the deepest expression
/// the engine accepts still evaluates on it (in the debug build, the hungrier one).
const STACK_SIZE: usize = 256 * 1024;

/// The most clients accepted in a row before their threads are started.
const MAX_BATCH: usize = 256;

const THREADED: Architecture = Architecture {
    title: "Threaded Server",
    pid_label: "Main PID",
    workers: 0,
    describe: |config, _| {
        format!(
            "-- New thread for each client (at most {} at once) --",
            config.max_clients
        )
    },
};

/// The taskserver, serving each client on a thread of its own.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    server_core::exit_status("server-threaded", run(Cli::parse().server))
}

fn run(args: ServerArgs) -> Result<(), StartError> {
    let mut server = Server::start(args, &THREADED)?;
    server.reserve_descriptors();
    let gate = Gate::new(server.config().max_clients);
    let mut count: u64 = 0;
    let mut batch = Vec::new();
    // A place first, then a client: at the cap, clients wait in the backlog.
    while let Some(permit) = gate.acquire(server.shutdown()) {
        let Some(client) = server.accept() else {
            break;
        };
        batch.push((client, permit));
        // Take whatever else is queued, while places are free, before starting any
        // thread: accepting is several times cheaper than spawning, so a burst empties
        // the backlog before it can overflow (an overflow costs a client a 1 s SYN retry).
        while batch.len() < MAX_BATCH
            && let Some(permit) = gate.try_acquire()
            && let Some(client) = server.try_accept()
        {
            batch.push((client, permit));
        }
        for (client, permit) in batch.drain(..) {
            count += 1;
            spawn(&server, client, permit, count);
        }
    }
    let deadline = server.stop_accepting(gate.in_use());
    let abandoned = gate.wait_idle(deadline);
    server.finish(abandoned);
    Ok(())
}

/// Starts the thread `client-{count}` serving `client`; `permit` goes with it.
fn spawn(server: &Server, client: Client, permit: Permit, count: u64) {
    let log = server.log();
    let name = format!("client-{count}");
    let peer = client.peer;
    let service = server.service();
    let spawned = thread::Builder::new()
        .name(name.clone())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            service.serve(client, &Who::this_thread());
            drop(permit);
        });
    match spawned {
        Ok(_detached) => log.info(&Who::Main, format_args!("Started thread {name} for {peer}")),
        // The closure, with the client's socket and the permit, was dropped: the
        // client sees its connection closed, and the place is free again.
        Err(e) => log.warn(
            &Who::Main,
            format_args!("cannot start a thread for {peer}: {e}; closed that connection"),
        ),
    }
}
