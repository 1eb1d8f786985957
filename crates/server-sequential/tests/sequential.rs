//! The sequential architecture: one client at a time, the rest wait in the backlog.

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

fn start_sequential(args: &[&str]) -> ServerProcess {
    start("server-sequential", args)
}

/// The tutorial's demonstration: while a first client stays connected, a second client's
/// request waits unanswered; as soon as the first leaves, it is answered.
#[test]
fn second_client_waits_for_the_first() {
    let server = start_sequential(&["--quiet"]);
    let mut first = connect(server.addr());
    assert_eq!(ask(&mut first, b"1|hello\n"), "OK HELLO\n");
    let mut second = connect(server.addr());
    second.write_all(b"1|world\n").unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut buf = [0u8; 64];
    let early = std::io::Read::read(&mut second, &mut buf);
    assert!(
        early.is_err(),
        "answered while the first client was served: {early:?}"
    );
    drop(first);
    second.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    assert_eq!(read_lines(&second, 1), ["OK WORLD\n"]);
    server.stop(IO_TIMEOUT).expect("stops");
}

/// A silent client is closed after --idle-timeout, which frees the server for the next.
#[test]
fn idle_timeout_frees_the_server() {
    let server = start_sequential(&["--idle-timeout", "300ms"]);
    let began = Instant::now();
    let mut silent = connect(server.addr());
    assert_logged(&server, "Connection from");
    let waiting = thread::spawn({
        let addr = server.addr();
        move || one_shot(addr, b"3|next\n")
    });
    assert_eq!(waiting.join().unwrap(), "OK txen\n");
    assert!(
        began.elapsed() >= Duration::from_millis(300),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(
        read_to_close(&mut silent),
        b"",
        "the silent client was not closed"
    );
    // The server logs the idle disconnect before it serves the next client, but the log
    // is read on a thread of the test: the answer and the close can come first.
    assert_logged(&server, "disconnected (idle for 300ms)");
    server.stop(IO_TIMEOUT).expect("stops");
}

/// SIGTERM while a client idles: the server closes it and exits 0 promptly; clients
/// waiting in the backlog are refused or closed, never answered after the exit.
#[test]
fn sigterm_with_an_idle_client_exits_promptly() {
    let server = start_sequential(&["--quiet"]);
    let mut idle = connect(server.addr());
    let mut queued = connect(server.addr());
    thread::sleep(Duration::from_millis(50));
    stop_promptly(server);
    assert_eq!(read_to_close(&mut idle), b"");
    assert_closed_unanswered(&mut queued, "the client in the backlog");
}
