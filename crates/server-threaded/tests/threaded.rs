//! The thread-per-client architecture: named threads and small stacks. (The cap and
//! running out of descriptors are in server-core's `hardening_limits.rs`, on both
//! concurrent servers.)

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

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
    // The main thread logs "Started thread" after the spawn returns, which may be after
    // the new thread has already answered.
    wait_for_lines(&server, "[MAIN] - Started thread", 2);
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
