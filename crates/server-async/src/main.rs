//! `server-async`: the taskserver as a tokio task per client.
//!
//! A tokio multi-thread runtime, built by hand with `--workers N` threads (default: the
//! number of cores), runs one accept loop and one task per connection. A task is a few
//! hundred bytes of state, not a thread: thousands of clients, most of them waiting on
//! the network or on their `--delay`, cost the runtime only their sessions and sockets.
//! This is how a Rust network service is written today; mini-redis's `src/server.rs` is
//! the model.
//!
//! `main.rs` (this file) starts the runtime, runs the accept loop and waits for the
//! signal; [`task`] is the per-connection task that drives a session over its socket.
//!
//! # The task
//!
//! Each task drives the one sans-I/O [`Session`](server_core::Session) of server-core, which keeps every rule
//! of a connection (framing, limits, the delay, the engine, the writing rule, timeouts,
//! draining); the task only does what [`Session::poll_output`](server_core::Session::poll_output) says and tells it the
//! time. It writes what [`Output::Transmit`](server_core::Output::Transmit) offers, reads at most what
//! [`Output::Receive`](server_core::Output::Receive) allows, and otherwise waits — in one `select!` — for the socket to
//! be ready, for its timer (one `Sleep` per task, reset to the output's `until`: a
//! `--delay` is such a deadline, never a blocked thread), or for the shutdown notice.
//! After server-core's [`TURN`](server_core::session::TURN) of computing, once its answers are handed to the socket,
//! the task yields (`yield_now`), so the other tasks on its runtime thread get their
//! turn before it computes again.
//! Reads land in a buffer of [`task::READ_CHUNK`] bytes per runtime thread, not per task: the
//! session copies what it keeps, so an idle connection owns no read buffer. What a task
//! holds across a wait is kept small on purpose — it is most of what a connection costs
//! (about 1.6 KiB with the session and the socket's registration: 10,000 connections
//! each holding a request took 19 MiB, measured).
//!
//! # The cap and the accept loop
//!
//! `--max-clients` is a [`Semaphore`] with that many permits. The accept loop takes a
//! permit *before* it accepts, and the permit travels with the connection into its task:
//! at the cap the loop stops accepting and the next clients wait in the listen backlog,
//! delayed, never refused. An accept that fails for want of descriptors or memory
//! (`EMFILE`, `ENFILE`, …; sorted by server-core's `listener::classify`) backs off
//! [`ACCEPT_BACKOFF`] instead of spinning, and says so once per run of failures (server-core's [`AcceptLog`]). The
//! loop runs outside tokio's cooperative budget (`unconstrained`): otherwise, in a burst,
//! it yields every 128 accepts behind the thousands of tasks it has just started, and
//! the listen queue overflows (clients then wait for a SYN retry, a second or more).
//!
//! # Signals and shutdown
//!
//! `Server::start` has already installed the SIGINT/SIGTERM handlers, which set a flag
//! and write to a self-pipe; `tokio::signal` would install a second handler, so the main
//! thread, which is not a runtime thread, simply waits on that pipe. On a signal it
//! wakes the accept loop and every task through one [`Notify`] (`notify_waiters`; each
//! task's place in its waiting list is taken once, when the task starts, and a task
//! started later sees the flag itself), and stops the listener listening through a
//! second descriptor of it (new connections are refused at once, even while every
//! runtime thread is busy computing); each task calls [`Session::handle_shutdown`](server_core::Session::handle_shutdown) and
//! drains. The deadline is read at the signal, not when a busy runtime first asks. The
//! main thread then waits, up to the deadline and a moment for the last answers
//! ([`GRACE`]), for every permit to come back — one per live task — and reports: `Shut
//! down cleanly` and exit status 0 when nothing was left unanswered, otherwise how many
//! requests were and exit status 3; tasks still busy then are dropped with the runtime.
//!
//! A task that panicked (a bug: the session never panics on what a client sends) is
//! caught by tokio; its permit is given back as it unwinds and the server goes on.
//!
//! Architecture invariant: this crate is the tokio accept loop and the task, nothing else;
//! everything the servers share is in `server-core`.

mod task;

use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use server_core::listener::{self, ACCEPT_BACKOFF, AcceptFailure, AcceptLog};
use server_core::{Architecture, Log, Server, ServerArgs, Service, Shutdown, StartError, Who};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::time::{self, sleep};

/// How long past the shutdown deadline the sessions are still driven for their last
/// answers before they are abandoned: server-core's, the same for every driver.
const GRACE: Duration = server_core::session::DRIVER_GRACE;

/// How long the main thread waits on the signal pipe before it looks at the shutdown flag
/// anyway (the pipe wakes it at once; this only bounds a missed wake-up).
const SIGNAL_CHECK: Duration = Duration::from_millis(250);

/// How the server shows itself in the banner, with its runtime's `workers` threads.
fn architecture(workers: usize) -> Architecture {
    Architecture {
        title: "Async Server",
        pid_label: "PID",
        workers,
        describe: |config, workers| {
            format!(
                "-- A task per client on a tokio runtime of {workers} thread{s} (at most {} clients at once) --",
                config.max_clients,
                s = if workers == 1 { "" } else { "s" },
            )
        },
    }
}

/// The taskserver, serving each client in a tokio task on a multi-thread runtime.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,

    /// Runtime worker threads, which run the accept loop and every client's task
    /// [default: the number of cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let workers = server_core::config::workers_or_cores(cli.workers);
    server_core::exit_status("server-async", run(cli.server, workers))
}

/// What every task shares.
struct Shared {
    service: Service,
    shutdown: Shutdown,
    log: Log,
    /// Wakes the accept loop and every task when shutdown is requested.
    stop: Notify,
}

fn run(mut args: ServerArgs, workers: usize) -> Result<(), StartError> {
    // The semaphore's permits are counted in u32 when the main thread waits for them all.
    args.max_clients = args.max_clients.min(u32::MAX as usize);
    let mut server = Server::start(args, &architecture(workers))?;
    // Before the runtime's threads exist (server-core's doc says why).
    server.reserve_descriptors();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("async-worker")
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| StartError::Serving {
            what: "cannot start the tokio runtime",
            source: Some(e),
        })?;
    let mut listening = None;
    let listener = server
        .take_listener()
        .ok_or_else(|| io::Error::other("the listener was already taken"))
        .and_then(|l| {
            l.set_nonblocking(true)?;
            // A second descriptor of the listener, to stop it listening at the signal.
            listening = Some(l.try_clone()?);
            let _entered = runtime.enter();
            TcpListener::from_std(l)
        })
        .map_err(|e| StartError::Serving {
            what: "cannot register the listener",
            source: Some(e),
        })?;
    let max_clients = server.config().max_clients;
    let limit = Arc::new(Semaphore::new(max_clients));
    let shared = Arc::new(Shared {
        service: server.service(),
        shutdown: server.shutdown().clone(),
        log: server.log(),
        stop: Notify::new(),
    });
    // Unconstrained: the accept loop is not made to yield by tokio's cooperative budget
    // (128 operations), so it empties the backlog before the tasks it started run.
    let acceptor = runtime.spawn(tokio::task::unconstrained(accept_loop(
        listener,
        Arc::clone(&shared),
        Arc::clone(&limit),
    )));

    // The main thread only waits for SIGINT/SIGTERM on server-core's self-pipe.
    while !server.shutdown().requested() {
        server.wait_for_signal(SIGNAL_CHECK);
    }
    // The deadline counts from the signal, read here at once: not from whenever a busy
    // runtime first gets round to asking.
    let deadline = server
        .shutdown()
        .deadline()
        .unwrap_or_else(|| Instant::now() + server.config().shutdown_timeout);
    // New connections are refused from now on, even while every runtime thread is busy
    // computing and the accept loop cannot run to drop the listener.
    if let Some(listening) = &listening {
        listener::stop_listening(listening);
    }
    // The flag is already set, so a task started after this sees it on its own.
    shared.stop.notify_waiters();
    server.stop_accepting(max_clients - limit.available_permits());
    // Every permit back means every task has ended.
    let all = u32::try_from(max_clients).unwrap_or(u32::MAX);
    // Past the deadline too, by GRACE: a session answers what it had received *at* the
    // deadline, so waiting only until then abandoned it just as its answers went out.
    let drained = runtime.block_on(async {
        time::timeout_at(time::Instant::from_std(deadline + GRACE), async {
            let _ = acceptor.await;
            limit.acquire_many(all).await
        })
        .await
    });
    let abandoned = match drained {
        Ok(_) => 0,
        Err(_elapsed) => max_clients - limit.available_permits(),
    };
    server.finish(abandoned);
    // Tasks still busy at the deadline are dropped (their sockets closed), not waited for.
    runtime.shutdown_background();
    Ok(())
}

/// Accepts clients until shutdown is announced, each into a task of its own holding one
/// of `limit`'s permits.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, limit: Arc<Semaphore>) {
    let stopped = shared.stop.notified();
    tokio::pin!(stopped);
    if shared.shutdown.requested() {
        return;
    }
    // What has been said about accept failing: once per run of failures.
    let mut accept_log = AcceptLog::default();
    let mut tasks: u64 = 0;
    loop {
        // A permit first, then a client: at the cap, clients wait in the backlog.
        let permit = tokio::select! {
            permit = Arc::clone(&limit).acquire_owned() => permit,
            () = &mut stopped => return,
        };
        let Ok(permit) = permit else {
            return;
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stopped => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                accept_log.accepted(&shared.log, &Who::Main);
                // Without NODELAY the server still works, only slower: not worth a failure.
                let _ = stream.set_nodelay(true);
                tasks += 1;
                tokio::spawn(task::serve(
                    stream,
                    peer,
                    Who::Task(tasks),
                    Arc::clone(&shared),
                    permit,
                ));
            }
            Err(e) => match listener::classify(e) {
                AcceptFailure::Retry(e) => accept_log.retried(&e, &shared.log, &Who::Main),
                AcceptFailure::Exhausted(e) | AcceptFailure::Failed(e) => {
                    accept_log.failed(&e, &shared.log, &Who::Main);
                    drop(permit);
                    tokio::select! {
                        () = sleep(ACCEPT_BACKOFF) => {}
                        () = &mut stopped => return,
                    }
                }
            },
        }
    }
}
