//! `--accept each`: every worker thread accepts for itself, one at a time under a mutex
//! (Stevens, UNIX Network Programming vol. 1, §30.11), instead of the main thread
//! accepting and handing each connection over (§30.12, `--accept main`).
//!
//! The listener sits in a `Mutex`; a worker takes the lock, waits up to a tick for a
//! connection, accepts it, and gives the lock up before serving, so the next idle worker
//! takes its turn. No hand-off and no queue: a connection is never accepted before a
//! worker is free for it, and with every worker busy, clients wait in the backlog.
//!
//! The main thread only waits for the shutdown, starting meanwhile any thread that could
//! not be started at first (module `workers`, as with the hand-off).
//!
//! At shutdown the main thread takes the listener out of the mutex (waiting at most a
//! tick for the worker whose turn it is) and closes it, so new connections are refused;
//! each worker finishes its client and finds the listener gone.

use std::io;
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use server_core::blocking::TICK;
use server_core::listener::{self, ACCEPT_BACKOFF, AcceptLog, Accepted};
use server_core::shutdown::wait_readable;
use server_core::{Gate, Server, StartError, Who};

use crate::workers::Workers;

/// The listener the workers take turns on; `None` once closed at shutdown.
type Turns = Arc<Mutex<Option<TcpListener>>>;

/// Runs the pool with `workers` threads that each accept for themselves, until a shutdown.
pub fn run(mut server: Server, workers: usize) -> Result<(), StartError> {
    let listener = server.take_listener().ok_or(StartError::Serving {
        what: "the listener is already taken",
        source: None,
    })?;
    let turns: Turns = Arc::new(Mutex::new(Some(listener)));
    // A place per client being served: what the shutdown waits for.
    let gate = Gate::new(workers);
    let mut workers = Workers::start(&server, workers, |n| {
        start_worker(&server, n, &turns, &gate)
    })?;
    // The main thread's only work: starting threads that could not be started, if any.
    while !server.shutdown().requested() {
        workers.retry();
        let wait = workers.next_retry().map_or(TICK, |at| {
            at.saturating_duration_since(Instant::now()).min(TICK)
        });
        server.wait_for_signal(wait);
    }
    let threads = workers.into_threads();
    // A worker that accepted took its place at the gate under this lock: once the main
    // thread has the lock, every client accepted is counted.
    drop(turns.lock().unwrap_or_else(PoisonError::into_inner).take());
    let deadline = server.stop_accepting(gate.in_use());
    crate::finish(server, &gate, deadline, threads);
    Ok(())
}

/// Starts the thread `worker-{n}`, which takes turns at the listener and serves each
/// client it accepts.
fn start_worker(
    server: &Server,
    n: usize,
    turns: &Turns,
    gate: &Arc<Gate>,
) -> io::Result<JoinHandle<()>> {
    let log = server.log();
    let name = format!("worker-{n}");
    let who = Who::Worker(name.clone());
    let service = server.service();
    let shutdown = server.shutdown().clone();
    let turns = Arc::clone(turns);
    let gate = Arc::clone(gate);
    thread::Builder::new()
        .name(name)
        .stack_size(crate::STACK_SIZE)
        .spawn(move || {
            let mut served: u64 = 0;
            let mut accept_log = AcceptLog::default();
            loop {
                let (client, place) = {
                    let listener = turns.lock().unwrap_or_else(PoisonError::into_inner);
                    let Some(listener) = listener.as_ref() else {
                        break;
                    };
                    if shutdown.requested() {
                        break;
                    }
                    if !matches!(wait_readable(&[listener.as_fd()], TICK), Ok(ready) if ready[0]) {
                        continue;
                    }
                    match listener::accept(listener) {
                        Accepted::Client(client) => {
                            accept_log.accepted(&log, &who);
                            (client, gate.try_acquire())
                        }
                        Accepted::Retry(e) => {
                            if e.kind() != std::io::ErrorKind::WouldBlock {
                                accept_log.retried(&e, &log, &who);
                            }
                            continue;
                        }
                        Accepted::Exhausted(e) | Accepted::Failed(e) => {
                            accept_log.failed(&e, &log, &who);
                            // Under the lock: no other worker could accept either.
                            thread::sleep(ACCEPT_BACKOFF);
                            continue;
                        }
                    }
                };
                crate::serve(&service, client, &who, log);
                drop(place);
                served += 1;
            }
            crate::log_served(log, &who, served);
        })
}
