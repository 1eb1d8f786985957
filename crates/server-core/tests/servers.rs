//! Behaviour every server shares, tested on each real binary over real sockets:
//! the wire protocol, raw framing, logging, graceful shutdown, the command
//! line. Architecture-specific tests live in each server crate's `tests/`.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

/// The engine's own answer, as the line a server must send.
fn expected(op: engine::Op, payload: &str) -> String {
    match engine::execute(op, payload) {
        Ok(result) => format!("OK {result}\n"),
        Err(e) => format!("ERR {e}\n"),
    }
}

/// Every operation, by code and by name, answers with the exact bytes the protocol
/// specifies and the engine computes.
#[test]
fn every_operation_end_to_end() {
    for binary in SERVERS {
        let server = start(binary, &["--quiet"]);
        let mut conn = connect(server.addr());
        // Pinned bytes.
        assert_eq!(ask(&mut conn, b"3|abc\n"), "OK cba\n", "{binary}");
        assert_eq!(ask(&mut conn, b"1|Hello World\n"), "OK hELLO wORLD\n");
        assert_eq!(ask(&mut conn, b"2|1+2*3\n"), "OK 7\n");
        assert_eq!(ask(&mut conn, b"2|6/2\n"), "OK 3.0\n");
        assert_eq!(ask(&mut conn, b"2|1/0\n"), "ERR division by zero\n");
        assert_eq!(ask(&mut conn, b"3|\n"), "OK \n");
        assert_eq!(ask(&mut conn, b" Reverse |a|b\n"), "OK b|a\n");
        // Whatever the engine says, the server says.
        for (op, name, payload) in [
            (engine::Op::ChangeCase, "case", "Straße"),
            (engine::Op::Evaluate, "EVAL", "-2**2 + 7 // 2"),
            (engine::Op::Evaluate, "2", "(-8)**0.5"),
            (engine::Op::Evaluate, "eval", "9**9**9"),
            (engine::Op::Reverse, "3", "añb😀"),
        ] {
            let request = format!("{name}|{payload}\n");
            assert_eq!(
                ask(&mut conn, request.as_bytes()),
                expected(op, payload),
                "{binary}: {request}"
            );
        }
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// Requests pipelined in one write are answered in order; a request split byte by byte
/// is put back together; CRLF line ends are accepted.
#[test]
fn pipelined_split_and_crlf() {
    for binary in SERVERS {
        let server = start(binary, &["--quiet"]);
        let mut conn = connect(server.addr());
        conn.write_all(b"3|abc\n1|xY\n2|2**10\n3|\n").unwrap();
        assert_eq!(
            read_lines(&conn, 4),
            ["OK cba\n", "OK Xy\n", "OK 1024\n", "OK \n"],
            "{binary}"
        );
        for byte in b"reverse|split\n" {
            conn.write_all(&[*byte]).unwrap();
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(read_lines(&conn, 1), ["OK tilps\n"], "{binary}");
        assert_eq!(ask(&mut conn, b"1|crlf\r\n"), "OK CRLF\n", "{binary}");
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// Each bad input of the protocol gets its own clear ERR, and the connection stays usable.
#[test]
fn bad_input_keeps_the_connection_usable() {
    for binary in SERVERS {
        let server = start(binary, &["--quiet"]);
        let mut conn = connect(server.addr());
        for (bad, answer) in [
            (
                &b"hello\n"[..],
                "ERR malformed request: expected <op>|<payload>\n",
            ),
            (
                b"x|y\n",
                "ERR unknown operation 'x': expected 1/case, 2/eval, 3/reverse\n",
            ),
            (
                b"9|y\n",
                "ERR unknown operation '9': expected 1/case, 2/eval, 3/reverse\n",
            ),
            (
                b"3|ab\xffc\n",
                "ERR request is not valid UTF-8 (bad byte at offset 4): expected UTF-8 text\n",
            ),
            (b"\n", "ERR empty request: expected <op>|<payload>\n"),
        ] {
            assert_eq!(ask(&mut conn, bad), answer, "{binary}: {bad:?}");
            assert_eq!(
                ask(&mut conn, b"3|ok\n"),
                "OK ko\n",
                "{binary} after {bad:?}"
            );
        }
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// A line over --max-request-bytes is refused with the limit, then the connection is
/// closed; a line of exactly the limit is served; the server goes on serving others.
#[test]
fn over_long_line_is_refused_and_closed() {
    for binary in SERVERS {
        let server = start(binary, &["--quiet", "--max-request-bytes", "100"]);
        let exact = format!("3|{}\n", "a".repeat(98));
        assert_eq!(
            one_shot(server.addr(), exact.as_bytes()),
            format!("OK {}\n", "a".repeat(98))
        );
        let mut conn = connect(server.addr());
        // Far more than the limit, and more than the server will ever read of it.
        conn.write_all(&vec![b'x'; 300_000]).unwrap();
        let answer = read_to_close(&mut conn);
        assert_eq!(
            String::from_utf8_lossy(&answer),
            "ERR request too long (limit 100 bytes)\n",
            "{binary}"
        );
        assert_eq!(
            one_shot(server.addr(), b"3|next\n"),
            "OK txen\n",
            "{binary}"
        );
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// `--framing raw` speaks the tutorial's wire format: a bare request in one write, a bare
/// answer with no terminator, `Invalid choice` and `Error: ...` as the tutorial's server.
#[test]
fn raw_framing_speaks_the_tutorial_format() {
    use std::io::Read;
    for binary in SERVERS {
        let server = start(binary, &["--quiet", "--framing", "raw"]);
        let mut conn = connect(server.addr());
        let mut exchange = |request: &[u8], expect: &str| {
            conn.write_all(request).unwrap();
            let mut buf = vec![0u8; 1024];
            let n = conn.read(&mut buf).expect("an answer");
            assert_eq!(String::from_utf8_lossy(&buf[..n]), expect, "{binary}");
            // The tutorial's client reads one recv; give the server time to send more if it
            // wrongly would, so the next exchange would see it.
            thread::sleep(Duration::from_millis(20));
        };
        exchange(b"1|hello", "HELLO");
        exchange(b"2|1+2+3", "6");
        exchange(b"3|BenchmarkTestString123", "321gnirtStseTkramhcneB");
        exchange(b"9|x", "Invalid choice");
        exchange(
            b"2|1/0",
            &format!(
                "Error: {}",
                engine::execute(engine::Op::Evaluate, "1/0").unwrap_err()
            ),
        );
        exchange(
            b"no bar",
            "Error: malformed request: expected <op>|<payload>",
        );
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// The banner names the architecture and PID; each connection, request, response and
/// disconnect is logged with a time stamp and who served it; hostile text cannot forge
/// a log line; `--quiet` turns the per-request lines off.
#[test]
fn banner_and_log_lines() {
    let labels = [
        (
            "server-sequential",
            "Sequential Server (PID: ",
            "[MAIN PROCESS]",
        ),
        (
            "server-forking",
            "Forking Server (Main PID: ",
            "[CHILD PID: ",
        ),
        (
            "server-threaded",
            "Threaded Server (Main PID: ",
            "[THREAD: client-1]",
        ),
        (
            "server-prefork",
            "Prefork Server (Main PID: ",
            "[WORKER PID: ",
        ),
        ("server-pool", "Pool Server (Main PID: ", "[WORKER: worker-"),
        ("server-evented", "Evented Server (PID: ", "[LOOP "),
        ("server-async", "Async Server (PID: ", "[TASK 1]"),
        ("server-uring", "io_uring Server (PID: ", "[RING "),
    ];
    for (binary, title, who) in labels {
        let server = start(binary, &[]);
        assert_logged(&server, "-- ");
        let out = server.output();
        assert_eq!(out[0], format!("{title}{})", server.pid()), "{binary}");
        assert!(
            out[1].starts_with("Listening on 127.0.0.1:"),
            "{binary}: {out:?}"
        );
        assert!(out[2].starts_with("-- "), "{binary}: {out:?}");
        let mut conn = connect(server.addr());
        assert_eq!(ask(&mut conn, b"1|hello\n"), "OK HELLO\n");
        let forged = b"3|x\n[00:00:00] [MAIN] - forged\x1b[2J\n";
        conn.write_all(forged).unwrap();
        read_lines(&conn, 2);
        drop(conn);
        assert_logged(&server, "disconnected");
        for needle in [
            "Connection from 127.0.0.1:",
            "Received request: 1|hello",
            "Sending response: HELLO",
            "Rejected request: malformed request",
        ] {
            let line = lines_with(&server, needle)
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("{binary}: no {needle:?} in {:?}", server.output()));
            assert!(line.contains(who), "{binary}: {line}");
            let stamp = line.as_bytes();
            assert!(
                stamp[0] == b'[' && stamp[3] == b':' && stamp[6] == b':' && stamp[9] == b']',
                "{binary}: no time stamp in {line}"
            );
        }
        let out = server.output();
        assert!(
            !out.iter()
                .any(|l| l.starts_with("[00:00:00] [MAIN] - forged") || l.contains('\x1b')),
            "{binary}: a client forged a log line: {out:?}"
        );
        server.stop(IO_TIMEOUT).expect("stops");

        let mut quiet = start(binary, &["--quiet"]);
        assert_eq!(one_shot(quiet.addr(), b"1|hello\n"), "OK HELLO\n");
        // Read the log only once its last line is in, so that a request line written
        // late cannot be missed.
        quiet.signal(Signal::SIGTERM).expect("send SIGTERM");
        assert_eq!(
            wait_for_exit(binary, &mut quiet).code(),
            Some(0),
            "{binary}"
        );
        assert_logged(&quiet, "Shut down cleanly");
        let banner_only = quiet.output();
        assert!(
            !banner_only
                .iter()
                .any(|l| l.contains("Received request") || l.contains("Connection from")),
            "{binary}: --quiet still logs requests: {banner_only:?}"
        );
    }
}

/// SIGTERM while requests are held by --delay: every one is answered, new connections
/// are refused afterwards, and the server exits 0. The servers run at once, a thread each.
#[test]
fn sigterm_answers_requests_in_flight() {
    on_every_server(|binary| answers_in_flight_then_exits(binary, Signal::SIGTERM));
}

/// SIGHUP (the terminal was closed) stops every server as SIGTERM does, rather than
/// killing it with answers in flight (the signal's default): the requests held by --delay
/// are answered, the server exits 0, and on the forking and prefork servers no child is
/// left serving.
#[test]
fn sighup_stops_as_sigterm_does() {
    on_every_server(|binary| answers_in_flight_then_exits(binary, Signal::SIGHUP));
}

/// `binary`, sent `signal` while requests are held by --delay, answers every one, closes
/// each connection, refuses new ones and exits 0, leaving no child process behind.
fn answers_in_flight_then_exits(binary: &str, signal: Signal) {
    // The sequential server has one client in flight at a time.
    let clients = if binary == "server-sequential" { 1 } else { 3 };
    let server = start(binary, &["--delay", "500ms"]);
    let addr = server.addr();
    let mut conns: Vec<TcpStream> = (0..clients).map(|_| connect(addr)).collect();
    for conn in &mut conns {
        conn.write_all(b"3|in flight\n").expect("send");
    }
    wait_for_lines(&server, "Received request: 3|in flight", clients);
    let children: Vec<u32> = children_of(server.pid()).iter().map(|c| c.0).collect();
    server.signal(signal).expect("send the signal");
    for conn in &conns {
        assert_eq!(read_lines(conn, 1), ["OK thgilf ni\n"], "{binary}");
    }
    for mut conn in conns {
        // After its answer the connection is closed, not left open.
        assert_eq!(read_to_close(&mut conn), b"", "{binary}");
    }
    let mut server = server;
    let status = wait_for_exit(binary, &mut server);
    assert_eq!(status.code(), Some(0), "{binary}");
    assert!(
        TcpStream::connect(addr).is_err(),
        "{binary}: still accepting"
    );
    let left: Vec<u32> = children
        .into_iter()
        .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
        .collect();
    assert!(left.is_empty(), "{binary}: {left:?} outlived the server");
}

/// `--interface lo` binds 127.0.0.1.
#[test]
fn interface_lo_binds_loopback() {
    for binary in SERVERS {
        let server = start(binary, &["--quiet", "--interface", "lo"]);
        assert_eq!(server.addr().ip().to_string(), "127.0.0.1", "{binary}");
        assert_eq!(one_shot(server.addr(), b"3|lo\n"), "OK ol\n");
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// An unknown interface fails at once with a message that lists the interfaces that
/// exist; a bad flag value is a usage error (status 2).
#[test]
fn unknown_interface_and_bad_flags_fail_clearly() {
    for binary in SERVERS {
        let out = run(binary, &["--interface", "no-such-if0", "--port", "0"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{binary}: {stderr}");
        assert!(
            stderr.contains("no network interface named 'no-such-if0'"),
            "{stderr}"
        );
        assert!(
            stderr.contains("lo"),
            "{binary} does not list interfaces: {stderr}"
        );
        assert_usage_error(binary, &["--delay", "soon"], "--delay");
        let help = help_of(binary);
        for default in [
            "[default: 65432]",
            "[default: 5m]",
            "[default: 4096]",
            "[default: 10s]",
        ] {
            assert!(
                help.contains(default),
                "{binary} --help lacks {default}:\n{help}"
            );
        }
    }
}

/// The port of a running server cannot be bound twice: a clear error, exit status 1.
#[test]
fn port_in_use_is_a_clear_error() {
    let server = start("server-threaded", &["--quiet"]);
    let port = server.addr().port().to_string();
    let out = run("server-sequential", &["--port", &port]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot listen on 127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("--port"), "{stderr}");
}

/// Four clients each send one request held 300 ms: on every server but the sequential one
/// the four are served at once (from the log, whose lines are written in order) and the
/// delays overlap (all answered in less than 4 × 300 ms); on the sequential server one is
/// served at a time and they do not (at least 4 × 300 ms).
#[test]
fn delayed_clients_overlap_except_on_sequential() {
    let delay = Duration::from_millis(300);
    for binary in SERVERS {
        let server = start(binary, &["--delay", "300ms"]);
        let addr = server.addr();
        // Each client closes once answered, as the tutorial's benchmark client does: the
        // sequential server serves a client until it leaves.
        let conns: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
        let began = Instant::now();
        let clients: Vec<_> = conns
            .into_iter()
            .map(|mut conn| thread::spawn(move || ask(&mut conn, b"3|overlap\n")))
            .collect();
        for client in clients {
            assert_eq!(client.join().unwrap(), "OK palrevo\n", "{binary}");
        }
        let took = began.elapsed();
        if binary == "server-sequential" {
            assert!(took >= delay * 4, "{binary} overlapped: {took:?}");
        } else {
            assert!(took < delay * 4, "{binary} did not overlap: {took:?}");
        }
        wait_for_lines(&server, " disconnected", 4);
        let at_once = if binary == "server-sequential" { 1 } else { 4 };
        let output = server.output();
        assert_eq!(most_at_once(&output), at_once, "{binary}: {output:?}");
        server.stop(IO_TIMEOUT).expect("stops");
    }
}
