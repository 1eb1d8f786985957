//! What the client's end-to-end tests share: running the `client` binary with a time
//! bound, the servers it talks to (the tutorial's three real ones, and small servers written here
//! for what a real one cannot be made to do), and a terminal driven through tmux.

#![allow(
    dead_code,
    reason = "each test file uses a different part of this module"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use testkit::{ServerProcess, workspace_binary};

/// The longest any one client run may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// The client binary under test.
pub fn client_bin() -> &'static str {
    env!("CARGO_BIN_EXE_client")
}

/// What a finished client run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The exit code; a run killed by a signal fails the test.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {self:?}"))
    }
}

/// Runs `client ARGS` with `stdin` as its input, and waits for it (at most
/// [`RUN_LIMIT`]; then it is killed and the test fails).
pub fn run_client<I, S>(args: I, stdin: &[u8]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(client_bin());
    command.args(args);
    run_command(command, stdin)
}

/// Runs `command` with `stdin` as its input, bounded by [`RUN_LIMIT`].
pub fn run_command(command: Command, stdin: &[u8]) -> Run {
    let (mut child, mut child_stdin, finish) = spawn_piped(command);
    let input = stdin.to_vec();
    let feeder = thread::spawn(move || {
        // The client may exit before reading everything (choice 4); that is fine.
        let _ = child_stdin.write_all(&input);
    });
    let status = wait_bounded(&mut child, RUN_LIMIT);
    let _ = feeder.join();
    finish(status)
}

/// Starts `command` with its stdin, stdout and stderr piped, its output read as it comes;
/// returns the child, its stdin, and what makes the run of its exit status.
fn spawn_piped(mut command: Command) -> (Child, ChildStdin, impl FnOnce(ExitStatus) -> Run) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    let stdin = child.stdin.take().expect("stdin is piped");
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let finish = move |status| Run {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    (child, stdin, finish)
}

/// Runs `client ARGS` with `prefix`, then `flood` bytes of `x` with no newline, then
/// `suffix` as its input, and returns the run with the client's peak resident memory
/// (KiB) measured once the flood has gone into its stdin: a client that holds the
/// unfinished line shows it there. Every wait is bounded by [`RUN_LIMIT`].
pub fn run_client_flooded(args: &[&str], prefix: &[u8], flood: usize, suffix: &[u8]) -> (Run, u64) {
    let mut command = Command::new(client_bin());
    command.args(args);
    let (mut child, mut stdin, finish) = spawn_piped(command);
    let (flooded_tx, flooded) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel::<()>();
    let (prefix, suffix) = (prefix.to_vec(), suffix.to_vec());
    let writer = thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        let mut result = stdin.write_all(&prefix);
        let mut left = flood;
        while result.is_ok() && left > 0 {
            let n = left.min(chunk.len());
            result = stdin.write_all(&chunk[..n]);
            left -= n;
        }
        let failed = result.is_err();
        let _ = flooded_tx.send(result);
        if !failed && go_rx.recv_timeout(RUN_LIMIT).is_ok() {
            let _ = stdin.write_all(&suffix);
        }
    });
    let written = flooded.recv_timeout(RUN_LIMIT);
    let peak = match (&written, child.try_wait()) {
        (Ok(Ok(())), Ok(None)) => Some(peak_rss_kib(child.id())),
        _ => None,
    };
    let _ = go.send(());
    let status = wait_bounded(&mut child, RUN_LIMIT);
    let _ = writer.join();
    let run = finish(status);
    let Some(peak) = peak else {
        panic!("the client did not take the flood and live ({written:?}): {run:?}");
    };
    (run, peak)
}

fn drain(mut stream: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the client did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The tutorial's three architectures, by binary name: the client is checked against
/// one server of each kind, not all of them (the servers' own tests cover the rest).
pub const SERVERS: [&str; 3] = ["server-sequential", "server-forking", "server-threaded"];

/// Starts the real server `name` on a free loopback port, with `extra` arguments.
pub fn start_server(name: &str, extra: &[&str]) -> ServerProcess {
    let binary = workspace_binary(name).expect("the server is built");
    let mut args = vec!["--port", "0", "--quiet"];
    args.extend_from_slice(extra);
    ServerProcess::start(&binary, &args).expect("the server starts")
}

/// The real threaded server on a free port, for tests that need one server.
pub fn threaded() -> ServerProcess {
    start_server("server-threaded", &[])
}

/// A server's port, as a command-line argument.
pub trait Port {
    /// The port it listens on, as `--port` takes it.
    fn port(&self) -> String;
}

impl Port for ServerProcess {
    fn port(&self) -> String {
        self.addr().port().to_string()
    }
}

/// A port on 127.0.0.1 where nothing listens: bound, then released.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("bound address").port()
}

/// A server written for one test: `serve` runs for each accepted connection, on a
/// thread of its own, until the test drops the handle.
pub struct TestServer {
    addr: SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl TestServer {
    /// Listens on `bind` (an address with port 0) and serves every connection with `serve`.
    pub fn start<F>(bind: &str, serve: F) -> std::io::Result<TestServer>
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let serve = Arc::new(serve);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let serve = Arc::clone(&serve);
                thread::spawn(move || serve(stream));
            }
        });
        Ok(TestServer { addr, stop })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Port for TestServer {
    fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// A server that answers the first `answers` request lines of a connection with `reply`
/// (a whole response line), then closes it: a server going away mid-session.
pub fn closes_after(answers: usize, reply: &'static [u8]) -> TestServer {
    TestServer::start("127.0.0.1:0", move |stream| {
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        for _ in 0..answers {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let _ = (&stream).write_all(reply);
        }
    })
    .expect("the closing server starts")
}

/// A server that reads each request line and answers it with `reply` one byte at a time,
/// `gap` apart: a server that is alive and sending, but too slowly. It stops when the
/// client goes away.
pub fn trickles(reply: &'static [u8], gap: Duration) -> TestServer {
    TestServer::start("127.0.0.1:0", move |stream| {
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            for byte in reply {
                if (&stream).write_all(&[*byte]).is_err() {
                    return;
                }
                thread::sleep(gap);
            }
            line.clear();
        }
    })
    .expect("the trickling server starts")
}

/// The peak resident memory of process `pid` so far (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

/// The tutorial's Python server, re-created byte for byte: each `recv(1024)` is one request
/// `choice|payload`, and the answer goes back bare (`Error: …`, `Invalid choice`). Every
/// request received is kept in `received`, for byte-level checks.
pub fn tutorial_server(received: Arc<Mutex<Vec<Vec<u8>>>>) -> TestServer {
    TestServer::start("127.0.0.1:0", move |mut stream| {
        let mut buf = [0u8; 1024];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            received.lock().expect("lock").push(buf[..n].to_vec());
            let data = String::from_utf8_lossy(&buf[..n]).into_owned();
            let response = match data.split_once('|') {
                None => "Error: not enough values to unpack (expected 2, got 1)".to_owned(),
                Some(("1", p)) => p
                    .chars()
                    .map(|c| {
                        if c.is_uppercase() {
                            c.to_lowercase().collect::<String>()
                        } else {
                            c.to_uppercase().collect()
                        }
                    })
                    .collect(),
                // Enough of Python's eval for these tests.
                Some(("2", "1/0")) => "Error: division by zero".to_owned(),
                Some(("2", "1+2*3")) => "7".to_owned(),
                Some(("2", _)) => "Error: invalid syntax (<string>, line 1)".to_owned(),
                Some(("3", p)) => p.chars().rev().collect(),
                Some(_) => "Invalid choice".to_owned(),
            };
            if stream.write_all(response.as_bytes()).is_err() {
                break;
            }
        }
    })
    .expect("the tutorial server starts")
}

/// A terminal: a tmux server of its own (its own socket), one session running a
/// command; killed on drop.
pub struct Tmux {
    socket: String,
}

static TMUX_COUNT: AtomicUsize = AtomicUsize::new(0);

impl Tmux {
    /// Runs `shell_command` in a new 120×40 terminal. When the command ends the pane
    /// shows `EXIT=<code>`, so tests can read the exit status from the screen.
    pub fn start(shell_command: &str) -> Tmux {
        let socket = format!(
            "taskclient-test-{}-{}",
            std::process::id(),
            TMUX_COUNT.fetch_add(1, Ordering::SeqCst)
        );
        let tmux = Tmux { socket };
        let script = format!("{shell_command}; echo EXIT=$?; sleep 60");
        let status = tmux
            .command()
            .args([
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "120",
                "-y",
                "40",
                "sh",
                "-c",
            ])
            .arg(script)
            .status()
            .expect("tmux runs (install it: apt-get install tmux)");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    /// Runs the client binary with `args` (shell words) in a new terminal, as
    /// [`Tmux::start`] does.
    pub fn client(args: &str) -> Tmux {
        Tmux::start(&format!("'{}' {args}", client_bin()))
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket, "-f", "/dev/null"]);
        command.env("TERM", "xterm-256color");
        command
    }

    /// Types `keys` (tmux key names: `Enter`, `C-d`, or literal text).
    pub fn send_keys(&self, keys: &[&str]) {
        let status = self
            .command()
            .args(["send-keys", "-t", "t"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success(), "tmux send-keys failed");
    }

    /// The visible screen.
    pub fn screen(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until the screen holds `needle` `times` times; fails the test after 10 s.
    /// tmux drops the spaces at the end of a line, so a needle should not end in one.
    pub fn wait_for(&self, needle: &str, times: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.screen();
            if screen.matches(needle).count() >= times {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the terminal never showed {needle:?} {times} time(s); it shows:\n{screen}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

/// Each of the tutorial's three servers, started on a free port, with its name.
pub fn each_server() -> impl Iterator<Item = (&'static str, ServerProcess)> {
    SERVERS
        .into_iter()
        .map(|name| (name, start_server(name, &[])))
}
