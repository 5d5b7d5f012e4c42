//! The `ncgw` binary: hands the command line to `ncgw::cli`.

fn main() -> std::process::ExitCode {
    tune_malloc();
    raise_fd_limit();
    ncgw::cli::main()
}

/// Each call holds four RTP/RTCP sockets (and ended calls' sockets rest a while before reuse):
/// 2,000 calls need over 8,000 descriptors, past the usual soft limit of 1,024. Raise the soft
/// limit to the hard one, as the Go runtime does for every program; `ncgw` never needs fewer.
fn raise_fd_limit() {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write only the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
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
