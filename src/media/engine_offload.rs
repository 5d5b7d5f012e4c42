//! The engine's side of the kernel fast path (`media::fastpath`): which direction of a session is
//! offloaded, installing and removing its rule, and folding what the kernel forwarded back into the
//! session's bridge (`Bridge::absorb_offloaded`) so statistics, metrics, timeouts and latching stay
//! as if every packet had passed through the relay.
//!
//! A direction is offloaded by its session task once the relay offers it (`Bridge::offload_candidate`:
//! latched peer, known SSRC, destination, the stream's current mapping) and nothing else needs its
//! packets in userspace: no transcoding, no recording tap or SIPREC fork, no prompt toward the
//! receiving side. Any control call from the core (new SDP, codecs, prompts, tap, fork, close)
//! takes both directions back first; the task offers them again from the next packet it sees.
//! A rule is always removed before its session's ports are freed: a stale rule would steal the
//! packets of the next call that gets the port.
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{counters, now, LegAddrs};
use crate::media::fastpath::{Counters, FastPath, Rule};
use crate::media::relay::{Bridge, Offload, Offloaded, Side};

/// How often an offloaded session folds the kernel's counters in (live stats and metrics).
pub(super) const SYNC_EVERY: Duration = Duration::from_secs(1);
/// A userspace packet from another source than the offloaded one syncs first (the latch must
/// see the offloaded peer as live) — at most this often, so a flood costs no syscall per packet.
const FOREIGN_SYNC_EVERY: Duration = Duration::from_millis(100);

struct Installed {
    key: SocketAddrV4,
    offload: Offload,
    synced: Counters,
    synced_at: Instant,
}

#[derive(Default)]
struct Slots {
    sides: [Option<Installed>; 2],
    /// Set by `close`: nothing is installed after it, whatever the task is doing.
    closed: bool,
}

/// The offload state of one session, shared by the engine (core thread) and the session task.
pub(super) struct SessionOffload {
    fast: Option<Arc<FastPath>>,
    slots: Mutex<Slots>,
    /// `slots.sides[i].is_some()`, readable on the packet path without the lock.
    active: [AtomicBool; 2],
    /// An install failed (map full, kernel refused): not tried again for this session.
    failed: AtomicBool,
    /// Packets the kernel forwarded from side A and from side B, folded in so far.
    forwarded: [AtomicU64; 2],
    /// Our local RTP addresses of side A and side B.
    local: [SocketAddr; 2],
}

fn index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

fn v4(a: SocketAddr) -> Option<SocketAddrV4> {
    match a {
        SocketAddr::V4(v) => Some(v),
        SocketAddr::V6(_) => None,
    }
}

impl SessionOffload {
    pub(super) fn new(fast: Option<Arc<FastPath>>, a: LegAddrs, b: LegAddrs) -> SessionOffload {
        SessionOffload { fast, slots: Mutex::default(), active: Default::default(), failed: AtomicBool::new(false), forwarded: Default::default(), local: [a.rtp, b.rtp] }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Packets the kernel forwarded from side A and from side B (folded in so far).
    pub(super) fn forwarded(&self) -> [u64; 2] {
        [self.forwarded[0].load(Relaxed), self.forwarded[1].load(Relaxed)]
    }

    /// The direction arriving on `side` is forwarded by the kernel.
    pub(super) fn is_active(&self, side: Side) -> bool {
        self.active[index(side)].load(Relaxed)
    }

    fn any_active(&self) -> bool {
        self.active.iter().any(|a| a.load(Relaxed))
    }

    /// A fast path exists, `side` is not offloaded yet and no install failed in this session.
    pub(super) fn wants(&self, side: Side) -> bool {
        self.fast.is_some() && !self.is_active(side) && !self.failed.load(Relaxed)
    }

    /// Offloads the RTP arriving on `side` if the bridge offers it. Called by the task after it
    /// relayed packets of `side`, once it knows nothing else in the session needs them.
    pub(super) fn try_offload(&self, bridge: &Bridge, side: Side) {
        let Some(fast) = self.fast.as_ref() else { return };
        let Some(offload) = bridge.offload_candidate(side) else { return };
        // The kernel forwards packets untouched but for their addresses (the relay's rewrite of
        // this stream is the identity: no source switch so far).
        if !offload.is_identity() {
            return;
        }
        let (Some(key), Some(via), Some(from), Some(to)) = (v4(self.local[index(side)]), v4(self.local[index(side.other())]), v4(offload.from), v4(offload.to)) else {
            return;
        };
        let mut slots = self.lock();
        if slots.closed || slots.sides[index(side)].is_some() {
            return;
        }
        match fast.install(key, &Rule { from, ssrc: offload.ssrc, via, to }) {
            Ok(()) => {
                slots.sides[index(side)] = Some(Installed { key, offload, synced: Counters::default(), synced_at: now() });
                self.active[index(side)].store(true, Relaxed);
            }
            Err(e) => {
                self.failed.store(true, Relaxed);
                tracing::debug!(error = %e, %key, "kernel fast path refused a stream; it stays in the relay");
            }
        }
    }

    /// A datagram the relay is about to handle on `side`'s RTP socket while that direction is
    /// offloaded: a packet of the offloaded source with another SSRC takes the offload back (the
    /// relay must switch sources from where the kernel left the stream); one from another
    /// address brings the latch up to date first.
    pub(super) fn before_userspace(&self, bridge: &mut Bridge, side: Side, from: SocketAddr, ssrc: Option<u32>) {
        let mut slots = self.lock();
        let Some(inst) = slots.sides[index(side)].as_ref() else { return };
        if from == inst.offload.from {
            if ssrc.is_some_and(|s| s != inst.offload.ssrc) {
                self.take_back(&mut slots, bridge, side);
            }
        } else if now().saturating_duration_since(inst.synced_at) >= FOREIGN_SYNC_EVERY {
            self.sync_side(&mut slots, bridge, side);
        }
    }

    /// Folds the kernel's counters of both directions into the bridge.
    pub(super) fn sync(&self, bridge: &mut Bridge) {
        if !self.any_active() {
            return;
        }
        let mut slots = self.lock();
        for side in [Side::A, Side::B] {
            self.sync_side(&mut slots, bridge, side);
        }
    }

    /// When the task should sync next (`None`: nothing offloaded).
    pub(super) fn next_sync(&self) -> Option<Instant> {
        if !self.any_active() {
            return None;
        }
        self.lock().sides.iter().flatten().map(|i| i.synced_at + SYNC_EVERY).min()
    }

    /// Takes both directions back into the relay (their final counters folded in); with
    /// `close`, for good.
    pub(super) fn take_back_all(&self, bridge: &mut Bridge, close: bool) {
        let mut slots = self.lock();
        slots.closed |= close;
        for side in [Side::A, Side::B] {
            self.take_back(&mut slots, bridge, side);
        }
    }

    fn sync_side(&self, slots: &mut Slots, bridge: &mut Bridge, side: Side) {
        let (Some(fast), Some(inst)) = (self.fast.as_ref(), slots.sides[index(side)].as_mut()) else { return };
        match fast.read(inst.key) {
            Ok(Some(c)) => self.fold(bridge, side, inst, c),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, key = %inst.key, "cannot read the kernel fast path's counters"),
        }
        inst.synced_at = now();
    }

    fn take_back(&self, slots: &mut Slots, bridge: &mut Bridge, side: Side) {
        let Some(mut inst) = slots.sides[index(side)].take() else { return };
        self.active[index(side)].store(false, Relaxed);
        let Some(fast) = self.fast.as_ref() else { return };
        match fast.remove(inst.key) {
            Ok(Some(c)) => self.fold(bridge, side, &mut inst, c),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, key = %inst.key, "cannot remove a kernel fast path rule"),
        }
    }

    /// Adds what the kernel forwarded since `inst.synced` to the bridge and the relay metrics.
    fn fold(&self, bridge: &mut Bridge, side: Side, inst: &mut Installed, c: Counters) {
        let packets = c.packets.saturating_sub(inst.synced.packets);
        let bytes = c.bytes.saturating_sub(inst.synced.bytes);
        inst.synced = c;
        if packets == 0 {
            return;
        }
        let last = (c.last_ns != 0).then(|| {
            let ago = Duration::from_nanos(FastPath::now_ns().saturating_sub(c.last_ns));
            let t = now();
            (t.checked_sub(ago).unwrap_or(t), c.last_seq, c.last_ts)
        });
        bridge.absorb_offloaded(side, &inst.offload, Offloaded { packets, bytes, last });
        self.forwarded[index(side)].fetch_add(packets, Relaxed);
        counters().c[index(side)][0].inc_by(packets);
        kernel_counters()[index(side)].inc_by(packets);
    }
}

fn kernel_counters() -> &'static [prometheus::IntCounter; 2] {
    static C: std::sync::OnceLock<[prometheus::IntCounter; 2]> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        let m = &crate::metrics::metrics().rtp_kernel_forwarded;
        ["a_to_b", "b_to_a"].map(|d| m.with_label_values(&[d]))
    })
}
