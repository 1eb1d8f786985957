//! `server-pool`: the taskserver with a fixed pool of worker threads.
//!
//! The threads are started once, not per client: `--workers N` named threads
//! (`worker-1` … `worker-N`) each take a connection from a channel, serve that client to
//! the end, and take the next. The main thread only accepts and hands each connection
//! over the channel. This is Apache's worker MPM and the pre-threaded server of
//! Stevens' UNIX Network Programming (vol. 1, §30.12): a connection costs an `accept`
//! and a hand-off instead of a thread spawn, and no more than N clients are ever served
//! at once, so with a `--delay` of d, K clients take ⌈K / N⌉ × d — the pool's staircase.
//!
//! # The hand-off and its capacity
//!
//! The channel is a bounded `crossbeam-channel` with room for [`QUEUE`] (one)
//! connection. The main thread takes a place at a [`Gate`] of N + 1 places *before* it
//! accepts, and the place travels with the connection until its worker is done with it.
//! So when every worker is busy and the one slot is taken, the main thread stops
//! accepting and the next clients wait in the listen backlog: delayed, never refused.
//!
//! Why one slot, not none and not N: a connection in a slot has been accepted — its
//! client believes it is being served, and it holds a descriptor — but no worker has it
//! yet, and it may wait there as long as the longest session in progress. Small is
//! honest. One slot is what lets a freed worker start its next client at once, without
//! waiting for the main thread to wake, accept and hand over; more slots would only
//! move clients from the kernel's backlog into the server's queue, where they look
//! connected and are not. (The slot's connection is still served at shutdown: see
//! below.)
//!
//! `--max-clients` does not apply beyond the worker count: the workers are the cap. A
//! lower `--max-clients` starts only that many workers, since a worker beyond the cap
//! could never serve.
//!
//! Stacks are [`STACK_SIZE`] (256 KiB), as in server-threaded and for the same reason:
//! a session's buffers are on the heap and the evaluator's depth is bounded.
//!
//! # Threads that cannot be started
//!
//! A thread spawn fails when the user may run no more tasks (`RLIMIT_NPROC`, `ulimit -u`)
//! or memory is short. The pool then serves with the workers it has — the banner says
//! how many (`A pool of 4 worker threads (12 could not be started yet; retrying)`), and
//! each failure is logged with the count running — and the main thread tries the
//! missing ones again with a back-off that doubles from 50 ms to 5 s, as server-prefork
//! does for a failed fork, between accepts (so at least every 250 ms while no client
//! comes): module [`workers`]. Each worker started adds its place to the gate. No worker
//! at all: the server fails to start.
//!
//! # Shutdown
//!
//! On SIGINT/SIGTERM/SIGHUP the main thread stops accepting (the listener closes, so clients
//! still in the backlog are refused), then drops its end of the channel. Each worker
//! answers what its client has sent (the common session drains), then finds the channel
//! closed and ends. The connection waiting in the slot is served by the main thread
//! itself, at once: it was accepted, its client may have sent a request, and with every
//! worker busy until the deadline no worker would take it before then — it would be
//! closed unanswered, its request reset. The main thread then waits on the gate for
//! every place to come back, up to `--shutdown-timeout`, and the server exits 0.
//!
//! # Who accepts
//!
//! `--accept main` (the default) is the above. `--accept each` (module `each`) has no
//! hand-off: every worker accepts for itself, one at a time under a mutex (UNP §30.11).
//! Either way each worker logs how many clients it served when it stops.
//!
//! Architecture invariant: this file is the pool's hand-off and nothing else; everything
//! the servers share is in `server-core`.

mod each;
mod workers;

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use clap::{Parser, ValueEnum};
use crossbeam_channel::Receiver;
use server_core::{
    Architecture, Client, Event, Gate, Log, Permit, Server, ServerArgs, Service, StartError, Who,
};

use crate::workers::Workers;

/// Each worker's stack, as server-threaded's client threads (its crate doc says why
/// 256 KiB is enough, in debug builds too).
const STACK_SIZE: usize = 256 * 1024;

/// How many accepted connections may wait in the channel for a worker (see the crate
/// doc for why one).
const QUEUE: usize = 1;

/// How the server shows itself in the banner, with its `workers` threads running (of
/// `--max-clients`, which is the number wanted).
fn pool(workers: usize) -> Architecture {
    Architecture {
        title: "Pool Server",
        pid_label: "Main PID",
        workers,
        describe: |config, workers| {
            let missing = config.max_clients.saturating_sub(workers);
            let retrying = if missing > 0 {
                format!(" ({missing} could not be started yet; retrying)")
            } else {
                String::new()
            };
            format!(
                "-- A pool of {workers} worker threads{retrying}: as many clients at once, more wait in the backlog --"
            )
        },
    }
}

/// The taskserver, serving clients on a fixed pool of worker threads.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,

    /// Worker threads, started once: the clients served at once, more wait in the listen
    /// backlog. --max-clients does not apply beyond this count (a lower --max-clients
    /// starts only that many workers)
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..))]
    workers: u16,

    /// Who accepts the clients (Stevens, UNIX Network Programming, ch. 30)
    #[arg(long, value_enum, value_name = "WHO", default_value_t = Accept::Main)]
    accept: Accept,
}

/// The `--accept` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Accept {
    /// The main thread accepts and hands each client to an idle worker over a channel
    Main,
    /// Every worker thread accepts for itself, one at a time under a mutex
    Each,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli.server, cli.workers.into(), cli.accept);
    server_core::exit_status("server-pool", result)
}

fn run(mut args: ServerArgs, workers: usize, accept: Accept) -> Result<(), StartError> {
    args.max_clients = args.max_clients.min(workers);
    let wanted = args.max_clients;
    let mut server = Server::bind(args)?;
    server.reserve_descriptors();
    if accept == Accept::Each {
        return each::run(server, wanted);
    }
    let (handoff, queue) = crossbeam_channel::bounded::<(Client, Permit)>(QUEUE);
    // A place for the connection waiting in the channel; each worker started adds its own.
    let gate = Gate::new(QUEUE);
    let service = server.service();
    let log = server.log();
    let mut workers = Workers::start(&server, wanted, |n| {
        let thread = start_worker(n, &service, log, queue.clone())?;
        gate.widen();
        Ok(thread)
    })?;
    // A place first, then a client: when the workers are busy and the slot is taken,
    // clients wait in the backlog. A place kept across wake-ups (to retry workers) is
    // `place`.
    let mut place: Option<Permit> = None;
    loop {
        workers.retry();
        let permit = place
            .take()
            .or_else(|| gate.acquire_before(server.shutdown(), workers.next_retry()));
        let Some(permit) = permit else {
            if server.shutdown().requested() {
                break;
            }
            continue;
        };
        match server.next_event(true) {
            Event::Client(client) => {
                server.log().info(
                    &Who::Main,
                    format_args!("Queued {} for the workers", client.peer),
                );
                // Waits only while a worker that gave its place back has not yet come
                // back to the channel: each connection in it holds one of the gate's
                // places. (It cannot fail: this thread holds a receiving end.)
                if handoff.send((client, permit)).is_err() {
                    break;
                }
            }
            Event::Wake => place = Some(permit),
            Event::Shutdown => break,
        }
    }
    drop(place);
    let deadline = server.stop_accepting(gate.in_use());
    // The workers finish their clients, then find the channel closed and end.
    drop(handoff);
    let threads = workers.into_threads();
    // The connection in the slot, if no worker took it yet: served now, in draining mode,
    // by the main thread, which has nothing else to do until the deadline.
    let mut served = 0;
    while let Ok((client, permit)) = queue.try_recv() {
        serve(&service, client, &Who::Main, server.log());
        drop(permit);
        served += 1;
    }
    if served > 0 {
        log_served(server.log(), &Who::Main, served);
    }
    drop(queue);
    finish(server, &gate, deadline, threads);
    Ok(())
}

/// Ends a shutdown: waits up to `deadline` for every place at `gate` to come back, then,
/// if none is left out, for the worker `threads` to end (each at once, after saying how
/// many clients it served), and says how the shutdown went.
fn finish(server: Server, gate: &Gate, deadline: Instant, threads: Vec<JoinHandle<()>>) {
    let abandoned = gate.wait_idle(deadline);
    if abandoned == 0 {
        for thread in threads {
            let _ = thread.join();
        }
    }
    server.finish(abandoned);
}

/// Serves `client` to the end as `who`. A panic in the session (a bug; the session never
/// panics on what a client sends) ends that connection, not the thread: the pool stays
/// whole. Nothing the session shares with the thread is left half-done.
fn serve(service: &Service, client: Client, who: &Who, log: Log) {
    let served = panic::catch_unwind(AssertUnwindSafe(|| service.serve(client, who)));
    if served.is_err() {
        log.warn(who, format_args!("a session panicked; going on"));
    }
}

/// Logs, as a thread stops, how many clients it served: the spread over the workers.
fn log_served(log: Log, who: &Who, served: u64) {
    log.warn(who, format_args!("Stopping: served {served} clients"));
}

/// Starts the thread `worker-{n}`, which serves the connections it takes from `queue`
/// one after the other until the channel closes, then says how many it served.
fn start_worker(
    n: usize,
    service: &Service,
    log: Log,
    queue: Receiver<(Client, Permit)>,
) -> io::Result<JoinHandle<()>> {
    let name = format!("worker-{n}");
    let who = Who::Worker(name.clone());
    let service = service.clone();
    thread::Builder::new()
        .name(name)
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let mut served: u64 = 0;
            for (client, permit) in queue {
                serve(&service, client, &who, log);
                drop(permit);
                served += 1;
            }
            log_served(log, &who, served);
        })
}
