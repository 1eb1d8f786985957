//! One-shot requests and connection failures: what goes to stdout and stderr, and the
//! exit codes `--help` documents (0 result, 1 error response, 2 no connection).

mod common;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{Port, closed_port, each_server, run_client, threaded, tutorial_server};

/// Each operation, by name and by number, prints only its result and exits 0; an error
/// response goes to stderr with exit 1 — against each of the tutorial's three servers.
#[test]
fn one_shot_results_and_errors() {
    for (name, server) in each_server() {
        let port = server.port();
        let cases: [(&[&str], &str); 7] = [
            (&["case", "Hello"], "hELLO\n"),
            (&["eval", "1+2*3"], "7\n"),
            (&["reverse", "abc"], "cba\n"),
            (&["1", "Straße"], "sTRASSE\n"),
            (&["3", "hello", "world"], "dlrow olleh\n"),
            // A payload that starts with '-' is payload, not a flag.
            (&["eval", "-2**2"], "-4\n"),
            (&["REVERSE"], "\n"),
        ];
        for (args, expected) in cases {
            let run = run_client(["--port", &port].iter().chain(args), b"");
            assert_eq!(run.stdout, expected, "{name} {args:?}: {run:?}");
            assert_eq!(run.stderr, "", "{name} {args:?}");
            assert_eq!(run.code(), 0, "{name} {args:?}");
        }
        let run = run_client(["--port", &port, "eval", "1/0"], b"");
        assert_eq!(run.stdout, "", "{name}");
        assert_eq!(run.stderr, "Error: division by zero\n", "{name}");
        assert_eq!(run.code(), 1, "{name}");
    }
}

/// Raw framing one-shot against the tutorial's server: the bare answer is the result.
#[test]
fn one_shot_raw() {
    let server = tutorial_server(Arc::new(Mutex::new(Vec::new())));
    let run = run_client(
        ["--framing", "raw", "--port", &server.port(), "case", "Hi"],
        b"",
    );
    assert_eq!((run.stdout.as_str(), run.code()), ("hI\n", 0), "{run:?}");
    let run = run_client(
        ["--framing", "raw", "--port", &server.port(), "2", "1/0"],
        b"",
    );
    assert_eq!(run.stderr, "Error: division by zero\n");
    assert_eq!(run.code(), 1);
}

/// Raw framing against each real server started with `--framing raw`: the menu and a
/// one-shot request work the same as in line framing.
#[test]
fn raw_framing_against_the_real_servers() {
    for name in common::SERVERS {
        let server = common::start_server(name, &["--framing", "raw"]);
        let port = server.port();
        let run = run_client(["--framing", "raw", "--port", &port, "case", "Hi"], b"");
        assert_eq!(
            (run.stdout.as_str(), run.code()),
            ("hI\n", 0),
            "{name}: {run:?}"
        );
        let run = run_client(
            ["--framing", "raw", "--port", &port],
            b"2\n1/0\n3\nabc\n4\n",
        );
        assert!(
            run.stdout
                .contains("Enter input: Error: division by zero\n"),
            "{name}: {run:?}"
        );
        assert!(
            run.stdout.contains("Enter input: Result: cba\n"),
            "{name}: {run:?}"
        );
        assert_eq!(run.code(), 0, "{name}");
    }
}

/// Nothing listening: the message says what happened and how to start a server; exit 2.
#[test]
fn connection_refused_message() {
    let port = closed_port();
    let run = run_client(["--port", &port.to_string(), "case", "x"], b"");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "client: error: could not connect to 127.0.0.1:{port}: connection refused — is a \
             server running? start one with: cargo run -p server-threaded\n"
        )
    );
    assert_eq!(run.code(), 2);
    // The menu refuses the same way, before printing anything.
    let run = run_client(["--port", &port.to_string()], b"1\nx\n");
    assert_eq!((run.stdout.as_str(), run.code()), ("", 2));
    assert!(run.stderr.contains("connection refused"), "{run:?}");
}

/// An unknown host and an unknown interface are named, with what to do instead; exit 2.
#[test]
fn unknown_host_and_interface() {
    let run = run_client(["--host", "no-such-host.invalid", "case", "x"], b"");
    assert!(
        run.stderr
            .starts_with("client: error: unknown host 'no-such-host.invalid': "),
        "{run:?}"
    );
    assert_eq!(run.code(), 2);

    let run = run_client(["--interface", "nosuch0", "case", "x"], b"");
    assert!(
        run.stderr.starts_with("client: error: no network interface 'nosuch0' with an IPv4 address; the interfaces are: "),
        "{run:?}"
    );
    assert!(run.stderr.contains("lo (127.0.0.1)"), "{run:?}");
    assert_eq!(run.code(), 2);
}

/// `--interface lo` connects to the loopback address, as the tutorial used `eth0`.
#[test]
fn interface_lo_connects() {
    let server = threaded();
    let run = run_client(
        ["--interface", "lo", "--port", &server.port(), "3", "ab"],
        b"",
    );
    assert_eq!((run.stdout.as_str(), run.code()), ("ba\n", 0), "{run:?}");
}

/// A server that accepts but never answers: the wait ends at `--timeout`, exit 2.
#[test]
fn response_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    // Accept and hold the connection without answering, until the test is done.
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        let held = listener.accept();
        let _ = wait.recv_timeout(Duration::from_secs(20));
        drop(held);
    });
    let run = run_client(["--timeout", "300ms", "--port", &port, "case", "x"], b"");
    assert_eq!(run.code(), 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "client: error: no response from the server within 300ms — is it overloaded or \
         stuck? raise --timeout to wait longer\n"
    );
    drop(done);
    let _ = holder.join();
}

/// Usage errors (an unknown operation, a bad framing) exit 2 with clap's message.
#[test]
fn usage_errors() {
    let run = run_client(["frobnicate", "x"], b"");
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr
            .contains("unknown operation 'frobnicate': expected 1/case, 2/eval, 3/reverse"),
        "{run:?}"
    );
    let run = run_client(["--framing", "tcp"], b"");
    assert_eq!(run.code(), 2);
    assert!(run.stderr.contains("unknown framing 'tcp'"), "{run:?}");
    // A batch with an operation: the usage shows the three modes, and that a batch takes
    // its operations from its lines, not a batch taking an OP and a PAYLOAD.
    let run = run_client(["--batch", "case", "x"], b"");
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr
            .contains("the argument '--batch' cannot be used with '[OP]'"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("client [OPTIONS] --batch < FILE   one request per line of FILE"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("--batch [OP]"), "{run:?}");
}

/// `--help` documents every flag, its default and the exit codes.
#[test]
fn help_documents_flags() {
    let run = run_client(["--help"], b"");
    assert_eq!(run.code(), 0);
    for needle in [
        "--host",
        "[default: 127.0.0.1]",
        "--interface",
        "--port",
        "[default: 65432]",
        "--framing",
        "[default: line]",
        "--timeout",
        "[default: 10s]",
        "--batch",
        "Exit codes:",
    ] {
        assert!(
            run.stdout.contains(needle),
            "--help lacks {needle:?}:\n{}",
            run.stdout
        );
    }
}

/// `--host ::1` reaches a server listening on IPv6 loopback (skipped, with a note, where
/// the machine has no IPv6 loopback).
#[test]
fn ipv6_host() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    }
    let server = common::start_server("server-threaded", &["--host", "::1"]);
    let port = server.port();
    let run = run_client(["--host", "::1", "--port", &port, "case", "Hi"], b"");
    assert_eq!((run.stdout.as_str(), run.code()), ("hI\n", 0), "{run:?}");
    let run = run_client(["--host", "::1", "--port", &port], b"4\n");
    assert!(
        run.stdout
            .starts_with(&format!("Connected to server at [::1]:{port}\n")),
        "{run:?}"
    );
}
