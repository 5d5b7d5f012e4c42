//! Sockets of closed sessions, kept bound and registered for the next sessions: opening a session
//! used to create, configure, bind and register four sockets on the core (and close them after
//! the call), ~15 % of the node's CPU at 1,000 calls/s. A closed session's sockets wait here in
//! closing order, and a new session takes the oldest that has rested `MIN_REST` (late packets of
//! the old call are read and discarded before it is handed over), else fresh ports, else — the
//! range is full — the oldest anyway. This is the allocator's round-robin quarantine with the
//! bound sockets kept: a released pair is reused no sooner than before.
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{LegAddrs, Sockets};
use crate::media::ports::PortLease;
use crate::media::relay::{Channel, Side};

/// A closed session's sockets are not reused before this (unless the range is full).
const MIN_REST: Duration = Duration::from_millis(500);
/// Kept at most this long: an idle node does not hold the ports and descriptors of a past peak.
const MAX_REST: Duration = Duration::from_secs(30);
/// Kept at most this many sessions' sockets (four descriptors each).
const MAX_KEPT: usize = 2048;
/// Late datagrams read and dropped per socket when it is handed over (the rest: the socket buffer
/// was full of an old flood; the new session's latch still guards it).
const DRAIN_MAX: usize = 64;

/// One closed session's sockets.
pub(super) struct Warm {
    pub closed: Instant,
    /// The runtime whose reactor the sockets are registered with: the new task runs there.
    pub runtime: tokio::runtime::Handle,
    pub sockets: Arc<Sockets>,
    pub addrs: [LegAddrs; 2],
    pub leases: [PortLease; 2],
}

#[derive(Default)]
pub(super) struct WarmPool {
    queue: VecDeque<Warm>,
}

impl WarmPool {
    /// Keeps a closed session's sockets (its task aborted: the task's handle on them goes soon).
    pub fn put(&mut self, mut w: Warm) {
        for l in &mut w.leases {
            l.park();
        }
        self.queue.push_back(w);
        while self.queue.len() > MAX_KEPT {
            self.queue.pop_front();
        }
    }

    /// The oldest sockets that rested long enough (`any`: or not, when no fresh pair is left),
    /// drained of late datagrams, their leases counted in use again.
    pub fn take(&mut self, now: Instant, any: bool) -> Option<Warm> {
        self.expire(now);
        loop {
            let front = self.queue.front()?;
            if !any && now.duration_since(front.closed) < MIN_REST {
                return None;
            }
            let mut w = self.queue.pop_front()?;
            // The aborted task still holds them (not yet dropped by its runtime): never share a
            // socket between two tasks; this pair closes when the task is dropped.
            if Arc::strong_count(&w.sockets) > 1 {
                continue;
            }
            drain(&w.sockets);
            for l in &mut w.leases {
                l.unpark();
            }
            return Some(w);
        }
    }

    /// Drops what rested longer than `MAX_REST`.
    pub fn expire(&mut self, now: Instant) {
        while self.queue.front().is_some_and(|w| now.duration_since(w.closed) > MAX_REST) {
            self.queue.pop_front();
        }
    }
}

fn drain(sockets: &Sockets) {
    let mut buf = [0u8; 2048];
    for side in [Side::A, Side::B] {
        for channel in [Channel::Rtp, Channel::Rtcp] {
            let s = sockets.get(side, channel);
            for _ in 0..DRAIN_MAX {
                if s.try_recv_from(&mut buf).is_err() {
                    break;
                }
            }
        }
    }
}
