//! The event-loop architecture: the banner and the loops in the log. (Everything every
//! server does — the protocol, the hostile corpus, resets, the idle timeout, running out
//! of descriptors — and what the servers that serve from a few threads share — a delay
//! that holds only its own connection, hundreds of delayed clients adding no thread,
//! pipelining split at every byte on one loop, the end of a stream arriving with its last
//! request, thousands of held connections, the cap across the loops, a client that stops
//! reading, SIGTERM with hundreds of requests in flight — is in server-core's tests,
//! which run on this server too.)

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use common::*;

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

/// With either `--accept` (the main thread dealing, or a `SO_REUSEPORT` listener per
/// loop): ten clients with a request held 200 ms are all answered, and all ten are in
/// progress at once by the log (no staircase: a delay is a timer); the process has its
/// two loops and the main thread only; at SIGTERM a held request is answered, new
/// connections are refused, and the loops' `served N clients` add up to every client
/// served; exit 0, `Shut down cleanly`.
#[test]
fn every_accept_choice_serves_at_once_and_drains() {
    on_each(&["dealer", "reuseport"], |accept| {
        let mut server = start(
            "server-evented",
            &["--accept", accept, "--workers", "2", "--delay", "200ms"],
        );
        let addr = server.addr();
        let clients: Vec<_> = (0..10)
            .map(|i| {
                std::thread::spawn(move || (i, one_shot(addr, format!("3|{i}x\n").as_bytes())))
            })
            .collect();
        for client in clients {
            let (i, answer) = client.join().expect("a client");
            assert_eq!(answer, format!("OK x{i}\n"), "{accept}");
        }
        wait_for_lines(&server, " disconnected", 10);
        assert_eq!(most_at_once(&server.output()), 10, "{accept}");
        assert_eq!(
            thread_count(server.pid()),
            3,
            "{accept}: two loops and main"
        );
        let mut held = connect(addr);
        std::io::Write::write_all(&mut held, b"3|held\n").expect("send");
        wait_for_lines(&server, "Received request: 3|held", 1);
        server
            .signal(nix::sys::signal::Signal::SIGTERM)
            .expect("send SIGTERM");
        assert_eq!(read_lines(&held, 1), ["OK dleh\n"], "{accept}");
        assert_eq!(wait_for_exit("server-evented", &mut server).code(), Some(0));
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "{accept}: connected after the exit"
        );
        let last = assert_logged(&server, "[MAIN] - Shut down");
        assert!(last.contains("Shut down cleanly"), "{accept}: {last}");
        let counts = served_counts(&server.output());
        assert_eq!(counts.len(), 2, "{accept}: {counts:?}");
        assert_eq!(counts.iter().sum::<u64>(), 11, "{accept}: {counts:?}");
    });
    assert_usage_error(
        "server-evented",
        &["--port", "0", "--accept", "lottery"],
        "[possible values: dealer, reuseport]",
    );
}
