//! The `ncgw` binary: hands the command line to `ncgw::cli`.

fn main() -> std::process::ExitCode {
    tune_malloc();
    ncgw::cli::main()
}

/// glibc's allocator gives memory back as soon as the top of a heap is free (128 KiB) and takes
/// it again at the next burst: at 1,000+ calls/s the node's threads grew and trimmed their heaps
/// continuously (mprotect and page faults on fresh pages: ~8 % of its CPU). A node's working set
/// is steady, so keep what was used: trim only past 256 MiB free, grow in 16 MiB steps, and keep
/// buffers up to 32 MiB in the heap instead of a fresh mapping each time.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}
