//! Graceful shutdown under load: SIGTERM while hundreds of requests are in flight on the
//! forking, threaded, evented and async servers (async on one runtime thread).
//! (`servers.rs::sigterm_answers_requests_in_flight` does the same with a few clients on
//! all seven.)

mod common;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;

use common::*;
use nix::sys::signal::Signal;

const CLIENTS: usize = 300;

/// 300 clients each pipeline two requests held by `--delay 1s`; SIGTERM once every first
/// request has been received. Every request — the one being delayed and the one waiting
/// behind it — is answered, exactly; each connection is then closed; a client connecting
/// while the server drains is refused; the server exits 0 and its main thread logs that
/// it shut down cleanly. The async server runs on one runtime thread, which every task
/// shares, and logs each client's task as `[TASK n]`.
#[test]
fn sigterm_with_hundreds_in_flight() {
    for (binary, workers) in [
        ("server-forking", &[][..]),
        ("server-threaded", &[]),
        ("server-evented", &[]),
        ("server-uring", &[]),
        ("server-async", &["--workers", "1"]),
    ] {
        let mut args = vec!["--delay", "1s"];
        args.extend_from_slice(workers);
        let mut server = start(binary, &args);
        let addr = server.addr();
        let mut conns: Vec<TcpStream> = (0..CLIENTS).map(|_| connect(addr)).collect();
        for (i, conn) in conns.iter_mut().enumerate() {
            conn.write_all(format!("3|a{i}\n3|b{i}\n").as_bytes())
                .expect("send two requests");
        }
        wait_for_lines(&server, "Received request: 3|a", CLIENTS);
        server.signal(Signal::SIGTERM).expect("send SIGTERM");
        assert_logged(&server, "Shutting down");
        match TcpStream::connect(addr) {
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{binary}: {e}"),
            Ok(_) => panic!("{binary}: accepted a connection while shutting down"),
        }
        for (i, conn) in conns.iter().enumerate() {
            let want = [
                format!("OK {}a\n", reverse(&i.to_string())),
                format!("OK {}b\n", reverse(&i.to_string())),
            ];
            assert_eq!(read_lines(conn, 2), want, "{binary}: client {i}");
        }
        for (i, mut conn) in conns.into_iter().enumerate() {
            assert_eq!(read_to_close(&mut conn), b"", "{binary}: client {i}");
        }
        let status = wait_for_exit(binary, &mut server);
        assert_eq!(status.code(), Some(0), "{binary}");
        assert_logged(&server, "[MAIN] - Shut down cleanly");
        if binary == "server-async" {
            assert_logged(&server, "[TASK 1] - Connection from 127.0.0.1:");
        }
    }
}
