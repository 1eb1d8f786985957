//! The pre-forked architecture: a fixed number of worker processes, each serving one
//! client at a time, so the workers are the cap (a third client waits for one of two
//! workers, ten clients take five rounds); the pool stays at its size under hundreds of
//! clients; a worker that dies is replaced; a slow client holds one worker, not the
//! server; SIGTERM drains the workers, and the parent leaves no zombie and no orphan.
//! Serving, the staircase and the drain are checked with each `--accept` strategy, and
//! each strategy's own risk (a lock whose holder is killed, a descriptor in flight to a
//! worker that dies) on its own. (The tests every server passes are in server-core's
//! `tests/`.)

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn start_prefork(args: &[&str]) -> ServerProcess {
    start("server-prefork", args)
}

/// The `--accept` strategies: the tests of serving, the staircase and the drain run on
/// each, at once.
const ACCEPTS: [&str; 5] = ["shared", "flock", "mutex", "pass", "reuseport"];

/// Starts the server with `--accept accept` and `args`.
fn start_accepting(accept: &str, args: &[&str]) -> ServerProcess {
    let mut all = vec!["--accept", accept];
    all.extend_from_slice(args);
    start_prefork(&all)
}

/// The live (not zombie) children of the server: its workers.
fn workers_of(server: &ServerProcess) -> Vec<u32> {
    children_of(server.pid())
        .into_iter()
        .filter(|&(_, state)| state != 'Z')
        .map(|(pid, _)| pid)
        .collect()
}

/// Waits until the server has exactly `n` children, none of them a zombie, and returns
/// their PIDs (as seen when the wait ended, not read again).
fn wait_for_workers(server: &ServerProcess, n: usize) -> HashSet<u32> {
    let mut workers = HashSet::new();
    wait_until("the workers to be forked", IO_TIMEOUT, || {
        let children = children_of(server.pid());
        if children.len() == n && children.iter().all(|&(_, state)| state != 'Z') {
            workers = children.iter().map(|&(pid, _)| pid).collect();
            Ok(())
        } else {
            Err(children)
        }
    });
    workers
}

/// The worker PID in a log line written by a worker (`[WORKER PID: n]`).
fn worker_in(line: &str) -> Option<u32> {
    line.split("[WORKER PID: ")
        .nth(1)?
        .split(']')
        .next()?
        .parse()
        .ok()
}

/// The workers that logged a line containing `needle`.
fn workers_logging(server: &ServerProcess, needle: &str) -> HashSet<u32> {
    lines_with(server, needle)
        .iter()
        .filter_map(|l| worker_in(l))
        .collect()
}

/// With every `--accept` strategy: the banner says how many workers; that many children
/// are forked, each logged; the parent serves no client itself: every connection is
/// served by a worker, which logs as `[WORKER PID: n]`.
#[test]
fn banner_counts_the_workers_and_workers_serve() {
    on_each(&ACCEPTS, workers_serve);
}

fn workers_serve(accept: &str) {
    let server = start_accepting(accept, &["--workers", "3"]);
    let pids = wait_for_workers(&server, 3);
    // The parent logs a fork after fork() returns: the child can be seen first.
    for pid in &pids {
        let line = format!("[MAIN] - Forked worker process {pid}");
        assert_logged(&server, &line);
    }
    // Read after the fork lines, which the parent writes after the banner: `start` waited
    // only for `Listening on`, and the line after it may still be on its way from the
    // output reader.
    let out = server.output();
    assert_eq!(
        out[0],
        format!("Prefork Server (Main PID: {})", server.pid())
    );
    assert_eq!(
        out[2],
        "-- 3 pre-forked worker processes, each serving one client at a time --"
    );
    for i in 0..6 {
        assert_eq!(
            one_shot(server.addr(), format!("3|{i}ab\n").as_bytes()),
            format!("OK ba{i}\n")
        );
    }
    wait_for_lines(&server, "disconnected", 6);
    let served = workers_logging(&server, "Connection from 127.0.0.1:");
    assert!(
        !served.is_empty() && served.is_subset(&pids),
        "{served:?} vs {pids:?}"
    );
    assert!(!served.contains(&server.pid()));
    for line in lines_with(&server, "Connection from") {
        assert!(line.contains("[WORKER PID: "), "{line}");
    }
    server.stop(IO_TIMEOUT).expect("stops");
}

/// A bad `--accept` is a usage error that lists the choices; `--help` explains each.
#[test]
fn accept_choices_are_listed_and_explained() {
    let out = run("server-prefork", &["--port", "0", "--accept", "lottery"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("[possible values: shared, flock, mutex, pass, reuseport]"),
        "{stderr}"
    );
    let help = help_of("server-prefork");
    for accept in ACCEPTS {
        assert!(help.contains(&format!("- {accept}:")), "{help}");
    }
    assert!(help.contains("[default: shared]"), "{help}");
}

/// `--max-clients` below the worker count forks that many workers (the cap holds);
/// `--workers 0` and a non-number are refused with a message naming the flag.
#[test]
fn max_clients_caps_the_workers_and_bad_counts_are_refused() {
    let server = start_prefork(&["--workers", "8", "--max-clients", "2"]);
    wait_for_workers(&server, 2);
    // `start` waited for `Listening on` only; the line after it may still be on its way
    // from the output reader (seeing the workers in /proc does not order the two).
    assert_logged(&server, "pre-forked worker processes");
    assert_eq!(
        server.output()[2],
        "-- 2 pre-forked worker processes, each serving one client at a time --"
    );
    server.stop(IO_TIMEOUT).expect("stops");

    for bad in ["0", "many", "100000"] {
        assert_usage_error(
            "server-prefork",
            &["--port", "0", "--workers", bad],
            "--workers",
        );
    }
    let help = help_of("server-prefork");
    assert!(help.contains("--workers <N>"), "{help}");
    assert!(help.contains("Not beyond the worker count"), "{help}");
}

/// With two workers, each holding a request for the delay, a third client is served only
/// once a worker is free: its answer comes a whole delay after the first answer (a lower
/// bound, not a speed), and its connection is logged after a disconnect.
#[test]
fn third_client_waits_for_a_free_worker() {
    let delay = Duration::from_millis(300);
    let server = start_prefork(&["--workers", "2", "--delay", "300ms"]);
    let addr = server.addr();
    wait_for_workers(&server, 2);
    let began = Instant::now();
    let first: Vec<_> = (0..2)
        .map(|i| {
            let mut conn = connect(addr);
            conn.write_all(format!("3|{i}first\n").as_bytes())
                .expect("send");
            thread::spawn(move || {
                let answer = read_lines(&conn, 1).remove(0);
                (answer, began.elapsed())
            })
        })
        .collect();
    wait_for_lines(&server, "Received request: 3|", 2);
    let mut third = connect(addr);
    third.write_all(b"3|third\n").expect("send");
    let third = thread::spawn(move || {
        let answer = read_lines(&third, 1).remove(0);
        (answer, began.elapsed())
    });
    let mut earliest = Duration::MAX;
    for (i, client) in first.into_iter().enumerate() {
        let (answer, at) = client.join().expect("a first client");
        assert_eq!(answer, format!("OK tsrif{i}\n"));
        earliest = earliest.min(at);
    }
    let (answer, at) = third.join().expect("the third client");
    assert_eq!(answer, "OK driht\n");
    assert!(
        at >= earliest + delay,
        "the third client was answered {at:?} in, the first {earliest:?}: it did not wait for a worker"
    );
    // The worker that served the third client logged its previous client's disconnect
    // before it, but the answers can reach the test before the lines reach output().
    wait_for_lines(&server, "Received request: 3|third", 1);
    let out = server.output();
    let first_disconnect = line_index(&out, " disconnected");
    let third_received = line_index(&out, "Received request: 3|third");
    assert!(third_received > first_disconnect, "{out:?}");
    server.stop(IO_TIMEOUT).expect("stops");
}

/// With every `--accept` strategy, ten clients at once on two workers with a delay d:
/// every one is answered, no more than two are ever served at once (read from the log,
/// whose lines are written in order), the two workers serve them all, and the whole takes
/// at least five rounds, 5 × d — the staircase ⌈10 / 2⌉ × d is a lower bound here, not a
/// speed claim. With `reuseport` the kernel hashes each connection to one worker's
/// listener, busy or not, so both workers serving (and two at once) is likely but not
/// certain: it is held to at most two at once, by workers of its own.
#[test]
fn ten_clients_on_two_workers_take_five_rounds() {
    on_each(&ACCEPTS, |accept| {
        let server = start_accepting(accept, &["--workers", "2", "--delay", "200ms"]);
        let pids = wait_for_workers(&server, 2);
        if accept == "reuseport" {
            ten_clients_on_two_workers(&server);
            assert!(workers_logging(&server, "Connection from").is_subset(&pids));
        } else {
            ten_clients_take_five_rounds(&server);
            assert_eq!(workers_logging(&server, "Connection from"), pids);
        }
        server.stop(IO_TIMEOUT).expect("stops");
    });
}

/// Four hundred short clients from twenty threads: the server keeps exactly its four
/// workers, the same four processes throughout (sampled from /proc while the clients
/// run), and every client is answered.
#[test]
fn worker_count_stays_fixed_under_hundreds_of_clients() {
    let server = start_prefork(&["--workers", "4", "--quiet"]);
    let addr = server.addr();
    let pids = wait_for_workers(&server, 4);
    let clients: Vec<_> = (0..20)
        .map(|t| {
            thread::spawn(move || {
                for i in 0..20 {
                    let answer = one_shot(addr, format!("3|{t}-{i}\n").as_bytes());
                    assert_eq!(answer, format!("OK {}\n", reverse(&format!("{t}-{i}"))));
                }
            })
        })
        .collect();
    let mut samples = 0;
    while clients.iter().any(|c| !c.is_finished()) {
        let children = children_of(server.pid());
        let now: HashSet<u32> = children.iter().map(|&(pid, _)| pid).collect();
        assert_eq!(now, pids, "children changed under load: {children:?}");
        samples += 1;
        thread::sleep(Duration::from_millis(5));
    }
    for client in clients {
        client.join().expect("a client thread");
    }
    assert!(samples > 0);
    assert_eq!(wait_for_workers(&server, 4), pids);
    server.stop(IO_TIMEOUT).expect("stops");
}

/// A worker killed with SIGKILL is reaped (no zombie), the parent logs which PID died and
/// how, and forks a replacement with a new PID, which serves: with the surviving worker
/// held by one client, the next client is served by the new worker.
#[test]
fn killed_worker_is_replaced() {
    let server = start_prefork(&["--workers", "2"]);
    let addr = server.addr();
    let before = wait_for_workers(&server, 2);
    let victim = *before.iter().next().expect("a worker");
    let pid = i32::try_from(victim).expect("a PID");
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill a worker");
    assert_logged(
        &server,
        &format!("[MAIN] - Worker {victim} was killed by SIGKILL; forking a replacement"),
    );
    // The parent logs a death after `waitpid` collected it, and the parent is alive: a
    // zombie would still be in /proc here (after the parent's exit, init would reap it).
    assert!(
        !std::path::Path::new(&format!("/proc/{victim}")).exists(),
        "worker {victim} was not reaped"
    );
    let after = wait_for_workers(&server, 2);
    assert!(!after.contains(&victim), "{after:?}");
    let new: Vec<u32> = after.difference(&before).copied().collect();
    assert_eq!(new.len(), 1, "{before:?} -> {after:?}");
    let forked = format!("[MAIN] - Forked worker process {}", new[0]);
    assert_logged(&server, &forked);
    // Hold the survivor (or the new worker) with one client; the next one gets the other.
    let mut held = connect(addr);
    assert_eq!(ask(&mut held, b"3|held\n"), "OK dleh\n");
    assert_eq!(one_shot(addr, b"3|next\n"), "OK txen\n");
    wait_for_lines(&server, "Received request: 3|next", 1);
    let served = workers_logging(&server, "Received request");
    assert_eq!(served, after, "both workers served, the new one included");
    drop(held);
    server.stop(IO_TIMEOUT).expect("stops");
}

/// A client that sends half a request and then nothing holds one worker, not the server:
/// with two workers, twenty clients in a row are served by the other one. With both
/// workers held, the next client waits in the backlog (not refused), and is answered as
/// soon as a slow client finishes its line and leaves.
#[test]
fn slow_client_holds_one_worker_not_the_server() {
    let server = start_prefork(&["--workers", "2"]);
    let addr = server.addr();
    wait_for_workers(&server, 2);
    let mut slow = connect(addr);
    slow.write_all(b"3|half a req")
        .expect("send half a request");
    wait_for_lines(&server, "Connection from", 1);
    for i in 0..20 {
        assert_eq!(
            one_shot(addr, format!("3|{i}z\n").as_bytes()),
            format!("OK {}\n", reverse(&format!("{i}z")))
        );
    }
    wait_for_lines(&server, "disconnected", 20);
    assert_eq!(workers_logging(&server, "Received request").len(), 1);

    let mut second = connect(addr);
    second.write_all(b"3|also sl").expect("send half a request");
    wait_for_lines(&server, "Connection from", 22);
    let mut waiting = connect(addr);
    waiting.write_all(b"3|waiting\n").expect("send");
    waiting
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("set a read timeout");
    let mut byte = [0u8; 1];
    let early = waiting.read(&mut byte);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "a third client was served while both workers were held: {early:?}"
    );
    waiting
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("set a read timeout");
    assert_eq!(ask(&mut slow, b"uest\n"), "OK tseuqer a flah\n");
    drop(slow);
    assert_eq!(read_lines(&waiting, 1), ["OK gnitiaw\n"]);
    drop(second);
    server.stop(IO_TIMEOUT).expect("stops");
}

/// With every `--accept` strategy, SIGTERM to the parent while four workers each hold a
/// request and have a second one queued behind it: the parent passes it on; every
/// received request is answered and each connection closed; a client never received (in
/// the backlog) gets its connection closed, not an answer; new connections are refused;
/// the workers' `served N clients` add up to the clients answered; the parent exits 0,
/// and no worker outlives it (that the parent reaps its workers is checked while it is
/// alive, in `killed_worker_is_replaced`: once it has exited, init would reap a zombie
/// anyway).
///
/// With `reuseport`, two clients may hash to one worker's listener, where the second
/// waits while another worker idles: the test waits for one client to be received, not
/// four, and holds each client to what the log says of it at the end — answered in full
/// if received, closed unanswered if not.
#[test]
fn sigterm_drains_every_worker_and_leaves_no_zombie() {
    on_each(&ACCEPTS, sigterm_drains);
}

fn sigterm_drains(accept: &str) {
    let server = start_accepting(accept, &["--workers", "4", "--delay", "500ms"]);
    let addr = server.addr();
    let pids = wait_for_workers(&server, 4);
    let mut conns: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        conn.write_all(format!("3|a{i}\n3|b{i}\n").as_bytes())
            .expect("send two requests");
    }
    let hashed = accept == "reuseport";
    wait_for_lines(&server, "Received request: 3|a", if hashed { 1 } else { 4 });
    let mut queued = connect(addr);
    queued.write_all(b"3|a4\n3|b4\n").expect("send");
    conns.push(queued);
    server.signal(Signal::SIGTERM).expect("send SIGTERM");
    assert_logged(&server, "Shutting down");
    match TcpStream::connect(addr) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}"),
        Ok(_) => panic!("accepted a connection while shutting down"),
    }
    let got: Vec<Vec<u8>> = conns.iter_mut().map(read_to_close_or_reset).collect();
    let mut server = server;
    let status = wait_for_exit("server-prefork", &mut server);
    assert_eq!(status.code(), Some(0));
    // The parent has exited, but its last line may still be in the pipe, unread by the
    // test's output reader: wait for it, then check that it is the clean one. The
    // workers' lines were written before they exited, so before it.
    let last = assert_logged(&server, "[MAIN] - Shut down");
    assert!(last.contains("Shut down cleanly"), "{last}");
    let mut answered = 0;
    for (i, got) in got.iter().enumerate() {
        let received = !lines_with(&server, &format!("Received request: 3|a{i}")).is_empty();
        if received {
            let want = format!("OK {i}a\nOK {i}b\n");
            assert_eq!(String::from_utf8_lossy(got), want, "{accept}: client {i}");
            answered += 1;
        } else {
            assert!(
                got.is_empty(),
                "{accept}: client {i} was answered unreceived"
            );
        }
    }
    if !hashed {
        assert_eq!(
            answered, 4,
            "{accept}: the four in flight, not the queued one"
        );
    }
    let counts = served_counts(&server.output());
    assert_eq!(counts.len(), 4, "{accept}: a count from each worker");
    assert_eq!(counts.iter().sum::<u64>(), answered, "{accept}: {counts:?}");
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} outlived the parent"
        );
    }
}

/// Reads until the server closes `stream` or resets it (a connection closed with a
/// request unread, or left in the backlog of a listener that closed): what came before.
/// A timeout or another error fails the test.
fn read_to_close_or_reset(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("waiting for the server to close: {e}; got {got:?}"),
        }
    }
}

/// With `flock` and `mutex`, a worker SIGKILLed while it holds the accept lock (waiting
/// in `accept` with no client, as the debug log says) does not take the lock with it:
/// the other worker takes it (for the mutex, after `EOWNERDEAD`, which it says), a
/// replacement is forked, and clients are served, two at once.
#[test]
fn a_worker_killed_holding_the_accept_lock_releases_it() {
    on_each(&["flock", "mutex"], |accept| {
        let server = start_accepting(accept, &["--workers", "2", "--log-level", "debug"]);
        let pids = wait_for_workers(&server, 2);
        let holding = assert_logged(&server, "Holding the accept lock");
        let holder = worker_in(&holding).expect("a worker holds the lock");
        assert!(pids.contains(&holder), "{holder} vs {pids:?}");
        // The lock excludes: the other worker waits for it, unlogged (a second line
        // could only come after the kill).
        let before = lines_with(&server, "Holding the accept lock");
        assert_eq!(before.len(), 1, "{accept}: {before:?}");
        let pid = i32::try_from(holder).expect("a PID");
        kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill the holder");
        assert_logged(
            &server,
            &format!("[MAIN] - Worker {holder} was killed by SIGKILL"),
        );
        wait_for_lines(&server, "Holding the accept lock", 2);
        let next = lines_with(&server, "Holding the accept lock")[1].clone();
        assert_ne!(worker_in(&next), Some(holder), "{next}");
        if accept == "mutex" {
            assert_logged(&server, "The accept lock's holder died holding it");
        }
        let after = wait_for_workers(&server, 2);
        // One client held by one worker; the other serves the next.
        let mut held = connect(server.addr());
        assert_eq!(ask(&mut held, b"3|held\n"), "OK dleh\n", "{accept}");
        assert_eq!(
            one_shot(server.addr(), b"3|next\n"),
            "OK txen\n",
            "{accept}"
        );
        wait_for_lines(&server, "Received request: 3|next", 1);
        assert_eq!(
            workers_logging(&server, "Received request"),
            after,
            "{accept}"
        );
        drop(held);
        server.stop(IO_TIMEOUT).expect("stops");
    });
}

/// With `pass`, a worker that dies with a client's descriptor in flight (passed, not yet
/// received: the one worker is stopped with SIGSTOP, then killed) leaves that client
/// closed, not hanging; the replacement serves the next client.
#[test]
fn pass_survives_a_worker_dying_with_a_descriptor_in_flight() {
    let server = start_accepting("pass", &["--workers", "1"]);
    let worker = *wait_for_workers(&server, 1)
        .iter()
        .next()
        .expect("a worker");
    let pid = Pid::from_raw(i32::try_from(worker).expect("a PID"));
    kill(pid, Signal::SIGSTOP).expect("stop the worker");
    let mut client = connect(server.addr());
    client.write_all(b"3|in flight\n").expect("send");
    let me = client.local_addr().expect("an address").port();
    assert_logged(
        &server,
        &format!("[MAIN] - Passed 127.0.0.1:{me} to worker {worker}"),
    );
    kill(pid, Signal::SIGKILL).expect("kill the worker");
    assert_closed_unanswered(&mut client, "the client passed to the dead worker");
    assert_logged(
        &server,
        &format!("[MAIN] - Worker {worker} was killed by SIGKILL"),
    );
    assert_eq!(one_shot(server.addr(), b"3|next\n"), "OK txen\n");
    server.stop(IO_TIMEOUT).expect("stops");
}

/// Should the parent die without passing the shutdown on (SIGKILL), its workers do not
/// serve on as orphans: the kernel sends them SIGTERM (the parent-death signal), and they
/// exit.
#[test]
fn workers_exit_when_the_parent_is_killed() {
    let mut server = start_prefork(&["--workers", "3"]);
    let pids = wait_for_workers(&server, 3);
    server.signal(Signal::SIGKILL).expect("kill the parent");
    wait_for_exit("server-prefork", &mut server);
    let pids: Vec<u32> = pids.into_iter().collect();
    wait_for_ends("the orphaned workers", &pids);
}

/// Run as a user of its own with RLIMIT_NPROC leaving room for two workers of four: the two
/// that fork serve, each failed fork is logged and retried with a back-off (the parent
/// does not spin), and once the limit is raised (`prlimit --pid`) the pool fills up to
/// four.
///
/// Needs root (to become that user; root itself ignores RLIMIT_NPROC) and util-linux's
/// `setpriv` and `prlimit`; without root it says so and checks nothing.
#[test]
fn failed_forks_are_retried_with_back_off() {
    let test = "failed_forks_are_retried_with_back_off";
    // Room for two workers beside the parent.
    let Some((server, limit)) = start_under_nproc(test, "server-prefork", 2, &["--workers", "4"])
    else {
        return;
    };
    wait_for_lines(&server, "cannot fork a worker", 2);
    assert_eq!(workers_of(&server).len(), 2, "{:?}", server.output());
    assert_eq!(one_shot(server.addr(), b"3|two\n"), "OK owt\n");
    let spent = cpu_ticks_during(server.pid(), Duration::from_secs(1));
    assert!(spent <= 20, "the parent spun: {spent} ticks in one second");
    limit.raise(&server);
    wait_for_workers(&server, 4);
    assert!(
        lines_with(&server, "cannot fork a worker").len() < 20,
        "retried without a back-off: {:?}",
        server.output()
    );
    assert_eq!(one_shot(server.addr(), b"3|four\n"), "OK ruof\n");
    server.stop(IO_TIMEOUT).expect("stops");
}

/// Sends SIGCONT to a stopped worker when dropped, so that a failed test leaves no
/// process stopped for ever (it then takes its pending SIGTERM and exits).
struct Resume(Pid);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

/// SIGTERM with one worker serving a delayed request and the other idle but stopped
/// (SIGSTOP), so that it cannot exit: the shutdown line counts the one client in flight,
/// not the two workers, and prints the timeout as every server prints durations
/// (`2s 500ms`, not `2.5s`); the busy worker answers and exits; the stopped one is killed
/// at the deadline, which drops no client, so the server says it shut down cleanly.
/// Before, the line said `for 2 worker(s)`, and the end `1 client(s) still busy`.
#[test]
fn shutdown_counts_busy_workers_only() {
    let mut server = start_prefork(&[
        "--workers",
        "2",
        "--delay",
        "1s",
        "--shutdown-timeout",
        "2500ms",
    ]);
    let pids = wait_for_workers(&server, 2);
    let mut conn = connect(server.addr());
    conn.write_all(b"3|busy\n").expect("send");
    let line = assert_logged(&server, "Received request: 3|busy");
    let busy = worker_in(&line).expect("a worker's line");
    let idle = pids
        .into_iter()
        .find(|&pid| pid != busy)
        .expect("a second worker");
    let idle = Pid::from_raw(i32::try_from(idle).expect("a PID"));
    kill(idle, Signal::SIGSTOP).expect("stop the idle worker");
    let _resume = Resume(idle);
    server.signal(Signal::SIGTERM).expect("send SIGTERM");
    assert_logged(
        &server,
        "Shutting down: no new connections; waiting up to 2s 500ms for 1 client(s) in flight",
    );
    assert_eq!(read_lines(&conn, 1), ["OK ysub\n"]);
    assert_eq!(read_to_close(&mut conn), b"");
    let status = wait_for_exit("server-prefork", &mut server);
    assert_eq!(status.code(), Some(0));
    assert_logged(
        &server,
        &format!("Worker {idle} was idle but had not exited by the deadline: killed"),
    );
    let last = assert_logged(&server, "[MAIN] - Shut down");
    assert!(last.contains("Shut down cleanly"), "{last}");
}
