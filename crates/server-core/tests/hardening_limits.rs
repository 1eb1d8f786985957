//! Slow and idle clients, and the server at its limits: out of descriptors
//! (`prlimit --nofile`), at `--max-clients`, and out of processes or threads
//! (`RLIMIT_NPROC` as a user of its own). The server neither spins nor dies, closes what it
//! cannot serve, and serves again once resources free up.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::*;

/// The architectures that serve many clients at once.
const CONCURRENT: [&str; 5] = [
    "server-forking",
    "server-threaded",
    "server-evented",
    "server-async",
    "server-uring",
];

/// The architectures that log running out of descriptors (`accept failed`) and recovering
/// (`accepting clients again`): the ones whose accepting process holds every client.
const LOG_EMFILE: [&str; 4] = [
    "server-threaded",
    "server-evented",
    "server-async",
    "server-uring",
];

/// The flags that make `binary` serve from one thread (`--workers 1` on the evented and
/// async servers), so that a test on it shows one client cannot stall the others sharing
/// that thread; none for the others.
fn one_thread(binary: &str) -> &'static [&'static str] {
    if NON_BLOCKING.contains(&binary) {
        &["--workers", "1"]
    } else {
        &[]
    }
}

/// Starts `binary` with `args` followed by `more`.
fn start_with(binary: &str, args: &[&str], more: &[&str]) -> ServerProcess {
    let all: Vec<&str> = args.iter().chain(more).copied().collect();
    start(binary, &all)
}

/// Three hundred idle clients — connected and silent, or stopped halfway through a
/// request — do not stop a new client from being served on the forking, threaded,
/// evented and async servers; the idle ones are served too once they speak. The servers
/// run at once, a thread each.
#[test]
fn idle_clients_do_not_block_new_ones() {
    on_each(&CONCURRENT, |binary| {
        let server = start(binary, &["--quiet"]);
        let addr = server.addr();
        let mut idle: Vec<TcpStream> = (0..300).map(|_| connect(addr)).collect();
        for conn in idle.iter_mut().step_by(2) {
            conn.write_all(b"3|half a requ")
                .expect("send half a request");
        }
        assert_eq!(one_shot(addr, b"3|new\n"), "OK wen\n", "{binary}");
        for (i, conn) in idle.iter_mut().enumerate().step_by(29) {
            let rest = if i % 2 == 0 {
                &b"est\n"[..]
            } else {
                b"3|quiet\n"
            };
            let want = if i % 2 == 0 {
                "OK tseuqer a flah\n"
            } else {
                "OK teiuq\n"
            };
            assert_eq!(ask(conn, rest), want, "{binary}: idle client {i}");
        }
        drop(idle);
        wait_for_baseline(binary, &server);
        server.stop(IO_TIMEOUT).expect("stops");
    });
}

/// A slow client trickling one byte every 50 ms and never finishing its line is cut off
/// by `--idle-timeout` (the timeout counts from the last whole request, not the last
/// byte), so on the sequential server it cannot hold the next client off for ever, and on
/// one event loop or one runtime thread another client is answered meanwhile. The
/// unfinished line gets no answer. The servers run at once, a thread each.
#[test]
fn trickling_client_is_cut_off_by_the_idle_timeout() {
    on_each(
        &[
            "server-sequential",
            "server-evented",
            "server-async",
            "server-uring",
        ],
        |binary| {
            let server = start_with(binary, &["--idle-timeout", "400ms"], one_thread(binary));
            let addr = server.addr();
            let mut slow = connect(addr);
            let waiting = thread::spawn(move || one_shot(addr, b"3|next\n"));
            let mut cut_off = false;
            for _ in 0..200 {
                if slow.write_all(b"x").is_err() {
                    cut_off = true;
                    break;
                }
                thread::sleep(Duration::from_millis(50));
                if !lines_with(&server, "(idle for").is_empty() {
                    break;
                }
            }
            let answer = waiting.join().expect("the waiting client");
            assert_eq!(answer, "OK txen\n", "{binary}");
            let mut rest = Vec::new();
            let closed = slow.read_to_end(&mut rest);
            assert!(
                cut_off || closed.is_ok() || is_reset(closed.as_ref().err()),
                "{binary}: the trickling client was not closed: {closed:?}"
            );
            assert!(
                rest.is_empty(),
                "{binary}: answered a line never finished: {rest:?}"
            );
            // The log is read on a thread of its own: wait for the line rather than look once.
            assert_logged(&server, "disconnected (idle for 400ms)");
            server.stop(IO_TIMEOUT).expect("stops");
        },
    );
}

/// SIGTERM while a client trickles a line a byte at a time (no idle timeout to cut it
/// off): the server does not wait for the line to end, but closes the connection and
/// exits 0 well within its shutdown timeout — on every architecture, all at once.
#[test]
fn trickling_client_does_not_hold_up_shutdown() {
    on_every_server(|binary| {
        let server = start(binary, &["--quiet", "--idle-timeout", "0"]);
        let mut slow = connect(server.addr());
        slow.write_all(b"3|").expect("send the start of a line");
        let trickling = thread::spawn(move || {
            for _ in 0..300 {
                if slow.write_all(b"x").is_err() {
                    return true;
                }
                thread::sleep(Duration::from_millis(50));
            }
            false
        });
        thread::sleep(Duration::from_millis(300));
        let status = server
            .stop(Duration::from_secs(8))
            .unwrap_or_else(|e| panic!("{binary}: {e}"));
        assert_eq!(status.code(), Some(0), "{binary}");
        assert!(
            trickling.join().expect("the trickler"),
            "{binary}: never closed"
        );
    });
}

/// A client that sends request after request but never reads its answers is cut off once
/// the server's writes make no progress for the write timeout (here 1 s, through
/// `--shutdown-timeout`), so on the sequential server the next client is served, and on
/// one event loop or one runtime thread another client is answered (the flooder is being
/// served first: its first answer is logged before the other client connects).
#[test]
fn client_that_stops_reading_is_cut_off() {
    for binary in [
        "server-sequential",
        "server-evented",
        "server-async",
        "server-uring",
    ] {
        let server = start_with(
            binary,
            &["--shutdown-timeout", "1s", "--idle-timeout", "5m"],
            one_thread(binary),
        );
        let addr = server.addr();
        let stalled = connect(addr);
        let mut writer = stalled.try_clone().expect("clone the stream");
        let flooding = thread::spawn(move || {
            let request = format!("1|{}\n", "x".repeat(4000)).repeat(100);
            // Ends when the server gives up on this client and resets the connection.
            for _ in 0..1000 {
                if writer.write_all(request.as_bytes()).is_err() {
                    return true;
                }
            }
            false
        });
        wait_for_lines(&server, "Sending response", 1);
        let waiting = thread::spawn(move || {
            let mut conn = connect(addr);
            // Filling the socket buffers first takes a while on a loaded machine.
            conn.set_read_timeout(Some(IO_TIMEOUT * 3))
                .expect("set a read timeout");
            ask(&mut conn, b"3|next\n")
        });
        let answer = waiting.join().expect("the waiting client");
        assert_eq!(answer, "OK txen\n", "{binary}");
        assert!(
            flooding.join().expect("the flooding client"),
            "{binary}: never cut off"
        );
        drop(stalled);
        assert_logged(&server, "(the client stopped reading its answers)");
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

fn is_reset(e: Option<&std::io::Error>) -> bool {
    e.is_some_and(|e| {
        matches!(
            e.kind(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
        )
    })
}

/// Under `prlimit --nofile=64`, 80 held connections: the server neither spins (under
/// 0.2 s of CPU in a second) nor dies, keeps serving the clients it has, says once that
/// accept failed (`Too many open files`; once each time it runs out, not per client) and,
/// once the descriptors are free, that it accepts again (the threaded, evented and async
/// servers, whose accepting process holds every client; the forking parent closes each
/// client's socket after the fork and the sequential server holds one at a time, so they
/// never run out), and serves new clients once the descriptors are free.
#[test]
fn out_of_descriptors_neither_spins_nor_dies() {
    let prlimit = require("prlimit");
    for binary in SERVERS {
        let mut server = start_under(&[&prlimit, "--nofile=64", "--"], binary, &["--quiet"]);
        let addr = server.addr();
        let mut held: Vec<TcpStream> = (0..80).map(|_| connect(addr)).collect();
        for conn in &mut held {
            conn.write_all(b"3|ab\n").expect("send a request");
        }
        assert_eq!(read_lines(&held[0], 1), ["OK ba\n"], "{binary}");
        if LOG_EMFILE.contains(&binary) {
            assert_logged(&server, "accept failed: Too many open files");
        }
        if binary == "server-forking" {
            // Each child has descriptors of its own: every client is served.
            for conn in &held[1..] {
                assert_eq!(read_lines(conn, 1), ["OK ba\n"], "{binary}");
            }
        }
        let spent = cpu_ticks_during(server.pid(), Duration::from_secs(1));
        assert!(
            spent <= 20,
            "{binary} busy-looped: {spent} ticks in one second"
        );
        assert_eq!(ask(&mut held[0], b"3|still\n"), "OK llits\n", "{binary}");
        assert!(
            lines_with(&server, "accept failed").len() <= 1,
            "{binary}: {:?}",
            server.output()
        );
        drop(held);
        assert_eq!(one_shot(addr, b"3|after\n"), "OK retfa\n", "{binary}");
        if LOG_EMFILE.contains(&binary) {
            assert_logged(&server, "accepting clients again");
            // Once each time it runs out, not once per client: as the held clients leave
            // and the waiting ones are accepted it may run out once more, but every
            // `accept failed` is followed by an `accepting clients again`.
            let episodes: Vec<String> = server
                .output()
                .into_iter()
                .filter(|l| l.contains("accept failed") || l.contains("accepting clients again"))
                .collect();
            assert!(
                episodes
                    .windows(2)
                    .all(|w| !(w[0].contains("accept failed") && w[1].contains("accept failed"))),
                "{binary}: {episodes:?}"
            );
        }
        assert!(server.try_wait().expect("wait").is_none(), "{binary} died");
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// `--max-clients 4` facing forty clients at once: every one is answered (the extra ones
/// wait in the backlog, none is refused), and four are served at once, never more — on
/// the evented server across two loops. (Four, not merely "at least two": a cap off by
/// one, or a server that serves fewer side by side than it may, fails.) The servers run
/// at once, a thread each.
///
/// "At once" is read from the server's own log, whose lines are written in order: a
/// session logs `Connection from` when it starts and `disconnected` before it gives its
/// place back. (Counting threads would be off by the ones just exiting after their
/// session ended.) On the forking server the live children are counted too.
#[test]
fn max_clients_holds_under_a_crowd() {
    on_each(&CONCURRENT, |binary| {
        // Two loops, so that the cap is shown to hold across them.
        let loops: &[&str] = if binary == "server-evented" || binary == "server-uring" {
            &["--workers", "2"]
        } else {
            &[]
        };
        let server = start_with(binary, &["--delay", "50ms", "--max-clients", "4"], loops);
        let addr = server.addr();
        let clients: Vec<_> = (0..40)
            .map(|i| thread::spawn(move || (i, one_shot(addr, format!("3|{i}x\n").as_bytes()))))
            .collect();
        let mut most_children = 0;
        while clients.iter().any(|c| !c.is_finished()) {
            if binary == "server-forking" {
                most_children = most_children.max(children_of(server.pid()).len());
            }
            thread::sleep(Duration::from_millis(5));
        }
        for client in clients {
            let (i, answer) = client.join().expect("a client");
            assert_eq!(
                answer,
                format!("OK x{}\n", reverse(&i.to_string())),
                "{binary}"
            );
        }
        wait_for_lines(&server, "disconnected", 40);
        let most = most_at_once(&server.output());
        assert_eq!(
            most, 4,
            "{binary}: clients served at once, under a cap of 4"
        );
        assert!(
            most_children <= 4,
            "{binary}: {most_children} children at once"
        );
        server.stop(IO_TIMEOUT).expect("stops");
    });
}

/// Run as a user of its own with RLIMIT_NPROC leaving room for three more processes or
/// threads, the forking and threaded servers serve three clients, then cannot fork or
/// spawn for the next three: each failure is logged, that client's connection closed (not
/// left hanging), and once the first three leave, a new client is served.
///
/// Needs root (to become that user; root itself ignores RLIMIT_NPROC) and util-linux's
/// `setpriv` and `prlimit`; without root it says so and checks nothing.
#[test]
fn failed_fork_or_thread_spawn_is_survived() {
    // Both architectures in one test: they would share the user's process count.
    let setpriv = require("setpriv");
    let prlimit = require("prlimit");
    if !is_root() {
        eprintln!(
            "failed_fork_or_thread_spawn_is_survived: needs root to run as another user; skipped"
        );
        return;
    }
    let uid = spare_uid();
    let user = as_user(uid);
    let mut as_other = vec![setpriv.as_str()];
    as_other.extend(user.iter().map(String::as_str));
    for (binary, failure) in [
        ("server-forking", "cannot fork for 127.0.0.1:"),
        ("server-threaded", "cannot start a thread for 127.0.0.1:"),
    ] {
        let path = copy_for_everyone(binary);
        let runs = Command::new(&setpriv)
            .args(&user)
            .arg(&path)
            .arg("--version")
            .output()
            .expect("run setpriv");
        assert!(
            runs.status.success(),
            "user {uid} cannot run {}: {}",
            path.display(),
            String::from_utf8_lossy(&runs.stderr)
        );
        // The server itself is one task; room for three more.
        let nproc = format!("--nproc={}", tasks_of(uid) + 4);
        let mut prefix = as_other.clone();
        prefix.extend([prlimit.as_str(), nproc.as_str(), "--"]);
        let mut server = start_path_under(&prefix, &path, &[]);
        let addr = server.addr();
        let mut served: Vec<TcpStream> = (0..3).map(|_| connect(addr)).collect();
        for (i, conn) in served.iter_mut().enumerate() {
            assert_eq!(ask(conn, b"3|ab\n"), "OK ba\n", "{binary}: client {i}");
        }
        for i in 0..3 {
            let mut refused = connect(addr);
            let _ = refused.write_all(b"3|ab\n");
            assert_closed_unanswered(&mut refused, &format!("{binary}: extra client {i}"));
        }
        wait_for_lines(&server, failure, 3);
        assert!(server.try_wait().expect("wait").is_none(), "{binary} died");
        drop(served);
        wait_for_baseline(binary, &server);
        assert_eq!(one_shot(addr, b"3|again\n"), "OK niaga\n", "{binary}");
        server.stop(IO_TIMEOUT).expect("stops");
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// How many descriptors a process has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Raises this test process's soft open-file limit to its hard limit (the servers it
/// starts inherit it) and fails the test, saying why, when `needed` descriptors do not fit.
fn allow_open_files(needed: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("read RLIMIT_NOFILE");
    assert!(
        hard >= needed,
        "this test needs {needed} open files; the hard limit is {hard} (raise it with ulimit -Hn)"
    );
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("raise RLIMIT_NOFILE");
    }
}

/// 2,000 connections held open — half of them stopped halfway through a request — on two
/// event loops (evented) and two runtime threads (async), both servers at once: each
/// server accepts and holds every one (not left in the backlog), a new client is answered
/// while they are all held, every held one is answered once it finishes its request, and
/// no thread is added per connection (evented: the two loops and the acceptor; async: at
/// most the two runtime threads, the main thread and room for two of tokio's own).
#[test]
fn thousands_of_held_connections_do_not_delay_another_client() {
    const HELD: usize = 2000;
    allow_open_files((HELD as u64 + 200) * NON_BLOCKING.len() as u64);
    on_each(&NON_BLOCKING, |binary| hold_thousands(binary, HELD));
}

/// [`thousands_of_held_connections_do_not_delay_another_client`] on one server.
fn hold_thousands(binary: &str, held_count: usize) {
    let server = start(binary, &["--quiet", "--workers", "2"]);
    let addr = server.addr();
    let mut held: Vec<TcpStream> = (0..held_count).map(|_| connect(addr)).collect();
    for conn in held.iter_mut().step_by(2) {
        conn.write_all(b"3|half a requ")
            .expect("send half a request");
    }
    wait_until("the server to hold every connection", IO_TIMEOUT, || {
        let fds = open_fds(server.pid());
        if fds >= held_count { Ok(()) } else { Err(fds) }
    });
    assert_eq!(one_shot(addr, b"3|new\n"), "OK wen\n", "{binary}");
    for (i, conn) in held.iter_mut().enumerate() {
        let rest: &[u8] = if i % 2 == 0 { b"est\n" } else { b"3|quiet\n" };
        conn.write_all(rest).expect("finish the request");
    }
    for (i, conn) in held.iter().enumerate() {
        let want = if i % 2 == 0 {
            "OK tseuqer a flah\n"
        } else {
            "OK teiuq\n"
        };
        assert_eq!(read_lines(conn, 1), [want], "{binary}: held client {i}");
    }
    assert_two_workers_only(binary, server.pid(), "with every connection answered");
    drop(held);
    server.stop(IO_TIMEOUT).expect("stops");
}
