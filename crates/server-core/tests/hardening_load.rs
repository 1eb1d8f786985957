//! A bounded soak of each real server: mixed operations, good and bad, pipelined in small
//! batches from a few hundred connections (a few on the sequential server), with resets,
//! half-sent requests and reconnects mixed in. Every answer is checked exactly; at the
//! end the server's memory is where it was after warm-up, no child is left (running or
//! zombie) and no client thread.
//!
//! The soak lasts 20 s (the four side by side); `TASKSERVER_SOAK_SECS=600 cargo test
//! -p server-core --test hardening_load` runs a longer one.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// How long each soak runs.
fn soak_time() -> Duration {
    let secs = std::env::var("TASKSERVER_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(secs)
}

/// A small deterministic random number generator (xorshift64*), one per worker, so a
/// failure can be reproduced from the worker's id (it starts the generator).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Payloads of every kind, for every operation.
const PAYLOADS: &[&str] = &[
    "hello",
    "Straße",
    "añb😀",
    "",
    "2**64",
    "1/0",
    "-7 // 2",
    "(1+2)*3",
    "9**9**9",
    "0.1+0.2",
    "2.0**10000",
    "__import__('os')",
    "((((1))))",
    "-2**2",
];

/// One request line and the exact answer line it must get.
fn request(rng: &mut Rng) -> (String, String) {
    let ops = [
        ("1", Some(engine::Op::ChangeCase)),
        ("case", Some(engine::Op::ChangeCase)),
        ("2", Some(engine::Op::Evaluate)),
        ("eval", Some(engine::Op::Evaluate)),
        ("3", Some(engine::Op::Reverse)),
        ("x", None),
    ];
    let (name, op) = ops[rng.below(ops.len() as u64) as usize];
    let payload = if rng.below(50) == 0 {
        "a".repeat(3000)
    } else {
        PAYLOADS[rng.below(PAYLOADS.len() as u64) as usize].to_owned()
    };
    let answer = match op.map(|op| engine::execute(op, &payload)) {
        Some(Ok(result)) => format!("OK {result}\n"),
        Some(Err(e)) => format!("ERR {e}\n"),
        None => "ERR unknown operation 'x': expected 1/case, 2/eval, 3/reverse\n".to_owned(),
    };
    (format!("{name}|{payload}\n"), answer)
}

/// Closes `stream` with a reset (SO_LINGER 0) instead of an orderly FIN.
fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .expect("set SO_LINGER 0");
    drop(stream);
}

/// One client thread: keeps `conns` connections busy with checked batches until `until`,
/// now and then resetting one (mid-request or with answers unread) or closing it, and
/// reconnecting. With `one_batch_each`, a connection serves one batch and is closed (so
/// that sequential-server clients take turns). Returns how many answers it checked.
fn worker(addr: SocketAddr, id: u64, conns: usize, one_batch_each: bool, until: Instant) -> u64 {
    let mut rng = Rng(id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut open: Vec<Option<TcpStream>> = (0..conns).map(|_| None).collect();
    let mut checked = 0;
    while Instant::now() < until {
        let slot = rng.below(conns as u64) as usize;
        let mut conn = open[slot].take().unwrap_or_else(|| connect(addr));
        match rng.below(40) {
            0 => {
                conn.write_all(b"3|half a requ")
                    .expect("send half a request");
                reset(conn);
                continue;
            }
            1 => {
                conn.write_all(b"1|unread\n2|2**100\n").expect("send");
                reset(conn);
                continue;
            }
            2 => continue, // an orderly close
            _ => {}
        }
        let batch: Vec<(String, String)> =
            (0..1 + rng.below(4)).map(|_| request(&mut rng)).collect();
        let wire: String = batch.iter().map(|(q, _)| q.as_str()).collect();
        conn.write_all(wire.as_bytes())
            .unwrap_or_else(|e| panic!("worker {id}: send: {e}"));
        let answers = read_lines(&conn, batch.len());
        for ((question, want), got) in batch.iter().zip(&answers) {
            assert_eq!(got, want, "worker {id}: {question:?}");
        }
        checked += batch.len() as u64;
        if !one_batch_each {
            open[slot] = Some(conn);
        }
    }
    checked
}

/// The memory the server uses: its RSS, and on the forking and prefork servers the
/// parent's RSS plus the largest child's (a sum over children would only count how many
/// are alive).
fn server_rss(binary: &str, server: &ServerProcess) -> u64 {
    let mut total = rss_kib(server.pid());
    if matches!(binary, "server-forking" | "server-prefork") {
        let largest = children_of(server.pid())
            .into_iter()
            .filter_map(|(child, _)| try_rss_kib(child))
            .max()
            .unwrap_or(0);
        total += largest;
    }
    total
}

/// Runs the soak against `binary` with `workers` threads of `conns` connections each.
fn soak(binary: &str, workers: u64, conns: usize, one_batch_each: bool) {
    let server = start(binary, &["--quiet"]);
    let addr = server.addr();
    let length = soak_time();
    let began = Instant::now();
    let until = began + length;
    let threads: Vec<_> = (0..workers)
        .map(|id| {
            thread::Builder::new()
                .name(format!("soak-{id}"))
                .spawn(move || worker(addr, id, conns, one_batch_each, until))
                .expect("start a worker")
        })
        .collect();
    // Warmed up after a quarter of the run: the allocator and the kernel have settled.
    thread::sleep(length / 4);
    let warm = server_rss(binary, &server);
    let mut peak_late = 0;
    while Instant::now() + Duration::from_millis(200) < until {
        thread::sleep(Duration::from_millis(200));
        if began.elapsed() > length / 2 {
            peak_late = peak_late.max(server_rss(binary, &server));
        }
    }
    let mut total = 0;
    for (id, worker) in threads.into_iter().enumerate() {
        let checked = worker
            .join()
            .unwrap_or_else(|_| panic!("{binary}: worker {id} failed"));
        assert!(
            checked > 0,
            "{binary}: worker {id} got no answer in {length:?}"
        );
        total += checked;
    }
    let end = server_rss(binary, &server);
    assert!(
        peak_late.max(end) <= warm * 3 / 2 + 16 * 1024,
        "{binary}: RSS grew from {warm} KiB after warm-up to {peak_late} KiB (end {end} KiB)"
    );
    wait_for_baseline(binary, &server);
    assert_eq!(one_shot(addr, b"3|after\n"), "OK retfa\n", "{binary}");
    eprintln!(
        "{binary}: {total} answers checked in {length:?}, RSS {warm} KiB warm, {end} KiB at the end"
    );
    let status = server.stop(IO_TIMEOUT).expect("stops");
    assert_eq!(status.code(), Some(0), "{binary}");
}

/// All four at once (the test harness would run only two at a time on two cores): the
/// threaded and forking servers under 200 connections from 100 client threads each — on
/// the forking server, with resets and reconnects, thousands of children, every one
/// reaped — the sequential server with four clients taking turns, a batch per
/// connection, and the prefork server with twelve connections over its sixteen workers.
#[test]
fn soak_four_at_once() {
    let runs = [
        thread::spawn(|| soak("server-threaded", 100, 2, false)),
        thread::spawn(|| soak("server-forking", 100, 2, false)),
        thread::spawn(|| soak("server-sequential", 4, 1, true)),
        // Twelve persistent connections: fewer than the sixteen workers, since each
        // worker serves one connection to its end (more would wait for the idle timeout).
        thread::spawn(|| soak("server-prefork", 12, 1, false)),
    ];
    // Each soak's panic message is printed as it happens; fail once all have ended.
    let failed = runs.into_iter().filter_map(|run| run.join().err()).count();
    assert_eq!(failed, 0, "{failed} soak(s) failed; see the messages above");
}
