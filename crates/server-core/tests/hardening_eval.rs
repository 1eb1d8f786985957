//! Hostile `eval` requests against every server: code injection and side effects
//! (nothing runs, nothing is written on the client's behalf, log lines cannot be forged),
//! resource attacks (each answered at once with `ERR`, memory and CPU flat), and the
//! deepest expressions the engine accepts, on every server's stacks.
//!
//! The tutorial passed the payload to Python's `eval()`; these tests send what would have
//! owned that server and check that ours only ever answers.

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;

use common::*;

/// A file an injected command would create; unique per test run and server.
fn marker(binary: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "taskserver-hardening-{}-{binary}",
        std::process::id()
    ))
}

/// Expressions that run code, touch files, print, or reach outside arithmetic in
/// Python's `eval()`. `{m}` is replaced by the marker file's path.
const INJECTIONS: &[&str] = &[
    "__import__('os').system('touch {m}')",
    "__import__(\"os\").system(\"touch {m}\")",
    "open('{m}', 'w').write('pwned')",
    "exec(\"open('{m}','w')\")",
    "eval(\"__import__('os').system('touch {m}')\")",
    "compile('1','f','eval')",
    "print('PWNED')",
    "print ('PWNED')",
    "__builtins__",
    "globals()",
    "().__class__.__bases__[0].__subclasses__()",
    "(1).real",
    "1 .real",
    "'abc'",
    "\"abc\"",
    "b'x'",
    "f'{1+1}'",
    "abc",
    "lambda: 1",
    "[1, 2]",
    "{'a': 1}",
    "1 if 1 else 0",
    "1 < 2",
    "1 == 1",
    "1 and 2",
    "not 1",
    "~1",
    "1 & 2",
    "1 << 2",
    "1; import os",
    "import os",
    "x = 1",
    "(x := 1)",
    "1, 2",
    "*[1]",
    "@",
    "\\",
    "`id`",
    "$(id)",
    "2 + __import__('os').getpid()",
    "9**9**9 or __import__('os')",
];

/// Injection and side-effect attempts in eval get a one-line `ERR`, run nothing (the file
/// they would create does not exist), and put nothing on the server's output but its own
/// time-stamped log lines; the connection stays usable.
#[test]
fn injection_attempts_run_nothing() {
    for binary in SERVERS {
        let m = marker(binary);
        let _ = std::fs::remove_file(&m);
        let server = start(binary, &[]);
        let mut conn = connect(server.addr());
        for template in INJECTIONS {
            let expr = template.replace("{m}", &m.to_string_lossy());
            let answer = ask(&mut conn, format!("2|{expr}\n").as_bytes());
            assert!(
                answer.starts_with("ERR ") && answer.matches('\n').count() == 1,
                "{binary}: {expr} -> {answer:?}"
            );
            assert!(
                !answer.contains(['\r', '\x1b']),
                "{binary}: {expr} -> {answer:?}"
            );
        }
        assert_eq!(ask(&mut conn, b"2|1+1\n"), "OK 2\n", "{binary}");
        drop(conn);
        assert_logged(&server, "disconnected");
        assert!(!m.exists(), "{binary}: an injected command created {m:?}");
        let out = server.output();
        // Past the three banner lines, every line is the server's own log line.
        for line in &out[3..] {
            let b = line.as_bytes();
            assert!(
                b.len() > 12 && b[0] == b'[' && b[3] == b':' && b[9] == b']' && b[11] == b'[',
                "{binary}: a line not written by the logger: {line:?}"
            );
            if line.contains("PWNED") {
                assert!(
                    line.contains("] - Received request: 2|print"),
                    "{binary}: {line:?}"
                );
            }
        }
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// Text that would end a log line early or disguise one (CR, ESC, NEL, the Unicode line
/// separator, a direction override; in raw framing a bare LF inside one request) shows
/// escaped inside one log line: no client can forge `[12:00:00] [MAIN] - fake`.
#[test]
fn log_lines_cannot_be_forged() {
    let fake = "[12:00:00] [MAIN] - fake";
    for binary in SERVERS {
        let server = start(binary, &[]);
        let mut conn = connect(server.addr());
        for sep in ["\r", "\x1b[2J", "\u{85}", "\u{2028}", "\u{202E}", "\x0b"] {
            for op in ["1", "2", "3", "x"] {
                let request = format!("{op}|a{sep}{fake}\n");
                let answer = ask(&mut conn, request.as_bytes());
                assert_eq!(answer.matches('\n').count(), 1, "{binary}: {answer:?}");
            }
        }
        drop(conn);
        let raw = start(binary, &["--framing", "raw"]);
        for request in [
            format!("3|x\n{fake}"),
            format!("2|\n{fake}"),
            format!("x\n{fake}|y"),
            format!("1|x\r\n{fake}\n"),
        ] {
            let mut conn = connect(raw.addr());
            conn.write_all(request.as_bytes()).expect("send");
            let mut answer = [0u8; 1024];
            let n = conn.read(&mut answer).expect("an answer");
            assert!(n > 0, "{binary}: no answer to {request:?}");
        }
        for (server, connections) in [(server, 1), (raw, 4)] {
            wait_for_lines(&server, "disconnected", connections);
            let out = server.output();
            let fakes: Vec<&String> = out.iter().filter(|l| l.contains("fake")).collect();
            assert!(!fakes.is_empty(), "{binary}: payloads not logged: {out:?}");
            for line in out {
                assert!(
                    !line.starts_with("[12:00:00] [MAIN] - fake"),
                    "{binary}: forged log line: {line:?}"
                );
                assert!(
                    !line.contains(['\r', '\x1b', '\x0b', '\u{85}', '\u{2028}', '\u{202E}']),
                    "{binary}: unescaped control character in {line:?}"
                );
            }
            server.stop(IO_TIMEOUT).expect("stops");
        }
    }
}

/// The resource attacks of the issue, and a few more near the evaluator's limits.
fn attacks() -> Vec<String> {
    let depth = engine::MAX_DEPTH;
    vec![
        "2**99999999".into(),
        "9**9**9".into(),
        "10**10**10".into(),
        "2**2**2**2**2**2".into(),
        "(2**16384)*(2**16384)".into(),
        "99999999999**99999999".into(),
        "1e308**1e308".into(),
        "1.0000001**99999999999".into(),
        format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000)),
        format!("{}1{}", "(".repeat(depth + 1), ")".repeat(depth + 1)),
        format!("{}1", "-".repeat(5_000)),
        vec!["1"; 30_000].join("+"),
        "9".repeat(60_000),
        vec!["2"; 2_000].join("**"),
    ]
}

/// The process that serves a client's connection: the server itself, or the one child
/// of the forking server (forked for it) or of the prefork server (its only worker).
fn serving_pid(binary: &str, server: &ServerProcess) -> u32 {
    if !matches!(binary, "server-forking" | "server-prefork") {
        return server.pid();
    }
    let children = children_of(server.pid());
    assert_eq!(children.len(), 1, "one serving child: {children:?}");
    children[0].0
}

/// `2**99999999`, `9**9**9`, `10**10**10`, 10,000 nested parentheses, 5,000 unary
/// minuses, a 60 KB expression and friends: each answered `ERR` (a request pipelined
/// behind it at once too), and a few hundred of them leave the serving process's RSS and
/// CPU time where they were — no allocation or work grows with the attacker's numbers.
#[test]
fn eval_resource_attacks_are_cheap() {
    let attacks = attacks();
    let mut batch = Vec::new();
    for attack in &attacks {
        batch.extend_from_slice(format!("2|{attack}\n3|next\n").as_bytes());
    }
    for binary in SERVERS {
        // One prefork worker, so the process serving the connection is known.
        let args: &[&str] = if binary == "server-prefork" {
            &["--quiet", "--workers", "1"]
        } else {
            &["--quiet"]
        };
        let server = start(binary, args);
        let mut conn = connect(server.addr());
        let round = |conn: &mut std::net::TcpStream| {
            conn.write_all(&batch).expect("send a round of attacks");
            let answers = read_lines(conn, attacks.len() * 2);
            for (attack, pair) in attacks.iter().zip(answers.chunks(2)) {
                assert!(
                    pair[0].starts_with("ERR "),
                    "{binary}: {:.40} -> {:?}",
                    attack,
                    pair[0]
                );
                assert_eq!(pair[1], "OK txen\n", "{binary}: after {attack:.40}");
            }
        };
        // Warm up: the allocator's arenas and the buffers reach their working size.
        for _ in 0..3 {
            round(&mut conn);
        }
        let pid = serving_pid(binary, &server);
        let (rss_before, cpu_before) = (rss_kib(pid), cpu_ticks(pid));
        let rounds = 20;
        for _ in 0..rounds {
            round(&mut conn);
        }
        let (rss_after, cpu_after) = (rss_kib(pid), cpu_ticks(pid));
        let requests = rounds * attacks.len() as u64;
        assert!(
            rss_after <= rss_before + 4 * 1024,
            "{binary}: RSS grew from {rss_before} KiB to {rss_after} KiB over {requests} attacks"
        );
        // A tick is 10 ms; a debug build on a loaded machine gets 5 ms of CPU a request
        // (the evaluator needs well under one), which an attack doing real work would
        // blow through many times over.
        let spent = cpu_after - cpu_before;
        assert!(
            spent * 10 <= requests * 5,
            "{binary}: {spent} ticks of CPU for {requests} attacks"
        );
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// The deepest and longest expressions the engine accepts evaluate on every server —
/// on the small stacks of the threaded server's client threads and the pool's workers
/// (256 KiB) and on the event loops and runtime threads alike — each answered exactly as
/// the engine answers it, and one nested too deep is refused without harm. The servers
/// run at once, a thread each.
#[test]
fn deepest_expressions_fit_every_servers_stack() {
    let depth = engine::MAX_DEPTH;
    let deepest = format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
    let expressions = [
        deepest,
        // One level too deep, and other deep shapes.
        format!("{}1{}", "(".repeat(depth + 1), ")".repeat(depth + 1)),
        vec!["2"; depth].join("**"),
        format!("{}2{}", "(-".repeat(depth), ")".repeat(depth)),
        vec!["1"; engine::MAX_EXPR_BYTES / 2 - 1].join("+"),
        format!("{}2{}", "-(".repeat(depth), ")".repeat(depth)),
        format!("{}1{}", "2**(".repeat(depth / 2), ")".repeat(depth / 2)),
        format!(
            "{}1{}",
            "2**(".repeat(depth / 2 - 1),
            ")".repeat(depth / 2 - 1)
        ),
    ];
    let wanted: Vec<String> = expressions
        .iter()
        .map(|expr| match engine::execute(engine::Op::Evaluate, expr) {
            Ok(v) => format!("OK {v}\n"),
            Err(e) => format!("ERR {e}\n"),
        })
        .collect();
    assert_eq!(
        wanted[0], "OK 1\n",
        "the engine's own answer to the deepest"
    );
    on_every_server(|binary| {
        let server = start(binary, &["--quiet"]);
        let mut conn = connect(server.addr());
        for (expr, want) in expressions.iter().zip(&wanted) {
            assert_eq!(
                ask(&mut conn, format!("2|{expr}\n").as_bytes()),
                *want,
                "{binary}: {expr:.40}"
            );
        }
        server.stop(IO_TIMEOUT).expect("stops");
    });
}
