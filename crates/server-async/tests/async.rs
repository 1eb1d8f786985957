//! The async architecture: a task per client on a few runtime threads. Thousands of held
//! connections cost no thread each, one thread overlaps many delays, and SIGTERM drains
//! every task. The protocol, hostile input, limits and shutdown tests shared by every
//! server are in server-core's `tests/`.

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::*;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::Signal;

fn start_async(args: &[&str]) -> ServerProcess {
    start("server-async", args)
}

/// Raises this test process's open-file limit to at least `needed`, up to the hard limit;
/// fails the test, saying why, when the hard limit is lower.
fn allow_open_files(needed: u64) {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("read RLIMIT_NOFILE");
    assert!(
        hard >= needed,
        "this test needs {needed} open files, the hard limit is {hard}: raise it (ulimit -Hn)"
    );
    if soft < needed {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("raise RLIMIT_NOFILE");
    }
}

/// The index of the first output line that contains `needle`; panics if none does.
fn line_index(output: &[String], needle: &str) -> usize {
    output
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", output.join("\n")))
}

/// The local port of a test's connection: the server logs its peer by it.
fn port(conn: &TcpStream) -> u16 {
    conn.local_addr().expect("a connected socket").port()
}

/// 2,000 connections held open — half silent, half stopped in the middle of a request —
/// on two runtime threads: a new client is answered while they are all still held, and
/// then every held one is answered too once it finishes its request.
#[test]
fn two_thousand_held_connections_do_not_delay_another_client() {
    const HELD: usize = 2000;
    allow_open_files(HELD as u64 + 200);
    let server = start_async(&["--quiet", "--workers", "2"]);
    let addr = server.addr();
    let mut held: Vec<TcpStream> = (0..HELD).map(|_| connect(addr)).collect();
    for conn in held.iter_mut().step_by(2) {
        conn.write_all(b"3|half").expect("send half a request");
    }
    assert_eq!(one_shot(addr, b"3|new\n"), "OK wen\n");
    // Every held connection is still open and served.
    for (i, conn) in held.iter_mut().enumerate() {
        let request: &[u8] = if i % 2 == 0 { b"way\n" } else { b"3|abc\n" };
        conn.write_all(request).expect("finish the request");
    }
    for (i, conn) in held.iter().enumerate() {
        let want = if i % 2 == 0 {
            "OK yawflah\n"
        } else {
            "OK cba\n"
        };
        assert_eq!(read_lines(conn, 1), [want], "held client {i}");
    }
    server.stop(IO_TIMEOUT).expect("stops");
}

/// With one runtime thread and `--delay 1s`, two connections' delays overlap: the second
/// request is received while the first is still held, and both are answered. The
/// evidence is the order of the server's own log lines, not a clock.
#[test]
fn delays_overlap_on_a_single_runtime_thread() {
    let server = start_async(&["--workers", "1", "--delay", "1s"]);
    let addr = server.addr();
    let mut a = connect(addr);
    let mut b = connect(addr);
    a.write_all(b"3|first\n").expect("send on a");
    wait_for_lines(&server, "Received request: 3|first", 1);
    b.write_all(b"3|second\n").expect("send on b");
    assert_eq!(read_lines(&a, 1), ["OK tsrif\n"]);
    assert_eq!(read_lines(&b, 1), ["OK dnoces\n"]);
    wait_for_lines(&server, "Sending response", 2);
    let output = server.output();
    let second_received = line_index(&output, "Received request: 3|second");
    let first_answered = line_index(&output, "Sending response: tsrif");
    assert!(
        second_received < first_answered,
        "b's request waited for a's delay:\n{}",
        output.join("\n")
    );
    // The two requests were served by two tasks, one per connection.
    assert_ne!(
        output[second_received].split(" - ").next(),
        output[first_answered].split(" - ").next(),
        "{output:?}"
    );
    server.stop(IO_TIMEOUT).expect("stops");
}

/// Hundreds of clients, each with a request held by its delay, run on the runtime's
/// threads alone: the process has the workers, the main thread and no thread per client.
#[test]
fn thread_count_stays_bounded_under_hundreds_of_clients() {
    const CLIENTS: usize = 300;
    const WORKERS: u64 = 2;
    let server = start_async(&["--workers", "2", "--delay", "2s"]);
    let addr = server.addr();
    let mut conns: Vec<TcpStream> = (0..CLIENTS).map(|_| connect(addr)).collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        conn.write_all(format!("3|{i}x\n").as_bytes())
            .expect("send a request");
    }
    // Every request is held for 2 s, so once all are received the clients are all in the
    // server at once (a test too slow for that fails here, not on the thread count).
    wait_for_lines(&server, "Received request", CLIENTS);
    assert!(
        lines_with(&server, "Sending response").is_empty(),
        "too slow to overlap"
    );
    let threads = thread_count(server.pid());
    assert!(
        threads <= WORKERS + 3,
        "{threads} threads for {WORKERS} workers and {CLIENTS} clients"
    );
    for (i, conn) in conns.iter().enumerate() {
        assert_eq!(
            read_lines(conn, 1),
            [format!("OK x{}\n", reverse(i))],
            "client {i}"
        );
    }
    server.stop(IO_TIMEOUT).expect("stops");
}

/// The digits of `n`, reversed.
fn reverse(n: usize) -> String {
    n.to_string().chars().rev().collect()
}

/// SIGTERM while every client has a request held and a second one waiting behind it, on
/// one runtime thread: all of them are answered, in order, each connection is closed, a
/// new connection is refused, and the server says it shut down cleanly and exits 0.
#[test]
fn sigterm_answers_every_request_in_flight() {
    const CLIENTS: usize = 50;
    let mut server = start_async(&["--workers", "1", "--delay", "1s"]);
    let addr = server.addr();
    let mut conns: Vec<TcpStream> = (0..CLIENTS).map(|_| connect(addr)).collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        conn.write_all(format!("3|a{i}\n3|b{i}\n").as_bytes())
            .expect("send two requests");
    }
    wait_for_lines(&server, "Received request: 3|a", CLIENTS);
    let ports: Vec<u16> = conns.iter().map(port).collect();
    server.signal(Signal::SIGTERM).expect("send SIGTERM");
    server
        .wait_for_output("Shutting down", IO_TIMEOUT)
        .expect("the shutdown is logged");
    assert!(
        TcpStream::connect(addr).is_err(),
        "a connection was accepted while shutting down"
    );
    for (i, conn) in conns.iter_mut().enumerate() {
        let want = [
            format!("OK {}a\n", reverse(i)),
            format!("OK {}b\n", reverse(i)),
        ];
        assert_eq!(read_lines(conn, 2), want, "client {i} (port {})", ports[i]);
        assert_eq!(read_to_close(conn), b"", "client {i}");
    }
    let status = server
        .wait_timeout(IO_TIMEOUT)
        .expect("wait for the server")
        .expect("the server exits after draining");
    assert_eq!(status.code(), Some(0));
    assert_logged(&server, "[MAIN] - Shut down cleanly");
    assert_logged(&server, "[TASK 1] - Connection from 127.0.0.1:");
}

/// A client that floods requests and never reads its answers fills its socket; on the
/// same (only) runtime thread another client is answered meanwhile, and the flooder is
/// cut off once its output makes no progress for the write timeout (1 s here, via
/// `--shutdown-timeout`).
#[test]
fn a_client_that_stops_reading_does_not_stall_the_runtime() {
    let server = start_async(&["--workers", "1", "--shutdown-timeout", "1s"]);
    let addr = server.addr();
    let stalled = connect(addr);
    let mut writer = stalled.try_clone().expect("clone the stream");
    let flooding = thread::spawn(move || {
        let request = format!("1|{}\n", "x".repeat(4000)).repeat(100);
        for _ in 0..1000 {
            if writer.write_all(request.as_bytes()).is_err() {
                return true;
            }
        }
        false
    });
    wait_for_lines(&server, "Sending response", 1);
    assert_eq!(one_shot(addr, b"3|next\n"), "OK txen\n");
    assert!(
        flooding.join().expect("the flooding client"),
        "never cut off"
    );
    drop(stalled);
    server
        .wait_for_output("(the client stopped reading its answers)", IO_TIMEOUT)
        .unwrap_or_else(|| panic!("no stalled-reader line in {:?}", server.output()));
    server.stop(IO_TIMEOUT).expect("stops");
}

/// A client trickling one byte every 50 ms and never finishing its line is cut off by
/// `--idle-timeout` (its timer runs from the connection, not the last byte), while a
/// client on the same runtime thread is answered at once.
#[test]
fn trickling_client_is_cut_off_by_the_idle_timeout() {
    let server = start_async(&["--workers", "1", "--idle-timeout", "400ms"]);
    let addr = server.addr();
    let mut slow = connect(addr);
    assert_eq!(one_shot(addr, b"3|next\n"), "OK txen\n");
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
    let mut rest = Vec::new();
    let closed = slow.read_to_end(&mut rest);
    assert!(
        cut_off
            || closed.is_ok()
            || closed
                .as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::ConnectionReset),
        "the trickling client was not closed: {closed:?}"
    );
    assert!(rest.is_empty(), "answered a line never finished: {rest:?}");
    server
        .wait_for_output("(idle for", IO_TIMEOUT)
        .unwrap_or_else(|| panic!("no idle line in {:?}", server.output()));
    server.stop(IO_TIMEOUT).expect("stops");
}
