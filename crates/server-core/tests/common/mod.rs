//! Helpers shared by the servers' integration tests: start a server binary, talk to it
//! over real sockets on 127.0.0.1, with every wait bounded.
//!
//! The server crates include this file with `#[path]`, so one copy serves server-core's
//! suites and each server's own.

#![allow(dead_code, reason = "each suite uses a different part of the helpers")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub use testkit::{ServerProcess, workspace_binary};

/// The architectures' binaries: every "all servers" test runs on each.
pub const SERVERS: [&str; 8] = [
    "server-sequential",
    "server-forking",
    "server-threaded",
    "server-prefork",
    "server-pool",
    "server-evented",
    "server-async",
    "server-uring",
];

/// The servers that serve every client from a few threads that never block on one: the
/// evented server's loops, the async server's runtime threads and the uring server's rings.
pub const NON_BLOCKING: [&str; 3] = ["server-evented", "server-async", "server-uring"];

/// Runs `test` on every server of [`SERVERS`] at once, one thread each, so that a suite
/// takes as long as its slowest server, not their sum; a failure names the servers.
pub fn on_every_server(test: impl Fn(&'static str) + Sync) {
    on_each(&SERVERS, test);
}

/// Runs `test` on each of `binaries` at once, one thread each; each failure's panic
/// message is printed as it happens, and the test then fails naming those servers.
pub fn on_each(binaries: &[&'static str], test: impl Fn(&'static str) + Sync) {
    std::thread::scope(|scope| {
        let handles: Vec<_> = binaries
            .iter()
            .map(|&binary| (binary, scope.spawn(|| test(binary))))
            .collect();
        let failed: Vec<&str> = handles
            .into_iter()
            .filter_map(|(binary, handle)| handle.join().is_err().then_some(binary))
            .collect();
        assert!(failed.is_empty(), "failed on {failed:?}");
    });
}

/// How long any single read in a test may wait before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts `binary` with `--port 0` and `args`. Panics (fails the test) when the binary
/// was not built, with workspace_binary's message saying how to build it.
pub fn start(binary: &str, args: &[&str]) -> ServerProcess {
    let path = workspace_binary(binary).unwrap_or_else(|e| panic!("{e}"));
    let mut all = vec!["--port", "0"];
    all.extend_from_slice(args);
    ServerProcess::start(&path, &all).unwrap_or_else(|e| panic!("{binary}: {e}"))
}

/// Runs `binary` with `args` to its end (what it is given must make it exit at once: a
/// usage error, `--help`, a port it cannot bind) and returns its status and output.
pub fn run(binary: &str, args: &[&str]) -> std::process::Output {
    let path = workspace_binary(binary).unwrap_or_else(|e| panic!("{e}"));
    std::process::Command::new(path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {binary} {args:?}: {e}"))
}

/// Asserts that `binary` refuses `args` as a usage error: exit status 2, and a message on
/// stderr that names `flag`.
#[track_caller]
pub fn assert_usage_error(binary: &str, args: &[&str], flag: &str) {
    let out = run(binary, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{binary} {args:?}: {stderr}");
    assert!(stderr.contains(flag), "{binary} {args:?}: {stderr}");
}

/// What `binary --help` prints.
pub fn help_of(binary: &str) -> String {
    String::from_utf8_lossy(&run(binary, &["--help"]).stdout).into_owned()
}

/// Connects with bounded reads and TCP_NODELAY (so split writes stay split).
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("set a read timeout");
    stream.set_nodelay(true).expect("set TCP_NODELAY");
    stream
}

/// Reads `n` newline-terminated lines, each with its `\n`.
pub fn read_lines(stream: &TcpStream, n: usize) -> Vec<String> {
    let mut reader = BufReader::new(stream);
    (0..n)
        .map(|i| {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => panic!("connection closed before line {i} of {n}"),
                Ok(_) => line,
                Err(e) => panic!("reading line {i} of {n}: {e}"),
            }
        })
        .collect()
}

/// Sends `request` in one write and reads one line back.
pub fn ask(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).expect("send the request");
    read_lines(stream, 1).remove(0)
}

/// Reads until the server closes the connection; panics on a timeout.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    stream
        .read_to_end(&mut all)
        .unwrap_or_else(|e| panic!("waiting for the server to close: {e}; got {all:?}"));
    all
}

/// Asserts that the server closes `stream` without a byte of answer: reading ends at a
/// close, or at a reset (the server closed it with a request unread, or its listener
/// closed with the connection still in the backlog). A timeout, another error or any byte
/// fails, with `context`.
#[track_caller]
pub fn assert_closed_unanswered(stream: &mut TcpStream, context: &str) {
    let mut got = Vec::new();
    let end = stream.read_to_end(&mut got);
    assert!(
        got.is_empty()
            && end.as_ref().map_or_else(
                |e| e.kind() == std::io::ErrorKind::ConnectionReset,
                |_| true
            ),
        "{context}: answered or not closed: {end:?}, got {got:?}"
    );
}

/// One short-lived client: connect, send one line, read one line, close.
pub fn one_shot(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = connect(addr);
    ask(&mut stream, request)
}

/// The lines of a server's output that contain `needle`, as read so far.
///
/// Each stream is read by a thread of the test, so a line is certain to be there only when
/// its write came before that of a line on the same stream that the test has already
/// waited for (with [`wait_for_lines`] or [`assert_logged`]): an earlier log line of the
/// same thread or process, or of one that handed its work on to the writer. An answer or
/// a close received, a process seen in /proc or a server that has exited orders nothing
/// here.
pub fn lines_with(server: &ServerProcess, needle: &str) -> Vec<String> {
    server
        .output()
        .into_iter()
        .filter(|l| l.contains(needle))
        .collect()
}

/// The index of the first line of `output` that contains `needle`; panics if none does.
#[track_caller]
pub fn line_index(output: &[String], needle: &str) -> usize {
    output
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", output.join("\n")))
}

/// Asserts that the server logs a line containing `needle`, waiting for it up to
/// [`IO_TIMEOUT`] (the output is read on a thread of the test, so a line the server has
/// written may not be in `output()` yet); returns the first such line.
#[track_caller]
pub fn assert_logged(server: &ServerProcess, needle: &str) -> String {
    server
        .wait_for_output(needle, IO_TIMEOUT)
        .unwrap_or_else(|| {
            panic!(
                "no line with {needle:?} in {} s; output:\n{}",
                IO_TIMEOUT.as_secs(),
                server.output().join("\n")
            )
        })
}

/// Waits until the output holds `count` lines containing `needle`; panics after 10 s.
pub fn wait_for_lines(server: &ServerProcess, needle: &str, count: usize) {
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    while lines_with(server, needle).len() < count {
        assert!(
            std::time::Instant::now() < deadline,
            "waited for {count} lines with {needle:?}; output:\n{}",
            server.output().join("\n")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A process's resident memory in KiB (`VmRSS` of /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> u64 {
    try_rss_kib(pid).unwrap_or_else(|| panic!("no VmRSS for process {pid}"))
}

/// [`rss_kib`], or `None` when the process is gone (a child that just exited).
pub fn try_rss_kib(pid: u32) -> Option<u64> {
    proc_status_field(pid, "VmRSS:")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many threads a process has (`Threads` of /proc/<pid>/status).
pub fn thread_count(pid: u32) -> u64 {
    proc_status_field(pid, "Threads:")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no thread count for process {pid}"))
}

/// Asserts that `binary` (one of [`NON_BLOCKING`]), started with `--workers 2`, serves on
/// those two threads alone, not a thread per client, `when` the test looks: the evented
/// and uring servers have exactly their two loops or rings and the main thread (the
/// acceptor; io_uring's kernel workers would show here too, and a socket needs none); the async server
/// no more than its two runtime threads, the main thread and room for two of tokio's own.
#[track_caller]
pub fn assert_two_workers_only(binary: &str, pid: u32, when: &str) {
    let threads = thread_count(pid);
    if binary == "server-evented" || binary == "server-uring" {
        assert_eq!(
            threads, 3,
            "{binary} {when}: two loops (or rings) and the acceptor"
        );
    } else {
        assert!(
            threads <= 5,
            "{binary} {when}: {threads} threads on two workers"
        );
    }
}

fn proc_status_field(pid: u32, name: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name).map(str::to_owned))
}

/// CPU time (user + system) a process has used so far, in clock ticks (1/100 s).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server's /proc stat");
    let (_, rest) = stat.rsplit_once(')').expect("a stat line");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of stat(5), utime 14 and stime 15.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// The CPU ticks a process uses over the next `period`: a server that backs off instead
/// of spinning uses next to none.
pub fn cpu_ticks_during(pid: u32, period: Duration) -> u64 {
    let before = cpu_ticks(pid);
    std::thread::sleep(period);
    cpu_ticks(pid) - before
}

/// The children of `pid`, from /proc: (child pid, state letter; `Z` is a zombie).
pub fn children_of(pid: u32) -> Vec<(u32, char)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may hold spaces, so split after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let child: u32 = head
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if ppid == pid {
            found.push((child, state));
        }
    }
    found
}

/// Whether process `pid` has ended: gone from /proc, or a zombie left to a parent that
/// is not ours to check (an orphan's reaper).
pub fn has_ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// Waits until every process of `pids` has ended ([`has_ended`]); panics after
/// [`IO_TIMEOUT`] with those left, naming them as `what`.
pub fn wait_for_ends(what: &str, pids: &[u32]) {
    wait_until(&format!("{what} to exit"), IO_TIMEOUT, || {
        let left: Vec<u32> = pids.iter().copied().filter(|&p| !has_ended(p)).collect();
        if left.is_empty() { Ok(()) } else { Err(left) }
    });
}

/// Polls `done` every 20 ms until it holds; panics with `what` and the last value
/// `done` reported after `timeout`.
pub fn wait_until<T: std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> Result<(), T>,
) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match done() {
            Ok(()) => return,
            Err(last) if std::time::Instant::now() >= deadline => {
                panic!("waited {timeout:?} for {what}; last seen: {last:?}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Stops a server with SIGTERM and asserts that it exits 0 within 5 s, well before its
/// default 10 s shutdown timeout: nothing it serves holds the shutdown up.
#[track_caller]
pub fn stop_promptly(server: ServerProcess) {
    let began = std::time::Instant::now();
    let status = server.stop(IO_TIMEOUT).expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
}

/// Waits for a server that was told to stop to exit on its own; panics after 10 s.
pub fn wait_for_exit(binary: &str, server: &mut ServerProcess) -> std::process::ExitStatus {
    server
        .wait_timeout(IO_TIMEOUT)
        .expect("wait for the server")
        .unwrap_or_else(|| panic!("{binary} did not exit"))
}

/// `s` with its characters in reverse order: what operation 3 answers for plain text.
pub fn reverse(s: &str) -> String {
    s.chars().rev().collect()
}

/// Waits until process `pid` has exactly `n` threads; panics after [`IO_TIMEOUT`] with
/// the last count.
pub fn wait_for_threads(pid: u32, n: u64) {
    wait_until(&format!("{n} threads"), IO_TIMEOUT, || {
        let threads = thread_count(pid);
        if threads == n { Ok(()) } else { Err(threads) }
    });
}

/// Waits until a server is back at its baseline: the forking server's parent has no
/// children left (none running, no zombie), the threaded server has only its main
/// thread (the client threads have ended). Panics after [`IO_TIMEOUT`] with what is left.
pub fn wait_for_baseline(binary: &str, server: &ServerProcess) {
    let pid = server.pid();
    match binary {
        "server-forking" => wait_until("every child to be reaped", IO_TIMEOUT, || {
            let left = children_of(pid);
            if left.is_empty() { Ok(()) } else { Err(left) }
        }),
        "server-threaded" => wait_for_threads(pid, 1),
        // The workers live on; any that exited has been reaped (and replaced).
        "server-prefork" => wait_until("every exited worker to be reaped", IO_TIMEOUT, || {
            let zombies: Vec<_> = children_of(pid)
                .into_iter()
                .filter(|&(_, state)| state == 'Z')
                .collect();
            if zombies.is_empty() {
                Ok(())
            } else {
                Err(zombies)
            }
        }),
        _ => {}
    }
}

/// Starts `binary` through `prefix` (a command that ends by exec'ing its arguments, so
/// the server keeps the prefix's PID), with `--port 0` and `args`.
pub fn start_under(prefix: &[&str], binary: &str, args: &[&str]) -> ServerProcess {
    let path = workspace_binary(binary).unwrap_or_else(|e| panic!("{e}"));
    start_path_under(prefix, &path, args)
}

/// [`start_under`] for the binary at `path`.
pub fn start_path_under(prefix: &[&str], path: &std::path::Path, args: &[&str]) -> ServerProcess {
    let binary = path.display();
    let path = path.to_string_lossy().into_owned();
    let mut all: Vec<&str> = prefix[1..].to_vec();
    all.extend([path.as_str(), "--port", "0"]);
    all.extend_from_slice(args);
    ServerProcess::start(std::path::Path::new(prefix[0]), &all)
        .unwrap_or_else(|e| panic!("{binary} under {prefix:?}: {e}"))
}

/// A tool from util-linux a test needs; fails the test with what to install.
pub fn require(tool: &str) -> String {
    for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let path = format!("{dir}/{tool}");
        if std::path::Path::new(&path).exists() {
            return path;
        }
    }
    panic!("{tool} is missing: install util-linux (apt-get install util-linux)");
}

/// A user ID that no account has and no other test process shares (it is derived from
/// this process's ID): the failed-fork tests run their servers as it, so RLIMIT_NPROC
/// counts their own tasks only, whatever else runs as `nobody` or in a second test run.
pub fn spare_uid() -> u32 {
    1_000_000 + std::process::id()
}

/// `setpriv`'s arguments (after the program) that make the rest of its command line run
/// as user and group `uid`, in no other group.
pub fn as_user(uid: u32) -> [String; 3] {
    [
        format!("--reuid={uid}"),
        format!("--regid={uid}"),
        "--clear-groups".to_owned(),
    ]
}

/// Whether this test runs as root: only root can become another user (and root itself
/// ignores RLIMIT_NPROC), so the failed-fork tests say so and check nothing otherwise.
pub fn is_root() -> bool {
    // /proc/self belongs to the effective user.
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// How many processes and threads user `uid` runs now (what RLIMIT_NPROC counts).
pub fn tasks_of(uid: u32) -> u64 {
    let mut tasks = 0;
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        };
        if field("Uid:") == Some(u64::from(uid)) {
            tasks += field("Threads:").unwrap_or(1);
        }
    }
    tasks
}

/// Copies a workspace binary into a new folder under the system's temporary directory,
/// both readable and executable by every user: the checkout may sit where another user cannot
/// reach (under /root, say). Remove the folder (the path's parent) when done.
pub fn copy_for_everyone(binary: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let from = workspace_binary(binary).unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("taskserver-{binary}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("make a folder in the temporary directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let to = dir.join(binary);
    std::fs::copy(&from, &to).expect("copy the server binary");
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    to
}

/// A server's process limit, for a test that makes `fork` or a thread spawn fail: the
/// server runs as a user of its own ([`spare_uid`]), from a copy of its binary every user
/// can run ([`copy_for_everyone`]; the folder goes when this is dropped).
pub struct NprocLimit {
    setpriv: String,
    prlimit: String,
    user: [String; 3],
    hard: u64,
    path: std::path::PathBuf,
}

/// Starts `binary` with `args` as a user of its own whose soft RLIMIT_NPROC leaves room
/// for `room` tasks (processes or threads) beside the server's main thread, and whose hard
/// limit for many more. `None`, having said why, when this test does not run as root,
/// which is needed to become another user (and root itself ignores RLIMIT_NPROC).
/// Fails the test when util-linux's `setpriv` or `prlimit` is missing.
pub fn start_under_nproc(
    test: &str,
    binary: &str,
    room: u64,
    args: &[&str],
) -> Option<(ServerProcess, NprocLimit)> {
    let setpriv = require("setpriv");
    let prlimit = require("prlimit");
    if !is_root() {
        eprintln!("{test}: needs root to run as another user; skipped");
        return None;
    }
    let path = copy_for_everyone(binary);
    let uid = spare_uid();
    let user = as_user(uid);
    let tasks = tasks_of(uid);
    let hard = tasks + 64;
    let nproc = format!("--nproc={}:{hard}", tasks + 1 + room);
    let mut prefix = vec![setpriv.as_str()];
    prefix.extend(user.iter().map(String::as_str));
    prefix.extend([prlimit.as_str(), nproc.as_str(), "--"]);
    let server = start_path_under(&prefix, &path, args);
    let limit = NprocLimit {
        setpriv,
        prlimit,
        user,
        hard,
        path,
    };
    Some((server, limit))
}

impl NprocLimit {
    /// Raises `server`'s soft limit to the hard one (`prlimit --pid`), as the server's
    /// user: raising a soft limit up to the hard one needs no privilege, where root acting
    /// on another user's process may need a capability.
    pub fn raise(&self, server: &ServerProcess) {
        let raised = std::process::Command::new(&self.setpriv)
            .args(&self.user)
            .args([self.prlimit.as_str(), "--pid", &server.pid().to_string()])
            .arg(format!("--nproc={0}:{0}", self.hard))
            .status()
            .expect("run prlimit");
        assert!(raised.success(), "prlimit --pid failed");
    }
}

impl Drop for NprocLimit {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The most sessions in progress at once, read from a server's own log, whose lines are
/// written in order: a session logs `Connection from` when it starts (after its place
/// under the cap was taken) and `Client … disconnected` before it gives the place back.
/// (Counting threads or processes would be off by the ones just exiting.) A start is the
/// line `Connection from ADDR` alone, not the sequential server's main-loop line
/// `Connection from ADDR closed. Ready for next client.`, which would count each of its
/// clients twice.
pub fn most_at_once(output: &[String]) -> usize {
    let (mut now, mut most) = (0usize, 0usize);
    for line in output {
        let started = line
            .split_once("] - Connection from ")
            .is_some_and(|(_, addr)| !addr.trim_end().contains(' '));
        if started {
            now += 1;
            most = most.max(now);
        } else if line.contains("] - Client 127.0.0.1:") && line.contains(" disconnected") {
            now = now.saturating_sub(1);
        }
    }
    most
}

/// Ten clients at once on `server`, which runs two workers with `--delay 200ms`: every one
/// is answered, the whole takes at least five rounds (⌈10 / 2⌉ × 200 ms, a lower bound of
/// the model, not a speed), and two are served at once at the most, never more (read from
/// the log, whose lines are written in order). Returns the log, with all ten disconnects.
#[track_caller]
pub fn ten_clients_take_five_rounds(server: &ServerProcess) -> Vec<String> {
    let output = ten_clients_on_two_workers(server);
    assert_eq!(most_at_once(&output), 2, "{}", output.join("\n"));
    output
}

/// Ten clients at once on `server`, which runs two workers with `--delay 200ms`: every one
/// is answered, the whole takes at least five rounds (⌈10 / 2⌉ × 200 ms, a lower bound),
/// and no more than two are served at once. Returns the log, with all ten disconnects.
/// (Exactly two at once is [`ten_clients_take_five_rounds`]; a server whose kernel hashes
/// connections to one worker or the other, as `SO_REUSEPORT` does, may use one alone.)
#[track_caller]
pub fn ten_clients_on_two_workers(server: &ServerProcess) -> Vec<String> {
    let delay = Duration::from_millis(200);
    let addr = server.addr();
    let began = std::time::Instant::now();
    let clients: Vec<_> = (0..10)
        .map(|i| std::thread::spawn(move || (i, one_shot(addr, format!("3|{i}x\n").as_bytes()))))
        .collect();
    for client in clients {
        let (i, answer) = client.join().expect("a client");
        assert_eq!(answer, format!("OK x{i}\n"));
    }
    let took = began.elapsed();
    assert!(
        took >= delay * 5,
        "ten clients on two workers took {took:?}"
    );
    wait_for_lines(server, " disconnected", 10);
    let output = server.output();
    let most = most_at_once(&output);
    assert!(
        (1..=2).contains(&most),
        "{most} at once: {}",
        output.join("\n")
    );
    output
}

/// The clients each worker says it served when it stopped (`served N clients`), from
/// a server's log: worker counts, in log order.
pub fn served_counts(output: &[String]) -> Vec<u64> {
    output
        .iter()
        .filter_map(|line| {
            let (_, rest) = line.split_once("served ")?;
            rest.strip_suffix(" clients")?.parse().ok()
        })
        .collect()
}

/// Starts `binary` (evented or async) with `--workers 2` and checks its banner (the first
/// line starts with `title`, the description line holds `described`); two clients are
/// served, each by a loop or task of its own, whose lines are logged under `label(1)` and
/// `label(2)`; then `--workers 0` is refused clearly, with status 2.
pub fn two_workers_in_banner_and_log(
    binary: &str,
    title: &str,
    described: &str,
    label: impl Fn(usize) -> String,
) {
    let server = start(binary, &["--workers", "2"]);
    let banner = server.output();
    assert!(banner[0].starts_with(title), "{banner:?}");
    // The line after `Listening on` may still be on its way from the reader thread.
    assert_logged(&server, described);
    let mut a = connect(server.addr());
    let mut b = connect(server.addr());
    assert_eq!(ask(&mut a, b"3|ab\n"), "OK ba\n");
    assert_eq!(ask(&mut b, b"3|cd\n"), "OK dc\n");
    wait_for_lines(&server, "Sending response", 2);
    for n in [1, 2] {
        let who = label(n);
        assert_logged(&server, &format!("{who} - Connection from 127.0.0.1:"));
        assert_logged(&server, &format!("{who} - Received request"));
    }
    server.stop(IO_TIMEOUT).expect("stops");
    assert_usage_error(binary, &["--workers", "0"], "--workers");
}
