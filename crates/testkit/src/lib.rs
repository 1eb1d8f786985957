//! `testkit`: a server binary run as a child process, as the tests and `cargo xtask
//! bench` run it. [`ServerProcess`] starts it with arguments, reads its address from the
//! `Listening on HOST:PORT` line of its banner, keeps its output, and stops it with
//! SIGTERM; [`workspace_binary`] finds a binary built from this workspace;
//! [`python_venv`] makes the Python virtual environment a test reads its output with.
//!
//! It lives apart from `server-core` so that the servers carry no code that only starts
//! and watches them: the servers write the banner ([`server_core::banner`]), this crate
//! reads it.

use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use server_core::banner::LISTENING_ON;

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Reads the address from a banner line that ends in `Listening on HOST:PORT`.
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let (_, addr) = line.split_once(LISTENING_ON)?;
    addr.trim().parse().ok()
}

/// The path of a binary built from this workspace into the same target directory as the
/// running executable: `target/<profile>/<name>`, found from a test
/// (`target/<profile>/deps/test-…`), an example (`target/<profile>/examples/…`) or a
/// binary (`target/<profile>/…`).
///
/// # Errors
///
/// When the binary is not there, with the command that builds it.
pub fn workspace_binary(name: &str) -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} not found; build the workspace first: cargo build --workspace (or run cargo test --workspace)",
                path.display()
            ),
        ))
    }
}

/// The target directory the running test was built into (`target/`): the parent of
/// `target/<profile>/deps/test-…`.
fn target_dir() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    dir.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| io::Error::other(format!("no target directory above {}", exe.display())))
}

/// The Python interpreter of the virtual environment `target/<name>` with `packages`
/// installed (pinned, e.g. `hdrhistogram==0.10.8`), made on first use with
/// `python3 -m venv` and pip. A lock file beside it (`target/<name>.lock`) makes tests
/// that run at once wait for one maker; a marker written last, listing the packages,
/// says the environment is complete, so an interrupted or outdated one is made again.
///
/// # Errors
///
/// When `python3` is missing or cannot make a virtual environment, or pip fails: the
/// test that needs Python must fail saying so, not pass by skipping its check.
pub fn python_venv(name: &str, packages: &[&str]) -> io::Result<PathBuf> {
    let target = target_dir()?;
    let venv = target.join(name);
    let python = venv.join("bin").join("python3");
    let marker = venv.join("testkit-packages.txt");
    let wanted = packages.join("\n");
    let complete = || std::fs::read_to_string(&marker).is_ok_and(|have| have == wanted);
    if complete() {
        return Ok(python);
    }
    std::fs::create_dir_all(&target)?;
    let lock_file = std::fs::File::create(target.join(format!("{name}.lock")))?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| io::Error::from(errno))?;
    if complete() {
        return Ok(python);
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv)?;
    }
    run_setup(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "python3 -m venv",
    )?;
    run_setup(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(packages),
        "pip install",
    )?;
    std::fs::write(&marker, wanted)?;
    Ok(python)
}

/// Runs one step of making a virtual environment; its failure carries what it printed.
fn run_setup(command: &mut Command, what: &str) -> io::Result<()> {
    let out = command.output().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "{what}: cannot run {:?} ({e}); install Python 3 with venv and pip",
                command.get_program()
            ),
        )
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{what} failed ({}): {}; install Python 3 with venv and pip (Debian: apt-get install python3-venv)",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Lines a child printed, shared with the threads that read them.
#[derive(Default)]
struct Output {
    state: Mutex<OutputState>,
    changed: Condvar,
}

#[derive(Default)]
struct OutputState {
    lines: Vec<String>,
    /// How many of the child's two streams have ended.
    ended: usize,
}

impl Output {
    fn push(&self, line: String) {
        if let Ok(mut state) = self.state.lock() {
            state.lines.push(line);
            self.changed.notify_all();
        }
    }

    fn end(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.ended += 1;
            self.changed.notify_all();
        }
    }

    fn snapshot(&self) -> Vec<String> {
        self.state
            .lock()
            .map(|s| s.lines.clone())
            .unwrap_or_default()
    }

    /// Waits until a line matches `want`, both streams end, or `timeout` passes.
    fn wait_for(&self, timeout: Duration, want: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().ok()?;
        let mut seen = 0;
        loop {
            if let Some(line) = state.lines[seen..].iter().find(|l| want(l)) {
                return Some(line.clone());
            }
            if state.ended == 2 {
                return None;
            }
            seen = state.lines.len();
            let left = deadline.checked_duration_since(Instant::now())?;
            state = self.changed.wait_timeout(state, left).ok()?.0;
        }
    }
}

/// A running server child process. Dropping it kills the process and reaps it.
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    output: Arc<Output>,
}

impl ServerProcess {
    /// Starts `binary` with `args` and waits for its `Listening on` line.
    ///
    /// Standard output and standard error are read by two threads and kept, in the order
    /// they arrived, for [`ServerProcess::output`] and [`ServerProcess::wait_for_output`].
    ///
    /// # Errors
    ///
    /// When the binary cannot be started, or exits or stays silent before printing its
    /// address; the error holds what it printed.
    pub fn start<I, A>(binary: &Path, args: I) -> io::Result<ServerProcess>
    where
        I: IntoIterator<Item = A>,
        A: AsRef<std::ffi::OsStr>,
    {
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", binary.display())))?;
        let output = Arc::new(Output::default());
        if let Some(stdout) = child.stdout.take() {
            keep_lines(stdout, Arc::clone(&output));
        }
        if let Some(stderr) = child.stderr.take() {
            keep_lines(stderr, Arc::clone(&output));
        }
        let banner = output.wait_for(START_TIMEOUT, |l| parse_listening_line(l).is_some());
        let mut server = ServerProcess {
            child,
            // Replaced below; a placeholder keeps Drop in charge of the child meanwhile.
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            output,
        };
        match banner.as_deref().and_then(parse_listening_line) {
            Some(addr) => {
                server.addr = addr;
                Ok(server)
            }
            None => {
                let _ = server.child.kill();
                let _ = server.child.wait();
                Err(io::Error::other(format!(
                    "{} did not print its address; it printed:\n{}",
                    binary.display(),
                    server.output.snapshot().join("\n")
                )))
            }
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line the server printed so far, stdout and stderr interleaved.
    pub fn output(&self) -> Vec<String> {
        self.output.snapshot()
    }

    /// Waits up to `timeout` for a printed line that contains `needle`.
    pub fn wait_for_output(&self, needle: &str, timeout: Duration) -> Option<String> {
        self.output.wait_for(timeout, |l| l.contains(needle))
    }

    /// Sends `signal` to the server.
    ///
    /// # Errors
    ///
    /// When the signal cannot be sent (the process is gone).
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        let pid = i32::try_from(self.child.id()).map_err(io::Error::other)?;
        kill(Pid::from_raw(pid), signal).map_err(io::Error::from)
    }

    /// Whether the process has exited, and how.
    ///
    /// # Errors
    ///
    /// When the process's state cannot be read.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running then.
    ///
    /// # Errors
    ///
    /// When the process's state cannot be read.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.child.try_wait()?;
            if status.is_some() || Instant::now() >= deadline {
                return Ok(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the server to exit; kills it after that.
    ///
    /// # Errors
    ///
    /// When the server did not exit in time (it is killed), or cannot be waited for.
    pub fn stop(mut self, timeout: Duration) -> io::Result<ExitStatus> {
        self.signal(Signal::SIGTERM)?;
        self.wait_timeout(timeout)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("server did not exit within {timeout:?} of SIGTERM; killed it"),
            )
        })
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Reads `stream` line by line into `output` on a thread of its own, until end of stream.
fn keep_lines(stream: impl Read + Send + 'static, output: Arc<Output>) {
    let spawned = thread::Builder::new()
        .name("server-output".into())
        .spawn(move || {
            for line in BufReader::new(stream).lines() {
                match line {
                    Ok(line) => output.push(line),
                    Err(_) => break,
                }
            }
            output.end();
        });
    // Without the reader the child may block on a full pipe; that shows as a test
    // failure, which is the right outcome when threads cannot be made.
    drop(spawned);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The address is read from the end of the banner line, IPv4 and IPv6.
    #[test]
    fn parses_banner_line() {
        assert_eq!(
            parse_listening_line("[12:00:00] Listening on 127.0.0.1:4242"),
            Some(SocketAddr::from(([127, 0, 0, 1], 4242)))
        );
        assert_eq!(
            parse_listening_line("Listening on [::1]:80"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(parse_listening_line("Listening soon"), None);
    }

    /// A binary that exits without a banner is an error that shows what it printed.
    #[test]
    fn silent_binary_is_an_error() {
        let err = ServerProcess::start(Path::new("/bin/echo"), ["no banner here"])
            .err()
            .expect("echo printed no banner");
        assert!(err.to_string().contains("no banner here"), "{err}");
    }
}
