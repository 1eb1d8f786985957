//! Batch mode: pipelined, in order, one output line per input line, `OK`/`ERR` marked,
//! and safe to pipe into `head`.

mod common;

use std::fmt::Write as _;
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::{
    Port, client_bin, closes_after, each_server, run_client, run_command, threaded, tutorial_server,
};

/// A batch of `n` lines mixing the three operations with every kind of bad line, and
/// the output a correct client prints for it.
fn mixed_batch(n: usize) -> (Vec<u8>, String) {
    let mut input = Vec::new();
    let mut expected = String::new();
    for i in 0..n {
        let (line, answer): (Vec<u8>, String) = match i % 10 {
            0 => (format!("eval|{i}*2").into(), format!("OK {}", i * 2)),
            1 => (format!("1|Line{i}").into(), format!("OK lINE{i}")),
            2 => (
                b"nobar".to_vec(),
                "ERR malformed request: expected <op>|<payload>".into(),
            ),
            3 => (
                b"9|x".to_vec(),
                "ERR unknown operation '9': expected 1/case, 2/eval, 3/reverse".into(),
            ),
            4 => (b"2|1/0".to_vec(), "ERR division by zero".into()),
            5 => (b"3|".to_vec(), "OK ".into()),
            6 => (
                b"3|ab\xffc".to_vec(),
                "ERR request is not valid UTF-8 (bad byte at offset 4): expected UTF-8 text".into(),
            ),
            7 => (
                b"".to_vec(),
                "ERR empty request: expected <op>|<payload>".into(),
            ),
            8 => (
                format!(" reverse |a|b{i}\r").into(),
                format!("OK {}b|a", i.to_string().chars().rev().collect::<String>()),
            ),
            _ => (
                format!("3|line{i}").into(),
                format!("OK {}enil", i.to_string().chars().rev().collect::<String>()),
            ),
        };
        input.extend_from_slice(&line);
        input.push(b'\n');
        writeln!(expected, "{answer}").expect("write to a String");
    }
    (input, expected)
}

/// 1,500 mixed lines come back in order, one line each, exactly as expected, exit 1
/// because some failed — against each of the tutorial's three servers.
#[test]
fn batch_order_and_exact_output() {
    let (input, expected) = mixed_batch(1500);
    for (name, server) in each_server() {
        let run = run_client(["--batch", "--port", &server.port()], &input);
        assert_eq!(run.stderr, "", "{name}");
        assert_eq!(run.stdout.lines().count(), 1500, "{name}");
        assert!(run.stdout == expected, "{name}: the output differs");
        assert_eq!(run.code(), 1, "{name}");
    }
}

/// A batch in which every request succeeds exits 0; a last line without a newline is
/// still a request; an empty input prints nothing.
#[test]
fn batch_all_ok_exits_zero() {
    let server = threaded();
    let run = run_client(["--batch", "--port", &server.port()], b"3|abc\ncase|Hi");
    assert_eq!(
        (run.stdout.as_str(), run.code()),
        ("OK cba\nOK hI\n", 0),
        "{run:?}"
    );
    let run = run_client(["--batch", "--port", &server.port()], b"");
    assert_eq!((run.stdout.as_str(), run.code()), ("", 0), "{run:?}");
}

/// A line over the servers' request limit gets its `ERR` here, and the lines after it
/// are still served on the same connection.
#[test]
fn batch_overlong_line() {
    let server = threaded();
    let mut input = b"3|ab\n3|".to_vec();
    input.extend(std::iter::repeat_n(b'x', 70_000));
    input.extend_from_slice(b"\n3|cd\n");
    let run = run_client(["--batch", "--port", &server.port()], &input);
    assert_eq!(
        run.stdout,
        "OK ba\nERR request too long (limit 65536 bytes)\nOK dc\n",
    );
    assert_eq!(run.code(), 1);
}

/// 200,000 pipelined lines, 20 MB each way, stream through without deadlocking on full
/// socket buffers, every answer in order.
#[test]
fn large_batch_does_not_deadlock() {
    let server = threaded();
    let payload = "x".repeat(90);
    let mut input = String::new();
    for i in 0..200_000 {
        writeln!(input, "3|{i:08}{payload}").expect("write to a String");
    }
    let run = run_client(["--batch", "--port", &server.port()], input.as_bytes());
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 200_000);
    let last = format!(
        "OK {payload}{}",
        "00199999".chars().rev().collect::<String>()
    );
    assert_eq!(run.stdout.lines().last(), Some(last.as_str()));
}

/// `client --batch < big | head -1` prints one line, no panic, and the client exits 0
/// quietly when head closes the pipe.
#[test]
fn batch_into_head_does_not_panic() {
    let server = threaded();
    let dir = std::env::temp_dir().join(format!("client-head-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("requests.txt");
    let mut input = String::new();
    for i in 0..100_000 {
        writeln!(input, "3|{i}").expect("write to a String");
    }
    std::fs::write(&file, input).expect("write the requests");
    let mut command = Command::new("bash");
    command.arg("-c").arg(format!(
        "set -o pipefail; '{}' --batch --port {} < '{}' | head -1",
        client_bin(),
        server.port(),
        file.display()
    ));
    let run = run_command(command, b"");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.stdout, "OK 0\n");
    assert_eq!(run.stderr, "", "{run:?}");
    assert_eq!(run.code(), 0, "{run:?}");
}

/// Raw framing has no terminator to pipeline on, so the batch goes one request at a
/// time, still one output line each, in order.
#[test]
fn batch_raw_against_the_tutorial_server() {
    let received = Arc::new(Mutex::new(Vec::new()));
    let server = tutorial_server(Arc::clone(&received));
    let run = run_client(
        ["--framing", "raw", "--batch", "--port", &server.port()],
        b"1|Hi\n2|1/0\nnobar\n3|abc\n",
    );
    assert_eq!(
        run.stdout,
        "OK hI\nERR division by zero\nERR malformed request: expected <op>|<payload>\nOK cba\n"
    );
    assert_eq!(run.code(), 1);
    assert_eq!(
        received.lock().expect("lock").clone(),
        [b"1|Hi".to_vec(), b"2|1/0".to_vec(), b"3|abc".to_vec()]
    );
}

/// A server that goes away mid-batch: the answers it gave are printed, then the error
/// with how many lines were answered, exit 2.
#[test]
fn server_gone_mid_batch() {
    let server = closes_after(2, b"OK fine\n");
    let run = run_client(
        ["--batch", "--port", &server.port()],
        b"3|a\n3|b\n3|c\n3|d\n",
    );
    assert_eq!(run.stdout, "OK fine\nOK fine\n");
    assert_eq!(
        run.stderr,
        "client: error: batch stopped after 2 lines: the server closed the connection — it \
         may have stopped; start it again and reconnect\n"
    );
    assert_eq!(run.code(), 2);
}

/// Typed at a terminal, each batch line is answered as soon as it is entered, not when
/// the input ends: the writer sends what it has before it waits for more input.
#[test]
fn batch_answers_each_line_as_typed() {
    let server = threaded();
    let term = common::Tmux::client(&format!("--batch --port {}", server.port()));
    term.send_keys(&["3|abc", "Enter"]);
    term.wait_for("OK cba", 1);
    term.send_keys(&["eval|6*7", "Enter"]);
    term.wait_for("OK 42", 1);
    term.send_keys(&["C-d"]);
    let screen = term.wait_for("EXIT=", 1);
    assert!(screen.contains("EXIT=0"), "{screen}");
}
