//! A counting allocator for the soak's memory probe (`--features heap-stats`; never in the
//! deployed worker): it wraps the target's own allocator (dlmalloc on wasm32) and counts the
//! bytes and blocks the program holds, so a growth of the wasm linear memory can be told
//! apart: the program holding more (a leak, a cache) or the allocator's free space breaking
//! up (fragmentation). `tests/soak/soak.mjs --wasm-memory` reads it through
//! `__heap_stats()`.
//!
//! The crate's only `unsafe`: a `GlobalAlloc` cannot be written without it, and this one
//! passes each call on unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_BLOCKS: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE_BYTES.fetch_add(by, Ordering::Relaxed) + by;
    PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
}

/// Count a new block, if there is one.
fn allocated(ptr: *mut u8, layout: Layout) -> *mut u8 {
    if !ptr.is_null() {
        grew(layout.size());
        LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
    ptr
}

// SAFETY: every call is passed on to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocated(unsafe { System.alloc(layout) }, layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocated(unsafe { System.alloc_zeroed(layout) }, layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What the program holds now: `[live bytes, live blocks, peak live bytes, allocations
/// made]`.
fn snapshot() -> [f64; 4] {
    [
        LIVE_BYTES.load(Ordering::Relaxed) as f64,
        LIVE_BLOCKS.load(Ordering::Relaxed) as f64,
        PEAK_BYTES.load(Ordering::Relaxed) as f64,
        ALLOCATIONS.load(Ordering::Relaxed) as f64,
    ]
}

/// The soak's probe: `[live bytes, live blocks, peak live bytes, allocations made]`.
#[wasm_bindgen::prelude::wasm_bindgen(js_name = __heap_stats)]
#[allow(unreachable_pub)] // exported to JS, not to Rust
pub fn heap_stats() -> Vec<f64> {
    snapshot().to_vec()
}
