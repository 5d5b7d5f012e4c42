//! The threads plain relay sessions run on: a few single-threaded tokio runtimes, each on its own
//! OS thread driving its own epoll loop, sessions spread over them round robin.
//!
//! On the main multi-thread runtime every relayed packet woke a session task through the shared
//! scheduler, which in turn woke an idle worker thread to look for work (a futex wake and a
//! search per packet). On a single-threaded runtime the thread that sees a socket readable polls
//! the session's task itself, with the task in a local queue: no cross-thread wake-up, and one
//! `epoll_wait` serves every session that had a packet meanwhile.
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::{Handle, RuntimeFlavor};

/// At most this many relay threads, whatever the core count.
const MAX_THREADS: usize = 8;

/// The runtime a new relay session should run on: `None` keeps it on the caller's runtime, which
/// is what a current-thread caller (tests with paused time) gets, and what everyone gets when the
/// OS refuses the threads.
pub(super) fn relay_runtime(caller: &Handle) -> Option<&'static Handle> {
    if caller.runtime_flavor() == RuntimeFlavor::CurrentThread {
        return None;
    }
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let handles = threads();
    if handles.is_empty() {
        return None;
    }
    handles.get(NEXT.fetch_add(1, Relaxed) % handles.len())
}

/// One per core: with a single relay thread, a busy machine (the scheduler shares a core between
/// threads, not processes) left it behind at 500 calls on 2 cores in the benchmark's pcap mode,
/// where every send costs several times more, and socket queues overflowed.
fn thread_count() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    cores.clamp(1, MAX_THREADS)
}

fn threads() -> &'static [Handle] {
    static HANDLES: OnceLock<Vec<Handle>> = OnceLock::new();
    HANDLES.get_or_init(|| {
        let mut handles = Vec::new();
        for i in 0..thread_count() {
            match start(i) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    tracing::warn!(error = %e, thread = i, "cannot start a media relay thread");
                    break;
                }
            }
        }
        handles
    })
}

fn start(i: usize) -> std::io::Result<Handle> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let handle = rt.handle().clone();
    // The runtime lives as long as the process: its thread parks in `block_on` forever, driving
    // the sockets registered with it and the tasks spawned on it.
    std::thread::Builder::new().name(format!("ncgw-relay-{i}")).spawn(move || rt.block_on(pace()))?;
    Ok(handle)
}

thread_local! {
    /// Datagrams received on this thread (`note_received`), read by the thread's pacer.
    static RECEIVED: Cell<u64> = const { Cell::new(0) };
}

/// Counts `n` datagrams received by the session task running on this thread.
pub(super) fn note_received(n: usize) {
    RECEIVED.with(|c| c.set(c.get() + n as u64));
}

/// How long a busy relay thread lets packets gather before it looks at its sockets.
const TICK: Duration = Duration::from_millis(1);
/// How often the load is looked at.
const CHECK: Duration = Duration::from_millis(50);
/// Packets per `CHECK` from which the thread paces (2 000/s: about two per tick).
const BUSY: u64 = 100;

/// The relay thread's main future. Idle or lightly loaded, the thread sleeps in `epoll_wait` and
/// handles each packet as it comes. Busy, it relays in ticks: it sleeps `TICK`, then one
/// `epoll_wait` returns every socket that received meanwhile and each session drains its queue
/// in one `recvmmsg`, so the wake-up and context switch are shared by the packets of a tick
/// (up to 1 ms more delay, well inside an RTP jitter buffer) instead of paid per packet. The
/// sleep is what the tick's work left of it, so a thread that falls behind never sleeps.
async fn pace() {
    loop {
        tokio::time::sleep(CHECK).await;
        while received_since_last() >= BUSY {
            let period_start = std::time::Instant::now();
            let mut woke = period_start;
            while period_start.elapsed() < CHECK {
                // Sleep what is left of the tick after the work of the last one: a relay behind
                // (its work takes a tick or more) does not sleep at all.
                if let Some(rest) = TICK.checked_sub(woke.elapsed()) {
                    std::thread::sleep(rest);
                }
                woke = std::time::Instant::now();
                // Back to the runtime: it polls the sockets without blocking, runs the woken
                // sessions, then polls this future again.
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Datagrams received on this thread since the last call.
fn received_since_last() -> u64 {
    thread_local! {
        static SEEN: Cell<u64> = const { Cell::new(0) };
    }
    let now = RECEIVED.with(Cell::get);
    SEEN.with(|seen| now - seen.replace(now))
}

#[cfg(test)]
#[path = "relay_threads_tests.rs"]
mod tests;
