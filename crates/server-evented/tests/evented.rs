//! The event-loop architecture: the banner and the loops in the log, a delay that holds
//! only its own connection, the loops as the only threads, and the end of a stream
//! arriving with its last request. (Everything every server does — the protocol, the
//! hostile corpus, resets, the idle timeout, running out of descriptors — and what the
//! servers that serve from a few threads share — thousands of held connections, the cap
//! across the loops, a client that stops reading, SIGTERM with hundreds of requests in
//! flight — is in server-core's tests, which run on this server too.)

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::*;

fn start_evented(args: &[&str]) -> ServerProcess {
    start("server-evented", args)
}

/// The banner names the architecture and the loop count; two clients are served by the
/// two loops in turn, each logging as `[LOOP n]`; `--workers 0` is refused clearly.
#[test]
fn banner_and_loops_in_the_log() {
    let server = start_evented(&["--workers", "2"]);
    let banner = server.output();
    assert!(banner[0].starts_with("Evented Server (PID: "), "{banner:?}");
    // The line after `Listening on` may still be on its way from the reader thread.
    server
        .wait_for_output("-- 2 event loops over non-blocking sockets", IO_TIMEOUT)
        .expect("the banner's description line");
    let mut a = connect(server.addr());
    let mut b = connect(server.addr());
    assert_eq!(ask(&mut a, b"3|ab\n"), "OK ba\n");
    assert_eq!(ask(&mut b, b"3|cd\n"), "OK dc\n");
    wait_for_lines(&server, "Sending response", 2);
    for n in [1, 2] {
        assert_logged(&server, &format!("[LOOP {n}] - Connection from 127.0.0.1:"));
        assert_logged(&server, &format!("[LOOP {n}] - Received request"));
    }
    server.stop(IO_TIMEOUT).expect("stops");

    let path = workspace_binary("server-evented").unwrap_or_else(|e| panic!("{e}"));
    let refused = std::process::Command::new(path)
        .args(["--workers", "0"])
        .output()
        .expect("run server-evented");
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--workers"), "{stderr}");
}

/// On one loop with `--delay 3s`, a request held for its delay does not hold another
/// connection's: the second request is received while the first is still held, and
/// both are answered. The evidence is the order of the loop's own log lines, not a
/// clock: a loop that slept through the delay could not log the second request before
/// the first answer.
#[test]
fn a_delay_holds_only_its_own_connection() {
    let server = start_evented(&["--workers", "1", "--delay", "3s"]);
    let mut a = connect(server.addr());
    let mut b = connect(server.addr());
    a.write_all(b"3|first\n").expect("send the first request");
    wait_for_lines(&server, "Received request: 3|first", 1);
    b.write_all(b"3|second\n").expect("send the second request");
    assert_eq!(read_lines(&a, 1), ["OK tsrif\n"]);
    assert_eq!(read_lines(&b, 1), ["OK dnoces\n"]);
    wait_for_lines(&server, "Sending response", 2);
    let order: Vec<String> = server
        .output()
        .into_iter()
        .filter(|l| l.contains("Received request") || l.contains("Sending response"))
        .collect();
    let position = |needle: &str| {
        order
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {order:?}"))
    };
    assert!(
        position("Received request: 3|second") < position("Sending response: tsrif"),
        "the second request waited for the first delay: {order:?}"
    );
    assert!(order.iter().all(|l| l.contains("[LOOP 1]")), "{order:?}");
    server.stop(IO_TIMEOUT).expect("stops");
}

/// Three hundred clients, each with a request held for its delay, are served by the
/// loops alone: the process has `--workers` + 1 threads (the loops and the acceptor),
/// not one per client.
#[test]
fn hundreds_of_clients_add_no_thread() {
    const CLIENTS: usize = 300;
    let server = start_evented(&["--workers", "2", "--delay", "1s"]);
    let addr = server.addr();
    let mut conns: Vec<TcpStream> = (0..CLIENTS).map(|_| connect(addr)).collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        conn.write_all(format!("3|{i}x\n").as_bytes())
            .expect("send a request");
    }
    wait_for_lines(&server, "Received request: 3|", CLIENTS);
    assert_eq!(thread_count(server.pid()), 3);
    for (i, conn) in conns.iter().enumerate() {
        assert_eq!(
            read_lines(conn, 1),
            [format!("OK x{}\n", reverse(&i.to_string()))],
            "client {i}"
        );
    }
    assert_eq!(thread_count(server.pid()), 3);
    server.stop(IO_TIMEOUT).expect("stops");
}

/// Pipelined requests split at every byte and sent with pauses, on one loop: each answer
/// comes as soon as its line is complete, and a line split across reads is whole.
#[test]
fn byte_by_byte_pipelining_on_one_loop() {
    let server = start_evented(&["--workers", "1", "--quiet"]);
    let mut conn = connect(server.addr());
    let requests = b"3|abc\n2|1+2\n1|MiXed\n";
    for &byte in requests {
        conn.write_all(&[byte]).expect("send a byte");
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(read_lines(&conn, 3), ["OK cba\n", "OK 3\n", "OK mIxED\n"]);
    server.stop(IO_TIMEOUT).expect("stops");
}

/// A client that sends its last request and closes its sending side at once — before
/// the connection is handed to a loop, and later, after the loop has found the socket
/// empty — is answered and then closed: the end of its stream is not lost between two
/// edges, whichever way the bytes and the FIN arrive.
#[test]
fn a_request_and_the_end_of_the_stream_in_one_go() {
    let server = start_evented(&["--workers", "1", "--quiet"]);
    for pause in [Duration::ZERO, Duration::from_millis(50)] {
        for i in 0..20 {
            let mut conn = connect(server.addr());
            thread::sleep(pause);
            conn.write_all(b"3|abc\n3|last").expect("send the requests");
            conn.shutdown(std::net::Shutdown::Write)
                .expect("close the sending side");
            assert_eq!(
                read_to_close(&mut conn),
                b"OK cba\nOK tsal\n",
                "pause {pause:?}, client {i}"
            );
        }
    }
    server.stop(IO_TIMEOUT).expect("stops");
}
