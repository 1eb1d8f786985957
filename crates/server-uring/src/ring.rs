//! [`Ring`]: one io_uring and the memory the kernel reads and writes for it — every
//! `unsafe` block of the server is in this module.
//!
//! A submission hands the kernel pointers: a buffer to send from, a buffer ring to receive
//! into, a timespec to wait for. The kernel uses them after the call that submitted them
//! has returned, so Rust's borrows cannot say how long they must live. This module owns
//! all of that memory and keeps three promises that make its safe methods sound:
//!
//! - **A buffer lives as long as the kernel may use it.** Send buffers, the provided
//!   buffers, the timer's timespec and the wake-up buffer belong to the `Ring`; a send
//!   buffer is not touched again until its send has completed; a provided buffer is read
//!   only after the kernel has handed it over in a completion, and goes back to the kernel
//!   only once the reading is over ([`Ring::with_received`]). If the ring is dropped with
//!   operations still in flight (a bug, or a thread that failed), the memory is leaked
//!   rather than freed under the kernel.
//! - **Every operation is counted until its last completion** ([`Ring::in_flight`]), so
//!   the server can wait for its cancellations before it drops the ring or a socket.
//! - **Completions are tagged** with a [`Token`]: the connection's slot, a generation (a
//!   slot's next occupant never gets its predecessor's completions or cancellations) and
//!   what the operation was.
//!
//! The ring is set up with `SINGLE_ISSUER | DEFER_TASKRUN`: only the thread that made it
//! submits, and the kernel does the ring's work (a receive into a provided buffer, the
//! completions) only when that thread enters the kernel to wait. Nothing happens behind
//! the loop's back, and the receive limit of [`Ring::receive`] is exact.
//!
//! # Receiving: a multishot receive with a byte limit
//!
//! One `RECV` with `IORING_RECV_MULTISHOT` and a provided-buffer group posts a completion
//! each time bytes arrive, in a buffer the kernel picks from the buffer ring then — an idle
//! connection holds no buffer. A multishot receive would go on delivering whether or not
//! the session wants the bytes; the limit on its total (`sqe->optlen`, Linux 6.17) ends
//! it after that many bytes, so the server arms it with what the session may still buffer
//! and can never be made to hold more (main.rs says how the two add up). The `io-uring`
//! crate has no setter for that field yet, so [`with_total_limit`] writes it into the
//! entry at its offset in the kernel's `struct io_uring_sqe`; a unit test checks the
//! offset against the crate's own `optlen` of `SetSockOpt`. [`check_kernel`] runs one such
//! receive at start, so a kernel without the limit is named there rather than found out
//! by a client.

use std::alloc::{self, Layout};
use std::io::{self, Write};
use std::mem;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::types::{BufRingEntry, Fd, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};

/// The buffer group of every ring's provided buffers (one group per ring).
const GROUP: u16 = 0;

/// The byte offset of `optlen` in the kernel's `struct io_uring_sqe` (a union with
/// `splice_fd_in`, `file_index` and `addr_len`; the layout is the kernel's ABI).
const OPTLEN_OFFSET: usize = 44;

/// The most a slot's send buffer keeps allocated between sends.
const KEPT_SEND_ROOM: usize = 16 * 1024;

/// Page size for the buffer ring's alignment (the kernel wants the ring page-aligned).
const PAGE: usize = 4096;

/// How many entries the rings are made with, and their buffers.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Submission queue entries (the completion queue is four times as long).
    pub entries: u32,
    /// Provided buffers in the buffer ring: a power of two.
    pub buffers: u16,
    /// Bytes per provided buffer.
    pub buffer_size: usize,
}

/// What an operation was, in its completion's tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// A connection's multishot receive.
    Receive = 1,
    /// A connection's send.
    Send = 2,
    /// A cancellation of one of the above.
    Cancel = 3,
    /// The ring's one timeout, armed at the nearest deadline.
    Timer = 4,
    /// A change of the timeout's expiry.
    TimerUpdate = 5,
    /// The read on the hand-off pipe that wakes the ring.
    Wake = 6,
}

impl Op {
    fn from_bits(bits: u8) -> Option<Op> {
        [
            Op::Receive,
            Op::Send,
            Op::Cancel,
            Op::Timer,
            Op::TimerUpdate,
            Op::Wake,
        ]
        .into_iter()
        .find(|op| *op as u8 == bits)
    }
}

/// Which operation a completion belongs to: a slot, that slot's generation, and the
/// operation. Packed into the 64-bit `user_data`: slot (32 bits), generation (24), op (8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// The connection's slot (0 for the ring's own operations).
    pub slot: u32,
    /// The slot's occupant, so that a completion is never taken for its successor's.
    pub generation: u32,
    /// What the operation was.
    pub op: Op,
}

impl Token {
    /// A token for the ring's own operations (timer, wake-up).
    pub const fn ring(op: Op) -> Token {
        Token {
            slot: 0,
            generation: 0,
            op,
        }
    }

    fn pack(self) -> u64 {
        (u64::from(self.slot) << 32)
            | (u64::from(self.generation & 0xff_ffff) << 8)
            | self.op as u64
    }

    fn unpack(user_data: u64) -> Option<Token> {
        let op = Op::from_bits((user_data & 0xff) as u8)?;
        Some(Token {
            slot: (user_data >> 32) as u32,
            generation: ((user_data >> 8) & 0xff_ffff) as u32,
            op,
        })
    }

    /// The generation as it is kept in a tag (24 bits).
    pub fn generation_of(id: u64) -> u32 {
        (id & 0xff_ffff) as u32
    }
}

/// One completion, copied out of the completion queue.
#[derive(Debug)]
pub struct Completion {
    /// Whose it is.
    pub token: Token,
    /// The kernel's result: a count, or a negative errno.
    pub result: i32,
    /// Whether a multishot operation goes on (`IORING_CQE_F_MORE`).
    pub more: bool,
    /// The provided buffer the bytes are in, until [`Ring::with_received`] gives it back.
    buffer: Option<u16>,
}

/// Why io_uring cannot be used here: what the server prints before it exits 1.
#[derive(Debug)]
pub struct Unsupported {
    /// What is missing or refused, and why, in words.
    pub what: &'static str,
    /// The error the kernel gave.
    pub error: io::Error,
}

/// An io_uring with its provided buffers, send buffers and timespecs.
pub struct Ring {
    uring: IoUring,
    buffers: BufferRing,
    /// Each slot's send buffer, and whether a send from it is in flight.
    sends: Vec<SendBuffer>,
    /// The timeout's expiry, read by the kernel when the timeout is submitted.
    timer: Box<Timespec>,
    /// The expiry a timeout update moves it to.
    timer_update: Box<Timespec>,
    /// Where the hand-off pipe's bytes are read into.
    wake: Box<[u8; 64]>,
    /// Operations whose last completion has not come yet.
    in_flight: usize,
}

#[derive(Default)]
struct SendBuffer {
    bytes: Vec<u8>,
    busy: bool,
}

impl Ring {
    /// A ring for the calling thread (only this thread may submit to it), with its
    /// provided buffers registered.
    ///
    /// # Errors
    ///
    /// [`Unsupported`], naming the cause, where io_uring is missing or refused.
    pub fn new(sizes: Sizes) -> Result<Ring, Unsupported> {
        let uring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(sizes.entries.saturating_mul(4))
            .build(sizes.entries)
            .map_err(explain_setup)?;
        let buffers =
            BufferRing::new(&uring, sizes.buffers, sizes.buffer_size).map_err(|error| {
                Unsupported {
                    what: "cannot register io_uring's provided-buffer ring (Linux 5.19 or later)",
                    error,
                }
            })?;
        Ok(Ring {
            uring,
            buffers,
            sends: Vec::new(),
            timer: Box::new(Timespec::new()),
            timer_update: Box::new(Timespec::new()),
            wake: Box::new([0; 64]),
            in_flight: 0,
        })
    }

    /// Operations submitted whose last completion has not been collected.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Arms a receive on `fd` into the provided buffers that brings at most `limit` bytes
    /// (at least 1) in all: a multishot receive when `limit` is at least a buffer, a
    /// single receive of `limit` bytes otherwise. A multishot receive's completions say
    /// `more` until its last: after the limit, at the end of the stream, an error, a
    /// cancellation, or when the buffer ring is empty (`-ENOBUFS`).
    ///
    /// Why the limit is exact: the kernel counts a multishot receive's bytes against its
    /// limit after each receive, and one receive fills at most one buffer (`size`), so a
    /// limit of `limit - (size - 1)` stops it having brought at most `limit`. Below a
    /// buffer, a single receive of `limit` bytes is exact by itself.
    pub fn receive(&mut self, token: Token, fd: RawFd, limit: u32) {
        // The kernel subtracts each receive from the limit through a signed int: keep it
        // within one (a session never asks for more than a few MiB anyway).
        let limit = limit.clamp(1, i32::MAX as u32);
        let size = u32::try_from(self.buffers.size).unwrap_or(u32::MAX);
        let entry = if limit >= size {
            with_total_limit(
                opcode::RecvMulti::new(Fd(fd), GROUP).build(),
                limit - (size - 1),
            )
        } else {
            opcode::Recv::new(Fd(fd), std::ptr::null_mut(), limit)
                .buf_group(GROUP)
                .build()
                .flags(squeue::Flags::BUFFER_SELECT)
        };
        let entry = entry.user_data(token.pack());
        // SAFETY: a receive into provided buffers points at no memory of ours but the
        // buffer ring, which the ring owns and keeps registered until it is dropped.
        unsafe { self.push(&entry) };
    }

    /// Sends `bytes` on `fd` from the slot's send buffer (a copy: the session's own buffer
    /// may grow, and move, while the send is in flight). Returns false, sending nothing,
    /// if a send from this slot is already in flight.
    pub fn send(&mut self, token: Token, fd: RawFd, bytes: &[u8]) -> bool {
        let slot = token.slot as usize;
        if self.sends.len() <= slot {
            self.sends.resize_with(slot + 1, SendBuffer::default);
        }
        let buffer = &mut self.sends[slot];
        if buffer.busy {
            return false;
        }
        buffer.bytes.clear();
        buffer.bytes.extend_from_slice(bytes);
        buffer.busy = true;
        let len = u32::try_from(buffer.bytes.len()).unwrap_or(u32::MAX);
        let entry = opcode::Send::new(Fd(fd), buffer.bytes.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(token.pack());
        // SAFETY: the kernel reads `len` bytes from the slot's send buffer until the send
        // completes; the buffer is marked busy, so nothing writes to it, moves it or frees
        // it before `collect` sees that completion (and `Drop` leaks it if that never
        // happens).
        unsafe { self.push(&entry) };
        true
    }

    /// Asks the kernel to cancel the operation tagged `target`; the target completes
    /// (with `-ECANCELED`, or with what it had done), and so does the cancellation.
    pub fn cancel(&mut self, slot: u32, target: Token) {
        let entry = opcode::AsyncCancel::new(target.pack()).build().user_data(
            Token {
                slot,
                generation: target.generation,
                op: Op::Cancel,
            }
            .pack(),
        );
        // SAFETY: a cancellation points at no memory.
        unsafe { self.push(&entry) };
    }

    /// Arms the ring's timeout to complete `after` from now.
    pub fn arm_timer(&mut self, after: Duration) {
        *self.timer = Timespec::from(after);
        let entry = opcode::Timeout::new(&*self.timer)
            .build()
            .user_data(Token::ring(Op::Timer).pack());
        // SAFETY: the kernel reads the timespec when the entry is submitted; it is boxed
        // in the ring and only rewritten by the next `arm_timer`, which the caller makes
        // only after this timeout has completed (one timeout per ring).
        unsafe { self.push(&entry) };
    }

    /// Moves the armed timeout's expiry to `after` from now. If it has already expired,
    /// the update fails (`-ENOENT`) and the timeout's own completion is on its way.
    pub fn update_timer(&mut self, after: Duration) {
        *self.timer_update = Timespec::from(after);
        let entry = opcode::TimeoutUpdate::new(Token::ring(Op::Timer).pack(), &*self.timer_update)
            .build()
            .user_data(Token::ring(Op::TimerUpdate).pack());
        // SAFETY: the timespec is read at submission, which happens before the caller can
        // update the timer again (once per turn of the loop, and every turn submits).
        unsafe { self.push(&entry) };
    }

    /// Reads from the hand-off pipe `fd`: completes when the acceptor has written to it.
    pub fn watch_wake(&mut self, fd: RawFd) {
        let entry = opcode::Read::new(Fd(fd), self.wake.as_mut_ptr(), self.wake.len() as u32)
            .build()
            .user_data(Token::ring(Op::Wake).pack());
        // SAFETY: the kernel writes at most 64 bytes into the boxed wake buffer, which
        // the ring owns and nothing else touches; at most one such read is in flight
        // (the caller re-arms it only after its completion).
        unsafe { self.push(&entry) };
    }

    /// Submits what is queued and waits for at least one completion.
    ///
    /// # Errors
    ///
    /// `io_uring_enter`'s: `EINTR` (try again) and `EBUSY` (completions are waiting to be
    /// collected) are the caller's to handle; anything else is a bug.
    pub fn submit_and_wait(&mut self) -> io::Result<usize> {
        self.uring.submit_and_wait(1)
    }

    /// Moves every completion out of the completion queue into `into`.
    pub fn collect(&mut self, into: &mut Vec<Completion>) {
        let Ring {
            uring,
            sends,
            in_flight,
            ..
        } = self;
        for cqe in uring.completion() {
            let Some(token) = Token::unpack(cqe.user_data()) else {
                continue;
            };
            let more = cqueue::more(cqe.flags());
            if !more {
                *in_flight = in_flight.saturating_sub(1);
            }
            if token.op == Op::Send
                && let Some(buffer) = sends.get_mut(token.slot as usize)
            {
                buffer.busy = false;
                // Keep a little room for the next send, not what a big batch grew it to.
                if buffer.bytes.capacity() > KEPT_SEND_ROOM {
                    buffer.bytes = Vec::new();
                }
            }
            into.push(Completion {
                token,
                result: cqe.result(),
                more,
                buffer: cqueue::buffer_select(cqe.flags()),
            });
        }
    }

    /// Shows the bytes a receive completion brought to `read`, then gives their buffer
    /// back to the kernel. Returns `None` if the completion brought none.
    pub fn with_received<R>(
        &mut self,
        completion: &mut Completion,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Option<R> {
        let bid = completion.buffer.take()?;
        let len = usize::try_from(completion.result).unwrap_or(0);
        let result = read(self.buffers.get(bid, len));
        self.buffers.recycle(bid);
        Some(result)
    }

    /// Queues an entry, submitting first if the submission queue is full.
    ///
    /// # Safety
    ///
    /// Whatever memory the entry points at must stay valid, and untouched by us where the
    /// kernel writes, until the operation's last completion.
    unsafe fn push(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: the caller promises the entry's memory outlives the operation.
            if unsafe { self.uring.submission().push(entry) }.is_ok() {
                self.in_flight += 1;
                return;
            }
            // The queue is full: hand its entries to the kernel to make room. An error
            // here (EBUSY: completions to collect first) leaves them queued; submitting
            // makes room as soon as the loop collects.
            if let Err(e) = self.uring.submit()
                && e.raw_os_error() != Some(libc::EINTR)
                && e.raw_os_error() != Some(libc::EBUSY)
            {
                // Nothing else can fail here but a bug; dropping the entry would leave a
                // connection waiting forever, so keep trying is no better: say so once.
                eprintln!("server-uring: cannot submit to the ring: {e}");
                return;
            }
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if self.in_flight > 0 {
            // The kernel may still use these after the ring's descriptor closes (its
            // cancellations run asynchronously): leak them rather than free them.
            mem::forget(mem::take(&mut self.sends));
            mem::forget(mem::replace(&mut self.timer, Box::new(Timespec::new())));
            mem::forget(mem::replace(
                &mut self.timer_update,
                Box::new(Timespec::new()),
            ));
            mem::forget(mem::replace(&mut self.wake, Box::new([0; 64])));
            self.buffers.leak();
        } else {
            let _ = self.uring.submitter().unregister_buf_ring(GROUP);
        }
    }
}

/// The provided buffers: a ring of entries the kernel takes buffers from, and the buffers.
struct BufferRing {
    /// `count` entries of 16 bytes, page-aligned; the first entry's last field is the tail.
    entries: *mut BufRingEntry,
    /// `count` buffers of `size` bytes each.
    memory: *mut u8,
    count: u16,
    size: usize,
    /// Our copy of the tail: the entries before it are the kernel's.
    tail: u16,
    /// Whether the memory must outlive us (operations were still in flight).
    leaked: bool,
}

impl BufferRing {
    fn new(uring: &IoUring, count: u16, size: usize) -> io::Result<BufferRing> {
        let bad = || io::Error::new(io::ErrorKind::InvalidInput, "bad buffer ring size");
        if !count.is_power_of_two() || size == 0 {
            return Err(bad());
        }
        let entries_layout =
            Layout::from_size_align(usize::from(count) * mem::size_of::<BufRingEntry>(), PAGE)
                .map_err(|_| bad())?;
        let memory_layout =
            Layout::from_size_align(usize::from(count) * size, PAGE).map_err(|_| bad())?;
        // SAFETY: both layouts have a non-zero size (count and size are non-zero).
        let entries = unsafe { alloc::alloc_zeroed(entries_layout) }.cast::<BufRingEntry>();
        // SAFETY: as above. Zeroed memory from the allocator is mapped lazily, so pages of
        // buffers the kernel never picks cost no RSS.
        let memory = unsafe { alloc::alloc_zeroed(memory_layout) };
        if entries.is_null() || memory.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let mut ring = BufferRing {
            entries,
            memory,
            count,
            size,
            tail: 0,
            leaked: false,
        };
        // SAFETY: the entries are page-aligned, `count` long and live until `Drop`, which
        // the ring's owner runs only after unregistering them (or leaks them).
        unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(entries as u64, count, GROUP, 0)?;
        }
        for bid in 0..count {
            ring.recycle(bid);
        }
        Ok(ring)
    }

    /// The first `len` bytes of buffer `bid`, which a completion has handed to us.
    fn get(&self, bid: u16, len: usize) -> &[u8] {
        let bid = usize::from(bid % self.count);
        // SAFETY: the buffer lies inside the allocation; the kernel wrote its first `len`
        // bytes (`len` is the completion's count, at most the buffer's size, and clamped
        // to it here) and writes no more to it until `recycle` puts it back, which needs
        // `&mut self` and so cannot happen while this slice lives.
        unsafe { std::slice::from_raw_parts(self.memory.add(bid * self.size), len.min(self.size)) }
    }

    /// Gives buffer `bid` back to the kernel, at the tail of the ring.
    fn recycle(&mut self, bid: u16) {
        let mask = self.count - 1;
        let bid = bid % self.count;
        // SAFETY: the entry index is within the `count` entries; the kernel reads entries
        // only before the published tail, and this one is at or after it. The tail is the
        // last field of entry 0, which `set_*` does not touch; it is published with a
        // release store so the kernel sees the entry filled in first.
        unsafe {
            let entry = &mut *self.entries.add(usize::from(self.tail & mask));
            entry.set_addr(self.memory.add(usize::from(bid) * self.size) as u64);
            entry.set_len(self.size as u32);
            entry.set_bid(bid);
            self.tail = self.tail.wrapping_add(1);
            let tail = BufRingEntry::tail(self.entries).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    fn leak(&mut self) {
        self.leaked = true;
    }
}

impl Drop for BufferRing {
    fn drop(&mut self) {
        if self.leaked {
            return;
        }
        let count = usize::from(self.count);
        // SAFETY: allocated in `new` with these layouts (which were valid then); the
        // kernel no longer uses them (unregistered, or the ring is gone, and no operation
        // was in flight, or `leaked` would be set).
        unsafe {
            alloc::dealloc(
                self.entries.cast(),
                Layout::from_size_align_unchecked(count * mem::size_of::<BufRingEntry>(), PAGE),
            );
            alloc::dealloc(
                self.memory,
                Layout::from_size_align_unchecked(count * self.size, PAGE),
            );
        }
    }
}

/// Sets the total byte limit of a multishot receive (`sqe->optlen`), for which the
/// `io-uring` crate has no setter.
fn with_total_limit(entry: squeue::Entry, limit: u32) -> squeue::Entry {
    // SAFETY: `squeue::Entry` is `#[repr(C)]` around the kernel's 64-byte `io_uring_sqe`
    // and nothing else (transmute checks the size); every bit pattern of it is valid,
    // since it holds only integers and unions of integers; and it has no destructor.
    let mut raw: [u8; 64] = unsafe { mem::transmute::<squeue::Entry, [u8; 64]>(entry) };
    raw[OPTLEN_OFFSET..OPTLEN_OFFSET + 4].copy_from_slice(&limit.to_ne_bytes());
    // SAFETY: as above, back the other way.
    unsafe { mem::transmute::<[u8; 64], squeue::Entry>(raw) }
}

/// Checks at start that this kernel has everything the server uses: a ring set up as
/// ours are, provided buffers, and a multishot receive that stops at its byte limit.
///
/// # Errors
///
/// [`Unsupported`], naming what is missing or refused.
pub fn check_kernel() -> Result<(), Unsupported> {
    let mut ring = Ring::new(Sizes {
        entries: 8,
        buffers: 2,
        buffer_size: 64,
    })?;
    let (ours, theirs) = UnixStream::pair().map_err(|error| Unsupported {
        what: "cannot make a socket pair to try io_uring on",
        error,
    })?;
    let token = Token::ring(Op::Receive);
    // A limit of one buffer: a multishot receive limited to one byte, which the two
    // bytes written must end.
    ring.receive(token, ours.as_raw_fd(), 64);
    let no_limit = |error| Unsupported {
        what: "this kernel's io_uring cannot limit a multishot receive (Linux 6.17 or later)",
        error,
    };
    (&theirs).write_all(b"ab").map_err(no_limit)?;
    let mut completions = Vec::new();
    while completions.is_empty() {
        match ring.submit_and_wait() {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(no_limit(e)),
        }
        ring.collect(&mut completions);
    }
    let mut first = completions.swap_remove(0);
    ring.with_received(&mut first, |_| ());
    let stopped = first.result > 0 && !first.more;
    if first.more {
        // The limit was ignored: cancel the receive and wait for it to end.
        ring.cancel(0, token);
        while ring.in_flight() > 0 {
            if ring.submit_and_wait().is_err() {
                break;
            }
            completions.clear();
            ring.collect(&mut completions);
            for completion in &mut completions {
                ring.with_received(completion, |_| ());
            }
        }
    }
    if stopped {
        Ok(())
    } else if first.result < 0 {
        Err(no_limit(io::Error::from_raw_os_error(-first.result)))
    } else {
        Err(no_limit(io::Error::other(
            "the receive went on past its limit",
        )))
    }
}

/// Names why `io_uring_setup` failed.
fn explain_setup(error: io::Error) -> Unsupported {
    let what = match error.raw_os_error() {
        Some(libc::ENOSYS) => "io_uring is missing: this kernel was built without it",
        Some(libc::EPERM) => match read_disabled() {
            Some(2) => "io_uring is disabled on this machine (sysctl kernel.io_uring_disabled = 2)",
            Some(1) => {
                "io_uring is limited to the group in kernel.io_uring_group \
                 (sysctl kernel.io_uring_disabled = 1), and this user is not in it"
            }
            _ => {
                "io_uring is refused to this process (a seccomp filter, as container runtimes install by default)"
            }
        },
        Some(libc::EINVAL) => {
            "this kernel's io_uring lacks a setup this server uses (single issuer, deferred task running: Linux 6.1 or later)"
        }
        Some(libc::ENOMEM) => "io_uring cannot get its memory (the locked-memory limit, ulimit -l)",
        _ => "io_uring cannot be set up",
    };
    Unsupported { what, error }
}

/// `kernel.io_uring_disabled`, where the kernel has it.
fn read_disabled() -> Option<u8> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offset written by `with_total_limit` is where the crate itself puts `optlen`.
    #[test]
    fn total_limit_lands_in_optlen() {
        let optlen = 0x1234_5678;
        let entry = opcode::SetSockOpt::new(Fd(3), 0, 0, std::ptr::null(), optlen).build();
        // SAFETY: as in `with_total_limit`.
        let raw: [u8; 64] = unsafe { mem::transmute::<squeue::Entry, [u8; 64]>(entry) };
        assert_eq!(raw[OPTLEN_OFFSET..OPTLEN_OFFSET + 4], optlen.to_ne_bytes());
        let limited = with_total_limit(opcode::RecvMulti::new(Fd(3), GROUP).build(), optlen);
        // SAFETY: as in `with_total_limit`.
        let raw: [u8; 64] = unsafe { mem::transmute::<squeue::Entry, [u8; 64]>(limited) };
        assert_eq!(raw[OPTLEN_OFFSET..OPTLEN_OFFSET + 4], optlen.to_ne_bytes());
    }

    /// A tag survives the trip through `user_data`, generation cut to 24 bits.
    #[test]
    fn tokens_round_trip() {
        let token = Token {
            slot: 70_000,
            generation: Token::generation_of(0x1ff_ffff),
            op: Op::Send,
        };
        assert_eq!(Token::unpack(token.pack()), Some(token));
        assert_eq!(token.generation, 0xff_ffff);
    }

    /// This kernel (the one the tests run on) has all the server needs.
    #[test]
    fn this_kernel_bounds_a_multishot_receive() {
        if let Err(e) = check_kernel() {
            panic!("{}: {}", e.what, e.error);
        }
    }
}
