//! The allocator's side of memory use (glibc; elsewhere these do nothing).
//!
//! glibc serves an allocation above its mmap threshold with its own mapping, returned to the OS when freed, but
//! it raises that threshold to the size of every such block freed (up to 32 MiB). After the first burst of large
//! request buffers, the next ones come from the heap arenas and stay resident. Measured with `rul bench burst`
//! (32 connections × 32 calls of 4 MB messages, MAX_INFLIGHT_BYTES 64 MiB): peak RSS 337 MB with the moving
//! threshold, 194 MB with it fixed at 256 KiB, both back to ~30–45 MB once trimmed.

/// Fixed mmap threshold: request buffers this large are mapped and unmapped on their own.
pub const MMAP_THRESHOLD_BYTES: i32 = 256 * 1024;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD_BYTES`] unless the operator tuned it (`GLIBC_TUNABLES`
/// naming `mmap_threshold`, or `MALLOC_MMAP_THRESHOLD_`). Called once at the start of `rul serve`.
pub fn configure_allocator() {
    let tuned = std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("mmap_threshold"));
    if tuned {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; it is thread-safe and takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}

/// Releases free heap pages to the OS (glibc only; a few milliseconds on a 200 MB heap).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers from us and is
    // thread-safe (it locks each arena).
    unsafe {
        libc::malloc_trim(0);
    }
}
