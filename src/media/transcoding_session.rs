//! The transcoding half of a media session: the two [`Direction`]s of a call (A→B and B→A),
//! our own RTCP sender reports per leg, AMR mode requests and peer loss passed across, and the
//! per-frame cost in metrics. Driven by the engine's session task; no sockets here.
//!
//! The task feeds every accepted RTP packet to [`Transcoding::on_rtp`], every accepted RTCP
//! packet to [`Transcoding::on_rtcp`], and at [`Transcoding::poll_timeout`] calls
//! [`Transcoding::poll_output`] until it returns `None`, sending each datagram to the leg named.
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

use super::relay::{Channel, LegStats, Side};
use super::transcode::{Direction, DirectionOptions, DirectionStats, LegFormat, MediaPlan, TranscodeError};
use crate::metrics::metrics;

/// Our sender reports, per leg (RFC 3550 §6.2 suggests 5 s for a two-party session).
const RTCP_INTERVAL: Duration = Duration::from_secs(5);

/// Metric names (registered on first use, in the node's registry).
pub const TRANSCODE_FRAME_SECONDS: &str = "ncgw_transcode_frame_seconds";
pub const TRANSCODED_CALLS: &str = "ncgw_transcoded_calls_total";

struct XcodeMetrics {
    frame: HistogramVec,
    calls: IntCounterVec,
}

fn xcode_metrics() -> &'static XcodeMetrics {
    static M: OnceLock<XcodeMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let buckets = vec![10e-6, 25e-6, 50e-6, 100e-6, 200e-6, 400e-6, 800e-6, 1.6e-3, 5e-3];
        let frame = HistogramVec::new(
            HistogramOpts::new(TRANSCODE_FRAME_SECONDS, "CPU time of one transcoded frame (jitter buffer, decode, resample, encode, packetise), by codec pair").buckets(buckets),
            &["pair"],
        )
        .expect("valid histogram");
        let calls = IntCounterVec::new(Opts::new(TRANSCODED_CALLS, "Media sessions that started transcoding, by codec pair"), &["pair"]).expect("valid counter");
        let registry = &metrics().registry;
        // A second registration (tests building two registries) only loses the export.
        let _ = registry.register(Box::new(frame.clone()));
        let _ = registry.register(Box::new(calls.clone()));
        XcodeMetrics { frame, calls }
    })
}

/// `from>to` with lower-case codec names: a bounded label (36 pairs at most).
fn pair_label(from: &LegFormat, to: &LegFormat) -> String {
    format!("{}>{}", from.config.kind.rtp_name().to_ascii_lowercase(), to.config.kind.rtp_name().to_ascii_lowercase())
}

/// What we sent to one leg, and what we know of what it sends us, for RTCP.
#[derive(Debug, Default, Clone, Copy)]
struct LegReport {
    ssrc: u32,
    packets: u32,
    octets: u32,
    last_ts: u32,
    /// Highest sequence number received from the leg, extended with its wrap count.
    max_seq: Option<u32>,
    /// Received / expected at the previous report, for the fraction lost.
    prior: (u64, i64),
}

/// The two transcoding directions of a call.
pub struct Transcoding {
    /// Indexed by the side the direction *reads* from: `dirs[0]` is A→B.
    dirs: [Direction; 2],
    hist: [prometheus::Histogram; 2],
    legs: [LegReport; 2],
    next_rtcp: Instant,
    /// Whether each direction already ran its codecs in this round of `poll_output`.
    ran: [bool; 2],
    /// This round's SR to A is out; B's is next.
    rtcp_a_sent: bool,
    /// The plan it was built from, to tell a repeated `set_codecs` from a change.
    pub plan: MediaPlan,
}

fn index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

impl Transcoding {
    /// Builds both directions of a `Transcode` plan; `seed` picks our SSRCs and first sequence
    /// numbers. `None` for a `Copy` plan.
    pub fn new(plan: &MediaPlan, seed: u64, now: Instant) -> Option<Result<Transcoding, TranscodeError>> {
        let MediaPlan::Transcode { a, b } = plan else { return None };
        let opts = |k: u64| {
            let x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17 * k as u32) ^ k;
            DirectionOptions::new(x as u32, (x >> 32) as u16, (x >> 16) as u32)
        };
        let (oa, ob) = (opts(1), opts(2));
        let build = || -> Result<Transcoding, TranscodeError> {
            let ab = Direction::new(a, b, &oa)?;
            let ba = Direction::new(b, a, &ob)?;
            let m = xcode_metrics();
            let (pab, pba) = (pair_label(a, b), pair_label(b, a));
            m.calls.with_label_values(&[&pab]).inc();
            let hist = [m.frame.with_label_values(&[&pab]), m.frame.with_label_values(&[&pba])];
            // legs[x] reports what we send *to* x: B receives A→B (ssrc of oa).
            let legs = [LegReport { ssrc: ob.ssrc, ..Default::default() }, LegReport { ssrc: oa.ssrc, ..Default::default() }];
            Ok(Transcoding { dirs: [ab, ba], hist, legs, next_rtcp: now + RTCP_INTERVAL, ran: [false; 2], rtcp_a_sent: false, plan: plan.clone() })
        };
        Some(build())
    }

    /// An RTP datagram from `side`'s peer, accepted by the relay's latch.
    pub fn on_rtp(&mut self, now: Instant, side: Side, data: &[u8]) {
        if data.len() >= 4 {
            let seq = u16::from_be_bytes([data[2], data[3]]);
            let leg = &mut self.legs[index(side)];
            let max = leg.max_seq.unwrap_or(u32::from(seq));
            let ahead = seq.wrapping_sub(max as u16);
            if ahead < 0x8000 {
                leg.max_seq = Some(max.wrapping_add(u32::from(ahead)));
            }
        }
        // Malformed packets and stray payload types are counted by the direction and dropped.
        let _ = self.dirs[index(side)].handle_packet(now, data);
    }

    /// An RTCP datagram from `side`'s peer: its reception report of what we send steers Opus
    /// FEC. The packet itself is not relayed (the other leg's RTCP describes another stream).
    pub fn on_rtcp(&mut self, side: Side, data: &[u8]) {
        for item in crate::media::rtp::RtcpCompound::new(data) {
            let Ok((_, p)) = item else { return };
            let block = match p.packet_type() {
                200 => 28,
                201 => 8,
                _ => continue,
            };
            let bytes = p.bytes();
            if p.count() > 0 && bytes.len() >= block + 24 {
                let percent = (u32::from(bytes[block + 4]) * 100 / 256) as u8;
                self.dirs[index(side.other())].set_expected_loss(percent);
            }
        }
    }

    /// When `poll_output` has work next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.dirs[0].poll_timeout(), self.dirs[1].poll_timeout(), Some(self.next_rtcp)].into_iter().flatten().min()
    }

    /// The next datagram due at `now`, written into `out`, and the leg and channel it goes to;
    /// call until `None`. `stats` gives what the relay knows of each leg's incoming stream.
    pub fn poll_output(&mut self, now: Instant, out: &mut Vec<u8>, stats: impl Fn(Side) -> LegStats) -> Option<(Side, Channel)> {
        for i in 0..2 {
            // The first poll of a round runs the codecs (about one frame); the rest dequeue.
            let started = (!self.ran[i]).then(Instant::now);
            self.ran[i] = true;
            if self.dirs[i].poll_output_into(now, out) {
                if let Some(t) = started {
                    self.hist[i].observe(t.elapsed().as_secs_f64());
                }
                let to = if i == 0 { Side::B } else { Side::A };
                let leg = &mut self.legs[index(to)];
                leg.packets = leg.packets.wrapping_add(1);
                leg.octets = leg.octets.wrapping_add(out.len().saturating_sub(12) as u32);
                if out.len() >= 8 {
                    leg.last_ts = u32::from_be_bytes([out[4], out[5], out[6], out[7]]);
                }
                return Some((to, Channel::Rtp));
            }
        }
        self.ran = [false; 2];
        // AMR mode requests go to the encoder sending back to the requesting leg.
        if let Some(mode) = self.dirs[0].take_mode_request() {
            self.dirs[1].apply_mode_request(mode);
        }
        if let Some(mode) = self.dirs[1].take_mode_request() {
            self.dirs[0].apply_mode_request(mode);
        }
        if now >= self.next_rtcp {
            let side = if self.rtcp_a_sent { Side::B } else { Side::A };
            self.rtcp_a_sent = side == Side::A;
            if side == Side::B {
                self.next_rtcp = now + RTCP_INTERVAL;
            }
            self.sender_report(side, &stats(side), out);
            return Some((side, Channel::Rtcp));
        }
        None
    }

    /// Our SR toward `side`, with one report block on the stream `side` sends us.
    fn sender_report(&mut self, side: Side, rx: &LegStats, out: &mut Vec<u8>) {
        let leg = &mut self.legs[index(side)];
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let ntp_secs = since.as_secs().wrapping_add(2_208_988_800) as u32;
        let ntp_frac = ((u64::from(since.subsec_nanos()) << 32) / 1_000_000_000) as u32;
        let block = rx.ssrc.zip(leg.max_seq);
        out.clear();
        out.push(0x80 | u8::from(block.is_some()));
        out.push(200);
        let words: u16 = if block.is_some() { 12 } else { 6 };
        out.extend_from_slice(&words.to_be_bytes());
        for v in [leg.ssrc, ntp_secs, ntp_frac, leg.last_ts, leg.packets, leg.octets] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        if let Some((ssrc, max_seq)) = block {
            let received = rx.packets_in;
            let lost = rx.lost.max(0);
            let (prev_rx, prev_lost) = leg.prior;
            let expected = (received - prev_rx.min(received)) as i64 + (lost - prev_lost).max(0);
            let fraction = if expected > 0 { ((lost - prev_lost).max(0) * 256 / expected).min(255) as u32 } else { 0 };
            leg.prior = (received, lost);
            let clock = self.plan_clock(side);
            let jitter = (rx.jitter_ms * f64::from(clock) / 1000.0) as u32;
            for v in [ssrc, fraction << 24 | (lost.min(0x7f_ffff) as u32), max_seq, jitter, 0, 0] {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
    }

    fn plan_clock(&self, side: Side) -> u32 {
        let (MediaPlan::Copy { a, b } | MediaPlan::Transcode { a, b }) = &self.plan;
        match side {
            Side::A => a.config.clock_rate,
            Side::B => b.config.clock_rate,
        }
    }

    /// The counters of the direction reading from `side`.
    pub fn stats(&self, side: Side) -> DirectionStats {
        self.dirs[index(side)].stats()
    }

    /// Packets and payload octets we sent to `side`.
    pub fn sent_to(&self, side: Side) -> (u32, u32) {
        let l = &self.legs[index(side)];
        (l.packets, l.octets)
    }
}

#[cfg(test)]
#[path = "transcoding_session_tests.rs"]
mod tests;
