//! Continuity of the stream sent to one peer: one SSRC, one sequence space, one timeline, however
//! many sources feed it (a transfer replaces the other leg, a phone restarts its stream).
//!
//! The first source's SSRC, sequence numbers and timestamps pass unchanged (so a relay with no
//! switch is transparent). When a new source SSRC appears (or a switch is forced after the other
//! side's address changed), offsets are computed once, at the switch: the new source's first packet
//! takes the next sequence number after the highest one sent, and a timestamp advanced from the
//! highest one sent by the arrival-time gap × clock rate; the marker bit flags the discontinuity to
//! the receiver's jitter buffer. Later packets of that source keep the same offsets, so their
//! relative timing (and RFC 4733 events, which repeat their start timestamp) survive unchanged.
//! A straggler of the source before the switch (landing within 100 sequence numbers of the top)
//! keeps that source's old mapping instead of switching back; further back, it is a real return.
//! RTCP crossing the relay is rewritten with the same mappings.
use std::time::Instant;

use crate::media::rtp::{RtcpCompound, RtpHeaderMut, RTCP_BYE, RTCP_PSFB, RTCP_RR, RTCP_RTPFB, RTCP_SDES, RTCP_SR};

#[derive(Debug, Clone, Copy)]
struct Active {
    out_ssrc: u32,
    in_ssrc: u32,
    seq_off: u16,
    ts_off: u32,
    /// Highest sequence number and its timestamp sent so far, and when it arrived.
    top_seq: u16,
    top_ts: u32,
    top_at: Instant,
}

/// The rewriter of the stream sent to one peer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rewriter {
    active: Option<Active>,
    force_switch: bool,
    switches: u32,
    /// The source before the last switch (SSRC, sequence and timestamp offsets), to place its
    /// stragglers instead of switching back to it.
    previous: Option<(u32, u16, u32)>,
}

/// How far behind the highest sequence number sent a straggler of the previous source may land
/// (RFC 3550 A.1's MAX_MISORDER).
const MAX_MISORDER: u16 = 100;

impl Rewriter {
    /// The next packet starts a new source even if it keeps its SSRC.
    pub(crate) fn force_switch(&mut self) {
        self.force_switch = self.active.is_some();
    }

    pub(crate) fn switches(&self) -> u32 {
        self.switches
    }

    /// Rewrites SSRC, sequence and timestamp of a validated RTP packet in place.
    pub(crate) fn rewrite_rtp(&mut self, now: Instant, h: &mut RtpHeaderMut<'_>, clock_rate: u32) {
        let (ssrc, seq, ts) = {
            let v = h.view();
            (v.ssrc(), v.sequence(), v.timestamp())
        };
        let a = match self.active {
            None => {
                let a = Active { out_ssrc: ssrc, in_ssrc: ssrc, seq_off: 0, ts_off: 0, top_seq: seq, top_ts: ts, top_at: now };
                self.active = Some(a);
                return;
            }
            Some(a) if a.in_ssrc == ssrc && !self.force_switch => a,
            Some(a) if !self.force_switch && self.is_straggler(&a, ssrc, seq) => {
                // A late packet of the source before the switch: its old mapping, no switch back.
                let Some((_, seq_off, ts_off)) = self.previous else { return };
                h.set_ssrc(a.out_ssrc);
                h.set_sequence(seq.wrapping_add(seq_off));
                h.set_timestamp(ts.wrapping_add(ts_off));
                return;
            }
            Some(prev) => {
                let elapsed = now.saturating_duration_since(prev.top_at);
                let advance = (elapsed.as_nanos() * u128::from(clock_rate.max(1)) / 1_000_000_000).max(1) as u32;
                let out_seq = prev.top_seq.wrapping_add(1);
                let out_ts = prev.top_ts.wrapping_add(advance);
                let a = Active {
                    out_ssrc: prev.out_ssrc,
                    in_ssrc: ssrc,
                    seq_off: out_seq.wrapping_sub(seq),
                    ts_off: out_ts.wrapping_sub(ts),
                    top_seq: prev.top_seq,
                    top_ts: prev.top_ts,
                    top_at: prev.top_at,
                };
                self.previous = (!self.force_switch).then_some((prev.in_ssrc, prev.seq_off, prev.ts_off));
                self.force_switch = false;
                self.switches += 1;
                h.set_marker(true);
                a
            }
        };
        let out_seq = seq.wrapping_add(a.seq_off);
        let out_ts = ts.wrapping_add(a.ts_off);
        h.set_ssrc(a.out_ssrc);
        h.set_sequence(out_seq);
        h.set_timestamp(out_ts);
        let mut a = a;
        if (out_seq.wrapping_sub(a.top_seq) as i16) > 0 {
            a.top_seq = out_seq;
            a.top_ts = out_ts;
            a.top_at = now;
        }
        self.active = Some(a);
    }

    fn is_straggler(&self, a: &Active, ssrc: u32, seq: u16) -> bool {
        self.previous.is_some_and(|(p, seq_off, _)| p == ssrc && a.top_seq.wrapping_sub(seq.wrapping_add(seq_off)) < MAX_MISORDER)
    }

    /// Maps a sender's own SSRC (and RTP timestamp) into this stream's space.
    fn map_sender(&self, ssrc: u32) -> u32 {
        match self.active {
            Some(a) if a.in_ssrc == ssrc => a.out_ssrc,
            _ => ssrc,
        }
    }

    fn map_ts(&self, ssrc: u32, ts: u32) -> u32 {
        match self.active {
            Some(a) if a.in_ssrc == ssrc => ts.wrapping_add(a.ts_off),
            _ => ts,
        }
    }

    /// Maps a receiver's report about this stream back to the source's own SSRC and sequence.
    fn unmap_source(&self, ssrc: u32) -> Option<(u32, u16)> {
        match self.active {
            Some(a) if a.out_ssrc == ssrc => Some((a.in_ssrc, a.seq_off)),
            _ => None,
        }
    }
}

fn get32(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn put32(d: &mut [u8], at: usize, v: u32) {
    if let Some(b) = d.get_mut(at..at + 4) {
        b.copy_from_slice(&v.to_be_bytes());
    }
}

/// Rewrites a validated compound RTCP packet from one peer before it is relayed to the other.
///
/// `forward` is the rewriter of the stream going to the destination (the sender's RTP, as the
/// destination sees it); `back` is the rewriter of the stream the sender itself receives (what its
/// report blocks and feedback describe).
pub(crate) fn rewrite_rtcp(data: &mut [u8], forward: &Rewriter, back: &Rewriter) {
    let mut offset = 0;
    while offset < data.len() {
        let (pt, count, len) = match RtcpCompound::new(&data[offset..]).next() {
            Some(Ok((_, p))) => (p.packet_type(), p.count(), p.bytes().len()),
            _ => return,
        };
        let p = &mut data[offset..offset + len];
        offset += len;
        let blocks_at = match pt {
            RTCP_SR => Some(28),
            RTCP_RR => Some(8),
            _ => None,
        };
        match pt {
            RTCP_SDES => rewrite_sdes(p, count, forward),
            RTCP_BYE => {
                for i in 0..count {
                    if let Some(s) = get32(p, 4 + 4 * i) {
                        put32(p, 4 + 4 * i, forward.map_sender(s));
                    }
                }
            }
            _ => {
                let Some(sender) = get32(p, 4) else { continue };
                put32(p, 4, forward.map_sender(sender));
                if pt == RTCP_SR {
                    if let Some(ts) = get32(p, 16) {
                        put32(p, 16, forward.map_ts(sender, ts));
                    }
                }
                if pt == RTCP_RTPFB || pt == RTCP_PSFB {
                    rewrite_feedback(p, pt, count, back);
                }
            }
        }
        if let Some(at) = blocks_at {
            for i in 0..count {
                let b = at + 24 * i;
                let (Some(source), Some(ext_seq)) = (get32(p, b), get32(p, b + 8)) else { break };
                if let Some((ssrc, seq_off)) = back.unmap_source(source) {
                    put32(p, b, ssrc);
                    put32(p, b + 8, unmap_ext_seq(ext_seq, seq_off));
                }
            }
        }
    }
}

/// An extended highest sequence number in the relayed space, taken back to the source's space.
fn unmap_ext_seq(ext: u32, seq_off: u16) -> u32 {
    let low = ext as u16;
    let orig = low.wrapping_sub(seq_off);
    let mut cycles = ext & 0xffff_0000;
    if orig > low {
        cycles = cycles.wrapping_sub(0x1_0000);
    }
    cycles | u32::from(orig)
}

/// RFC 4585 feedback: the media source SSRC and, for generic NACK, the lost sequence numbers refer
/// to the stream the sender receives.
fn rewrite_feedback(p: &mut [u8], pt: u8, fmt: usize, back: &Rewriter) {
    let Some(media) = get32(p, 8) else { return };
    let Some((ssrc, seq_off)) = back.unmap_source(media) else { return };
    put32(p, 8, ssrc);
    if pt == RTCP_RTPFB && fmt == 1 {
        let mut at = 12;
        while let Some(w) = get32(p, at) {
            let pid = ((w >> 16) as u16).wrapping_sub(seq_off);
            put32(p, at, (u32::from(pid) << 16) | (w & 0xffff));
            at += 4;
        }
    }
}

/// SDES chunks: SSRC, then items (type, length, text) up to a zero type, padded to 32 bits.
fn rewrite_sdes(p: &mut [u8], chunks: usize, forward: &Rewriter) {
    let mut at = 4;
    for _ in 0..chunks {
        let Some(ssrc) = get32(p, at) else { return };
        put32(p, at, forward.map_sender(ssrc));
        at += 4;
        loop {
            match p.get(at) {
                None => return,
                Some(0) => {
                    at = (at + 4) & !3;
                    break;
                }
                Some(_) => match p.get(at + 1) {
                    Some(&n) => at += 2 + usize::from(n),
                    None => return,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unmap_ext_seq;

    #[test]
    fn an_extended_sequence_number_goes_back_across_a_cycle() {
        assert_eq!(unmap_ext_seq((2 << 16) | 1005, 950), (2 << 16) | 55);
        // Relayed 10 in cycle 2 was 64_596 in cycle 1 of the source.
        assert_eq!(unmap_ext_seq((2 << 16) | 10, 950), (1 << 16) | 64_596);
        assert_eq!(unmap_ext_seq(10, 950), 0xffff_0000 | 64_596);
        assert_eq!(unmap_ext_seq(77, 0), 77);
    }
}

/// The mapping the rewriter applies to packets of one source SSRC (see `Rewriter::mapping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) out_ssrc: u32,
    pub(crate) seq_off: u16,
    pub(crate) ts_off: u32,
}

impl Rewriter {
    /// How packets of `ssrc` are rewritten now, if `ssrc` is the active source and no switch is
    /// pending: a packet forwarded elsewhere with this mapping is what `rewrite_rtp` would send.
    pub(crate) fn mapping(&self, ssrc: u32) -> Option<Mapping> {
        match self.active {
            Some(a) if a.in_ssrc == ssrc && !self.force_switch => Some(Mapping { out_ssrc: a.out_ssrc, seq_off: a.seq_off, ts_off: a.ts_off }),
            _ => None,
        }
    }

    /// Packets of the active source were sent elsewhere (the kernel) with its mapping; the last
    /// one had `seq`/`ts` (as received) and arrived at `at`. Keeps the top of the stream where
    /// the next switch must continue from.
    pub(crate) fn absorb(&mut self, ssrc: u32, seq: u16, ts: u32, at: Instant) {
        let Some(a) = self.active.as_mut().filter(|a| a.in_ssrc == ssrc) else { return };
        let out_seq = seq.wrapping_add(a.seq_off);
        if (out_seq.wrapping_sub(a.top_seq) as i16) > 0 {
            a.top_seq = out_seq;
            a.top_ts = ts.wrapping_add(a.ts_off);
            a.top_at = at;
        }
    }
}
