//! What a broken or hostile server, or hostile input, cannot do to the client (issue 13,
//! items 9–14): pass a cut-off answer off as a result, hold it past `--timeout` by
//! trickling, make it hold an endless input line in memory, write escape sequences to
//! the user's terminal, or end with an exit code that breaks the documented rule.
//!
//! The servers here are small fakes on 127.0.0.1 (a real server cannot be made to cut an
//! answer short or trickle it); the client is always the real binary.

mod common;

use std::time::Duration;

use common::{
    Port, Tmux, closed_port, closes_after, run_client, run_client_flooded, threaded, trickles,
};

/// The message of an answer cut off by the server closing the connection.
const CUT_OFF: &str = "the server closed the connection in the middle of an answer";

/// The answer of a server that wants to take over the terminal: set the window title,
/// then clear the screen.
const HOSTILE: &[u8] = b"OK \x1b]0;pwned\x07\x1b[2Jvisible\n";

/// How [`HOSTILE`]'s result looks on a terminal: every control character escaped.
const HOSTILE_SHOWN: &str = r"\x1b]0;pwned\x07\x1b[2Jvisible";

/// More than the client may hold of one input line, by far: a client that keeps the line
/// shows it in its peak memory.
const FLOOD: usize = 100 << 20;

/// The client's peak memory must stay below this while it reads [`FLOOD`]: a third of it.
const FLOOD_PEAK_LIMIT_KIB: u64 = (FLOOD as u64 / 3) >> 10;

/// A server that sends `OK hel` and closes: one-shot, menu and batch all report the
/// answer as cut off, exit 2, and never print the fragment as a result.
#[test]
fn cut_off_answer_is_an_error() {
    let server = closes_after(1, b"OK hel");
    let port = server.port();

    let run = run_client(["--port", &port, "case", "HELLO"], b"");
    assert_eq!(run.stdout, "", "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("client: error: {CUT_OFF} — ")),
        "{run:?}"
    );
    assert_eq!(run.code(), 2, "{run:?}");

    let run = run_client(["--port", &port], b"1\nHELLO\n4\n");
    assert!(!run.stdout.contains("Result:"), "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("client: error: the session ended: {CUT_OFF} — ")),
        "{run:?}"
    );
    assert_eq!(run.code(), 2, "{run:?}");

    let run = run_client(["--batch", "--port", &port], b"1|HELLO\n");
    assert_eq!(run.stdout, "", "{run:?}");
    assert!(
        run.stderr.starts_with(&format!(
            "client: error: batch stopped after 0 lines: {CUT_OFF} — "
        )),
        "{run:?}"
    );
    assert_eq!(run.code(), 2, "{run:?}");
}

/// A server that trickles its answer one byte every 0.5 s, each byte well within the
/// timeout, cannot stretch a 1 s `--timeout`: the whole answer must arrive in time
/// (one-shot and batch), else exit 2 with the timeout's message.
#[test]
fn timeout_is_a_deadline_per_response() {
    let server = trickles(b"OK hello, slowly\n", Duration::from_millis(500));
    let port = server.port();
    let message = "no response from the server within 1s — is it overloaded or stuck? raise \
                   --timeout to wait longer\n";

    let run = run_client(["--timeout", "1s", "--port", &port, "case", "x"], b"");
    assert_eq!(run.stdout, "", "{run:?}");
    assert_eq!(run.stderr, format!("client: error: {message}"));
    assert_eq!(run.code(), 2, "{run:?}");

    let run = run_client(["--timeout", "1s", "--batch", "--port", &port], b"1|x\n");
    assert_eq!(run.stdout, "", "{run:?}");
    assert_eq!(
        run.stderr,
        format!("client: error: batch stopped after 0 lines: {message}")
    );
    assert_eq!(run.code(), 2, "{run:?}");
}

/// The deadline is per response, not per session: two answers that each take about 2 s
/// to trickle in are both shown under a 3 s `--timeout`, though together they take 4 s.
#[test]
fn timeout_restarts_for_each_response() {
    let server = trickles(b"OK ab\n", Duration::from_millis(400));
    let run = run_client(
        ["--timeout", "3s", "--port", &server.port()],
        b"1\nx\n1\ny\n4\n",
    );
    assert_eq!(run.stdout.matches("Result: ab\n").count(), 2, "{run:?}");
    assert_eq!((run.stderr.as_str(), run.code()), ("", 0), "{run:?}");
}

/// `client < /dev/zero`, made finite: 100 MiB without a newline at the menu's payload
/// prompt. The client reads it without holding it (its peak memory stays far below the
/// line), says the request is too long, and the menu goes on.
#[test]
fn menu_reads_stdin_with_a_bound() {
    let server = threaded();
    let (run, peak_kib) =
        run_client_flooded(&["--port", &server.port()], b"1\n", FLOOD, b"\n3\nabc\n4\n");
    assert!(
        peak_kib < FLOOD_PEAK_LIMIT_KIB,
        "the client held {peak_kib} KiB while reading a {FLOOD}-byte line"
    );
    assert!(
        run.stdout
            .contains("Enter input: Error: request too long (limit 65536 bytes)\n"),
        "{run:?}"
    );
    assert!(run.stdout.contains("Enter input: Result: cba\n"), "{run:?}");
    assert_eq!((run.stderr.as_str(), run.code()), ("", 0), "{run:?}");
}

/// `client --batch < /dev/zero`, made finite: a 100 MiB line in a batch is read without
/// being held, gets its `ERR` line, and the lines around it are served.
#[test]
fn batch_reads_stdin_with_a_bound() {
    let server = threaded();
    let (run, peak_kib) = run_client_flooded(
        &["--batch", "--port", &server.port()],
        b"3|ab\n3|",
        FLOOD,
        b"\n3|cd\n",
    );
    assert!(
        peak_kib < FLOOD_PEAK_LIMIT_KIB,
        "the client held {peak_kib} KiB while reading a {FLOOD}-byte line"
    );
    assert_eq!(
        run.stdout, "OK ba\nERR request too long (limit 65536 bytes)\nOK dc\n",
        "{run:?}"
    );
    assert_eq!((run.stderr.as_str(), run.code()), ("", 1), "{run:?}");
}

/// Input the servers would refuse for its length (a 10 MB line; a 65,535-byte payload,
/// whose request is 65,537 bytes) is refused in the menu before it is sent, and the
/// session goes on; a payload whose request is exactly the limit is sent and answered.
#[test]
fn menu_refuses_overlong_input_before_sending() {
    let server = threaded();
    let mut input = b"1\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 10_000_000));
    input.extend_from_slice(b"\n3\n");
    input.extend(std::iter::repeat_n(b'a', 65_535));
    input.extend_from_slice(b"\n3\n");
    input.extend(std::iter::repeat_n(b'b', 65_534));
    input.extend_from_slice(b"\n3\nabc\n4\n");
    let run = run_client(["--port", &server.port()], &input);
    let refused = "Enter input: Error: request too long (limit 65536 bytes)\n";
    assert_eq!(run.stdout.matches(refused).count(), 2, "{}", run.stderr);
    let longest = format!("Enter input: Result: {}\n", "b".repeat(65_534));
    assert!(run.stdout.contains(&longest), "{}", run.stderr);
    assert!(run.stdout.contains("Enter input: Result: cba\n"), "{run:?}");
    assert_eq!((run.stderr.as_str(), run.code()), ("", 0), "{run:?}");
}

/// In a terminal, a server's escape sequences are shown, not obeyed: one-shot (result on
/// stdout, error on stderr), menu and batch all print control characters as `\x1b`.
#[test]
fn terminal_output_escapes_control_characters() {
    let server = closes_after(10, HOSTILE);
    let port = server.port();

    let term = Tmux::client(&format!("--port {port} case x"));
    let screen = term.wait_for("EXIT=", 1);
    assert!(screen.contains(&format!("{HOSTILE_SHOWN}\n")), "{screen}");
    assert!(screen.contains("EXIT=0"), "{screen}");

    let term = Tmux::client(&format!("--port {port}"));
    term.wait_for("Enter choice (1-4):", 1);
    term.send_keys(&["1", "Enter", "x", "Enter"]);
    let screen = term.wait_for("Enter choice (1-4):", 2);
    assert!(
        screen.contains(&format!("Result: {HOSTILE_SHOWN}\n")),
        "{screen}"
    );

    let term = Tmux::client(&format!("--batch --port {port}"));
    term.send_keys(&["3|x", "Enter"]);
    let screen = term.wait_for("visible", 1);
    assert!(
        screen.contains(&format!("OK {HOSTILE_SHOWN}\n")),
        "{screen}"
    );

    let failing = closes_after(1, b"ERR \x1b[2J\x1b[31mbad\n");
    let term = Tmux::client(&format!("--port {} case x", failing.port()));
    let screen = term.wait_for("EXIT=", 1);
    assert!(screen.contains(r"Error: \x1b[2J\x1b[31mbad"), "{screen}");
    assert!(screen.contains("EXIT=1"), "{screen}");
}

/// To a pipe the client stays byte-exact: one-shot and batch pass a server's bytes
/// through unchanged, escapes included, for scripts.
#[test]
fn pipe_output_is_byte_exact() {
    let server = closes_after(10, HOSTILE);
    let port = server.port();
    let result = std::str::from_utf8(&HOSTILE[3..]).expect("UTF-8");

    let run = run_client(["--port", &port, "case", "x"], b"");
    assert_eq!((run.stdout.as_str(), run.code()), (result, 0), "{run:?}");

    let run = run_client(["--batch", "--port", &port], b"3|x\n1|y\n");
    assert_eq!(run.stdout, format!("OK {result}OK {result}"), "{run:?}");
    assert_eq!(run.code(), 0, "{run:?}");
}

/// Exit codes follow one rule: 0 success, 1 the server answered with an error, 2 for
/// everything else — including a one-shot payload the protocol cannot carry (a newline,
/// or over the request limit), which is a usage error and is never sent. `--help` says so.
#[test]
fn exit_codes_follow_one_rule() {
    // The server would answer anything: a refused payload must not reach it.
    let server = closes_after(1, b"OK sent\n");
    let port = server.port();

    let long = "x".repeat(70_000);
    let refusals = [
        (
            ["case", "a\nb"],
            "client: error: cannot send this request: payload contains a newline, which line \
             framing cannot carry\n",
        ),
        (
            ["reverse", long.as_str()],
            "client: error: request too long (limit 65536 bytes)\n",
        ),
    ];
    // Refused before connecting: the same usage error, word for word, with the server up
    // and with no server at all.
    let closed = closed_port().to_string();
    for port in [&port, &closed] {
        for (request, message) in refusals {
            let run = run_client([&["--port", port][..], &request].concat(), b"");
            assert_eq!(run.stdout, "", "{run:?}");
            assert_eq!(run.stderr, message, "port {port}");
            assert_eq!(run.code(), 2, "{run:?}");
        }
    }

    let run = run_client(["--no-such-flag"], b"");
    assert_eq!(run.code(), 2, "{run:?}");

    let run = run_client(["--help"], b"");
    for needle in [
        "  0  success",
        "  1  the server answered a request with an error",
        "  2  no connection",
        "cut an answer short",
        "a one-shot payload the protocol cannot carry",
        r"(\x1b, \u{202e})",
    ] {
        assert!(
            run.stdout.contains(needle),
            "--help lacks {needle:?}:\n{}",
            run.stdout
        );
    }
}

/// Raw framing's one-at-a-time batch refuses an over-long line the same way, and goes on
/// with the next line (a guard for the bounded reading, which raw framing shares).
#[test]
fn raw_batch_refuses_overlong_lines() {
    let server = common::tutorial_server(std::sync::Arc::default());
    let mut input = b"3|ab\n3|".to_vec();
    input.extend(std::iter::repeat_n(b'x', 70_000));
    input.extend_from_slice(b"\n3|cd\n");
    let run = run_client(
        ["--framing", "raw", "--batch", "--port", &server.port()],
        &input,
    );
    assert_eq!(
        run.stdout, "OK ba\nERR request too long (limit 65536 bytes)\nOK dc\n",
        "{run:?}"
    );
    assert_eq!(run.code(), 1, "{run:?}");
}
