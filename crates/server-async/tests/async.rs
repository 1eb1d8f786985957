//! The async architecture's own command line and log: the banner with the runtime's
//! thread count, a task per client logging as `[TASK n]`, and `--workers 0` refused.
//! (Everything else — the protocol, the hostile corpus, the shared limits, delays that
//! overlap on one runtime thread, SIGTERM with hundreds in flight — is in server-core's
//! tests, which run on this server too. This file also makes `cargo test` build the
//! `server-async` binary that those tests start: a package's binary is built for its own
//! integration tests.)

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use common::*;

/// The banner names the architecture and the runtime's threads; two clients are served by
/// two tasks, each logging as `[TASK n]`; `--workers 0` is refused clearly (status 2).
#[test]
fn banner_and_tasks_in_the_log() {
    let server = start("server-async", &["--workers", "2"]);
    let banner = server.output();
    assert!(banner[0].starts_with("Async Server (PID: "), "{banner:?}");
    // The line after `Listening on` may still be on its way from the reader thread.
    server
        .wait_for_output(
            "-- A task per client on a tokio runtime of 2 threads",
            IO_TIMEOUT,
        )
        .expect("the banner's description line");
    let mut a = connect(server.addr());
    let mut b = connect(server.addr());
    assert_eq!(ask(&mut a, b"3|ab\n"), "OK ba\n");
    assert_eq!(ask(&mut b, b"3|cd\n"), "OK dc\n");
    wait_for_lines(&server, "Sending response", 2);
    for n in [1, 2] {
        assert_logged(&server, &format!("[TASK {n}] - Connection from 127.0.0.1:"));
        assert_logged(&server, &format!("[TASK {n}] - Received request"));
    }
    server.stop(IO_TIMEOUT).expect("stops");

    let path = workspace_binary("server-async").unwrap_or_else(|e| panic!("{e}"));
    let refused = std::process::Command::new(path)
        .args(["--workers", "0"])
        .output()
        .expect("run server-async");
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--workers"), "{stderr}");
}
