//! Keeping freed memory in the process.
//!
//! glibc's `malloc` hands blocks above a threshold (128 KiB at first) straight to the kernel with
//! `mmap` and gives them back on `free`, and trims the heap's free top. A training step or a
//! batch of renders allocates and frees tens of megabytes of feature maps, so every step faulted
//! its maps in again, page by page (118,000 page faults in 20 training steps; 15,000 a batch-8
//! render). With blocks up to 32 MiB taken from the heap and the heap never trimmed, the pages
//! stay mapped and are reused: a training step took 11 % less time (BENCHMARKS.md).
//!
//! Other allocators and platforms are left as they are.

/// Tunes glibc's `malloc` as described above; call once, before other threads start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_memory() {
    // mallopt only sets three numbers of the allocator's state; it has no memory-safety
    // preconditions. Its return value (0 = not accepted) leaves the defaults, which are correct,
    // only slower.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

/// Elsewhere: nothing to tune.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory() {}
