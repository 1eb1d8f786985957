//! One acceptor dealing clients out to a few serving threads, round-robin: the front of
//! the evented server's loops and the uring server's rings.
//!
//! The main thread accepts through [`Server::accept`], a [`Gate`] place first, so
//! `--max-clients` holds exactly (at the cap nothing is accepted and clients wait in the
//! backlog), and the accept errors and their back-off are the listener's. Each batch of
//! clients (what the backlog holds, up to [`MAX_BATCH`]) is split over the threads in
//! turn and handed to each under one lock of its [`Inbox`], with one wake-up when its
//! queue was empty. The thread takes its arrivals with [`Inbox::take`] when woken. How a
//! thread is woken (a `mio::Waker`, a byte on a pipe a ring reads) is the caller's.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crate::gate::{Gate, Permit};
use crate::log::{Log, Who};
use crate::server::{Server, StartError};
use crate::session::DRIVER_GRACE;

/// The most clients accepted in a row before they are handed out.
pub const MAX_BATCH: usize = 64;

/// A new client, on its way from the acceptor to the thread that will serve it.
#[derive(Debug)]
pub struct Arrival {
    /// The connection, blocking, with `TCP_NODELAY` set.
    pub stream: TcpStream,
    /// The client's address.
    pub peer: SocketAddr,
    /// Its place under `--max-clients`, given back when dropped.
    pub permit: Permit,
}

/// What the acceptor shares with one serving thread: the clients handed to it, and how to
/// wake it.
pub struct Inbox {
    queue: Mutex<Queue>,
    wake: Box<dyn Fn() -> io::Result<()> + Send + Sync>,
}

struct Queue {
    arrivals: Vec<Arrival>,
    /// No more will come: once its connections are done, the thread may end.
    closed: bool,
}

impl Inbox {
    /// An empty inbox whose thread `wake` wakes.
    pub fn new(wake: impl Fn() -> io::Result<()> + Send + Sync + 'static) -> Arc<Inbox> {
        Arc::new(Inbox {
            queue: Mutex::new(Queue {
                arrivals: Vec::new(),
                closed: false,
            }),
            wake: Box::new(wake),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the clients handed over so far; says whether the acceptor has closed the
    /// inbox (no more will come).
    pub fn take(&self) -> (Vec<Arrival>, bool) {
        let mut queue = self.lock();
        (std::mem::take(&mut queue.arrivals), queue.closed)
    }

    /// Whether the acceptor has closed the inbox.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Adds the clients in `share` (emptied), and wakes the thread if its queue was
    /// empty: a thread that has not yet taken the earlier arrivals takes these with them.
    fn hand_over(&self, share: &mut Vec<Arrival>, log: Log) {
        if share.is_empty() {
            return;
        }
        let was_empty = {
            let mut queue = self.lock();
            let was_empty = queue.arrivals.is_empty();
            queue.arrivals.append(share);
            was_empty
        };
        if was_empty && let Err(e) = (self.wake)() {
            log.warn(
                &Who::Main,
                format_args!("cannot wake a serving thread: {e}"),
            );
        }
    }

    /// Tells the thread no more clients will come, and wakes it to notice.
    fn close(&self) {
        self.lock().closed = true;
        let _ = (self.wake)();
    }
}

/// A started serving thread, as the acceptor sees it: its inbox, and the thread, which
/// returns how many clients it abandoned at the shutdown deadline.
pub struct Worker {
    /// Where its clients go.
    pub inbox: Arc<Inbox>,
    /// The thread.
    pub thread: JoinHandle<usize>,
}

/// Accepts until SIGINT/SIGTERM and deals the clients out to `workers` round-robin (over
/// those still running); then stops accepting, closes every inbox, waits for every client
/// to be done up to the shutdown deadline and [`DRIVER_GRACE`] (a thread still computing
/// then is not waited for), joins the threads that ended and reports how the shutdown
/// went.
///
/// # Errors
///
/// [`StartError::Serving`] with `all_stopped` when every thread had ended (only a bug
/// ends one, and each says why in the log): failing beats serving on with nothing to
/// serve.
pub fn accept_and_deal(
    mut server: Server,
    workers: Vec<Worker>,
    all_stopped: &'static str,
) -> Result<(), StartError> {
    let log = server.log();
    let gate = Gate::new(server.config().max_clients);
    let mut next = 0;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Each thread's part of the batch, handed over under one lock and one wake-up at most.
    let mut shares: Vec<Vec<Arrival>> = workers.iter().map(|_| Vec::new()).collect();
    let mut lost = false;
    // A place first, then a client: at the cap, clients wait in the backlog.
    'accept: while let Some(permit) = gate.acquire(server.shutdown()) {
        let Some(client) = server.accept() else {
            break;
        };
        batch.push((client, permit));
        // Take what else is queued before handing out, so a burst empties the backlog
        // at accept speed.
        while batch.len() < MAX_BATCH
            && let Some(permit) = gate.try_acquire()
            && let Some(client) = server.try_accept()
        {
            batch.push((client, permit));
        }
        for (client, permit) in batch.drain(..) {
            let Some(i) = (0..workers.len())
                .map(|k| (next + k) % workers.len())
                .find(|&i| !workers[i].thread.is_finished())
            else {
                lost = true;
                break 'accept;
            };
            next = i + 1;
            shares[i].push(Arrival {
                stream: client.stream,
                peer: client.peer,
                permit,
            });
        }
        for (worker, share) in workers.iter().zip(&mut shares) {
            worker.inbox.hand_over(share, log);
        }
    }
    finish(server, workers, &gate, lost, all_stopped)
}

/// For threads that accept for themselves (a `SO_REUSEPORT` listener each, places taken
/// at `gate`): the main thread only waits for SIGINT/SIGTERM, or for every thread to have
/// stopped; then the shutdown goes as in [`accept_and_deal`]: each thread closes its
/// listener when its inbox is closed.
///
/// # Errors
///
/// As [`accept_and_deal`]'s.
pub fn serve_until_shutdown(
    server: Server,
    workers: Vec<Worker>,
    gate: &Arc<Gate>,
    all_stopped: &'static str,
) -> Result<(), StartError> {
    let mut lost = false;
    while !server.shutdown().requested() {
        if workers.iter().all(|worker| worker.thread.is_finished()) {
            lost = true;
            break;
        }
        server.wait_for_signal(crate::blocking::TICK);
    }
    finish(server, workers, gate, lost, all_stopped)
}

/// Stops accepting, closes every inbox, waits for every client to be done up to the
/// shutdown deadline and [`DRIVER_GRACE`], joins the threads and reports how it went.
fn finish(
    mut server: Server,
    workers: Vec<Worker>,
    gate: &Arc<Gate>,
    lost: bool,
    all_stopped: &'static str,
) -> Result<(), StartError> {
    let deadline = server.stop_accepting(gate.in_use());
    for worker in &workers {
        worker.inbox.close();
    }
    // Each connection holds its place until it is dropped: every place back means every
    // session has ended. A thread still computing then is not waited for (the process
    // exits under it); what its sessions left unanswered is already in the ledger. A
    // thread that panicked lost its clients; there is no count to report for it.
    let busy = gate.wait_idle(deadline + DRIVER_GRACE);
    // With every place back no thread has a client left, and each ends as soon as it sees
    // its inbox closed: all are joined, so their last lines come before the server's.
    let abandoned = workers
        .into_iter()
        .filter(|worker| busy == 0 || worker.thread.is_finished())
        .map(|worker| worker.thread.join().unwrap_or(0))
        .sum::<usize>()
        .max(busy);
    server.finish(abandoned);
    if lost {
        return Err(StartError::Serving {
            what: all_stopped,
            source: None,
        });
    }
    Ok(())
}
