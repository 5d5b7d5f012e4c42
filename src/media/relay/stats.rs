//! Reception statistics per RFC 3550: sequence tracking (A.1), loss (A.3) and interarrival jitter
//! (A.8), plus the relay's own counters.
use std::net::SocketAddr;
use std::time::Instant;

const RTP_SEQ_MOD: u32 = 1 << 16;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;

/// Why the relay dropped a packet; `code()` is the stable label for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// From an address other than the latched one while the latched source is live.
    Foreign,
    /// Not a valid RTP or RTCP packet (or a STUN/DTLS packet on a plain RTP port).
    Malformed,
    /// From a source still in probation; nothing latched yet.
    NotLatched,
    /// Valid, but the other side has no address to send to yet (no SDP, no packet).
    NoDestination,
}

impl DropReason {
    pub fn code(self) -> &'static str {
        match self {
            DropReason::Foreign => "foreign",
            DropReason::Malformed => "malformed",
            DropReason::NotLatched => "not_latched",
            DropReason::NoDestination => "no_destination",
        }
    }
}

/// Packets dropped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts {
    pub foreign: u64,
    pub malformed: u64,
    pub not_latched: u64,
    pub no_destination: u64,
}

impl DropCounts {
    pub(crate) fn count(&mut self, reason: DropReason) {
        match reason {
            DropReason::Foreign => self.foreign += 1,
            DropReason::Malformed => self.malformed += 1,
            DropReason::NotLatched => self.not_latched += 1,
            DropReason::NoDestination => self.no_destination += 1,
        }
    }
    pub fn total(&self) -> u64 {
        self.foreign + self.malformed + self.not_latched + self.no_destination
    }
}

/// A snapshot of one leg: what its peer sent us, and what we sent it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LegStats {
    /// Datagrams (RTP and RTCP, valid or not) received from this leg's side, and their bytes.
    pub packets_in: u64,
    pub bytes_in: u64,
    /// RTCP packets among `packets_in` that were accepted.
    pub rtcp_in: u64,
    /// Datagrams relayed to this leg's peer, and their bytes (RTCP included).
    pub packets_out: u64,
    pub bytes_out: u64,
    /// RFC 3550 cumulative loss of the peer's RTP: expected − received, summed over its sources
    /// (negative with duplicates).
    pub lost: i64,
    /// RFC 3550 interarrival jitter of the peer's RTP, in milliseconds.
    pub jitter_ms: f64,
    pub dropped: DropCounts,
    /// The address the peer's RTP is latched to.
    pub latched: Option<SocketAddr>,
    /// How many times the latch moved to a new address after silence.
    pub relatches: u32,
    /// The peer's current RTP SSRC.
    pub ssrc: Option<u32>,
    /// How many times the stream sent to this peer switched source (and was spliced).
    pub source_switches: u32,
}

/// RFC 3550 A.1/A.8 state for the peer's current RTP source.
#[derive(Debug, Clone)]
pub(crate) struct Reception {
    ssrc: Option<u32>,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    received: u64,
    /// Loss of earlier sources and sequence restarts, folded in when they ended.
    lost_before: i64,
    /// Arrival clock origin and the last transit time, in timestamp units.
    origin: Option<Instant>,
    last_transit: Option<u32>,
    last_ts: Option<u32>,
    /// Jitter × 16, as in A.8.
    jitter16: u64,
    clock_rate: u32,
}

impl Reception {
    pub(crate) fn new(clock_rate: u32) -> Reception {
        Reception {
            ssrc: None,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            received: 0,
            lost_before: 0,
            origin: None,
            last_transit: None,
            last_ts: None,
            jitter16: 0,
            clock_rate: clock_rate.max(1),
        }
    }

    pub(crate) fn set_clock_rate(&mut self, clock_rate: u32) {
        let clock_rate = clock_rate.max(1);
        if clock_rate != self.clock_rate {
            self.clock_rate = clock_rate;
            self.last_transit = None;
            self.jitter16 = 0;
        }
    }

    pub(crate) fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// Records one accepted RTP packet.
    pub(crate) fn on_rtp(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32) {
        if self.ssrc != Some(ssrc) {
            self.lost_before += self.lost_current();
            self.ssrc = Some(ssrc);
            self.restart(seq);
            self.last_transit = None;
            self.last_ts = None;
        } else if !self.update_seq(seq) {
            return;
        }
        self.received += 1;
        self.update_jitter(now, ts);
    }

    fn restart(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
    }

    /// A.1 `update_seq`: false for a packet that is not counted (first of a suspected restart).
    fn update_seq(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += RTP_SEQ_MOD;
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after a big jump: the source restarted its sequence.
                self.lost_before += self.lost_current();
                self.restart(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return false;
            }
        }
        true
    }

    fn lost_current(&self) -> i64 {
        if self.ssrc.is_none() {
            return 0;
        }
        let extended_max = i64::from(self.cycles) + i64::from(self.max_seq);
        let expected = extended_max - i64::from(self.base_seq) + 1;
        expected - self.received as i64
    }

    /// A.8, skipping packets that repeat the previous timestamp (telephone-event updates, video
    /// frames split over packets): they were not sampled at their arrival time.
    fn update_jitter(&mut self, now: Instant, ts: u32) {
        if self.last_ts == Some(ts) {
            return;
        }
        self.last_ts = Some(ts);
        let origin = *self.origin.get_or_insert(now);
        let arrival = (now.saturating_duration_since(origin).as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32;
        let transit = arrival.wrapping_sub(ts);
        if let Some(last) = self.last_transit {
            let d = u64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            // J += (|D| - J) / 16, kept ×16 to stay in integers.
            self.jitter16 = (self.jitter16 + d).saturating_sub((self.jitter16 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// `packets` more packets of the current source were received elsewhere (the kernel), the
    /// last with sequence number `seq`: counted as received, the highest sequence number moved
    /// (A.1, a cycle counted on wrap). Jitter is not sampled meanwhile; it restarts from the next
    /// packet seen here.
    pub(crate) fn absorb(&mut self, ssrc: u32, packets: u64, seq: u16) {
        if self.ssrc != Some(ssrc) || packets == 0 {
            return;
        }
        self.received += packets;
        let udelta = seq.wrapping_sub(self.max_seq);
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += RTP_SEQ_MOD;
            }
            self.max_seq = seq;
        }
        self.last_transit = None;
        self.last_ts = None;
    }

    pub(crate) fn lost(&self) -> i64 {
        self.lost_before + self.lost_current()
    }

    pub(crate) fn jitter_ms(&self) -> f64 {
        (self.jitter16 as f64 / 16.0) * 1000.0 / f64::from(self.clock_rate)
    }
}
