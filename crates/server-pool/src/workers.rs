//! [`Workers`]: the pool's threads — how many are wanted, which could not be started
//! yet, and when to try those again.
//!
//! A thread spawn fails when the user may run no more tasks (`RLIMIT_NPROC`) or memory
//! is short. The pool then serves with the threads it has, says so (banner and log), and
//! the main thread starts the missing ones later, with the back-off prefork uses for a
//! failed fork ([`Backoff`]). Both ways of accepting (`--accept main` and `each`) start
//! their threads through this.

use std::io;
use std::thread::JoinHandle;
use std::time::Instant;

use server_core::{Backoff, Log, Server, StartError, Who};

use crate::pool;

/// The pool's threads, started by `spawn(n)`, which starts `worker-n`.
pub struct Workers<S> {
    wanted: usize,
    /// The numbers (`worker-n`) of the workers whose threads could not be started yet,
    /// in order.
    missing: Vec<usize>,
    /// After a failure: when to try the missing ones again.
    backoff: Option<Backoff>,
    log: Log,
    spawn: S,
    /// The threads started, to join at the end.
    threads: Vec<JoinHandle<()>>,
}

impl<S: FnMut(usize) -> io::Result<JoinHandle<()>>> Workers<S> {
    /// Starts `wanted` workers with `spawn`, then prints the banner, which counts those
    /// that run, and logs why the next one could not be started, if one could not.
    ///
    /// # Errors
    ///
    /// When not one thread could be started: nothing could serve a client, so the
    /// server fails, as one that cannot bind does.
    pub fn start(server: &Server, wanted: usize, spawn: S) -> Result<Workers<S>, StartError> {
        let mut workers = Workers {
            wanted,
            missing: (1..=wanted).collect(),
            backoff: None,
            log: server.log(),
            spawn,
            threads: Vec::new(),
        };
        let started = workers.start_missing();
        if workers.threads.is_empty() {
            return Err(StartError::Serving {
                what: "cannot start any worker thread",
                source: started.err(),
            });
        }
        server.announce(&pool(workers.running()));
        if let Err(e) = started {
            workers.failed(&e);
        }
        Ok(workers)
    }

    /// How many worker threads run.
    pub fn running(&self) -> usize {
        self.wanted - self.missing.len()
    }

    /// Starts the missing workers if their retry is due (else does nothing).
    pub fn retry(&mut self) {
        if !self
            .backoff
            .as_ref()
            .is_some_and(|b| b.is_due(Instant::now()))
        {
            return;
        }
        match self.start_missing() {
            Ok(()) => self.backoff = None,
            Err(e) => self.failed(&e),
        }
    }

    /// When the missing workers are to be tried again; `None` when none is missing.
    pub fn next_retry(&self) -> Option<Instant> {
        self.backoff.as_ref().map(Backoff::retry_at)
    }

    /// The threads started, to join.
    pub fn into_threads(self) -> Vec<JoinHandle<()>> {
        self.threads
    }

    /// Starts the missing workers in order until one cannot be started: the error then.
    fn start_missing(&mut self) -> io::Result<()> {
        while let Some(&n) = self.missing.first() {
            let thread = (self.spawn)(n)?;
            self.threads.push(thread);
            self.missing.remove(0);
            if self.backoff.is_some() {
                self.log.info(
                    &Who::Main,
                    format_args!(
                        "Started worker-{n}: {} of {} running",
                        self.running(),
                        self.wanted
                    ),
                );
            }
        }
        Ok(())
    }

    /// Logs why the next worker could not be started, and sets when to try again.
    fn failed(&mut self, e: &io::Error) {
        let backoff = self
            .backoff
            .get_or_insert_with(|| Backoff::new(Instant::now()));
        let wait = backoff.failed(Instant::now());
        self.log.warn(
            &Who::Main,
            format_args!(
                "cannot start worker-{}: {e}; {} of {} running, trying again in {}",
                self.missing.first().copied().unwrap_or_default(),
                self.running(),
                self.wanted,
                server_core::log::duration(wait)
            ),
        );
    }
}
