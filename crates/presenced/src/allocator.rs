//! The binary's allocator: jemalloc, returning freed memory to the system.
//!
//! Memory per live subscription is a benchmark target (< 1 KiB, issue 4).
//! Over UDP every SUBSCRIBE leaves a server transaction behind for 32 s
//! (Timer J) whose allocations sit between the subscription's long-lived
//! ones. With glibc's malloc the pages those transactions freed stay in
//! the process after they end (2.6 KB RSS per subscription 40 s after a
//! burst of 100 000, against 1.2 KB over TCP where no transaction lingers):
//! a page is returned only when nothing on it is live. jemalloc keeps each
//! size class on its own pages, so a transaction's pages empty out
//! together, and its background thread returns them to the kernel after
//! the decay time even when the server is idle (1.3 KB in the same run).
//!
//! `background_thread` purges without waiting for the next allocation;
//! `dirty_decay_ms` is how long freed pages are kept for reuse (a burst's
//! memory is likely needed again soon, so a few seconds, not zero);
//! `muzzy_decay_ms:0` releases them with MADV_DONTNEED rather than
//! MADV_FREE, whose pages still count in RSS until the kernel runs short.
//! The `jemalloc` feature (default on) can be turned off to use the
//! system allocator.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc reads its options from this symbol at start-up (the crate
/// builds jemalloc with the `_rjem_` prefix). A reference to an array is a
/// thin pointer, the `const char *` jemalloc expects.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 60] =
    b"background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:0\0";
