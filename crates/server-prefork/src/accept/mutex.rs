//! `mutex`: every worker accepts in turn, holding a process-shared mutex around `accept`
//! (UNP §30.8).
//!
//! The mutex lives in a page of shared memory (`mmap` with `MAP_SHARED | MAP_ANONYMOUS`)
//! that the parent maps and initialises before the first fork, so every worker, the
//! replacements included, has the same mutex at the same address. It is
//! `PTHREAD_PROCESS_SHARED`, and robust (`PTHREAD_MUTEX_ROBUST`): should a worker die
//! holding it (SIGKILL, a crash), the kernel marks it and the next worker to lock it
//! gets `EOWNERDEAD` instead of waiting forever; that worker makes it consistent again
//! and goes on. The mapping is never unmapped: it lives as long as the server.

use std::io;
use std::ptr::{self, NonNull};

use server_core::{Server, Who};

use super::{AcceptLock, Acceptor, Locked, Strategy};

/// The mutex in shared memory (the parent's part and each worker's: a fork copies the
/// pointer, and the page behind it is shared).
#[derive(Clone, Copy)]
pub struct SharedMutex {
    mutex: NonNull<libc::pthread_mutex_t>,
}

impl SharedMutex {
    /// Maps the shared page, initialises a robust process-shared mutex in it, and gets
    /// the shared listener ready.
    pub fn new(server: &Server) -> io::Result<SharedMutex> {
        server.share_listener()?;
        // SAFETY: a new anonymous mapping: no address is given and no existing memory is
        // touched; the result is checked against MAP_FAILED before use.
        let page = unsafe {
            libc::mmap(
                ptr::null_mut(),
                size_of::<libc::pthread_mutex_t>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mutex = NonNull::new(page.cast::<libc::pthread_mutex_t>())
            .ok_or_else(|| io::Error::other("mmap gave a null page"))?;
        // SAFETY: `mutex` points to a fresh, zeroed, page-aligned mapping large enough for
        // a pthread_mutex_t, which no other thread or process sees yet; the attributes
        // object is initialised before use and destroyed after.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            check(libc::pthread_mutexattr_init(&mut attr))?;
            let made = check(libc::pthread_mutexattr_setpshared(
                &mut attr,
                libc::PTHREAD_PROCESS_SHARED,
            ))
            .and_then(|()| {
                check(libc::pthread_mutexattr_setrobust(
                    &mut attr,
                    libc::PTHREAD_MUTEX_ROBUST,
                ))
            })
            .and_then(|()| check(libc::pthread_mutex_init(mutex.as_ptr(), &attr)));
            libc::pthread_mutexattr_destroy(&mut attr);
            made?;
        }
        Ok(SharedMutex { mutex })
    }
}

/// A pthread call's result (0, or an error number) as an io::Result.
fn check(code: libc::c_int) -> io::Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(code))
    }
}

impl Strategy for SharedMutex {
    fn worker(&mut self, _server: &mut Server) -> io::Result<Box<dyn Acceptor>> {
        Ok(Box::new(Locked(*self)))
    }
}

impl AcceptLock for SharedMutex {
    /// Locks the mutex; if its last holder died holding it, makes it consistent (and says
    /// so), which leaves it locked by this worker.
    fn lock(&mut self, server: &Server, who: &Who) -> io::Result<()> {
        // SAFETY: the mutex was initialised in `new` before any fork, and its page stays
        // mapped for the life of every process that has this pointer.
        match unsafe { libc::pthread_mutex_lock(self.mutex.as_ptr()) } {
            0 => Ok(()),
            libc::EOWNERDEAD => {
                server.log().warn(
                    who,
                    format_args!("The accept lock's holder died holding it; taking it over"),
                );
                // SAFETY: as above; this thread holds the mutex, as EOWNERDEAD says.
                check(unsafe { libc::pthread_mutex_consistent(self.mutex.as_ptr()) })
            }
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }

    fn unlock(&mut self) -> io::Result<()> {
        // SAFETY: as in `lock`; this thread holds the mutex.
        check(unsafe { libc::pthread_mutex_unlock(self.mutex.as_ptr()) })
    }
}
