//! `server-prefork`: the taskserver served by a fixed set of pre-forked worker processes.
//!
//! The parent binds the listener and forks `--workers` worker processes once, at start.
//! Each worker loops: wait in `accept(2)` on the listener they all share, serve that
//! client to the end, accept the next. The kernel hands each connection to one waiting
//! worker (the listener is blocking, so one worker wakes per connection, not all of
//! them). So a fork is paid once per worker, not once per client as in server-forking,
//! and the workers are the cap on clients served at once: with every worker busy, the
//! next clients wait in the listen backlog, and N clients held for a `--delay` d take
//! ⌈N / workers⌉ × d — the staircase of Apache's prefork MPM and Stevens' pre-forked
//! server (UNIX Network Programming vol. 1, §30.6).
//!
//! The parent only supervises; it never serves a client. It stays single-threaded (which
//! is what makes `fork` safe), reaps whenever SIGCHLD wakes it (and at least once a
//! second), logs which worker died and why, and forks a replacement at once, so the pool
//! is back to full strength well within 100 ms. A worker that cannot be forked is
//! retried with a doubling back-off (50 ms up to 5 s), as are workers that keep dying
//! within 100 ms of their fork, so a crash loop cannot become a fork loop; the others go
//! on serving meanwhile.
//!
//! On SIGINT/SIGTERM/SIGHUP the parent passes SIGTERM on to the workers and shuts the
//! shared listener (`shutdown(SHUT_RD)`), which refuses new connections at once and
//! wakes every worker waiting in `accept`. Each worker answers what its client has sent
//! and exits; the parent reaps them up to `--shutdown-timeout`, SIGKILLs any left, and
//! exits 0. It counts the clients it waits for, and those it abandons, from the
//! [`scoreboard`]: a byte per worker in memory they share, which a worker marks busy
//! while it has a client, since the parent does not see the connections (with `--accept
//! pass` it hands them out, but only a worker knows when it is done). A worker also gets
//! SIGTERM from the kernel should the parent die without passing it on
//! (`PR_SET_PDEATHSIG`), so workers never serve on as orphans.
//!
//! How a worker gets its next client is `--accept`'s choice, one of Stevens' designs
//! (module `accept`): all accept on the shared listener (the default, above), in turn
//! under a file lock or a process-shared mutex, the parent accepts and passes each
//! descriptor to an idle worker, or each has a `SO_REUSEPORT` listener of its own. Each
//! worker counts the clients it served and logs the count when it stops.
//!
//! `--max-clients` does not apply beyond the worker count: a smaller value forks that
//! many workers instead, and the banner says how many.
//!
//! # Layout
//!
//! - `main`, `run`: the supervisor: fork the workers, then reap and re-fork until a
//!   signal, then stop the workers.
//! - `fork_worker`, `worker`: one worker process: accept, serve, accept, until shutdown.
//! - `accept`: the five ways a worker gets its next client, each a small type.
//! - `reap`, `stop_workers`: collecting workers that died, during and at the end.
//! - [`scoreboard`]: which workers are serving a client, shared across the forks.
//!
//! Architecture invariant: this file is the pre-forked architecture and nothing else;
//! every worker serves one client at a time with server-core's common session, and the
//! parent never accepts.

mod accept;
mod scoreboard;

use std::collections::HashMap;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid};
use server_core::{Architecture, Backoff, Log, Server, ServerArgs, StartError, Who};

use crate::accept::{Choice, Strategy};
use crate::scoreboard::Scoreboard;

/// A worker that dies sooner than this after its fork died young: a crash at start, say.
/// Dying young counts as a failure toward the back-off, so a worker that cannot live
/// costs a fork every few seconds, not a fork loop; the pool counts as steady again once
/// every worker has lived this long. Short, so that a worker killed after it started
/// serving (by an operator, the OOM killer or a crash on a request) is replaced at once.
const YOUNG: Duration = Duration::from_millis(100);

/// The longest the parent goes without reaping, should a SIGCHLD wake-up be missed.
const REAP_INTERVAL: Duration = Duration::from_secs(1);

/// The exit status of a worker whose session panicked (EX_SOFTWARE of sysexits.h).
const PANICKED: i32 = 70;

/// How the server shows itself in the banner, with its `workers` processes.
fn prefork(workers: usize) -> Architecture {
    Architecture {
        title: "Prefork Server",
        pid_label: "Main PID",
        workers,
        describe: |_, workers| {
            format!(
                "-- {workers} pre-forked worker processes, each serving one client at a time --"
            )
        },
    }
}

/// The taskserver, served by a fixed set of worker processes forked once at start.
#[derive(Parser)]
#[command(version, about, long_about = None)]
#[command(mut_arg("max_clients", |arg| arg.help(
    "Clients served at once; more wait in the listen backlog, none is refused. \
     Not beyond the worker count: the workers are the cap (a smaller value forks that many)",
)))]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,

    /// Worker processes forked at start, each serving one client at a time: they are the
    /// cap on clients served at once (--max-clients does not apply beyond this count)
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    workers: u16,

    /// How the workers get their clients (Stevens, UNIX Network Programming, ch. 30)
    #[arg(long, value_enum, value_name = "HOW", default_value_t = Choice::Shared)]
    accept: Choice,
}

fn main() -> ExitCode {
    server_core::exit_status("server-prefork", run(Cli::parse()))
}

fn run(cli: Cli) -> Result<(), StartError> {
    let mut args = cli.server;
    let wanted = usize::from(cli.workers).min(args.max_clients);
    args.max_clients = wanted;
    let mut server = if cli.accept.reuses_port() {
        Server::start_reusing_port(args, &prefork(wanted))?
    } else {
        Server::start(args, &prefork(wanted))?
    };
    let mut strategy =
        accept::strategy(cli.accept, &mut server, wanted).map_err(StartError::Share)?;
    let board = Scoreboard::new(wanted).map_err(|e| StartError::Serving {
        what: "cannot map the workers' scoreboard",
        source: Some(e.into()),
    })?;
    let log = server.log();
    let parent = getpid();
    let mut workers: HashMap<Pid, Worker> = HashMap::new();
    // Failures in a row (failed forks, young deaths), and when the next fork may be tried.
    let mut backoff = Backoff::new(Instant::now());
    while !server.shutdown().requested() {
        for (pid, why, dead) in reap(&mut workers) {
            strategy.died(pid);
            if dead.forked.elapsed() < YOUNG {
                backoff.failed(Instant::now());
            }
            log.warn(
                &Who::Main,
                format_args!("Worker {pid} {why}; forking a replacement"),
            );
        }
        while workers.len() < wanted && backoff.is_due(Instant::now()) {
            let slot = free_slot(&workers);
            // A worker killed in the middle of a client left its mark.
            board.set(slot, false);
            let ready = Ready {
                parent,
                board: &board,
                slot,
            };
            match fork_worker(&mut server, strategy.as_mut(), &ready) {
                Ok(pid) => {
                    let forked = Instant::now();
                    workers.insert(pid, Worker { forked, slot });
                    log.info(&Who::Main, format_args!("Forked worker process {pid}"));
                }
                Err(e) => {
                    let wait = backoff.failed(Instant::now());
                    log.warn(
                        &Who::Main,
                        format_args!(
                            "cannot fork a worker: {e}; {} of {wanted} running, trying again in {}",
                            workers.len(),
                            server_core::log::duration(wait)
                        ),
                    );
                }
            }
        }
        if workers.len() == wanted && workers.values().all(|w| w.forked.elapsed() >= YOUNG) {
            backoff.reset();
        }
        // SIGCHLD (a worker died) or SIGTERM cuts this wait short.
        let wait = if workers.len() < wanted {
            backoff.retry_at().saturating_duration_since(Instant::now())
        } else {
            REAP_INTERVAL
        };
        strategy.wait(&mut server, wait);
    }
    let abandoned = stop_workers(&mut workers, &mut server, strategy.as_mut(), &board);
    server.finish(abandoned);
    Ok(())
}

/// A live worker process, as the parent knows it.
#[derive(Debug)]
struct Worker {
    /// When it was forked: one that dies younger than [`YOUNG`] counts as a failure.
    forked: Instant,
    /// Its place on the scoreboard.
    slot: usize,
}

/// What a new worker is given at its fork, besides the server and the strategy.
struct Ready<'a> {
    /// The parent's PID, to stop with it ([`Server::stop_with_parent`]).
    parent: Pid,
    /// Where the worker says whether it has a client.
    board: &'a Scoreboard,
    /// Its place on `board`.
    slot: usize,
}

/// The lowest scoreboard slot no live worker holds (there is one while fewer than the
/// wanted number run).
fn free_slot(workers: &HashMap<Pid, Worker>) -> usize {
    (0..)
        .find(|slot| workers.values().all(|w| w.slot != *slot))
        .unwrap_or(0)
}

/// Forks one worker; in the parent, returns its PID. The child never returns.
fn fork_worker(server: &mut Server, strategy: &mut dyn Strategy, ready: &Ready) -> io::Result<Pid> {
    strategy.before_fork(server)?;
    // SAFETY: this process has a single thread — nothing here or in server-core starts
    // one in the parent — so the child's copy of memory holds no lock or buffer taken
    // mid-update by another thread. The child only runs `worker`, which ends in `_exit`.
    match unsafe { fork() }? {
        ForkResult::Child => worker(server, strategy, ready),
        ForkResult::Parent { child } => {
            strategy.forked(child);
            Ok(child)
        }
    }
}

/// A worker's life: take a client as the strategy says, serve it to the end with the
/// common session, take the next, until a shutdown; then log how many it served and
/// `_exit`. Its scoreboard slot says busy while it has a client. A panic ends the worker
/// (and the parent forks another) instead of unwinding into the parent's loop.
fn worker(server: &mut Server, strategy: &mut dyn Strategy, ready: &Ready) -> ! {
    let me = Who::WorkerProcess(std::process::id());
    server.stop_with_parent(ready.parent);
    let log = server.log();
    let mut acceptor = match strategy.worker(server) {
        Ok(acceptor) => acceptor,
        Err(e) => {
            log.warn(&me, format_args!("cannot get ready to accept: {e}"));
            server_core::exit_child(1)
        }
    };
    let served = panic::catch_unwind(AssertUnwindSafe(|| {
        let service = server.service();
        let mut served: u64 = 0;
        while let Some(client) = acceptor.next(server, &me) {
            ready.board.set(ready.slot, true);
            service.serve(client, &me);
            ready.board.set(ready.slot, false);
            acceptor.done();
            served += 1;
        }
        served
    }));
    match served {
        Ok(served) => {
            log.warn(&me, format_args!("Stopping: served {served} clients"));
            server_core::exit_child(0)
        }
        Err(_) => server_core::exit_child(PANICKED),
    }
}

/// Collects every worker that has exited, without blocking: for each, its PID, how it
/// died, and what the parent knew of it.
fn reap(workers: &mut HashMap<Pid, Worker>) -> Vec<(Pid, String, Worker)> {
    let mut dead = Vec::new();
    loop {
        let (pid, why) = match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => (pid, format!("exited with status {code}")),
            Ok(WaitStatus::Signaled(pid, signal, core)) => {
                let core = if core { " (core dumped)" } else { "" };
                (pid, format!("was killed by {signal}{core}"))
            }
            // StillAlive: workers remain but none has exited; ECHILD: no workers.
            Ok(WaitStatus::StillAlive) | Err(_) => return dead,
            Ok(_) => continue,
        };
        if let Some(worker) = workers.remove(&pid) {
            dead.push((pid, why, worker));
        }
    }
}

/// Passes the shutdown on to the workers (a `kill` of the parent reaches only the
/// parent), stops the listeners so that new connections are refused and idle workers
/// wake, reaps the workers as they finish, and SIGKILLs those still running at the
/// deadline. Only workers the scoreboard says are serving a client count as clients in
/// flight, and as abandoned when killed: an idle worker that did not exit in time (a
/// stopped one, say) dropped nothing. Returns how many clients were abandoned.
fn stop_workers(
    workers: &mut HashMap<Pid, Worker>,
    server: &mut Server,
    strategy: &mut dyn Strategy,
    board: &Scoreboard,
) -> usize {
    let log = server.log();
    for &pid in workers.keys() {
        let _ = kill(pid, Signal::SIGTERM);
    }
    strategy.stop(server);
    let busy = workers.values().filter(|w| board.is_busy(w.slot)).count();
    let deadline = server.stop_accepting(busy);
    log_ends(reap(workers), &log);
    while !workers.is_empty() {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        // SIGCHLD cuts this wait short.
        server.wait_for_signal(left);
        log_ends(reap(workers), &log);
    }
    let mut abandoned = 0;
    for (&pid, worker) in workers.iter() {
        // Read before the kill: the mark is the worker's last word on its client.
        let busy = board.is_busy(worker.slot);
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        if busy {
            abandoned += 1;
            log.warn(
                &Who::Main,
                format_args!("Worker {pid} was still busy at the deadline: killed"),
            );
        } else {
            log.warn(
                &Who::Main,
                format_args!("Worker {pid} was idle but had not exited by the deadline: killed"),
            );
        }
    }
    abandoned
}

/// Logs workers that ended during the shutdown (as they should, so at debug level).
fn log_ends(dead: Vec<(Pid, String, Worker)>, log: &Log) {
    for (pid, why, _) in dead {
        log.debug(&Who::Main, format_args!("Worker {pid} {why}"));
    }
}
