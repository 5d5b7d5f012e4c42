//! Offloading a relayed RTP stream: when the relay may let someone else (the kernel's fast path)
//! forward one direction's RTP for it, with exactly which match and rewrite, and how what was
//! forwarded there is folded back in so statistics, timeouts, latching and later source switches
//! stay as if every packet had passed here.
//!
//! Only the steady state is offloaded: a latched peer, one known SSRC, a destination on the other
//! side and the rewriter's current mapping for that SSRC. Everything else (other sources, other
//! SSRCs, RTCP) keeps coming through `Bridge::handle_packet`, which is where the offload is undone
//! when the stream changes.
use std::net::SocketAddr;
use std::time::Instant;

use super::{Bridge, Side};

#[cfg(test)]
#[path = "offload_tests.rs"]
mod tests;

/// What forwarding one direction's RTP elsewhere must do to stay identical to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offload {
    /// Only packets from this (latched) source address…
    pub from: SocketAddr,
    /// …carrying this SSRC…
    pub ssrc: u32,
    /// …go to this address (from the other side's socket)…
    pub to: SocketAddr,
    /// …with this SSRC, and sequence number and timestamp advanced by these offsets (all zero
    /// offsets and the same SSRC: the packet passes untouched).
    pub out_ssrc: u32,
    pub seq_add: u16,
    pub ts_add: u32,
}

impl Offload {
    /// The packet leaves exactly as it came (only addresses change).
    pub fn is_identity(&self) -> bool {
        self.out_ssrc == self.ssrc && self.seq_add == 0 && self.ts_add == 0
    }
}

/// What was forwarded elsewhere for one direction since the last `absorb_offloaded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offloaded {
    pub packets: u64,
    /// Datagram payload bytes (what `handle_packet` counts).
    pub bytes: u64,
    /// The last packet's arrival, sequence number and timestamp (as received).
    pub last: Option<(Instant, u16, u32)>,
}

impl Bridge {
    /// The RTP arriving on `side` may be forwarded elsewhere now, with this match and rewrite.
    /// `None` while the peer is not latched, its SSRC unknown, the other side has no address, or
    /// the stream toward the other side is switching sources.
    pub fn offload_candidate(&self, side: Side) -> Option<Offload> {
        let rx = &self.legs[side.index()];
        let tx = &self.legs[side.other().index()];
        let from = rx.rtp_latch.latched()?;
        let ssrc = rx.rx.ssrc()?;
        let to = tx.rtp_destination()?;
        let m = tx.tx.mapping(ssrc)?;
        Some(Offload { from, ssrc, to, out_ssrc: m.out_ssrc, seq_add: m.seq_off, ts_add: m.ts_off })
    }

    /// Folds in what was forwarded elsewhere for the RTP arriving on `side` (`offload` is what
    /// that forwarding was given): counters on both legs, the peer's liveness for timeouts and
    /// the latch, reception statistics and the top of the stream for the next source switch.
    pub fn absorb_offloaded(&mut self, side: Side, offload: &Offload, done: Offloaded) {
        let [a, b] = &mut self.legs;
        let (rx, tx) = match side {
            Side::A => (a, b),
            Side::B => (b, a),
        };
        rx.stats.packets_in += done.packets;
        rx.stats.bytes_in += done.bytes;
        tx.stats.packets_out += done.packets;
        tx.stats.bytes_out += done.bytes;
        let Some((at, seq, ts)) = done.last else { return };
        if done.packets == 0 {
            return;
        }
        rx.rx.absorb(offload.ssrc, done.packets, seq);
        rx.rtp_latch.touch(at);
        if rx.last_rtp.is_none_or(|l| l < at) {
            rx.last_rtp = Some(at);
            rx.timed_out = false;
        }
        tx.tx.absorb(offload.ssrc, seq, ts, at);
    }
}
