//! [`Server`]: a started server — configuration, logger, listening socket and signal
//! handlers — with the waits an accept loop needs.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::banner::{self, Architecture};
use crate::blocking::{Bell, Service, TICK};
use crate::config::{Config, ServerArgs};
use crate::ledger::Ledger;
use crate::listener::{self, ACCEPT_BACKOFF, AcceptLog, Accepted, Client};
use crate::log::{self, Level, Log, Who};
use crate::shutdown::{Shutdown, Signals, wait_readable};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {error}{hint}", hint = bind_hint(.error))]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why (shown in the message, with a hint on what to do).
        error: io::Error,
    },
    /// The signal handlers could not be installed.
    #[error("cannot install signal handlers")]
    Signals(#[source] io::Error),
    /// The listener could not be made ready for worker processes to share
    /// ([`Server::share_listener`]).
    #[error("cannot share the listening socket with worker processes")]
    Share(#[source] io::Error),
    /// What serves the clients could not be set up, or all of it stopped: the tokio
    /// runtime, the event loops, the pool's threads.
    #[error("{what}")]
    Serving {
        /// What failed, e.g. `cannot start any event loop`.
        what: &'static str,
        /// The error behind it, when there is one.
        source: Option<io::Error>,
    },
}

fn bind_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::AddrInUse => " (is another server running? pick another --port, or 0)",
        io::ErrorKind::AddrNotAvailable => {
            " (not an address of this machine; see --host, --interface)"
        }
        io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need privileges; pick another --port)"
        }
        _ => "",
    }
}

/// What the accept loop woke up for.
#[derive(Debug)]
pub enum Event {
    /// A client connected.
    Client(Client),
    /// A signal (SIGCHLD), a tick, or an accept that came to nothing: look around (reap
    /// children) and wait again.
    Wake,
    /// SIGINT, SIGTERM or SIGHUP: stop accepting.
    Shutdown,
}

/// A started server: bound, with its banner printed and its signal handlers installed.
#[derive(Debug)]
pub struct Server {
    /// The address the listener was bound to (the port `--port 0` picked), for the banner
    /// even once an architecture has taken the listener.
    bound: SocketAddr,
    config: Arc<Config>,
    log: Log,
    listener: Option<TcpListener>,
    signals: Signals,
    /// What has been said about accept failing: once per run of failures, not per try.
    accept_log: AcceptLog,
    /// Whether the last accept gave a client, so more may be queued: the next call
    /// accepts at once and polls only when the backlog is empty, which saves a `poll`
    /// per client in a burst.
    backlog_busy: bool,
    /// Whether a signal (SIGCHLD, in practice) woke the loop since
    /// [`Server::take_signalled`] was last called.
    signalled: bool,
    /// What shutting-down sessions have left unanswered, in this process and its children.
    ledger: Ledger,
    /// Rung when the shutdown begins, to wake every blocking session at once.
    bell: Bell,
}

impl Server {
    /// Starts a server: raises the open-file limit, installs the SIGINT/SIGTERM/SIGHUP/SIGCHLD
    /// handlers, binds the listener, and prints `architecture`'s banner.
    ///
    /// The handlers go in before the banner, so a signal sent as soon as the banner is
    /// read already shuts the server down gracefully.
    ///
    /// # Errors
    ///
    /// [`StartError`] when the address cannot be bound or the handlers installed.
    pub fn start(args: ServerArgs, architecture: &Architecture) -> Result<Server, StartError> {
        let server = Server::bind(args)?;
        server.announce(architecture);
        Ok(server)
    }

    /// [`Server::start`] without the banner, for an architecture whose banner depends on
    /// what it starts next (the pool says how many of its threads could be started);
    /// [`Server::announce`] prints it.
    ///
    /// # Errors
    ///
    /// As [`Server::start`]'s.
    pub fn bind(args: ServerArgs) -> Result<Server, StartError> {
        Server::bind_with(args, listener::bind)
    }

    /// Prints `architecture`'s banner, with the address the listener is bound to (a
    /// script reading it learns the port `--port 0` picked).
    pub fn announce(&self, architecture: &Architecture) {
        log::print_plain(&banner::text(architecture, &self.config, self.bound));
    }

    /// [`Server::start`], with a listener bound with `SO_REUSEPORT`
    /// ([`listener::bind_reusing_port`]), so that workers may bind listeners of their own
    /// on the same address.
    ///
    /// # Errors
    ///
    /// As [`Server::start`]'s.
    pub fn start_reusing_port(
        args: ServerArgs,
        architecture: &Architecture,
    ) -> Result<Server, StartError> {
        let server = Server::bind_with(args, listener::bind_reusing_port)?;
        server.announce(architecture);
        Ok(server)
    }

    fn bind_with(
        args: ServerArgs,
        bind: fn(SocketAddr, i32) -> io::Result<TcpListener>,
    ) -> Result<Server, StartError> {
        let config = Config::from(args);
        let log = Log::new(config.level);
        match listener::raise_open_file_limit() {
            Ok((before, after)) => log.debug(
                &Who::Main,
                format_args!("open-file limit raised from {before} to {after}"),
            ),
            Err(e) => log.warn(
                &Who::Main,
                format_args!("cannot raise the open-file limit: {e}"),
            ),
        }
        let signals = Signals::install(Shutdown::new(config.shutdown_timeout))
            .map_err(StartError::Signals)?;
        let listener = bind(config.addr, config.backlog).map_err(|error| StartError::Bind {
            addr: config.addr,
            error,
        })?;
        let bound = listener.local_addr().unwrap_or(config.addr);
        let ledger = Ledger::new().map_err(|e| StartError::Serving {
            what: "cannot map the shutdown ledger",
            source: Some(e),
        })?;
        let bell = Bell::new().map_err(|e| StartError::Serving {
            what: "cannot make the shutdown bell",
            source: Some(e),
        })?;
        Ok(Server {
            bound,
            config: Arc::new(config),
            log,
            listener: Some(listener),
            signals,
            accept_log: AcceptLog::default(),
            backlog_busy: false,
            signalled: false,
            ledger,
            bell,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The logger.
    pub fn log(&self) -> Log {
        self.log
    }

    /// The shutdown flag, set by SIGINT, SIGTERM and SIGHUP.
    pub fn shutdown(&self) -> &Shutdown {
        self.signals.shutdown()
    }

    /// What serves one client; clone it into a thread, or keep it across a fork.
    pub fn service(&self) -> Service {
        Service::new(
            Arc::clone(&self.config),
            self.log,
            self.shutdown().clone(),
            self.ledger.clone(),
            self.bell.clone(),
        )
    }

    /// Waits for the next client; `None` once shutdown is requested.
    pub fn accept(&mut self) -> Option<Client> {
        loop {
            match self.next_event(true) {
                Event::Client(client) => return Some(client),
                Event::Wake => {}
                Event::Shutdown => return None,
            }
        }
    }

    /// A client that is already waiting in the backlog, without waiting for one: `None`
    /// when the last accept found the backlog empty, when it is empty now, or once
    /// shutdown is requested. Accept loops call it after [`Server::accept`] or
    /// [`Server::next_event`] gave a client, to take every queued client before
    /// spending time on any (a thread or a fork each), so that a burst drains the
    /// backlog at accept speed and does not overflow it.
    pub fn try_accept(&mut self) -> Option<Client> {
        if !self.backlog_busy || self.shutdown().requested() {
            return None;
        }
        let accepted = listener::accept(self.listener.as_ref()?);
        match self.handle_accepted(accepted, &Who::Main) {
            Event::Client(client) => Some(client),
            Event::Wake | Event::Shutdown => None,
        }
    }

    /// Waits up to [`TICK`] for a client (when `accepting`), a signal, or nothing.
    ///
    /// When not `accepting` the listener is not looked at, so clients queue in the
    /// backlog; the wait still ends at once on a signal (a child exiting).
    pub fn next_event(&mut self, accepting: bool) -> Event {
        if self.shutdown().requested() {
            return Event::Shutdown;
        }
        let listener = self.listener.as_ref().filter(|_| accepting);
        if let Some(listener) = listener
            && self.backlog_busy
        {
            match listener::accept(listener) {
                Accepted::Retry(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.backlog_busy = false;
                }
                accepted => return self.handle_accepted(accepted, &Who::Main),
            }
        }
        let ready = match listener {
            Some(l) => wait_readable(&[self.signals.wake_fd(), l.as_fd()], TICK),
            None => wait_readable(&[self.signals.wake_fd()], TICK),
        };
        let listener_ready = match ready {
            Ok(ready) => {
                if ready[0] {
                    self.signals.drain();
                    self.signalled = true;
                }
                ready.get(1).copied().unwrap_or(false)
            }
            Err(e) => {
                self.log
                    .warn(&Who::Main, format_args!("waiting for clients failed: {e}"));
                thread::sleep(ACCEPT_BACKOFF);
                false
            }
        };
        if self.shutdown().requested() {
            return Event::Shutdown;
        }
        match listener {
            Some(listener) if listener_ready => {
                let accepted = listener::accept(listener);
                self.handle_accepted(accepted, &Who::Main)
            }
            _ => Event::Wake,
        }
    }

    /// What the accept loop does with what `accept` gave; warnings are logged as `who`.
    fn handle_accepted(&mut self, accepted: Accepted, who: &Who) -> Event {
        match accepted {
            Accepted::Client(client) => {
                self.backlog_busy = true;
                self.accept_log.accepted(&self.log, who);
                Event::Client(client)
            }
            // Nothing queued after all (the poll was for a connection that went away).
            Accepted::Retry(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.backlog_busy = false;
                Event::Wake
            }
            Accepted::Retry(e) => {
                self.accept_log.retried(&e, &self.log, who);
                Event::Wake
            }
            Accepted::Exhausted(e) | Accepted::Failed(e) => {
                self.backlog_busy = false;
                self.accept_log.failed(&e, &self.log, who);
                thread::sleep(ACCEPT_BACKOFF);
                Event::Wake
            }
        }
    }

    /// Grows the process's descriptor table, once, to hold `--max-clients` sockets, while
    /// the process is still single-threaded: for the architectures whose clients share one
    /// process (threaded, pool, evented, async), called before their threads start.
    ///
    /// The kernel grows the table by doubling as descriptors are allocated, and in a
    /// process with several threads each growth waits for an RCU grace period
    /// (`expand_fdtable`) inside the `accept` that needed it. Measured on server-evented:
    /// in the first 10,000-client burst after start the acceptor stalled long enough for
    /// the 4,096-place backlog to overflow (`nstat` `TcpExtListenOverflows` 3,870–8,560;
    /// thousands of clients waited a second for a SYN retry), and never in the bursts
    /// after, once the table was big. Duplicating a descriptor to the highest number
    /// needed, and closing the copy, grows it now instead. The table never shrinks; it
    /// costs 8 bytes a slot of kernel memory. (Not for the forking servers: every fork
    /// would copy the larger table.)
    pub fn reserve_descriptors(&self) {
        use std::os::fd::{AsFd, FromRawFd, OwnedFd};
        /// Descriptors beside the clients': standard streams, the listener, the signal
        /// pipe, and each loop's epoll and waker.
        const RESERVED: usize = 64;
        let Ok((soft, _)) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        else {
            return;
        };
        let wanted = self.config.max_clients.saturating_add(RESERVED);
        let highest = wanted
            .min(usize::try_from(soft).unwrap_or(usize::MAX))
            .saturating_sub(1);
        let Ok(highest) = i32::try_from(highest) else {
            return;
        };
        match nix::fcntl::fcntl(
            io::stdout().as_fd(),
            nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(highest),
        ) {
            // SAFETY: fcntl just made this descriptor; nothing else owns it. Dropping the
            // OwnedFd closes it.
            Ok(fd) => drop(unsafe { OwnedFd::from_raw_fd(fd) }),
            Err(e) => self.log.debug(
                &Who::Main,
                format_args!("cannot grow the descriptor table to {highest}: {e}"),
            ),
        }
    }

    /// Takes the listening socket out of the server, for an architecture that waits on it
    /// with its own machinery (a mio `Poll`, a tokio runtime). The server then accepts no
    /// more itself; its signals, log and shutdown go on as before. `None` if already taken.
    pub fn take_listener(&mut self) -> Option<TcpListener> {
        self.listener.take()
    }

    /// The address the listener is bound to (the real port, when `--port 0` was asked
    /// for); `None` once the listener is closed or taken.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref()?.local_addr().ok()
    }

    /// Puts `listener` in the place of the server's own, which is returned: a worker
    /// process with a listener of its own (`SO_REUSEPORT`) accepts on it with
    /// [`Server::accept_shared`], after [`Server::share_listener`].
    pub fn replace_listener(&mut self, listener: TcpListener) -> Option<TcpListener> {
        self.listener.replace(listener)
    }

    /// Gets the listener ready to be shared by worker processes that each wait in
    /// `accept(2)` on it (server-prefork), before they are forked.
    ///
    /// The listener becomes blocking, so the kernel wakes one waiting process per
    /// connection, where a `poll` would wake them all (the thundering herd), and `accept`
    /// gets a timeout of [`TICK`] (`SO_RCVTIMEO`): an accept with a timeout is never
    /// restarted after a signal handler ran (signal(7)), so SIGTERM ends the wait at once,
    /// and a worker looks at its shutdown flag at least that often anyway. The settings
    /// belong to the socket, which the parent and every worker share; the parent itself
    /// never accepts on it.
    ///
    /// # Errors
    ///
    /// When the socket's flags or options cannot be set.
    pub fn share_listener(&self) -> io::Result<()> {
        if let Some(listener) = &self.listener {
            listener.set_nonblocking(false)?;
            socket2::SockRef::from(listener).set_read_timeout(Some(TICK))?;
        }
        Ok(())
    }

    /// Waits in `accept(2)` on a listener made ready by [`Server::share_listener`] until
    /// a client comes; `None` once shutdown is requested (or the listener is closed).
    /// Failures are handled as [`Server::next_event`] handles them, logged as `who`.
    pub fn accept_shared(&mut self, who: &Who) -> Option<Client> {
        loop {
            if self.shutdown().requested() {
                return None;
            }
            let accepted = listener::accept(self.listener.as_ref()?);
            // After a signal (EINTR) or the parent shutting the listener (EINVAL): a
            // shutdown, not an accept failure to back off from.
            if !matches!(accepted, Accepted::Client(_)) && self.shutdown().requested() {
                return None;
            }
            if let Event::Client(client) = self.handle_accepted(accepted, who) {
                return Some(client);
            }
        }
    }

    /// Stops the listening socket for every process that shares it: from now on
    /// connections are refused, and every worker waiting in `accept` on it wakes at once
    /// (`shutdown(SHUT_RD)` on a listening socket stops it listening, on Linux). Used by
    /// the prefork parent on SIGTERM, since closing its own copy would leave the workers'
    /// copies listening.
    pub fn shut_listener(&self) {
        if let Some(listener) = &self.listener {
            listener::stop_listening(listener);
        }
    }

    /// Whether a signal arrived since the last call: the forking server reaps only then,
    /// because each `waitpid` scans every live child (with thousands alive, reaping on
    /// every accepted client cost more than the fork itself).
    pub fn take_signalled(&mut self) -> bool {
        std::mem::take(&mut self.signalled)
    }

    /// Waits up to `timeout` for a signal (a child exiting), without accepting.
    pub fn wait_for_signal(&self, timeout: Duration) {
        if let Ok(ready) = wait_readable(&[self.signals.wake_fd()], timeout)
            && ready[0]
        {
            self.signals.drain();
        }
    }

    /// In a forked process (a forking server's child, a prefork worker): stops as on
    /// SIGTERM when the parent dies. The kernel is asked to send SIGTERM then
    /// (`PR_SET_PDEATHSIG`), so a parent killed with SIGKILL, which cannot pass the
    /// shutdown on, leaves no process serving on unsupervised (re-parented to init, until
    /// its client's idle timeout). `parent` is the parent's PID taken before the fork: if
    /// the parent is already gone when the request is made (the race the request alone
    /// would lose), or the request fails, the shutdown is requested at once.
    pub fn stop_with_parent(&self, parent: nix::unistd::Pid) {
        use nix::sys::{prctl, signal::Signal};
        if prctl::set_pdeathsig(Signal::SIGTERM).is_err() || nix::unistd::getppid() != parent {
            self.shutdown().request();
        }
    }

    /// Waits up to `timeout` for a signal or for one of `fds` to become readable, and
    /// says which of `fds` are (all `false` after a signal or the timeout): for a parent
    /// that waits on sockets of its own as well as for its children (server-prefork's
    /// `--accept pass`, which waits for clients and for its workers' reports).
    pub fn wait_for_signal_or(&self, fds: &[BorrowedFd<'_>], timeout: Duration) -> Vec<bool> {
        let mut all = vec![self.signals.wake_fd()];
        all.extend_from_slice(fds);
        match wait_readable(&all, timeout) {
            Ok(ready) => {
                if ready[0] {
                    self.signals.drain();
                }
                ready[1..].to_vec()
            }
            Err(e) => {
                self.log
                    .warn(&Who::Main, format_args!("waiting for events failed: {e}"));
                thread::sleep(ACCEPT_BACKOFF);
                vec![false; fds.len()]
            }
        }
    }

    /// Closes the listening socket, so that new connections are refused; a forked child
    /// calls it first thing, to hold no copy of the parent's listener.
    pub fn close_listener(&mut self) {
        self.listener = None;
    }

    /// Begins a graceful shutdown: closes the listener, wakes every blocking session (the
    /// bell) and says so, with how many clients are still being served. Returns the
    /// deadline by which they must be done.
    pub fn stop_accepting(&mut self, busy: usize) -> Instant {
        self.close_listener();
        self.bell.ring();
        let deadline = self
            .shutdown()
            .deadline()
            .unwrap_or_else(|| Instant::now() + self.config.shutdown_timeout);
        self.log.line(
            Level::Warn,
            &Who::Main,
            format_args!(
                "Shutting down: no new connections; waiting up to {} for {busy} client(s) in flight",
                log::duration(self.config.shutdown_timeout)
            ),
        );
        deadline
    }

    /// Ends a graceful shutdown: says how it went. `abandoned` clients were still busy
    /// when the server stopped waiting for them; the ledger holds how many requests
    /// received were left unanswered. `Shut down cleanly` only when none was; otherwise
    /// [`exit_status`] makes the exit status [`UNANSWERED_STATUS`].
    pub fn finish(self, abandoned: usize) {
        let unanswered = self.ledger.unanswered();
        if unanswered == 0 && abandoned == 0 {
            self.log.warn(&Who::Main, format_args!("Shut down cleanly"));
            return;
        }
        LEFT_UNANSWERED.store(true, Ordering::Relaxed);
        let busy = if abandoned == 0 {
            String::new()
        } else {
            format!(" ({abandoned} client(s) still busy)")
        };
        self.log.warn(
            &Who::Main,
            format_args!(
                "Shut down with {unanswered} request(s) left unanswered at the deadline{busy}"
            ),
        );
    }
}

/// The exit status of a server that shut down with requests left unanswered.
pub const UNANSWERED_STATUS: u8 = 3;

/// Set by [`Server::finish`] when something was left unanswered.
static LEFT_UNANSWERED: AtomicBool = AtomicBool::new(false);

/// Ends a forked child: flushes standard output (the logger writes unbuffered, but
/// anything printed otherwise must not be lost) and leaves with `_exit`, which runs no
/// destructors or `atexit` handlers inherited from the parent — the child never returns
/// into the parent's accept loop.
pub fn exit_child(status: i32) -> ! {
    let _ = io::stdout().flush();
    // SAFETY: _exit ends the process at once; it has no preconditions and never returns.
    unsafe { libc::_exit(status) }
}

/// The exit status for a server's result: 0 on success — a shutdown that answered every
/// request received — and [`UNANSWERED_STATUS`] (3) after one that left some unanswered
/// at the deadline; otherwise the error and its causes are printed on stderr,
/// `server-name: error: cause`, and the status is 1.
pub fn exit_status(name: &str, result: Result<(), StartError>) -> std::process::ExitCode {
    match result {
        Ok(()) if LEFT_UNANSWERED.load(Ordering::Relaxed) => {
            std::process::ExitCode::from(UNANSWERED_STATUS)
        }
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("{name}: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            std::process::ExitCode::FAILURE
        }
    }
}
