//! One client's task: it drives the connection's [`Session`] over its socket until the
//! session is finished, waiting in one `select!` for the socket, its timer or the shutdown
//! notice (the crate doc, in main.rs, says how and why).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use server_core::session::TURN;
use server_core::{Output, Session, Who};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{self, Sleep, sleep_until};

use crate::Shared;

/// The most one read asks for; one such buffer per runtime thread.
pub const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    /// The read buffer of the runtime thread a task happens to run on: filled and handed
    /// to the session between two awaits, never held across one.
    static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// One client's task: drives its session until the session is finished.
pub async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    who: Who,
    shared: Arc<Shared>,
    // Given back when the task ends, however it ends.
    _permit: OwnedSemaphorePermit,
) {
    let now = Instant::now();
    let mut session = shared.service.open(peer, who, now);
    // The task's timer and its place among the shutdown channel's waiters are made once and
    // kept for every wait: a timer moved to a later deadline is updated in place, and the
    // channel (shared by every task) is not locked twice per request to join and leave.
    let sleep = sleep_until(time::Instant::from_std(now + PARKED));
    tokio::pin!(sleep);
    let stopped = shared.stop.notified();
    tokio::pin!(stopped);
    let mut waits = Waits {
        sleep,
        stopped,
        watching: true,
    };
    let mut told_shutdown = false;
    let mut now = Instant::now();
    // When this task's turn began: its last wait, or its last yield.
    let mut turn_began = now;
    let mut used_up = false;
    loop {
        if !told_shutdown && let Some(deadline) = shared.shutdown.deadline() {
            told_shutdown = true;
            waits.watching = false;
            session.handle_shutdown(now, deadline);
        }
        match session.poll_output(now) {
            Output::Computed => used_up |= Instant::now() >= turn_began + TURN,
            Output::Transmit { bytes, until } => match stream.try_write(bytes) {
                Ok(0) => session.handle_error(io::ErrorKind::WriteZero.into(), Instant::now()),
                Ok(n) => {
                    session.handle_transmitted(n, Instant::now());
                    if std::mem::take(&mut used_up) {
                        // The turn is used up and its answers are out: the others go.
                        tokio::task::yield_now().await;
                        turn_began = Instant::now();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    waits.arm(until);
                    // An error here shows again on the next write, which hands it on.
                    let _ = waits.until(|cx| stream.poll_write_ready(cx)).await;
                    turn_began = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => session.handle_error(e, Instant::now()),
            },
            Output::CloseWrite => {
                // Shuts the sending side at once (tokio's shutdown of a TcpStream never waits).
                let _ = stream.shutdown().await;
            }
            Output::Receive { max, until } => {
                if std::mem::take(&mut used_up) {
                    tokio::task::yield_now().await;
                    turn_began = Instant::now();
                }
                waits.arm(until);
                let mut waited = false;
                let read = waits
                    .until(|cx| {
                        let polled = poll_read(&mut stream, &mut session, max, cx);
                        waited |= polled.is_pending();
                        polled
                    })
                    .await;
                if waited {
                    turn_began = Instant::now();
                }
                match read {
                    Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Some(Err(e)) => session.handle_error(e, Instant::now()),
                    Some(Ok(())) | None => {}
                }
            }
            Output::Wait(until) => {
                // A request is held for its delay, or the session waits for a deadline.
                waits.arm(until);
                waits.until(|_| Poll::<()>::Pending).await;
                turn_began = Instant::now();
            }
            Output::Finished => break,
        }
        now = Instant::now();
    }
}

/// Reads at most `want` bytes, when the socket has some, into the thread's buffer and hands
/// them to the session (none: the client closed its side).
///
/// Through `poll_read`, not `try_read`: a read that comes back short tells tokio the socket
/// is drained, so the next wait needs no `read` that fails with `EAGAIN` first (a system
/// call saved per request).
fn poll_read(
    stream: &mut TcpStream,
    session: &mut Session,
    want: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    READ_BUF.with_borrow_mut(|buf| {
        let mut filled = ReadBuf::new(&mut buf[..want.min(READ_CHUNK)]);
        match Pin::new(stream).poll_read(cx, &mut filled) {
            Poll::Ready(Ok(())) => {
                match filled.filled() {
                    [] => session.handle_eof(Instant::now()),
                    bytes => session.handle_input(bytes, Instant::now()),
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    })
}

/// Where a session without deadlines parks its timer: far enough never to fire.
const PARKED: Duration = Duration::from_secs(24 * 60 * 60);

/// What a task waits on besides its socket: its timer, and the shutdown notice.
struct Waits<'a, F> {
    sleep: Pin<&'a mut Sleep>,
    stopped: Pin<&'a mut F>,
    /// Whether the notice is still awaited: not once it came (a finished future must not
    /// be polled again) or the session was told some other way.
    watching: bool,
}

impl<F: Future<Output = ()>> Waits<'_, F> {
    /// Sets the timer to the session's next deadline, or parks it a day off when there is
    /// none (so a wait always ends on something).
    fn arm(&mut self, until: Option<Instant>) {
        let deadline = until.map_or_else(|| time::Instant::now() + PARKED, time::Instant::from_std);
        if deadline != self.sleep.deadline() {
            self.sleep.as_mut().reset(deadline);
        }
    }

    /// Polls `io` until it is done (its output), the timer fires or shutdown is announced
    /// (`None`: the caller looks at the session again). A poll function rather than a
    /// future: the socket's own reader and writer wakers are used, and the task's state
    /// stays small (it is most of what a connection costs).
    async fn until<T>(&mut self, io: impl FnMut(&mut Context<'_>) -> Poll<T>) -> Option<T> {
        tokio::select! {
            done = std::future::poll_fn(io) => Some(done),
            () = self.sleep.as_mut() => None,
            () = self.stopped.as_mut(), if self.watching => {
                self.watching = false;
                None
            }
        }
    }
}
