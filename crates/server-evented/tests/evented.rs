//! The event-loop architecture: thousands of connections on a few threads, a delay that
//! holds only its own connection, the loops as the only threads, the cap, a client that
//! stops reading, and SIGTERM with hundreds of requests in flight. (Everything every
//! server does — the protocol, the hostile corpus, resets, the idle timeout, running out
//! of descriptors — is in server-core's tests, which run on this server too.)

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::*;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::Signal;

fn start_evented(args: &[&str]) -> ServerProcess {
    start("server-evented", args)
}

/// How many descriptors a process has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Raises this test process's soft open-file limit to its hard limit and checks that
/// `needed` descriptors fit.
fn allow_open_files(needed: u64) {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("read RLIMIT_NOFILE");
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("raise RLIMIT_NOFILE");
    }
    assert!(
        hard >= needed,
        "this test needs {needed} open files; the hard limit is {hard} (raise it with ulimit -Hn)"
    );
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

/// 2,000 connections held open — half of them stopped halfway through a request — do not
/// keep a new client from being answered at once, on two loops; the held ones are served
/// too once they finish their requests.
#[test]
fn thousands_of_open_connections_do_not_delay_another_client() {
    const HELD: usize = 2000;
    allow_open_files(HELD as u64 + 200);
    let server = start_evented(&["--quiet", "--workers", "2"]);
    let addr = server.addr();
    let mut held: Vec<TcpStream> = (0..HELD).map(|_| connect(addr)).collect();
    for conn in held.iter_mut().step_by(2) {
        conn.write_all(b"3|half a requ")
            .expect("send half a request");
    }
    // Every one is accepted and held by the server, not waiting in the backlog.
    wait_until("the server to hold every connection", IO_TIMEOUT, || {
        let fds = open_fds(server.pid());
        if fds >= HELD { Ok(()) } else { Err(fds) }
    });
    assert_eq!(one_shot(addr, b"3|new\n"), "OK wen\n");
    for (i, conn) in held.iter_mut().enumerate().step_by(97) {
        let (rest, want) = if i % 2 == 0 {
            (&b"est\n"[..], "OK tseuqer a flah\n")
        } else {
            (&b"3|quiet\n"[..], "OK teiuq\n")
        };
        assert_eq!(ask(conn, rest), want, "held client {i}");
    }
    assert_eq!(
        thread_count(server.pid()),
        3,
        "two loops and the main thread"
    );
    drop(held);
    server.stop(IO_TIMEOUT).expect("stops");
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

/// `--max-clients 4` facing forty clients at once: every one is answered (the extra ones
/// wait in the backlog, none is refused), and no more than four are ever held at once,
/// across both loops. "At once" is read from the log, written in order: a session logs
/// `Connection from` after its place was taken and `disconnected` before it is given
/// back.
#[test]
fn max_clients_holds_across_the_loops() {
    let server = start_evented(&["--workers", "2", "--delay", "50ms", "--max-clients", "4"]);
    let addr = server.addr();
    let clients: Vec<_> = (0..40)
        .map(|i| thread::spawn(move || (i, one_shot(addr, format!("3|{i}x\n").as_bytes()))))
        .collect();
    for client in clients {
        let (i, answer) = client.join().expect("a client");
        assert_eq!(answer, format!("OK x{}\n", reverse(&i.to_string())));
    }
    wait_for_lines(&server, "disconnected", 40);
    let (mut now, mut most) = (0i32, 0);
    for line in server.output() {
        if line.contains("] - Connection from ") {
            now += 1;
        } else if line.contains("] - Client 127.0.0.1:") && line.contains(" disconnected") {
            now -= 1;
        }
        most = most.max(now);
    }
    assert!(most <= 4, "{most} clients held at once");
    assert!(most >= 2, "the clients were never served side by side");
    server.stop(IO_TIMEOUT).expect("stops");
}

/// A client that floods requests and never reads its answers fills its socket; on the
/// same (only) loop another client is answered meanwhile, and the flooder is cut off once
/// its output makes no progress for the write timeout (1 s here, via
/// `--shutdown-timeout`).
#[test]
fn a_client_that_stops_reading_does_not_stall_the_loop() {
    let server = start_evented(&["--workers", "1", "--shutdown-timeout", "1s"]);
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

/// 300 clients each pipeline two requests held by `--delay 1s`; SIGTERM once every first
/// request has been received. Every request — the one being delayed and the one behind
/// it — is answered, exactly; each connection is then closed; a client connecting while
/// the server drains is refused; the server exits 0 and says it shut down cleanly.
#[test]
fn sigterm_with_hundreds_in_flight() {
    const CLIENTS: usize = 300;
    let mut server = start_evented(&["--delay", "1s"]);
    let addr = server.addr();
    let mut conns: Vec<TcpStream> = (0..CLIENTS).map(|_| connect(addr)).collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        conn.write_all(format!("3|a{i}\n3|b{i}\n").as_bytes())
            .expect("send two requests");
    }
    wait_for_lines(&server, "Received request: 3|a", CLIENTS);
    server.signal(Signal::SIGTERM).expect("send SIGTERM");
    server
        .wait_for_output("Shutting down", IO_TIMEOUT)
        .expect("a shutdown line");
    match TcpStream::connect(addr) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}"),
        Ok(_) => panic!("accepted a connection while shutting down"),
    }
    for (i, conn) in conns.iter().enumerate() {
        let want = [
            format!("OK {}a\n", reverse(&i.to_string())),
            format!("OK {}b\n", reverse(&i.to_string())),
        ];
        assert_eq!(read_lines(conn, 2), want, "client {i}");
    }
    for (i, mut conn) in conns.into_iter().enumerate() {
        assert_eq!(read_to_close(&mut conn), b"", "client {i}");
    }
    let status = wait_for_exit("server-evented", &mut server);
    assert_eq!(status.code(), Some(0));
    server
        .wait_for_output("Shut down cleanly", IO_TIMEOUT)
        .unwrap_or_else(|| panic!("{:?}", server.output().last()));
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

/// Under `prlimit --nofile=64`, 80 clients: the acceptor runs out of descriptors, says so
/// once, and keeps the loops serving the clients they hold; once those leave it says it
/// accepts again, and a new client is served.
#[test]
fn out_of_descriptors_is_logged_once_and_recovered() {
    let prlimit = ["/usr/bin/prlimit", "/bin/prlimit"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("prlimit is missing: install util-linux");
    let binary = workspace_binary("server-evented").unwrap_or_else(|e| panic!("{e}"));
    let binary = binary.to_string_lossy().into_owned();
    let server = ServerProcess::start(
        std::path::Path::new(prlimit),
        [
            "--nofile=64",
            "--",
            binary.as_str(),
            "--port",
            "0",
            "--quiet",
        ],
    )
    .unwrap_or_else(|e| panic!("server-evented under prlimit: {e}"));
    let addr = server.addr();
    let mut held: Vec<TcpStream> = (0..80).map(|_| connect(addr)).collect();
    for conn in &mut held {
        conn.write_all(b"3|ab\n").expect("send a request");
    }
    assert_eq!(read_lines(&held[0], 1), ["OK ba\n"]);
    server
        .wait_for_output("accept failed: Too many open files", IO_TIMEOUT)
        .expect("the acceptor ran out of descriptors and said so");
    assert_eq!(ask(&mut held[0], b"3|still\n"), "OK llits\n");
    drop(held);
    assert_eq!(one_shot(addr, b"3|after\n"), "OK retfa\n");
    server
        .wait_for_output("accepting clients again", IO_TIMEOUT)
        .expect("recovery is logged");
    assert_eq!(
        lines_with(&server, "accept failed").len(),
        1,
        "{:?}",
        server.output()
    );
    server.stop(IO_TIMEOUT).expect("stops");
}
