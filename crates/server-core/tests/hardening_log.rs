//! A standard output nobody reads never holds up serving or shutdown (issue 13, item 4).
//!
//! Each server runs with its stdout on a pipe that the test stops reading after the
//! banner, as `server | sleep 1000` or a paused `| less` would. Thousands of logged
//! requests fill the pipe many times over: every one is still answered, exactly. Once the
//! pipe is read again, the next line written is preceded by the count of the lines that
//! were dropped. Then, with the pipe full again, SIGTERM still ends the server with exit
//! status 0.
//!
//! The test starts the binaries itself (not through `ServerProcess`, which always reads
//! their output), and kills them if it fails half-way.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::parse_listening_line;

/// Connections per round of load, one after another (so the sequential server takes
/// them too), each pipelining [`PER_CONNECTION`] requests: 3,000 requests, two log lines
/// each, about 400 KB of log against a 64 KiB pipe.
const CONNECTIONS: usize = 30;
const PER_CONNECTION: usize = 100;

/// What the log says after drops, after its time stamp and count.
const DROPPED: &str = " dropped: stdout was not being read";

/// A server the test started with its stdout on a pipe; killed and reaped when dropped,
/// so that a failing test leaves no process behind.
struct Unread {
    binary: &'static str,
    child: Child,
}

impl Drop for Unread {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary` on a free port with its stdout on a pipe and reads only as far as the
/// banner's `Listening on` line. Returns the server, its address and the unread pipe.
fn start_unread(binary: &'static str) -> (Unread, SocketAddr, BufReader<ChildStdout>) {
    let path = workspace_binary(binary).unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(path)
        .args(["--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {binary}: {e}"));
    let stdout = child.stdout.take().expect("a piped stdout");
    let server = Unread { binary, child };
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if let Some(addr) = parse_listening_line(&line) {
                let _ = tx.send((addr, reader));
                return;
            }
        }
    });
    // On a timeout the server is killed as `server` drops, which ends the reading thread.
    let (addr, reader) = rx
        .recv_timeout(IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("{binary} printed no Listening line: {e}"));
    (server, addr, reader)
}

/// [`CONNECTIONS`] clients in turn, each pipelining [`PER_CONNECTION`] requests in one
/// write and checking every answer; a read that waits more than 10 s fails the test.
fn load(binary: &str, addr: SocketAddr, round: &str) {
    for c in 0..CONNECTIONS {
        let mut stream = connect(addr);
        let payloads: Vec<String> = (0..PER_CONNECTION)
            .map(|i| format!("{round}-{c}-{i}"))
            .collect();
        let requests: String = payloads.iter().map(|p| format!("3|{p}\n")).collect();
        stream
            .write_all(requests.as_bytes())
            .unwrap_or_else(|e| panic!("{binary}: send on connection {c}: {e}"));
        let answers = read_lines(&stream, PER_CONNECTION);
        for (payload, answer) in payloads.iter().zip(&answers) {
            assert_eq!(*answer, format!("OK {}\n", reverse(payload)), "{binary}");
        }
    }
}

/// Reads the pipe on another thread until the drop count's line comes, while a client
/// keeps the server logging; returns that line and the pipe, which is then left unread
/// again. Panics after 10 s.
fn drain_until_dropped_count(
    binary: &str,
    addr: SocketAddr,
    mut reader: BufReader<ChildStdout>,
) -> (String, BufReader<ChildStdout>) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line.contains(DROPPED) => {
                    let _ = tx.send((line, reader));
                    return;
                }
                Ok(_) => {}
            }
        }
    });
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        // Each request is logged; the first line written once there is room carries the
        // count. Lines written before the reader made room are dropped and counted too.
        assert_eq!(one_shot(addr, b"3|again\n"), "OK niaga\n", "{binary}");
        if let Ok(found) = rx.recv_timeout(Duration::from_millis(100)) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{binary}: no line saying how many lines were dropped"
        );
    }
}

/// Checks a drop count's line: `[HH:MM:SS] [LOG] N lines dropped: stdout was not being
/// read`, with N at least 1.
fn assert_dropped_count_line(binary: &str, line: &str) {
    let shape = line
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix('['))
        .and_then(|l| l.split_once("] [LOG] "))
        .and_then(|(time, rest)| Some((time, rest.strip_suffix(DROPPED)?)))
        .and_then(|(time, count)| Some((time, count.strip_suffix(" lines")?)));
    let Some((time, count)) = shape else {
        panic!("{binary}: not a drop count's line: {line:?}");
    };
    assert!(
        time.len() == 8 && time.split(':').all(|part| part.parse::<u8>().is_ok()),
        "{binary}: {line:?}"
    );
    let count: u64 = count
        .parse()
        .unwrap_or_else(|e| panic!("{binary}: count in {line:?}: {e}"));
    assert!(count >= 1, "{binary}: {line:?}");
}

/// Sends SIGTERM and waits for the server to exit, at most 10 s; it must exit 0.
fn terminate(server: &mut Unread) {
    let binary = server.binary;
    let pid = i32::try_from(server.child.id()).expect("a pid fits an i32");
    kill(Pid::from_raw(pid), Signal::SIGTERM).expect("send SIGTERM");
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match server.child.try_wait() {
            Ok(Some(status)) => {
                assert_eq!(status.code(), Some(0), "{binary}: {status}");
                return;
            }
            Ok(None) => {}
            Err(e) => panic!("{binary}: waiting for it to exit: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "{binary} did not exit within {IO_TIMEOUT:?} of SIGTERM with its stdout unread"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// On every server: thousands of logged requests with stdout unread are all answered;
/// reading again brings the drop count's line; with the pipe full again, SIGTERM ends the
/// server with status 0. The servers run at once, one thread each.
#[test]
fn unread_stdout_never_holds_up_serving_or_shutdown() {
    on_every_server(|binary| {
        let (mut server, addr, reader) = start_unread(binary);
        load(binary, addr, "first");
        let (line, reader) = drain_until_dropped_count(binary, addr, reader);
        assert_dropped_count_line(binary, &line);
        load(binary, addr, "second");
        terminate(&mut server);
        drop(reader);
    });
}
