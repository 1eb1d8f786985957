//! The bench binary end to end: against a real server (burst and timed modes) and against
//! stand-ins that answer wrongly, hang up, or are not there, so every error kind it
//! reports is seen to be counted.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;

use bench::{BurstReport, LoadReport};
use testkit::{ServerProcess, workspace_binary};

/// Runs the bench binary with `args` and `--json` against `addr`.
fn bench(addr: SocketAddr, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["--addr", &addr.to_string(), "--json", "--timeout", "20s"])
        .args(args)
        .output()
        .expect("the bench binary runs")
}

/// A server-threaded child with `--delay delay`.
fn threaded(delay: &str) -> ServerProcess {
    let binary = workspace_binary("server-threaded").expect("server-threaded is built");
    ServerProcess::start(&binary, ["--port", "0", "--quiet", "--delay", delay])
        .expect("server-threaded starts")
}

/// A stand-in server on a free port: for each of `clients` connections it reads one line
/// and answers `answer` (or, when `None`, closes without answering).
fn stand_in(clients: usize, answer: Option<&'static [u8]>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("local address");
    thread::spawn(move || {
        for stream in listener.incoming().take(clients) {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            if let Some(answer) = answer {
                let _ = stream.write_all(answer);
            }
        }
    });
    addr
}

/// A burst of 20 clients against the threaded server: every answer arrives and is right,
/// the clients overlap (the total is far below 20 × delay), and the JSON report parses.
#[test]
fn burst_against_threaded_server() {
    let server = threaded("200ms");
    let out = bench(server.addr(), &["--clients", "20"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: BurstReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.clients, 20);
    assert_eq!(report.clients_ok, 20);
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(report.latency.count, 20);
    assert!(report.total_s >= 0.2, "{report:?}");
    assert!(
        report.total_s < 20.0 * 0.2,
        "clients did not overlap: {report:?}"
    );
    assert!(report.latency.min_s >= 0.2 && report.latency.max_s <= report.total_s);
    server.stop(std::time::Duration::from_secs(10)).unwrap();
}

/// Pipelined, throughput and connection-per-request modes all get correct answers.
#[test]
fn timed_modes_against_threaded_server() {
    let server = threaded("0s");
    for args in [
        &["--clients", "2", "--duration", "200ms"][..],
        &["--clients", "2", "--duration", "200ms", "--pipeline", "8"],
        &[
            "--clients",
            "2",
            "--duration",
            "200ms",
            "--connect-per-request",
        ],
    ] {
        let out = bench(server.addr(), args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: LoadReport = serde_json::from_slice(&out.stdout).unwrap();
        assert!(report.requests > 0, "{report:?}");
        assert_eq!(report.errors.total(), 0, "{report:?}");
        assert_eq!(report.latency.count, report.requests);
        let per_request = args.contains(&"--connect-per-request");
        assert_eq!(report.connections_per_s > 0.0, per_request, "{report:?}");
    }
}

/// `--total-connections N` stops connection-per-request load after exactly N
/// connections, shared out among the clients, long before the duration ends; without
/// connection per request it is a usage error.
#[test]
fn total_connections_stops_after_that_many() {
    let server = threaded("0s");
    let out = bench(
        server.addr(),
        &[
            "--clients",
            "3",
            "--duration",
            "60s",
            "--connect-per-request",
            "--total-connections",
            "50",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: LoadReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.requests, 50, "{report:?}");
    assert_eq!(report.errors.total(), 0, "{report:?}");
    assert!(report.duration_s < 30.0, "{report:?}");
    let out = bench(
        server.addr(),
        &["--duration", "1s", "--total-connections", "5"],
    );
    assert_eq!(out.status.code(), Some(2));
    server.stop(std::time::Duration::from_secs(10)).unwrap();
}

/// A stand-in that answers every connection's request correctly, for as long as the
/// test runs, and records the client addresses it saw.
fn recording_stand_in() -> (SocketAddr, Arc<Mutex<BTreeSet<IpAddr>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("local address");
    let peers = Arc::new(Mutex::new(BTreeSet::new()));
    let seen = Arc::clone(&peers);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if let (Ok(peer), Ok(mut seen)) = (stream.peer_addr(), seen.lock()) {
                seen.insert(peer.ip());
            }
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let _ = stream.write_all(b"OK 321gnirtStseTkramhcneB\n");
        }
    });
    (addr, peers)
}

/// Connection per request spreads its connections over the source addresses asked for,
/// 127.0.0.2 and up, and by default over some of them, never 127.0.0.1; the report says
/// how many.
#[test]
fn connection_per_request_spreads_source_addresses() {
    let per_request = [
        "--clients",
        "1",
        "--duration",
        "300ms",
        "--connect-per-request",
    ];
    for (extra, expected) in [(&["--source-addrs", "3"][..], Some(3)), (&[][..], None)] {
        let (addr, peers) = recording_stand_in();
        let out = bench(addr, &[&per_request[..], extra].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: LoadReport = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report.errors.total(), 0, "{report:?}");
        assert!(report.requests >= 3, "{report:?}");
        let count = report.source_addrs;
        assert!(count >= 1, "{report:?}");
        if let Some(expected) = expected {
            assert_eq!(count, expected);
        }
        let seen = peers.lock().unwrap().clone();
        let allowed: BTreeSet<IpAddr> = (0..count)
            .map(|i| IpAddr::from([127, 0, 0, 2 + i as u8]))
            .collect();
        assert!(seen.is_subset(&allowed), "{seen:?} beyond {allowed:?}");
        if expected.is_some() {
            assert_eq!(seen, allowed, "not every source address was used");
        }
    }
}

/// Wrong answers are counted as such, with the answer quoted, and bench exits 1 (the run
/// happened; some clients failed).
#[test]
fn wrong_answers_are_counted() {
    let addr = stand_in(3, Some(b"OK BenchmarkTestString123\n"));
    let out = bench(addr, &["--clients", "3"]);
    assert_eq!(out.status.code(), Some(1));
    let report: BurstReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.errors.wrong_answer, 3, "{report:?}");
    assert_eq!(report.clients_ok, 0);
    // Three identical failures are one example, counted three times.
    assert_eq!(report.errors.examples.len(), 1, "{report:?}");
    assert_eq!(report.errors.examples[0].count, 3);
    assert!(
        report.errors.examples[0]
            .message
            .contains("OK BenchmarkTestString123")
    );
}

/// A server that hangs up without answering gives missing answers.
#[test]
fn missing_answers_are_counted() {
    let addr = stand_in(2, None);
    let out = bench(addr, &["--clients", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let report: BurstReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.errors.missing_answer, 2, "{report:?}");
}

/// Nothing listening: nothing was measured, so there is no report of zeros but one line
/// saying why, and exit 2 — in a burst, in timed load and at a fixed rate alike.
#[test]
fn no_server_is_not_a_measurement() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    for args in [
        &["--clients", "3"][..],
        &["--clients", "2", "--duration", "200ms"],
        &[
            "--clients",
            "2",
            "--duration",
            "200ms",
            "--connect-per-request",
        ],
        &["--clients", "2", "--duration", "200ms", "--rate", "100"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_bench"))
            .args(["--addr", &addr.to_string()])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr,
            format!(
                "error: bench: no client connected: connection refused on {addr} (is a server \
                 running?)\n"
            ),
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// Bad rates, a rate with pipelining, a rate of new connections the local ports cannot
/// carry, and an interval log without a rate are usage errors that say what is wrong.
#[test]
fn rate_usage_errors_say_why() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let timed = ["--duration", "1s"];
    for (args, says) in [
        (&["--rate", "0"][..], "more than 0"),
        (&["--rate", "-5"], "more than 0"),
        (&["--rate", "fast"], "not a number"),
        (&["--rate", "1e999"], "finite"),
        (
            &["--rate", "100", "--pipeline", "4"],
            "one request in flight",
        ),
        (
            &["--rate", "1e9", "--connect-per-request"],
            "new connections/s need about",
        ),
        (&["--hdr-log", "x.hlog"], "--rate"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_bench"))
            .args(["--addr", &addr.to_string()])
            .args(timed)
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// One exit-code rule: usage errors exit 2 whether clap or bench finds them (`--clients 0`
/// used to exit 1), a duration too long for the clock is refused with a message instead of
/// a panic, and `--help` states the rule.
#[test]
fn usage_errors_exit_2() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    for args in [
        &["--clients", "0"][..],
        &["--clients", "ten"],
        &["--no-such-flag"],
        &["--timeout", "580000000000y"],
        &["--duration", "580000000000y"],
        &["--requests", "0"],
        &["--rate", "100"],
        &["--duration", "1s", "--rate", "0"],
        &["--duration", "1s", "--warmup", "soon"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_bench"))
            .args(["--addr", &addr.to_string()])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Exit codes: 0 every client"), "{help}");
    assert!(help.contains("2 nothing was measured"), "{help}");
}
