//! The event-loop architecture: the banner and the loops in the log. (Everything every
//! server does — the protocol, the hostile corpus, resets, the idle timeout, running out
//! of descriptors — and what the servers that serve from a few threads share — a delay
//! that holds only its own connection, hundreds of delayed clients adding no thread,
//! pipelining split at every byte on one loop, the end of a stream arriving with its last
//! request, thousands of held connections, the cap across the loops, a client that stops
//! reading, SIGTERM with hundreds of requests in flight — is in server-core's tests,
//! which run on this server too.)

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use common::*;

/// The banner names the architecture and the loop count; two clients are served by the
/// two loops in turn, each logging as `[LOOP n]`; `--workers 0` is refused clearly.
#[test]
fn banner_and_loops_in_the_log() {
    two_workers_in_banner_and_log(
        "server-evented",
        "Evented Server (PID: ",
        "-- 2 event loops over non-blocking sockets",
        |n| format!("[LOOP {n}]"),
    );
}
