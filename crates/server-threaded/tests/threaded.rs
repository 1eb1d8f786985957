//! The thread-per-client architecture: named threads, small stacks, a cap.

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn start_threaded(args: &[&str]) -> ServerProcess {
    start("server-threaded", args)
}

/// Each client is served by a thread of its own, named in the log.
#[test]
fn thread_names_in_the_log() {
    let server = start_threaded(&[]);
    let mut a = connect(server.addr());
    let mut b = connect(server.addr());
    assert_eq!(ask(&mut a, b"3|ab\n"), "OK ba\n");
    assert_eq!(ask(&mut b, b"3|cd\n"), "OK dc\n");
    wait_for_lines(&server, "Sending response", 2);
    for name in ["client-1", "client-2"] {
        assert_logged(
            &server,
            &format!("[MAIN] - Started thread {name} for 127.0.0.1:"),
        );
        assert_logged(&server, &format!("[THREAD: {name}] - Received request"));
    }
    server.stop(IO_TIMEOUT).expect("stops");
}

/// The deepest and longest expressions the engine accepts evaluate on a client thread's
/// small stack, and one nested too deep is refused without harm.
#[test]
fn deepest_expression_fits_the_small_stack() {
    let server = start_threaded(&["--quiet"]);
    let mut conn = connect(server.addr());
    let depth = engine::MAX_DEPTH;
    let deepest = format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
    assert_eq!(
        ask(&mut conn, format!("2|{deepest}\n").as_bytes()),
        "OK 1\n"
    );
    // Beside the deepest (above): one level too deep, and other deep shapes.
    for expr in [
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
    ] {
        let want = match engine::execute(engine::Op::Evaluate, &expr) {
            Ok(v) => format!("OK {v}\n"),
            Err(e) => format!("ERR {e}\n"),
        };
        assert_eq!(
            ask(&mut conn, format!("2|{expr}\n").as_bytes()),
            want,
            "{expr:.40}"
        );
    }
    server.stop(IO_TIMEOUT).expect("stops");
}

/// Out of file descriptors (EMFILE): the server says so once, backs off without spinning,
/// keeps serving the clients it has, and accepts the waiting ones once descriptors free up.
#[test]
fn out_of_descriptors_backs_off_and_recovers() {
    use std::io::Write;
    let binary = env!("CARGO_BIN_EXE_server-threaded");
    // `ulimit -n` in sh sets the hard limit too, so the server cannot raise it.
    let server = ServerProcess::start(
        std::path::Path::new("/bin/sh"),
        ["-c", "ulimit -n 32 && exec \"$0\" --port 0 --quiet", binary],
    )
    .expect("server-threaded starts under a low open-file limit");
    let addr = server.addr();
    let mut held: Vec<TcpStream> = (0..40).map(|_| connect(addr)).collect();
    for conn in &mut held {
        conn.write_all(b"3|ab\n").unwrap();
    }
    server
        .wait_for_output("accept failed", IO_TIMEOUT)
        .expect("the server ran out of descriptors and said so");
    assert_eq!(read_lines(&held[0], 1), ["OK ba\n"]);
    assert_eq!(ask(&mut held[0], b"3|still\n"), "OK llits\n");
    let spent = cpu_ticks_during(server.pid(), Duration::from_secs(1));
    assert!(
        spent <= 20,
        "busy-looped: {spent} ticks of CPU in one second"
    );
    assert_eq!(
        lines_with(&server, "accept failed").len(),
        1,
        "{:?}",
        server.output()
    );
    drop(held);
    assert_eq!(one_shot(addr, b"3|after\n"), "OK retfa\n");
    server
        .wait_for_output("accepting clients again", IO_TIMEOUT)
        .expect("recovery is logged");
    server.stop(IO_TIMEOUT).expect("stops");
}
