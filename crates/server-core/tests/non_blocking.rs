//! The servers that serve every client from a few threads that never block on one client
//! — the evented server's loops, the async server's runtime threads and the uring
//! server's rings — hold a request's `--delay` as a timer, never a sleep: a delay holds
//! only its own connection, and hundreds of delayed clients add no thread. On one thread
//! they take pipelined bytes as they come, whatever the split, and the end of a stream
//! only after the bytes that came with it. One test per property, run on all three at
//! once, with the checks each architecture adds (the loop or ring in the log, a task per
//! connection).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::*;

/// Who logged `line` (`[TASK 2]` in `[12:00:00] [TASK 2] - Received request: …`).
fn who(line: &str) -> &str {
    line.split_once(" - ")
        .and_then(|(head, _)| head.split_once("] "))
        .map(|(_, who)| who)
        .unwrap_or_else(|| panic!("no time stamp and name in {line:?}"))
}

/// On one thread (`--workers 1`) with `--delay 3s`, a request held for its delay does not
/// hold another connection's: the second request is received while the first is still
/// held, and both are answered. The evidence is the order of the server's own log lines,
/// not a clock: a thread that slept through the delay could not log the second request
/// before the first answer. The evented server logs both on its one loop, `[LOOP 1]`, the
/// uring server on its one ring, `[RING 1]`; the async server serves them in two tasks,
/// one per connection.
#[test]
fn a_delay_holds_only_its_own_connection() {
    on_each(&NON_BLOCKING, |binary| {
        let server = start(binary, &["--workers", "1", "--delay", "3s"]);
        let mut a = connect(server.addr());
        let mut b = connect(server.addr());
        a.write_all(b"3|first\n").expect("send the first request");
        wait_for_lines(&server, "Received request: 3|first", 1);
        b.write_all(b"3|second\n").expect("send the second request");
        assert_eq!(read_lines(&a, 1), ["OK tsrif\n"], "{binary}");
        assert_eq!(read_lines(&b, 1), ["OK dnoces\n"], "{binary}");
        wait_for_lines(&server, "Sending response", 2);
        let output = server.output();
        let second_received = line_index(&output, "Received request: 3|second");
        let first_answered = line_index(&output, "Sending response: tsrif");
        assert!(
            second_received < first_answered,
            "{binary}: the second request waited for the first delay:\n{}",
            output.join("\n")
        );
        let served: Vec<&String> = output
            .iter()
            .filter(|l| l.contains("Received request") || l.contains("Sending response"))
            .collect();
        if binary == "server-evented" {
            assert!(served.iter().all(|l| l.contains("[LOOP 1]")), "{served:?}");
        } else if binary == "server-uring" {
            assert!(served.iter().all(|l| l.contains("[RING 1]")), "{served:?}");
        } else {
            // By who logged them, not the whole head: the time stamp differs anyway.
            assert_ne!(
                who(&output[second_received]),
                who(&output[first_answered]),
                "{binary}: one task for two connections: {served:?}"
            );
        }
        server.stop(IO_TIMEOUT).expect("stops");
    });
}

/// Three hundred clients, each with a request held for its `--delay 2s`, are served by
/// `--workers 2` threads alone, not a thread per client, while every request is held and
/// after every answer: the evented server has exactly its two loops and the acceptor;
/// the async server no more than its two runtime threads, the main thread and room for
/// two of tokio's own.
#[test]
fn hundreds_of_delayed_clients_add_no_thread() {
    on_each(&NON_BLOCKING, |binary| {
        const CLIENTS: usize = 300;
        let server = start(binary, &["--workers", "2", "--delay", "2s"]);
        let addr = server.addr();
        let mut conns: Vec<TcpStream> = (0..CLIENTS).map(|_| connect(addr)).collect();
        for (i, conn) in conns.iter_mut().enumerate() {
            conn.write_all(format!("3|{i}x\n").as_bytes())
                .expect("send a request");
        }
        // Every request is held for 2 s, so once all are received the clients are all in
        // the server at once (a test too slow for that fails here, not on the threads).
        wait_for_lines(&server, "Received request: 3|", CLIENTS);
        assert!(
            lines_with(&server, "Sending response").is_empty(),
            "{binary}: too slow to overlap"
        );
        assert_two_workers_only(binary, server.pid(), "with every request held");
        for (i, conn) in conns.iter().enumerate() {
            assert_eq!(
                read_lines(conn, 1),
                [format!("OK x{}\n", reverse(&i.to_string()))],
                "{binary}: client {i}"
            );
        }
        assert_two_workers_only(binary, server.pid(), "after every answer");
        server.stop(IO_TIMEOUT).expect("stops");
    });
}

/// Pipelined requests split at every byte and sent with pauses, on one thread: each
/// answer comes as soon as its line is complete, and a line split across reads (or
/// receives) is whole.
#[test]
fn byte_by_byte_pipelining_on_one_thread() {
    on_each(&NON_BLOCKING, |binary| {
        let server = start(binary, &["--workers", "1", "--quiet"]);
        let mut conn = connect(server.addr());
        for &byte in b"3|abc\n2|1+2\n1|MiXed\n" {
            conn.write_all(&[byte]).expect("send a byte");
            thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(
            read_lines(&conn, 3),
            ["OK cba\n", "OK 3\n", "OK mIxED\n"],
            "{binary}"
        );
        server.stop(IO_TIMEOUT).expect("stops");
    });
}

/// A client that sends its last requests and closes its sending side at once — before
/// the connection reaches its loop, ring or task, and later, after the socket was found
/// empty — is answered and then closed: the end of its stream is not lost between two
/// readiness edges, nor taken before the bytes that came with it, whichever way the bytes
/// and the FIN arrive.
#[test]
fn a_request_and_the_end_of_the_stream_in_one_go() {
    on_each(&NON_BLOCKING, |binary| {
        let server = start(binary, &["--workers", "1", "--quiet"]);
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
                    "{binary}: pause {pause:?}, client {i}"
                );
            }
        }
        server.stop(IO_TIMEOUT).expect("stops");
    });
}
