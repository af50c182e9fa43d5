//! A counting global allocator: wraps the system allocator and tracks the bytes currently
//! allocated and their peak, so a benchmark can report the memory a workload holds at once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// The system allocator, counting while told to. Install with `#[global_allocator]`.
///
/// Counting is on from the start. Shared counters cost threads that allocate at once, so a
/// benchmark can turn counting off to time a workload and on to weigh it; figures are only
/// meaningful between the start and end of a counted stretch (`current` may drift by what
/// one stretch allocates and another frees).
#[derive(Debug)]
pub struct CountingAlloc {
    counting: AtomicBool,
    current: AtomicIsize,
    peak: AtomicIsize,
}

impl Default for CountingAlloc {
    fn default() -> Self {
        Self::new()
    }
}

impl CountingAlloc {
    /// A fresh counter (usable in a `static`).
    pub const fn new() -> Self {
        CountingAlloc {
            counting: AtomicBool::new(true),
            current: AtomicIsize::new(0),
            peak: AtomicIsize::new(0),
        }
    }
    /// Turns counting on or off.
    pub fn set_counting(&self, on: bool) {
        self.counting.store(on, Ordering::SeqCst);
    }
    /// Bytes allocated and not yet freed (while counting).
    pub fn current(&self) -> isize {
        self.current.load(Ordering::Relaxed)
    }
    /// The most bytes allocated at once since the last [`CountingAlloc::reset_peak`].
    pub fn peak(&self) -> isize {
        self.peak.load(Ordering::Relaxed)
    }
    /// Starts a new peak from the current figure.
    pub fn reset_peak(&self) {
        self.peak.store(self.current(), Ordering::Relaxed);
    }
    fn grew(&self, bytes: usize) {
        if self.counting.load(Ordering::Relaxed) {
            let bytes = bytes as isize;
            let now = self.current.fetch_add(bytes, Ordering::Relaxed) + bytes;
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
    }
    fn shrank(&self, bytes: usize) {
        if self.counting.load(Ordering::Relaxed) {
            self.current.fetch_sub(bytes as isize, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is forwarded unchanged to `System`; only counters are added.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) };
        self.shrank(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` comes from the caller's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.shrank(layout.size());
            self.grew(new_size);
        }
        p
    }
}
