//! The event-loop architecture: the banner and the loops in the log, pipelining split at
//! every byte on one loop, and the end of a stream arriving with its last request.
//! (Everything every server does — the protocol, the hostile corpus, resets, the idle
//! timeout, running out of descriptors — and what the servers that serve from a few
//! threads share — a delay that holds only its own connection, hundreds of delayed
//! clients adding no thread, thousands of held connections, the cap across the loops, a
//! client that stops reading, SIGTERM with hundreds of requests in flight — is in
//! server-core's tests, which run on this server too.)

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use std::io::Write;
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
    two_workers_in_banner_and_log(
        "server-evented",
        "Evented Server (PID: ",
        "-- 2 event loops over non-blocking sockets",
        |n| format!("[LOOP {n}]"),
    );
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
