//! The io_uring architecture's own behaviour: the banner and the rings in the log, the
//! thread count, and the bound on what a multishot receive may bring while the session
//! does not want it. (Everything every server does — the protocol, the hostile corpus,
//! resets, the idle timeout, running out of descriptors — and what the servers that serve
//! from a few threads share — a delay that holds only its own connection, hundreds of
//! delayed clients adding no thread, pipelining split at every byte on one ring, the end
//! of a stream arriving with its last request, thousands of held connections, the cap
//! across the rings, a client that stops reading, SIGTERM with hundreds of requests in
//! flight — is in server-core's tests, which run on this server too. This file also makes
//! `cargo test` build the `server-uring` binary that those tests start.)

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::*;

fn start_uring(args: &[&str]) -> ServerProcess {
    start("server-uring", args)
}

/// The banner names the architecture and the ring count; two clients are served by the
/// two rings in turn, each logging as `[RING n]`; `--workers 0` is refused clearly.
#[test]
fn banner_and_rings_in_the_log() {
    two_workers_in_banner_and_log(
        "server-uring",
        "io_uring Server (PID: ",
        "-- 2 io_uring rings with completion-based I/O",
        |n| format!("[RING {n}]"),
    );
}

/// `--workers 3` starts three rings and no other thread but the acceptor, whatever the
/// number of clients; `--help` says what the flag is and its default.
#[test]
fn workers_are_rings_and_nothing_more() {
    let server = start_uring(&["--workers", "3", "--quiet"]);
    assert_logged(&server, "-- 3 io_uring rings");
    let mut conns: Vec<TcpStream> = (0..30).map(|_| connect(server.addr())).collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        assert_eq!(
            ask(conn, format!("3|{i}z\n").as_bytes()),
            format!("OK z{}\n", reverse(&i.to_string()))
        );
    }
    assert_eq!(
        thread_count(server.pid()),
        4,
        "three rings and the acceptor"
    );
    server.stop(IO_TIMEOUT).expect("stops");
    let help = help_of("server-uring");
    assert!(
        help.contains("Ring threads") && help.contains("the number of cores"),
        "{help}"
    );
}

/// While a request is held for its delay, the session wants no input, and the multishot
/// receive may take no more than what the session could still have buffered: a client
/// that pipelines 600 KiB behind the held request finds all but at most the limit plus a
/// line ending (64 KiB + 2) still in the server's socket or its own, as the kernel's
/// queues in /proc/net/tcp show; the held request is then answered.
#[test]
fn a_held_request_bounds_what_the_ring_receives() {
    const SENT: usize = 600 * 1024;
    let server = start_uring(&[
        "--workers",
        "1",
        "--quiet",
        "--delay",
        "1500ms",
        "--shutdown-timeout",
        "1s",
    ]);
    let mut conn = connect(server.addr());
    conn.write_all(b"3|held\n").expect("send the held request");
    // The request is being held once its answer is late: no log with --quiet, so wait
    // for the server to have taken the bytes (its receive queue empty).
    let ports = (
        conn.local_addr().expect("our address").port(),
        server.addr().port(),
    );
    wait_until("the held request to be read", IO_TIMEOUT, || {
        let (_, server_rx) = queues(ports);
        if server_rx == 0 {
            Ok(())
        } else {
            Err(server_rx)
        }
    });
    let line = format!("3|{}\n", "p".repeat(97));
    let mut flood = line.repeat(SENT / line.len()).into_bytes();
    flood.truncate(SENT / line.len() * line.len());
    conn.set_nonblocking(true).expect("non-blocking");
    let mut written = 0;
    while written < flood.len() {
        match conn.write(&flood[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("flooding: {e}"),
        }
    }
    // Whatever the ring would take, it takes within moments of the bytes' arrival.
    thread::sleep(Duration::from_millis(300));
    let (client_tx, server_rx) = queues(ports);
    let taken = written - client_tx - server_rx;
    assert!(
        taken <= 65_536 + 2,
        "the server took {taken} of {written} bytes while a request was held"
    );
    assert!(written > 2 * 65_538, "only {written} bytes could be sent");
    // The held request is answered when its delay ends.
    conn.set_nonblocking(false).expect("blocking");
    assert_eq!(read_lines(&conn, 1), ["OK dleh\n"]);
    server.stop(IO_TIMEOUT).expect("stops");
}

/// The bytes waiting in the client's send queue and in the server's receive queue of the
/// connection between `ports` (client, server), from /proc/net/tcp.
fn queues((client, server): (u16, u16)) -> (usize, usize) {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let mut client_tx = None;
    let mut server_rx = None;
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = |field: &str| u16::from_str_radix(field.rsplit(':').next()?, 16).ok();
        let (Some(local), Some(remote)) = (port(fields[1]), port(fields[2])) else {
            continue;
        };
        let Some((tx, rx)) = fields[4].split_once(':') else {
            continue;
        };
        let hex = |s: &str| usize::from_str_radix(s, 16).expect("a queue size");
        if (local, remote) == (client, server) {
            client_tx = Some(hex(tx));
        } else if (local, remote) == (server, client) {
            server_rx = Some(hex(rx));
        }
    }
    (
        client_tx.expect("the client's socket"),
        server_rx.expect("the server's socket"),
    )
}
