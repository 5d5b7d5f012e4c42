//! The sans-IO RTP/RTCP relay of one bridged call: latching, header rewrite for continuity,
//! RFC 3550 statistics and media timeouts. No sockets and no clock: time comes in as `now`.
//!
//! A `Bridge` has two `LegRelay`s, side A and side B. A packet received on side A's ports goes
//! through A's latch and reception statistics, then through the rewriter of the stream *to* B, and
//! comes back as `Verdict::Forward` with B's peer address; the engine sends the same bytes, rewritten
//! in place, from B's socket. The run loop is the usual one: `handle_packet` per datagram,
//! `poll_timeout` for the next wake-up, `handle_timeout` until it returns `None`.
mod latch;
mod offload;
mod rewrite;
mod stats;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use latch::{Admit, Latch};
use rewrite::{rewrite_rtcp, Rewriter};
use stats::Reception;
pub use offload::{Offload, Offloaded};
pub use stats::{DropCounts, DropReason, LegStats};

use crate::media::rtp::{classify, PacketKind, RtcpCompound, RtpHeaderMut};

/// One side of a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }
    fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// Which of a side's two local sockets: the even RTP port or the odd RTCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Rtp,
    Rtcp,
}

/// Tunables of the relay; `Default` gives production values.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Sequential packets a source not in the SDP must send before it is latched (RFC 3550 A.1
    /// uses 2). At least 1.
    pub probation: u8,
    /// How long the latched source must be silent before another address may take its place.
    pub relatch_after: Duration,
    /// No RTP from a peer for this long (while not on hold) raises `MediaEvent::Timeout`.
    pub rtp_timeout: Duration,
    /// On hold, no RTP *nor RTCP* for this long raises the event; `None` disables it on hold.
    pub hold_timeout: Option<Duration>,
}

impl Default for RelayConfig {
    fn default() -> RelayConfig {
        RelayConfig {
            probation: 2,
            relatch_after: Duration::from_secs(2),
            rtp_timeout: Duration::from_secs(30),
            hold_timeout: Some(Duration::from_secs(600)),
        }
    }
}

/// What one side's SDP says about its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remote {
    /// The peer's RTP address (`c=` + `m=` port); `None` until known.
    pub rtp: Option<SocketAddr>,
    /// The peer's RTCP address; `None` means RTCP is multiplexed on the RTP address (RFC 5761).
    /// The caller resolves RFC 3605 `a=rtcp` and the port+1 default before calling.
    pub rtcp: Option<SocketAddr>,
    /// RTP clock rate of the negotiated audio/video codec (8000 for G.711), for jitter and timing.
    pub clock_rate: u32,
    /// The peer's stream is sendonly or inactive: it may stay silent without timing out.
    pub hold: bool,
}

/// What to do with a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (rewritten in place) bytes to `to` from the other side's `via` socket.
    Forward { to: SocketAddr, via: Channel },
    /// Do not send anything; the reason is counted in the receiving side's stats.
    Drop(DropReason),
}

/// What the relay reports through `handle_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// The peer of `side` has sent nothing for `silent_for` (RTP, or on hold RTP and RTCP).
    /// Reported once per silence; media arriving again re-arms it. Cause code `media.timeout`.
    Timeout { side: Side, on_hold: bool, silent_for: Duration },
}

/// The relay state of one side: its peer's latch, what it receives from that peer, and the
/// rewriter of the stream it sends to that peer.
#[derive(Debug, Clone)]
pub struct LegRelay {
    rtp_latch: Latch,
    rtcp_latch: Latch,
    rtcp_mux: bool,
    rx: Reception,
    tx: Rewriter,
    clock_rate: u32,
    hold: bool,
    armed_at: Option<Instant>,
    last_rtp: Option<Instant>,
    last_rtcp: Option<Instant>,
    timed_out: bool,
    rtp_timeout: Duration,
    hold_timeout: Option<Duration>,
    stats: LegStats,
}

impl LegRelay {
    fn new(config: &RelayConfig) -> LegRelay {
        LegRelay {
            rtp_latch: Latch::new(config.probation, config.relatch_after),
            rtcp_latch: Latch::new(1, config.relatch_after),
            rtcp_mux: true,
            rx: Reception::new(8000),
            tx: Rewriter::default(),
            clock_rate: 8000,
            hold: false,
            armed_at: None,
            last_rtp: None,
            last_rtcp: None,
            timed_out: false,
            rtp_timeout: config.rtp_timeout,
            hold_timeout: config.hold_timeout,
            stats: LegStats::default(),
        }
    }

    /// A snapshot of this leg's counters.
    pub fn stats(&self) -> LegStats {
        let mut s = self.stats;
        s.lost = self.rx.lost();
        s.jitter_ms = self.rx.jitter_ms();
        s.latched = self.rtp_latch.latched();
        s.relatches = self.rtp_latch.relatches();
        s.ssrc = self.rx.ssrc();
        s.source_switches = self.tx.switches();
        s
    }

    /// Where RTP for this leg's peer goes now.
    pub fn rtp_destination(&self) -> Option<SocketAddr> {
        self.rtp_latch.destination()
    }

    /// Where RTCP for this leg's peer goes now, and from which of our sockets.
    pub fn rtcp_destination(&self) -> Option<(SocketAddr, Channel)> {
        if self.rtcp_mux {
            self.rtp_destination().map(|a| (a, Channel::Rtp))
        } else {
            self.rtcp_latch.destination().map(|a| (a, Channel::Rtcp))
        }
    }

    fn set_remote(&mut self, now: Instant, remote: Remote) {
        let moved = remote.rtp != self.rtp_latch.expected();
        self.rtp_latch.set_expected(remote.rtp);
        self.rtcp_mux = remote.rtcp.is_none();
        self.rtcp_latch.set_expected(remote.rtcp);
        self.clock_rate = remote.clock_rate.max(1);
        self.rx.set_clock_rate(self.clock_rate);
        if remote.hold != self.hold || moved || self.armed_at.is_none() {
            self.armed_at = remote.rtp.map(|_| now);
            self.timed_out = false;
        }
        self.hold = remote.hold;
    }

    fn deadline(&self) -> Option<Instant> {
        if self.timed_out {
            return None;
        }
        let armed = self.armed_at?;
        if self.hold {
            let latest = [Some(armed), self.last_rtp, self.last_rtcp].into_iter().flatten().max()?;
            return Some(latest + self.hold_timeout?);
        }
        Some(self.last_rtp.map_or(armed, |l| l.max(armed)) + self.rtp_timeout)
    }
}

/// The relay of one bridged call: side A and side B.
#[derive(Debug, Clone)]
pub struct Bridge {
    legs: [LegRelay; 2],
    rtp_timeout: Duration,
    hold_timeout: Option<Duration>,
}

impl Bridge {
    pub fn new(config: &RelayConfig) -> Bridge {
        Bridge { legs: [LegRelay::new(config), LegRelay::new(config)], rtp_timeout: config.rtp_timeout, hold_timeout: config.hold_timeout }
    }

    pub fn leg(&self, side: Side) -> &LegRelay {
        &self.legs[side.index()]
    }

    /// Applies one side's SDP. A new peer address unlatches that side and makes the stream sent
    /// to the *other* side start a new source segment (a transfer replaced this side's peer).
    pub fn set_remote(&mut self, now: Instant, side: Side, remote: Remote) {
        let leg = &mut self.legs[side.index()];
        let moved = leg.rtp_latch.expected().is_some() && remote.rtp != leg.rtp_latch.expected();
        leg.set_remote(now, remote);
        if moved {
            self.legs[side.other().index()].tx.force_switch();
        }
    }

    /// Handles one datagram received on `side`'s `channel` socket from `from`. On `Forward` the
    /// caller sends `data` (rewritten in place, same length) as told.
    pub fn handle_packet(&mut self, now: Instant, side: Side, channel: Channel, from: SocketAddr, data: &mut [u8]) -> Verdict {
        let [a, b] = &mut self.legs;
        let (rx, tx) = match side {
            Side::A => (a, b),
            Side::B => (b, a),
        };
        rx.stats.packets_in += 1;
        rx.stats.bytes_in += data.len() as u64;
        let kind = match channel {
            Channel::Rtcp => PacketKind::Rtcp,
            Channel::Rtp => classify(data),
        };
        let verdict = match kind {
            PacketKind::Rtp => relay_rtp(now, rx, tx, from, data),
            PacketKind::Rtcp => relay_rtcp(now, rx, tx, channel, from, data),
            PacketKind::Stun | PacketKind::Dtls | PacketKind::Other => Verdict::Drop(DropReason::Malformed),
        };
        match verdict {
            Verdict::Drop(reason) => rx.stats.dropped.count(reason),
            Verdict::Forward { .. } => {
                tx.stats.packets_out += 1;
                tx.stats.bytes_out += data.len() as u64;
            }
        }
        verdict
    }

    /// Our own RTP packet (a prompt) sent toward `to`'s peer: rewritten like relayed packets so
    /// the stream stays one (SSRC, sequence, timeline) when the other side's media takes over.
    /// Returns where to send it, if known.
    pub fn inject_rtp(&mut self, now: Instant, to: Side, data: &mut [u8], clock_rate: u32) -> Option<SocketAddr> {
        let leg = &mut self.legs[to.index()];
        let dest = leg.rtp_destination()?;
        let mut h = RtpHeaderMut::new(data).ok()?;
        leg.tx.rewrite_rtp(now, &mut h, clock_rate);
        leg.stats.packets_out += 1;
        leg.stats.bytes_out += data.len() as u64;
        Some(dest)
    }

    /// The earliest instant `handle_timeout` has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.legs.iter().filter_map(LegRelay::deadline).min()
    }

    /// Fires due timers; call until it returns `None`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<MediaEvent> {
        for (leg, side) in self.legs.iter_mut().zip([Side::A, Side::B]) {
            match leg.deadline() {
                Some(d) if d <= now => {
                    leg.timed_out = true;
                    let since = if leg.hold {
                        [leg.armed_at, leg.last_rtp, leg.last_rtcp].into_iter().flatten().max()
                    } else {
                        leg.last_rtp.max(leg.armed_at)
                    };
                    let silent_for = since.map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
                    return Some(MediaEvent::Timeout { side, on_hold: leg.hold, silent_for });
                }
                _ => {}
            }
        }
        None
    }

    /// The configured RTP timeout (not on hold).
    pub fn rtp_timeout(&self) -> Duration {
        self.rtp_timeout
    }

    /// The configured timeout on hold, if any.
    pub fn hold_timeout(&self) -> Option<Duration> {
        self.hold_timeout
    }
}

fn relay_rtp(now: Instant, rx: &mut LegRelay, tx: &mut LegRelay, from: SocketAddr, data: &mut [u8]) -> Verdict {
    let Ok(mut h) = RtpHeaderMut::new(data) else { return Verdict::Drop(DropReason::Malformed) };
    let (ssrc, seq, ts) = {
        let v = h.view();
        (v.ssrc(), v.sequence(), v.timestamp())
    };
    match rx.rtp_latch.admit(now, from, ssrc, Some(seq)) {
        Admit::Accept | Admit::Latched => {}
        Admit::Probation => return Verdict::Drop(DropReason::NotLatched),
        Admit::Foreign => return Verdict::Drop(DropReason::Foreign),
    }
    rx.rx.on_rtp(now, ssrc, seq, ts);
    rx.last_rtp = Some(now);
    rx.timed_out = false;
    let Some(to) = tx.rtp_destination() else { return Verdict::Drop(DropReason::NoDestination) };
    tx.tx.rewrite_rtp(now, &mut h, rx.clock_rate);
    Verdict::Forward { to, via: Channel::Rtp }
}

fn relay_rtcp(now: Instant, rx: &mut LegRelay, tx: &mut LegRelay, channel: Channel, from: SocketAddr, data: &mut [u8]) -> Verdict {
    if RtcpCompound::validate(data).is_err() {
        return Verdict::Drop(DropReason::Malformed);
    }
    let sender = RtcpCompound::new(data).next().and_then(|r| r.ok()).and_then(|(_, p)| p.ssrc()).unwrap_or(0);
    let admit = match channel {
        // Muxed RTCP shares the RTP latch but never advances or wins it on its own.
        Channel::Rtp => match rx.rtp_latch.latched() {
            Some(a) if a == from => Admit::Accept,
            Some(_) => Admit::Foreign,
            None if rx.rtp_latch.expected() == Some(from) => Admit::Accept,
            None => Admit::Probation,
        },
        // RTCP on its own port must come from the host the RTP comes from (or is expected from), so
        // a stranger cannot win the RTCP latch before the RTP one exists.
        Channel::Rtcp => match rx.rtp_latch.destination() {
            Some(rtp) if rtp.ip() != from.ip() => Admit::Foreign,
            _ => rx.rtcp_latch.admit(now, from, sender, None),
        },
    };
    match admit {
        Admit::Accept | Admit::Latched => {}
        Admit::Probation => return Verdict::Drop(DropReason::NotLatched),
        Admit::Foreign => return Verdict::Drop(DropReason::Foreign),
    }
    rx.stats.rtcp_in += 1;
    rx.last_rtcp = Some(now);
    if rx.hold {
        // On hold RTCP alone proves the peer alive and re-arms a timeout that fired.
        rx.timed_out = false;
    }
    let Some((to, via)) = tx.rtcp_destination() else { return Verdict::Drop(DropReason::NoDestination) };
    rewrite_rtcp(data, &tx.tx, &rx.tx);
    Verdict::Forward { to, via }
}
