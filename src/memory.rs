//! Memory a long-lived drover process (the bot, `drover serve`) lets go:
//! the heap a finished run freed goes back to the OS, so that the process's
//! size depends on what it is doing now, not on how many runs it has done.

/// Hands the heap memory freed so far back to the OS. A run's hundreds of
/// SSH sessions free their buffers when it ends, but glibc keeps freed
/// memory in its arenas (the engine's thread and SQLite's worker threads
/// each have one) and gives back only the free space at a heap's top, so a
/// finished run's memory would stay resident, a little differently placed
/// after each run. Other allocators decide for themselves.
pub fn release_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim has no preconditions; it only returns free
        // pages of glibc's arenas to the OS (madvise), under the arenas'
        // own locks.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
