//! Service-level accounting per queue: running totals and fixed-length intervals (e.g. 15 min).
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::model::Outcome;

/// Counts over some span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls that entered the queue (including those moved in by overflow).
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    pub timed_out: u64,
    /// Calls turned away at the door (closed, full, unstaffed); not in `offered`.
    pub refused: u64,
    /// Answered with a wait no longer than the queue's target.
    pub answered_within_target: u64,
    /// Sum of the waits of answered calls (for the average speed of answer).
    pub answer_wait_total: Duration,
    pub abandon_wait_total: Duration,
    /// Agent time (summed over agents serving the queue) ringing, talking or in wrap-up.
    pub agent_busy: Duration,
    /// Agent time available and idle.
    pub agent_idle: Duration,
}

/// Counters with the figures operators read, derived.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Start of the span (`None` for the running total).
    pub start: Option<Instant>,
    pub counters: Counters,
    /// Answered within target / calls that left the queue (answered + abandoned + overflowed +
    /// timed out); `None` before any left.
    pub service_level: Option<f64>,
    /// Average speed of answer.
    pub asa: Option<Duration>,
    /// Busy / (busy + idle) agent time.
    pub occupancy: Option<f64>,
}

impl Counters {
    pub fn summary(&self, start: Option<Instant>) -> Summary {
        let left = self.answered + self.abandoned + self.overflowed + self.timed_out;
        let worked = self.agent_busy + self.agent_idle;
        Summary {
            start,
            counters: *self,
            service_level: (left > 0).then(|| self.answered_within_target as f64 / left as f64),
            asa: (self.answered > 0).then(|| self.answer_wait_total / u32::try_from(self.answered).unwrap_or(u32::MAX)),
            occupancy: (!worked.is_zero()).then(|| self.agent_busy.as_secs_f64() / worked.as_secs_f64()),
        }
    }
}

/// A queue's totals and its recent intervals.
#[derive(Debug, Clone)]
pub(crate) struct QueueStatsAcc {
    pub total: Counters,
    /// (interval index, counters), oldest first, at most `keep`.
    pub intervals: VecDeque<(u64, Counters)>,
}

/// The clock for intervals: index 0 starts at the first instant the ACD saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Intervals {
    pub origin: Instant,
    pub length: Duration,
    pub keep: usize,
}

impl Intervals {
    pub fn index(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.origin);
        (since.as_nanos() / self.length.as_nanos().max(1)) as u64
    }

    pub fn start(&self, index: u64) -> Instant {
        self.origin + self.length * u32::try_from(index).unwrap_or(u32::MAX)
    }
}

impl QueueStatsAcc {
    pub fn new() -> Self {
        QueueStatsAcc { total: Counters::default(), intervals: VecDeque::new() }
    }

    fn bucket(&mut self, iv: &Intervals, index: u64) -> Option<&mut Counters> {
        let pos = match self.intervals.iter().rposition(|b| b.0 <= index) {
            Some(p) if self.intervals[p].0 == index => p,
            Some(p) => {
                self.intervals.insert(p + 1, (index, Counters::default()));
                p + 1
            }
            None => {
                self.intervals.push_front((index, Counters::default()));
                0
            }
        };
        let newest = self.intervals.back().map_or(index, |b| b.0);
        let mut pos = Some(pos);
        while self.intervals.front().is_some_and(|f| f.0 + iv.keep as u64 <= newest) {
            self.intervals.pop_front();
            pos = pos.and_then(|p| p.checked_sub(1));
        }
        pos.and_then(|p| self.intervals.get_mut(p)).map(|b| &mut b.1)
    }

    /// Applies `f` to the total and to the interval that holds `at`.
    pub fn count(&mut self, iv: &Intervals, at: Instant, f: impl Fn(&mut Counters)) {
        f(&mut self.total);
        if let Some(b) = self.bucket(iv, iv.index(at)) {
            f(b);
        }
    }

    pub fn outcome(&mut self, iv: &Intervals, at: Instant, outcome: Outcome, wait: Duration, target: Duration) {
        self.count(iv, at, |c| match outcome {
            Outcome::Answered => {
                c.answered += 1;
                c.answer_wait_total += wait;
                if wait <= target {
                    c.answered_within_target += 1;
                }
            }
            Outcome::Abandoned => {
                c.abandoned += 1;
                c.abandon_wait_total += wait;
            }
            Outcome::Overflowed => c.overflowed += 1,
            Outcome::TimedOut => c.timed_out += 1,
        });
    }

    /// Credits agent time `[from, to)`, split at interval boundaries.
    pub fn agent_time(&mut self, iv: &Intervals, from: Instant, to: Instant, busy: bool) {
        if to <= from {
            return;
        }
        let add = |c: &mut Counters, d: Duration| {
            if busy {
                c.agent_busy += d;
            } else {
                c.agent_idle += d;
            }
        };
        add(&mut self.total, to - from);
        let mut at = from;
        let oldest_kept = iv.index(to).saturating_sub(iv.keep as u64 - 1);
        let mut index = iv.index(from).max(oldest_kept);
        at = at.max(iv.start(index));
        while at < to {
            let end = iv.start(index + 1).min(to);
            if let Some(b) = self.bucket(iv, index) {
                add(b, end - at);
            }
            at = end;
            index += 1;
        }
    }

    /// The summary of the running total and of each kept interval, oldest first.
    pub fn summaries(&self, iv: &Intervals) -> (Summary, Vec<Summary>) {
        let total = self.total.summary(None);
        let intervals = self.intervals.iter().map(|(i, c)| c.summary(Some(iv.start(*i)))).collect();
        (total, intervals)
    }
}
