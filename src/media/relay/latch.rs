//! Symmetric RTP latching (which address a peer really sends from) with RFC 3550 A.1-style probation.
//!
//! The rule, for one peer and one kind of packet (RTP or RTCP):
//!
//! - **Unlatched.** Packets from the address in the peer's SDP latch at once: signalling vouches for
//!   them. Any other address must first send `probation` packets in a row from one source address
//!   and SSRC with consecutive sequence numbers (for RTCP, which has no sequence, just `probation`
//!   packets from the same address and sender SSRC). Packets during probation are dropped
//!   (`not_latched`); the one that completes probation latches and is relayed. Until then the
//!   peer is sent to at its SDP address.
//! - **Latched.** Only the latched address is accepted, whatever SSRC it uses (a peer may restart
//!   its stream). Packets from any other address are dropped as `foreign` and never reset probation
//!   while the latched source is still talking.
//! - **Relatching.** Once the latched address has been silent for `relatch_after`, another address
//!   may win the latch by passing probation again (a NAT rebinding, a phone that changed port).
//!   Its probation packets are dropped as `not_latched`. A quiet attacker therefore cannot take a
//!   live stream, only one that has already stopped.
//! - **New SDP.** A changed SDP address (re-INVITE, transfer) unlatches; the same address keeps it.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What the latch decided about one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// From the latched address: relay it.
    Accept,
    /// This packet latched (or relatched) its source: relay it.
    Latched,
    /// Part of a probation that has not finished: drop it (`not_latched`).
    Probation,
    /// From another address while the latched source is live: drop it (`foreign`).
    Foreign,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    addr: SocketAddr,
    ssrc: u32,
    next_seq: Option<u16>,
    seen: u8,
}

/// One peer's latch for one kind of packet.
#[derive(Debug, Clone)]
pub(crate) struct Latch {
    expected: Option<SocketAddr>,
    latched: Option<(SocketAddr, Instant)>,
    candidate: Option<Candidate>,
    probation: u8,
    relatch_after: Duration,
    relatches: u32,
}

impl Latch {
    pub(crate) fn new(probation: u8, relatch_after: Duration) -> Latch {
        Latch { expected: None, latched: None, candidate: None, probation: probation.max(1), relatch_after, relatches: 0 }
    }

    /// The SDP address changed: a new address unlatches, the same one keeps the latch.
    pub(crate) fn set_expected(&mut self, expected: Option<SocketAddr>) {
        if expected != self.expected {
            self.expected = expected;
            self.latched = None;
            self.candidate = None;
        }
    }

    /// Where to send to this peer: the latched address, else the SDP one.
    pub(crate) fn destination(&self) -> Option<SocketAddr> {
        self.latched.map(|(a, _)| a).or(self.expected)
    }

    /// The SDP address.
    pub(crate) fn expected(&self) -> Option<SocketAddr> {
        self.expected
    }

    pub(crate) fn latched(&self) -> Option<SocketAddr> {
        self.latched.map(|(a, _)| a)
    }

    pub(crate) fn relatches(&self) -> u32 {
        self.relatches
    }

    /// Decides about a packet from `from` with this SSRC and (for RTP) sequence number.
    pub(crate) fn admit(&mut self, now: Instant, from: SocketAddr, ssrc: u32, seq: Option<u16>) -> Admit {
        match self.latched {
            Some((addr, _)) if addr == from => {
                self.latched = Some((addr, now));
                self.candidate = None;
                Admit::Accept
            }
            Some((_, last)) if now.saturating_duration_since(last) < self.relatch_after => Admit::Foreign,
            Some(_) => {
                if self.probe(from, ssrc, seq) {
                    self.relatches += 1;
                    self.latch(now, from);
                    Admit::Latched
                } else {
                    Admit::Probation
                }
            }
            None if Some(from) == self.expected => {
                self.latch(now, from);
                Admit::Latched
            }
            None => {
                if self.probe(from, ssrc, seq) {
                    self.latch(now, from);
                    Admit::Latched
                } else {
                    Admit::Probation
                }
            }
        }
    }

    /// The latched source sent a packet at `at` that was relayed elsewhere (the kernel): it is
    /// as live as if the packet had passed here.
    pub(crate) fn touch(&mut self, at: Instant) {
        if let Some((_, last)) = self.latched.as_mut() {
            *last = (*last).max(at);
        }
    }

    fn latch(&mut self, now: Instant, from: SocketAddr) {
        self.latched = Some((from, now));
        self.candidate = None;
    }

    /// Counts one probation packet; true once the candidate has sent enough in sequence.
    fn probe(&mut self, addr: SocketAddr, ssrc: u32, seq: Option<u16>) -> bool {
        let next_seq = seq.map(|s| s.wrapping_add(1));
        let continues = self.candidate.is_some_and(|c| c.addr == addr && c.ssrc == ssrc && c.next_seq.is_none_or(|n| Some(n) == seq));
        let seen = match self.candidate {
            Some(c) if continues => c.seen.saturating_add(1),
            _ => 1,
        };
        self.candidate = Some(Candidate { addr, ssrc, next_seq, seen });
        seen >= self.probation
    }
}
