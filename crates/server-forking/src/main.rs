//! `server-forking`: the taskserver with one forked process per client.
//!
//! The parent only accepts, forks and reaps. For each client it calls `fork()`: the
//! child closes its copy of the listener, serves the client to the end and leaves with
//! `_exit` — it never returns into the accept loop — while the parent closes its copy of
//! the client's socket at once and goes back to accepting. Every child is reaped with
//! `waitpid(WNOHANG)` whenever SIGCHLD has woken the loop (and at least once a second),
//! so no exited child lingers as a zombie even when no new client arrives.
//!
//! The parent stays single-threaded (no logger or signal threads; signals only set a flag
//! and write to a pipe), which is what makes `fork` safe here. At most `--max-clients`
//! children live at once: at the cap the parent stops accepting and the next clients
//! wait in the listen backlog. On SIGINT/SIGTERM/SIGHUP the parent stops accepting, passes
//! SIGTERM on to its children (each finishes its in-flight request and exits), waits for
//! them up to `--shutdown-timeout`, SIGKILLs any left, and exits 0. A child also gets
//! SIGTERM from the kernel should the parent die without passing it on
//! (`PR_SET_PDEATHSIG`), so children never serve on as orphans.
//!
//! # Layout
//!
//! - `main`: the accept loop: reap, accept, fork; the child serves and exits.
//! - `reap`, `stop_children`: collecting exited children, during and at the end.
//!
//! Architecture invariant: this file is the process-per-client architecture and nothing
//! else; everything the servers share is in `server-core`.

use std::collections::HashSet;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid};
use server_core::{Architecture, Event, Log, Server, ServerArgs, StartError, Who};

/// How long the parent rests after `fork` failed (EAGAIN: too many processes, ENOMEM)
/// before it accepts again.
const FORK_BACKOFF: Duration = Duration::from_millis(100);

/// The longest the parent goes without reaping, should a SIGCHLD wake-up be missed.
const REAP_INTERVAL: Duration = Duration::from_secs(1);

const FORKING: Architecture = Architecture {
    title: "Forking Server",
    pid_label: "Main PID",
    workers: 0,
    describe: |config, _| {
        format!(
            "-- New process for each client (at most {} at once) --",
            config.max_clients
        )
    },
};

/// The taskserver, serving each client in a forked process of its own.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    server_core::exit_status("server-forking", run(Cli::parse().server))
}

fn run(args: ServerArgs) -> Result<(), StartError> {
    let mut server = Server::start(args, &FORKING)?;
    let log = server.log();
    let parent = getpid();
    let mut children: HashSet<Pid> = HashSet::new();
    let mut reaped_at = Instant::now();
    loop {
        // Only when SIGCHLD said a child exited (or, as a safety net, now and then):
        // `waitpid` looks at every live child, so calling it for each of thousands of
        // clients in a burst would cost O(children) each time.
        if server.take_signalled() || reaped_at.elapsed() >= REAP_INTERVAL {
            reap(&mut children, &log);
            reaped_at = Instant::now();
        }
        // At the cap the listener is left alone, and clients wait in the backlog.
        let accepting = children.len() < server.config().max_clients;
        let client = match server.next_event(accepting) {
            Event::Client(client) => client,
            Event::Wake => continue,
            Event::Shutdown => break,
        };
        // One client at a time, unlike the threaded server's batches: a child inherits
        // every descriptor the parent holds at the fork, so accepted-but-waiting
        // clients would make each fork copy them and each child close them (one syscall
        // each), while a batch only adds its own size to the backlog's room. Measured on
        // 2 cores: 5,000-client bursts were slower with batches of 256 and still stalled.
        let peer = client.peer;
        // SAFETY: this process has a single thread — nothing here or in server-core starts
        // one in the parent — so the child's copy of memory holds no lock or buffer taken
        // mid-update by another thread. The child only serves its client and `_exit`s.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                server.close_listener();
                server.stop_with_parent(parent);
                server.service().serve(client, &Who::this_child());
                server_core::exit_child(0);
            }
            Ok(ForkResult::Parent { child }) => {
                drop(client);
                children.insert(child);
                log.info(
                    &Who::Main,
                    format_args!("Forked child process {child} for {peer}"),
                );
            }
            Err(e) => {
                drop(client);
                log.warn(
                    &Who::Main,
                    format_args!("cannot fork for {peer}: {e}; closed that connection"),
                );
                thread::sleep(FORK_BACKOFF);
            }
        }
    }
    let deadline = server.stop_accepting(children.len());
    stop_children(&mut children, &server, deadline);
    server.finish(children.len());
    Ok(())
}

/// Collects every child that has exited, without blocking.
fn reap(children: &mut HashSet<Pid>, log: &Log) {
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                children.remove(&pid);
                log.debug(
                    &Who::Main,
                    format_args!("Reaped child {pid} (exit status {code})"),
                );
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) => {
                children.remove(&pid);
                log.warn(
                    &Who::Main,
                    format_args!("Child {pid} was killed by {signal}"),
                );
            }
            // StillAlive: children remain but none has exited; ECHILD: no children.
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Passes the shutdown on to the children (a `kill` of the parent reaches only the
/// parent), reaps them as they finish, and SIGKILLs those still running at `deadline`.
/// `children` is left holding the ones that had to be killed.
fn stop_children(children: &mut HashSet<Pid>, server: &Server, deadline: Instant) {
    let log = server.log();
    for &child in children.iter() {
        let _ = kill(child, Signal::SIGTERM);
    }
    reap(children, &log);
    while !children.is_empty() {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        // SIGCHLD cuts this wait short.
        server.wait_for_signal(left);
        reap(children, &log);
    }
    for &child in children.iter() {
        let _ = kill(child, Signal::SIGKILL);
        let _ = waitpid(child, None);
    }
}
