//! The async architecture: a task per client on a few runtime threads. One thread overlaps
//! many delays, and hundreds of clients cost no thread each. The protocol, hostile input,
//! limits and shutdown tests shared by every server — and those it shares with the evented
//! server: thousands of held connections, a trickling client and one that stops reading
//! on one runtime thread, SIGTERM with hundreds in flight on one runtime thread — are in
//! server-core's `tests/`.

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::net::TcpStream;

use common::*;

fn start_async(args: &[&str]) -> ServerProcess {
    start("server-async", args)
}

/// The index of the first output line that contains `needle`; panics if none does.
fn line_index(output: &[String], needle: &str) -> usize {
    output
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", output.join("\n")))
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
