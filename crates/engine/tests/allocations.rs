//! The servers' path, [`engine::execute_into`], answers everyday requests without one
//! call to the allocator: an ASCII reverse or swap case, and a small integer expression.
//! A counting global allocator (counting per thread, so the test harness's own threads
//! do not disturb it) makes that a test, so that a change cannot lose it silently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use engine::{Op, execute_into};

thread_local! {
    /// Allocations (and reallocations) made by this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting.
struct Counting;

// SAFETY: every call is passed on to the system allocator unchanged; counting touches a
// const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Each everyday request is answered into a buffer with room, 100 times over, with no
/// allocation at all; the answers are the right ones.
#[test]
fn everyday_answers_do_not_allocate() {
    let cases = [
        (
            Op::Reverse,
            "BenchmarkTestString123",
            "321gnirtStseTkramhcneB",
        ),
        (Op::ChangeCase, "Hello, World 42", "hELLO, wORLD 42"),
        (Op::Evaluate, "1+2*3", "7"),
        (Op::Evaluate, "(17 - 5) // 4 ** 2 % 3", "0"),
        (Op::Evaluate, "-7 // 2", "-4"),
        (Op::Evaluate, "2**64 - 1", "18446744073709551615"),
        (Op::Evaluate, "-(2**63) * 3", "-27670116110564327424"),
    ];
    let mut out = Vec::with_capacity(1024);
    for (op, payload, answer) in cases {
        let before = allocations();
        for _ in 0..100 {
            out.clear();
            assert!(execute_into(op, payload, &mut out).is_ok());
        }
        assert_eq!(allocations() - before, 0, "{op:?} {payload:?}");
        assert_eq!(out, answer.as_bytes(), "{op:?} {payload:?}");
    }
}

/// The counter counts: a request that needs memory is seen to allocate, so the zero
/// above is not a counter that never moves.
#[test]
fn the_counter_sees_allocations() {
    let mut out = Vec::with_capacity(1024);
    let before = allocations();
    assert!(execute_into(Op::Evaluate, "2**1000", &mut out).is_ok());
    assert!(allocations() > before);
}
