//! The thread-per-client architecture: named threads. (The cap and running out of
//! descriptors are in server-core's `hardening_limits.rs`, and the deepest expressions on
//! the small stacks in its `hardening_eval.rs`, on every server.)

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
    // the new thread has already answered: assert_logged waits for each line.
    for name in ["client-1", "client-2"] {
        assert_logged(
            &server,
            &format!("[MAIN] - Started thread {name} for 127.0.0.1:"),
        );
        assert_logged(&server, &format!("[THREAD: {name}] - Received request"));
    }
    server.stop(IO_TIMEOUT).expect("stops");
}
