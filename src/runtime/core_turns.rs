//! Measures each turn of the core's loop: wall time into `ncgw_core_turn_seconds{wake}`, and a
//! rate-limited warning (`core.slow_turn`) for a turn over 50 ms with its thread CPU time, so an
//! operator can tell a turn that computed for long (CPU ≈ wall) from one whose thread was not
//! running (CPU ≪ wall: the machine is overloaded or the process was paused). The thread CPU
//! clock is a system call (~0.5 µs, once per turn; a turn handles up to 32 messages): under 0.3 %
//! of the core's time at 2,400 calls/s.
use std::time::{Duration, Instant};

use crate::metrics::metrics;

/// A turn this long delays every call's signalling noticeably (the call-rate target's p99 is 50 ms).
const SLOW: Duration = Duration::from_millis(50);
/// At most one warning per this period; the others are counted into the next one.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// One started turn.
pub(super) struct Turn {
    wake: &'static str,
    started: Instant,
    cpu_ns: Option<u64>,
}

#[derive(Default)]
pub(super) struct TurnMeter {
    /// The histogram of each wake label, looked up once.
    histograms: Vec<(&'static str, prometheus::Histogram)>,
    last_warning: Option<Instant>,
    suppressed: u64,
}

impl TurnMeter {
    pub(super) fn start(&self, wake: &'static str) -> Turn {
        Turn { wake, started: Instant::now(), cpu_ns: thread_cpu_ns() }
    }

    /// Ends a turn; `calls` and `transactions` are what the core holds now (for the warning).
    pub(super) fn finish(&mut self, turn: Turn, calls: usize, transactions: usize) {
        let wall = turn.started.elapsed();
        self.histogram(turn.wake).observe(wall.as_secs_f64());
        if wall < SLOW {
            return;
        }
        let now = Instant::now();
        if self.last_warning.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
            self.suppressed += 1;
            return;
        }
        let cpu_ms = turn.cpu_ns.zip(thread_cpu_ns()).map(|(a, b)| b.saturating_sub(a) as f64 / 1e6);
        tracing::warn!(
            cause = "core.slow_turn",
            wake = turn.wake,
            wall_ms = wall.as_secs_f64() * 1e3,
            cpu_ms,
            calls,
            transactions,
            earlier_slow_turns_not_logged = self.suppressed,
            "the SIP core took long for one turn: every call's signalling waited (cpu_ms near wall_ms: work on the core; far below: the thread was not running)"
        );
        self.last_warning = Some(now);
        self.suppressed = 0;
    }

    fn histogram(&mut self, wake: &'static str) -> &prometheus::Histogram {
        let i = match self.histograms.iter().position(|(w, _)| *w == wake) {
            Some(i) => i,
            None => {
                self.histograms.push((wake, metrics().core_turn_seconds.with_label_values(&[wake])));
                self.histograms.len() - 1
            }
        };
        &self.histograms[i].1
    }
}

/// CPU time this thread has used (CLOCK_THREAD_CPUTIME_ID), if the clock is readable.
fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_is_counted_under_its_wake_label_and_the_thread_clock_advances_with_work() {
        let mut m = TurnMeter::default();
        let before = metrics().core_turn_seconds.with_label_values(&["test-wake"]).get_sample_count();
        let t = m.start("test-wake");
        let c0 = thread_cpu_ns().expect("thread CPU clock");
        // Some CPU work the optimiser cannot remove.
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(thread_cpu_ns().unwrap() > c0, "{x}");
        m.finish(t, 0, 0);
        assert_eq!(metrics().core_turn_seconds.with_label_values(&["test-wake"]).get_sample_count(), before + 1);
    }
}
