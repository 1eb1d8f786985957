//! The pool architecture: a fixed number of named worker threads, each serving one client
//! at a time to the end; the rest wait (one in the channel's slot, the others in the
//! listen backlog). The protocol, hostile input and shutdown tests shared by every
//! server are in server-core's `tests/`.

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

fn start_pool(args: &[&str]) -> ServerProcess {
    start("server-pool", args)
}

/// The `--accept` choices: the tests of serving, the staircase, the thread count and the
/// drain run on each, at once.
const ACCEPTS: [&str; 2] = ["main", "each"];

/// Starts the pool with `--accept accept` and `args`.
fn start_accepting(accept: &str, args: &[&str]) -> ServerProcess {
    let mut all = vec!["--accept", accept];
    all.extend_from_slice(args);
    start_pool(&all)
}

/// The local port of a test's connection: the server logs its peer by it.
fn port(conn: &TcpStream) -> u16 {
    conn.local_addr().expect("a connected socket").port()
}

/// The worker named in a log line: `worker-2` of `[..] [WORKER: worker-2] - ...`.
fn worker_of(line: &str) -> &str {
    line.split_once("[WORKER: ")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(name, _)| name)
        .unwrap_or_else(|| panic!("no worker in {line:?}"))
}

/// The banner names the pool and its size, the main thread logs each hand-off as
/// `[MAIN]`, workers log as `[WORKER: worker-n]`, and the process has exactly the
/// workers and the main thread.
#[test]
fn banner_names_and_threads() {
    let server = start_pool(&["--workers", "3"]);
    assert_logged(
        &server,
        "-- A pool of 3 worker threads: as many clients at once, more wait in the backlog --",
    );
    assert_logged(&server, "Pool Server (Main PID: ");
    let mut conn = connect(server.addr());
    assert_eq!(ask(&mut conn, b"3|abc\n"), "OK cba\n");
    let me = port(&conn);
    assert_logged(
        &server,
        &format!("[MAIN] - Queued 127.0.0.1:{me} for the workers"),
    );
    let served = assert_logged(&server, &format!("- Connection from 127.0.0.1:{me}"));
    assert!(worker_of(&served).starts_with("worker-"), "{served:?}");
    // Three workers and the main thread.
    wait_for_threads(server.pid(), 4);
    stop_promptly(server);
}

/// `--max-clients` below `--workers` starts only that many workers (the banner and the
/// thread count say so); `--workers 0` and a non-number are refused with exit status 2
/// and a message naming the flag; `--help` says that `--max-clients` does not apply
/// beyond the worker count.
#[test]
fn workers_flag_and_max_clients() {
    let server = start_pool(&["--workers", "8", "--max-clients", "2"]);
    assert_logged(&server, "-- A pool of 2 worker threads");
    assert_eq!(one_shot(server.addr(), b"1|aB\n"), "OK Ab\n");
    // The two workers start, and the main thread.
    wait_for_threads(server.pid(), 3);
    stop_promptly(server);

    for bad in ["0", "many", "70000"] {
        assert_usage_error(
            "server-pool",
            &["--port", "0", "--workers", bad],
            "--workers",
        );
    }
    let help = help_of("server-pool");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("--max-clients does not apply beyond this count"),
        "{help}"
    );
    assert!(help.contains("[default: 16]"), "{help}");
}

/// With two workers busy on delayed requests, a third client is accepted into the
/// channel's slot but served only once one of the first two has left: its session
/// starts after the first disconnect, on the worker that just freed, and its answer
/// arrives after the first of theirs. (Evidence from order, not from a clock.)
#[test]
fn third_client_waits_for_a_free_worker() {
    let server = start_pool(&["--workers", "2", "--delay", "300ms"]);
    let addr = server.addr();
    let mut first: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
    for conn in &mut first {
        conn.write_all(b"3|first\n").expect("send");
    }
    wait_for_lines(&server, "Received request: 3|first", 2);
    let mut third = connect(addr);
    third.write_all(b"3|third\n").expect("send");
    let third_port = port(&third);
    // The main thread accepts the third client into the slot while both workers are held,
    // and the first two leave only once the threads below have read their answers: wait
    // for that line before letting them, so that a main thread slowed down by a loaded
    // machine for longer than the delay cannot log it after a disconnect.
    wait_for_lines(&server, &format!("Queued 127.0.0.1:{third_port}"), 1);
    // Each of the first two reads its answer, notes when, and leaves.
    let answered: Vec<_> = first
        .into_iter()
        .map(|conn| {
            thread::spawn(move || {
                let answer = read_lines(&conn, 1).remove(0);
                (answer, Instant::now())
            })
        })
        .collect();
    assert_eq!(read_lines(&third, 1), ["OK driht\n"]);
    let third_at = Instant::now();
    let firsts: Vec<(String, Instant)> = answered
        .into_iter()
        .map(|t| t.join().expect("a first client"))
        .collect();
    for (answer, _) in &firsts {
        assert_eq!(answer, "OK tsrif\n");
    }
    let first_at = firsts.iter().map(|(_, at)| *at).min().expect("two answers");
    assert!(third_at > first_at, "the third answer came first");

    // The log is read on a thread of the test: wait until it has the third answer.
    wait_for_lines(&server, "Sending response", 3);
    let output = server.output();
    let disconnect = line_index(&output, " disconnected");
    let third_served = line_index(&output, &format!("Connection from 127.0.0.1:{third_port}"));
    assert!(
        third_served > disconnect,
        "the third client was served before a worker was free:\n{}",
        output.join("\n")
    );
    // Its worker is one that had just finished a client.
    let worker = worker_of(&output[third_served]);
    assert!(
        output[..third_served]
            .iter()
            .any(|l| l.contains(&format!("[WORKER: {worker}]")) && l.contains(" disconnected")),
        "not served by a worker that freed:\n{}",
        output.join("\n")
    );
    // It was accepted (queued in the slot) before any worker was free.
    let queued = line_index(&output, &format!("Queued 127.0.0.1:{third_port}"));
    assert!(queued < disconnect, "{}", output.join("\n"));
    stop_promptly(server);
}

/// With either `--accept`, ten clients at once, two workers, a delay d each: never more
/// than two sessions at once (from the log), both workers used, and the whole takes at
/// least 5 × d — the model's lower bound, ⌈10 / 2⌉ rounds of d, not a speed.
#[test]
fn ten_clients_take_five_rounds_on_two_workers() {
    on_each(&ACCEPTS, |accept| {
        let server = start_accepting(accept, &["--workers", "2", "--delay", "200ms"]);
        ten_clients_take_five_rounds(&server);
        for worker in ["worker-1", "worker-2"] {
            assert_logged(&server, &format!("[WORKER: {worker}] - Received request"));
        }
        stop_promptly(server);
    });
}

/// `--accept each`: the workers accept for themselves — no hand-off line from the main
/// thread, the connection is logged by a worker; a bad `--accept` is a usage error that
/// lists the choices, and `--help` explains each.
#[test]
fn each_worker_accepts_for_itself() {
    let server = start_accepting("each", &["--workers", "3"]);
    let mut conn = connect(server.addr());
    assert_eq!(ask(&mut conn, b"3|abc\n"), "OK cba\n");
    let me = port(&conn);
    let served = assert_logged(&server, &format!("- Connection from 127.0.0.1:{me}"));
    assert!(worker_of(&served).starts_with("worker-"), "{served:?}");
    assert!(lines_with(&server, "Queued").is_empty());
    wait_for_threads(server.pid(), 4);
    stop_promptly(server);

    let out = run("server-pool", &["--port", "0", "--accept", "lottery"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[possible values: main, each]"), "{stderr}");
    let help = help_of("server-pool");
    for accept in ACCEPTS {
        assert!(help.contains(&format!("- {accept}:")), "{help}");
    }
}

/// Four hundred clients from eight threads against four workers: every one answered,
/// and the process has exactly five threads (the workers and the main thread) at every
/// sample taken while they come and go — no thread per client.
#[test]
fn thread_count_stays_at_workers_plus_main() {
    on_each(&ACCEPTS, thread_count_stays);
}

fn thread_count_stays(accept: &str) {
    let server = start_accepting(accept, &["--quiet", "--workers", "4"]);
    let addr = server.addr();
    let pid = server.pid();
    // The four workers start, and the main thread.
    wait_for_threads(pid, 5);
    let clients: Vec<_> = (0..8)
        .map(|t| {
            thread::spawn(move || {
                for i in 0..50 {
                    let payload = format!("{t}-{i}");
                    let answer = one_shot(addr, format!("3|{payload}\n").as_bytes());
                    assert_eq!(answer, format!("OK {}\n", reverse(&payload)));
                }
            })
        })
        .collect();
    let mut samples = 0;
    while clients.iter().any(|c| !c.is_finished()) {
        assert_eq!(thread_count(pid), 5, "after {samples} samples");
        samples += 1;
        thread::sleep(Duration::from_millis(2));
    }
    for client in clients {
        client.join().expect("a client thread");
    }
    assert!(samples > 0);
    assert_eq!(thread_count(pid), 5);
    stop_promptly(server);
}

/// A client that sends half a line and waits holds one worker and only that one: the
/// other worker serves client after client meanwhile, and the slow client is answered
/// when it finishes its line.
#[test]
fn slow_client_holds_one_worker_not_the_server() {
    on_each(&ACCEPTS, slow_client_holds_one_worker);
}

fn slow_client_holds_one_worker(accept: &str) {
    let server = start_accepting(accept, &["--workers", "2"]);
    let addr = server.addr();
    let mut slow = connect(addr);
    slow.write_all(b"3|sl").expect("send half a line");
    let slow_port = port(&slow);
    let line = assert_logged(&server, &format!("Connection from 127.0.0.1:{slow_port}"));
    let held = worker_of(&line).to_owned();
    for i in 0..6 {
        let mut conn = connect(addr);
        let me = port(&conn);
        assert_eq!(
            ask(&mut conn, format!("3|{i}z\n").as_bytes()),
            format!("OK z{i}\n")
        );
        drop(conn);
        let served = assert_logged(&server, &format!("Connection from 127.0.0.1:{me}"));
        assert_ne!(worker_of(&served), held, "served by the held worker");
        wait_for_lines(&server, &format!("Client 127.0.0.1:{me} disconnected"), 1);
    }
    slow.write_all(b"ow\n").expect("finish the line");
    assert_eq!(read_lines(&slow, 1), ["OK wols\n"]);
    stop_promptly(server);
}

/// With either `--accept`, SIGTERM with two requests in flight on both workers, (with
/// `main`) a third client queued in the channel's slot, and another still in the listen
/// backlog: those the server accepted are all answered (the queued one after a worker
/// frees) and closed; the one in the backlog is refused without an answer when the
/// listener closes; the threads' `served N clients` add up to the clients answered; the
/// server exits 0.
#[test]
fn sigterm_answers_in_flight_and_queued() {
    on_each(&ACCEPTS, sigterm_answers_accepted);
}

fn sigterm_answers_accepted(accept: &str) {
    let mut server = start_accepting(accept, &["--workers", "2", "--delay", "500ms"]);
    let addr = server.addr();
    let mut conns: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
    for conn in &mut conns {
        conn.write_all(b"3|in flight\n").expect("send");
    }
    wait_for_lines(&server, "Received request: 3|in flight", 2);
    let handoff = accept == "main";
    let mut queued = connect(addr);
    if handoff {
        queued.write_all(b"3|queued\n").expect("send");
        wait_for_lines(&server, &format!("Queued 127.0.0.1:{}", port(&queued)), 1);
    }
    let mut backlog = connect(addr);
    backlog.write_all(b"3|backlog\n").expect("send");
    let backlog_port = port(&backlog);
    server.signal(Signal::SIGTERM).expect("send SIGTERM");
    for mut conn in conns {
        assert_eq!(read_lines(&conn, 1), ["OK thgilf ni\n"]);
        assert_eq!(read_to_close(&mut conn), b"");
    }
    if handoff {
        assert_eq!(read_lines(&queued, 1), ["OK deueuq\n"]);
        assert_eq!(read_to_close(&mut queued), b"");
    } else {
        drop(queued);
    }
    let status = wait_for_exit("server-pool", &mut server);
    assert_eq!(status.code(), Some(0));
    // Reset by the kernel when the listener closed, or closed: either way, no answer.
    assert_closed_unanswered(&mut backlog, "the client in the backlog");
    // The last line: everything before it has been read.
    assert_logged(&server, "Shut down cleanly");
    let backlog_served = format!("Connection from 127.0.0.1:{backlog_port}");
    assert!(lines_with(&server, &backlog_served).is_empty());
    let counts = served_counts(&server.output());
    let answered = if handoff { 3 } else { 2 };
    assert_eq!(counts.iter().sum::<u64>(), answered, "{accept}: {counts:?}");
    // A count from each worker (and with `main`, one from the main thread if it served
    // the queued client itself).
    let from_workers = served_counts(&lines_with(&server, "[WORKER: worker-"));
    assert_eq!(from_workers.len(), 2, "{accept}: {counts:?}");
}

/// SIGTERM with the one worker held by a request that would wait a year, and a second
/// client queued in the channel's slot with its request sent: both are answered by the
/// deadline (the held one when its delay is cut short), each connection then closed, and
/// the server exits 0 saying it shut down cleanly. Before, the worker took the queued
/// connection only after the deadline and closed it unread: its client got a reset, and
/// the log still said `Shut down cleanly`.
#[test]
fn sigterm_answers_the_queued_client_by_the_deadline() {
    let mut server = start_pool(&[
        "--workers",
        "1",
        "--delay",
        "1y",
        "--shutdown-timeout",
        "1s",
    ]);
    let addr = server.addr();
    let mut served = connect(addr);
    served.write_all(b"3|first\n").expect("send");
    wait_for_lines(&server, "Received request: 3|first", 1);
    let mut queued = connect(addr);
    queued.write_all(b"3|second\n").expect("send");
    wait_for_lines(&server, &format!("Queued 127.0.0.1:{}", port(&queued)), 1);
    server.signal(Signal::SIGTERM).expect("send SIGTERM");
    assert_eq!(read_lines(&served, 1), ["OK tsrif\n"]);
    assert_eq!(read_to_close(&mut served), b"");
    assert_eq!(read_lines(&queued, 1), ["OK dnoces\n"]);
    assert_eq!(read_to_close(&mut queued), b"");
    let status = wait_for_exit("server-pool", &mut server);
    assert_eq!(status.code(), Some(0));
    let last = assert_logged(&server, "[MAIN] - Shut down");
    assert!(last.contains("Shut down cleanly"), "{last}");
}

/// Run as a user of its own with RLIMIT_NPROC leaving room for two worker threads of
/// four: the banner says two run and two could not be started yet; each failed start is
/// logged with the count running and retried with a back-off (the main thread does not
/// spin); the two serve; once the limit is raised (`prlimit --pid`) the missing two
/// start, the log says `4 of 4 running`, and the process has the four workers and the
/// main thread. Before, the banner said four, and the missing ones were never retried.
/// Both ways of accepting: the main thread's hand-off and `--accept each`.
///
/// Needs root (to become that user; root itself ignores RLIMIT_NPROC) and util-linux's
/// `setpriv` and `prlimit`; without root it says so and checks nothing.
#[test]
fn failed_worker_threads_are_retried_with_back_off() {
    let test = "failed_worker_threads_are_retried_with_back_off";
    // One after the other: both would count against the same user's limit.
    for accept in ["main", "each"] {
        // Room for two worker threads beside the main thread.
        let args = ["--workers", "4", "--accept", accept];
        let Some((server, limit)) = start_under_nproc(test, "server-pool", 2, &args) else {
            return;
        };
        assert_logged(
            &server,
            "-- A pool of 2 worker threads (2 could not be started yet; retrying): ",
        );
        assert_logged(
            &server,
            "cannot start worker-3: Resource temporarily unavailable (os error 11); 2 of 4 running, trying again in 50ms",
        );
        wait_for_lines(&server, "cannot start worker-3: ", 3);
        wait_for_threads(server.pid(), 3);
        assert_eq!(one_shot(server.addr(), b"3|two\n"), "OK owt\n", "{accept}");
        let spent = cpu_ticks_during(server.pid(), Duration::from_secs(1));
        assert!(
            spent <= 20,
            "{accept}: the main thread spun: {spent} ticks in one second"
        );
        limit.raise(&server);
        assert_logged(&server, "[MAIN] - Started worker-4: 4 of 4 running");
        wait_for_threads(server.pid(), 5);
        assert!(
            lines_with(&server, "cannot start worker-").len() < 20,
            "{accept}: retried without a back-off: {:?}",
            server.output()
        );
        assert_eq!(
            one_shot(server.addr(), b"3|four\n"),
            "OK ruof\n",
            "{accept}"
        );
        server.stop(IO_TIMEOUT).expect("stops");
    }
}
