//! The process-per-client architecture: a child per client, every child reaped, SIGTERM
//! passed on. (The cap is in server-core's `hardening_limits.rs`, on both concurrent
//! servers.)

#[path = "../../server-core/tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::io::Write;
use std::thread;

use common::*;
use nix::sys::signal::Signal;

fn start_forking(args: &[&str]) -> ServerProcess {
    start("server-forking", args)
}

/// Concurrent clients are each served by a child process of their own, with distinct
/// PIDs that are not the parent's, logged as the tutorial did.
#[test]
fn each_client_gets_its_own_child() {
    let server = start_forking(&["--delay", "200ms"]);
    let addr = server.addr();
    let clients: Vec<_> = (0..3)
        .map(|i| thread::spawn(move || one_shot(addr, format!("3|{i}x\n").as_bytes())))
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        assert_eq!(client.join().unwrap(), format!("OK x{i}\n"));
    }
    wait_for_lines(&server, "disconnected", 3);
    let pids: HashSet<String> = lines_with(&server, "] - Received request")
        .iter()
        .filter_map(|l| {
            l.split("[CHILD PID: ")
                .nth(1)?
                .split(']')
                .next()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(pids.len(), 3, "{:?}", server.output());
    assert!(!pids.contains(&server.pid().to_string()));
    // The parent logs a fork after fork() returns: the child may finish first.
    for pid in &pids {
        let line = format!("[MAIN] - Forked child process {pid} for 127.0.0.1:");
        assert_logged(&server, &line);
    }
    server.stop(IO_TIMEOUT).expect("stops");
}

/// After a few hundred short clients, and no new client to wake the accept loop, no
/// child is left: every one was reaped, none lingers as a zombie.
#[test]
fn no_zombies_after_many_clients() {
    let server = start_forking(&["--quiet"]);
    for i in 0..300 {
        assert_eq!(one_shot(server.addr(), b"3|ab\n"), "OK ba\n", "client {i}");
    }
    wait_for_baseline("server-forking", &server);
    server.stop(IO_TIMEOUT).expect("stops");
}

/// Should the parent die without passing the shutdown on (SIGKILL), its children do not
/// serve on as orphans: the kernel sends each SIGTERM (the parent-death signal), and each
/// answers the request it holds, closes its connection and exits. (Before, they lived on,
/// re-parented to init, until their clients' idle timeout: five minutes by default.)
#[test]
fn children_exit_when_the_parent_is_killed() {
    let mut server = start_forking(&["--delay", "500ms"]);
    let mut conns: Vec<std::net::TcpStream> = (0..3).map(|_| connect(server.addr())).collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        conn.write_all(format!("3|held{i}\n").as_bytes())
            .expect("send");
    }
    wait_for_lines(&server, "Received request: 3|held", 3);
    let children: Vec<u32> = children_of(server.pid()).iter().map(|c| c.0).collect();
    assert_eq!(children.len(), 3, "{:?}", server.output());
    server.signal(Signal::SIGKILL).expect("kill the parent");
    wait_for_exit("server-forking", &mut server);
    for (i, mut conn) in conns.into_iter().enumerate() {
        assert_eq!(read_lines(&conn, 1), [format!("OK {i}dleh\n")]);
        assert_eq!(read_to_close(&mut conn), b"", "client {i}");
    }
    wait_for_ends("the orphaned children", &children);
}

/// SIGTERM with a child idling on a silent client: the parent passes it on, the child
/// closes the connection, and the server exits 0 well before the shutdown timeout.
#[test]
fn sigterm_reaches_idle_children() {
    let server = start_forking(&["--quiet"]);
    let mut idle = connect(server.addr());
    assert_eq!(ask(&mut idle, b"3|ab\n"), "OK ba\n");
    stop_promptly(server);
    assert_eq!(read_to_close(&mut idle), b"");
}
