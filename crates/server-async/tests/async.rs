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
    two_workers_in_banner_and_log(
        "server-async",
        "Async Server (PID: ",
        "-- A task per client on a tokio runtime of 2 threads",
        |n| format!("[TASK {n}]"),
    );
}
