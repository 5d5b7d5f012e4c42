//! Adaptive jitter buffer: orders one leg's RTP packets by timestamp and releases one frame per
//! packet time, or says that a frame is lost (and whether its successor is here, for Opus FEC).
//!
//! Playout follows a fixed cadence: a frame with (extended) timestamp `ts` is due at
//! `ts / clock + offset`, and `pop` is called whenever that instant has passed. The offset
//! is the earliest transit seen recently plus a target delay, the spread of recent transits plus
//! a margin, clamped to `[min_delay, max_delay]`. The buffer adapts by holding the timestamp for
//! one pop (one concealed frame, delay + 1 frame) when the target grew, and by skipping one frame
//! (delay − 1 frame) when it sits more than two frames above target. Output therefore never stops:
//! every pop yields a packet or a loss, and the delay a packet waits is bounded by `max_delay`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Recent transits kept to estimate jitter (about 2 s of 20 ms packets).
const WINDOW: usize = 100;
/// Packets held at most; more is a flood, and the newest are dropped.
const MAX_PACKETS: usize = 64;
/// Histogram bins of the playout delay, 2 ms each (0..512 ms).
const DELAY_BINS: usize = 256;
/// Added to the measured transit spread to absorb what the window has not seen yet.
const MARGIN: Duration = Duration::from_millis(10);

/// Bounds of the playout delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock of the leg, Hz.
    pub clock_rate: u32,
    /// Packet time the leg negotiated; learned again from the timestamps of consecutive packets.
    pub ptime: Duration,
    /// Least delay between a packet's earliest expected arrival and its playout.
    pub min_delay: Duration,
    /// Most delay; a packet later than this is dropped and counted as late.
    pub max_delay: Duration,
    /// Delay used before any jitter has been measured.
    pub initial_delay: Duration,
}

impl JitterConfig {
    /// 20–200 ms bounds, starting at 60 ms, for a leg with this clock and packet time.
    pub fn new(clock_rate: u32, ptime: Duration) -> JitterConfig {
        JitterConfig {
            clock_rate,
            ptime,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            initial_delay: Duration::from_millis(60),
        }
    }
}

/// What the next frame of playout is.
#[derive(Debug, PartialEq, Eq)]
pub enum Playout {
    /// Not due yet; call again at the instant given.
    Wait(Instant),
    /// Nothing has arrived yet: there is no playout to drive.
    Idle,
    /// The frame's packet.
    Packet {
        /// The RTP payload.
        payload: Vec<u8>,
        /// The RTP marker bit (start of a talkspurt).
        marker: bool,
    },
    /// The frame's packet is missing: conceal it. `next_present` says whether the packet that
    /// directly follows is buffered ([`JitterBuffer::next_payload`] returns it), so a codec with
    /// in-band FEC can rebuild the lost frame from it.
    Lost {
        /// The following packet is here.
        next_present: bool,
    },
    /// No packet for this frame, and none is missing: the sender paused (DTX or silence
    /// suppression). Play comfort noise or silence.
    Gap,
}

/// Counters and delay percentiles of one jitter buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted into the buffer.
    pub received: u64,
    /// Packets played out.
    pub played: u64,
    /// Frames played out as lost.
    pub lost: u64,
    /// Frames with no packet where the sequence numbers show nothing was lost (DTX, silence).
    pub gaps: u64,
    /// Packets that arrived after their playout time (dropped).
    pub late: u64,
    /// Packets received twice (dropped).
    pub duplicates: u64,
    /// Packets dropped because the buffer was full.
    pub overflow: u64,
    /// Frames inserted to grow the delay.
    pub stretched: u64,
    /// Frames skipped to shrink the delay.
    pub skipped: u64,
    /// Times the timeline was reset (new SSRC, timestamp jump).
    pub resyncs: u64,
    /// Median delay from arrival to playout, ms.
    pub delay_p50_ms: u32,
    /// 99th percentile delay from arrival to playout, ms.
    pub delay_p99_ms: u32,
    /// Largest delay from arrival to playout, ms.
    pub delay_max_ms: u32,
}

#[derive(Debug)]
struct Entry {
    seq: i64,
    marker: bool,
    arrival: Instant,
    payload: Vec<u8>,
}

/// The timeline, once the first packet has arrived.
#[derive(Debug)]
struct Timeline {
    ssrc: u32,
    /// The instant transits are measured from.
    base: Instant,
    /// Last raw timestamp and sequence number seen, and their extended values.
    last_ts: u32,
    last_ts_ext: i64,
    last_seq: u16,
    last_seq_ext: i64,
    /// Extended timestamp of the next frame to play, and when it is due.
    next_ts: i64,
    next_pop: Instant,
    /// Playout offset in µs: frame `ts` is due at `base + ts_us(ts) + offset`.
    offset_us: i64,
    /// Pops since the last adaptation.
    since_adapt: u32,
    /// Extended sequence number of the last packet played.
    last_played_seq: Option<i64>,
}

/// An adaptive jitter buffer for one leg's incoming RTP.
#[derive(Debug)]
pub struct JitterBuffer {
    config: JitterConfig,
    frame_ticks: i64,
    last_step: i64,
    line: Option<Timeline>,
    packets: BTreeMap<i64, Entry>,
    transits: [i64; WINDOW],
    n_transits: usize,
    stats: JitterStats,
    delays: [u32; DELAY_BINS],
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> JitterBuffer {
        let frame_ticks = ticks(config.ptime, config.clock_rate).max(1);
        JitterBuffer {
            config,
            frame_ticks,
            last_step: 0,
            line: None,
            packets: BTreeMap::new(),
            transits: [0; WINDOW],
            n_transits: 0,
            stats: JitterStats::default(),
            delays: [0; DELAY_BINS],
        }
    }

    /// Takes one packet that arrived at `now`.
    pub fn insert(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32, marker: bool, payload: &[u8]) {
        self.insert_once(now, ssrc, seq, ts, marker, payload, true);
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_once(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32, marker: bool, payload: &[u8], may_resync: bool) {
        let clock = self.config.clock_rate;
        match &self.line {
            Some(line) if line.ssrc != ssrc => {
                // A new source: keep the output cadence, restart the timeline at this packet.
                self.stats.resyncs += 1;
                self.restart(now, ssrc, seq, ts);
            }
            Some(_) => {}
            None => {
                let delay = self.config.initial_delay;
                self.line = Some(Timeline {
                    ssrc,
                    base: now,
                    last_ts: ts,
                    last_ts_ext: 0,
                    last_seq: seq,
                    last_seq_ext: 0,
                    next_ts: 0,
                    next_pop: now + delay,
                    offset_us: delay.as_micros() as i64,
                    since_adapt: 0,
                    last_played_seq: None,
                });
            }
        }
        let Some(line) = &mut self.line else { return };
        let ts_ext = line.last_ts_ext + i64::from(ts.wrapping_sub(line.last_ts) as i32);
        let seq_ext = line.last_seq_ext + i64::from(seq.wrapping_sub(line.last_seq) as i16);
        let newest = seq_ext > line.last_seq_ext;
        if newest {
            // Learn the packet time from consecutive packets (20 vs 40 ms legs); the same step
            // twice in a row, so a pause (DTX) between two packets does not count.
            let step = ts_ext - line.last_ts_ext;
            if seq_ext == line.last_seq_ext + 1 && step > 0 && step <= i64::from(clock) * 120 / 1000 {
                if step == self.last_step {
                    self.frame_ticks = step;
                }
                self.last_step = step;
            }
            line.last_ts = ts;
            line.last_ts_ext = ts_ext;
            line.last_seq = seq;
            line.last_seq_ext = seq_ext;
        }
        let transit = micros_since(line.base, now) - ts_us(ts_ext, clock);
        let due_us = ts_us(ts_ext, clock) + line.offset_us;
        let now_us = micros_since(line.base, now);
        let far_late = ts_ext < line.next_ts && now_us - due_us > self.config.max_delay.as_micros() as i64;
        let far_early = due_us - now_us > (self.config.max_delay + Duration::from_secs(1)).as_micros() as i64;
        if newest && may_resync && (far_late || far_early) {
            // The sender's timestamps jumped (hold/resume, a restarted source): a new timeline.
            self.stats.resyncs += 1;
            self.restart(now, ssrc, seq, ts);
            return self.insert_once(now, ssrc, seq, ts, marker, payload, false);
        }
        // Late packets count towards the jitter estimate too: that is how the delay learns to grow.
        self.transits[self.n_transits % WINDOW] = transit;
        self.n_transits += 1;
        if ts_ext < line.next_ts {
            self.stats.late += 1;
            return;
        }
        if self.packets.contains_key(&ts_ext) {
            self.stats.duplicates += 1;
            return;
        }
        if self.packets.len() >= MAX_PACKETS {
            self.stats.overflow += 1;
            return;
        }
        self.stats.received += 1;
        self.packets.insert(ts_ext, Entry { seq: seq_ext, marker, arrival: now, payload: payload.to_vec() });
    }

    /// Keeps the output cadence and restarts the timeline at a packet with `seq`/`ts`.
    fn restart(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32) {
        let next_pop = self.line.as_ref().map_or(now + self.config.initial_delay, |l| l.next_pop.max(now));
        self.packets.clear();
        self.n_transits = 0;
        let offset = next_pop.saturating_duration_since(now);
        self.line = Some(Timeline {
            ssrc,
            base: now,
            last_ts: ts,
            last_ts_ext: 0,
            last_seq: seq,
            last_seq_ext: 0,
            next_ts: 0,
            next_pop,
            offset_us: offset.as_micros() as i64,
            since_adapt: 0,
            last_played_seq: None,
        });
    }

    /// The delay the buffer aims at, from the recent transit spread.
    fn target_us(&self) -> i64 {
        let (min, max) = (self.config.min_delay.as_micros() as i64, self.config.max_delay.as_micros() as i64);
        let n = self.n_transits.min(WINDOW);
        if n < 2 {
            return (self.config.initial_delay.as_micros() as i64).clamp(min, max);
        }
        let seen = &self.transits[..n];
        let spread = seen.iter().max().copied().unwrap_or(0) - seen.iter().min().copied().unwrap_or(0);
        (spread + MARGIN.as_micros() as i64).clamp(min, max)
    }

    fn min_transit_us(&self) -> Option<i64> {
        self.transits[..self.n_transits.min(WINDOW)].iter().min().copied()
    }

    /// When the next frame is due, once something has arrived.
    pub fn next_due(&self) -> Option<Instant> {
        self.line.as_ref().map(|l| l.next_pop)
    }

    /// The next frame, if it is due at `now`.
    pub fn pop(&mut self, now: Instant) -> Playout {
        let frame = ticks_duration(self.frame_ticks, self.config.clock_rate);
        let desired = self.min_transit_us().map(|m| m + self.target_us());
        let frame_us = frame.as_micros() as i64;
        let Some(line) = &mut self.line else { return Playout::Idle };
        if now < line.next_pop {
            return Playout::Wait(line.next_pop);
        }
        line.next_pop += frame;
        line.since_adapt = line.since_adapt.saturating_add(1);
        let present = self.packets.contains_key(&line.next_ts);
        if let Some(desired) = desired {
            let settled = line.since_adapt >= 5;
            if !present && desired - line.offset_us >= frame_us / 2 {
                // The delay is below target and this frame is missing: wait one frame for it.
                line.offset_us += frame_us;
                line.since_adapt = 0;
                self.stats.stretched += 1;
                return Playout::Lost { next_present: false };
            }
            if settled && line.offset_us - desired > 2 * frame_us {
                // Well above target: drop one frame of delay.
                line.offset_us -= frame_us;
                line.since_adapt = 0;
                self.packets.remove(&line.next_ts);
                line.next_ts += self.frame_ticks;
                self.stats.skipped += 1;
            }
        }
        let ts = line.next_ts;
        line.next_ts += self.frame_ticks;
        match self.packets.remove(&ts) {
            Some(entry) => {
                line.last_played_seq = Some(entry.seq);
                self.stats.played += 1;
                let delay = now.saturating_duration_since(entry.arrival).as_millis() as u32;
                self.delays[(delay as usize / 2).min(DELAY_BINS - 1)] += 1;
                self.stats.delay_max_ms = self.stats.delay_max_ms.max(delay);
                Playout::Packet { payload: entry.payload, marker: entry.marker }
            }
            None => {
                // Drop anything the timeline has passed (it could only be played late).
                while let Some((&k, _)) = self.packets.first_key_value() {
                    if k >= line.next_ts {
                        break;
                    }
                    self.packets.remove(&k);
                    self.stats.late += 1;
                }
                // Nothing is missing in the sequence numbers: the sender paused (DTX, silence).
                let next_seq = self.packets.first_key_value().map(|(_, e)| e.seq);
                if next_seq.is_some() && next_seq == line.last_played_seq.map(|s| s + 1) {
                    self.stats.gaps += 1;
                    return Playout::Gap;
                }
                self.stats.lost += 1;
                Playout::Lost { next_present: self.packets.contains_key(&line.next_ts) }
            }
        }
    }

    /// The payload of the next frame's packet, if buffered (for FEC after [`Playout::Lost`]).
    pub fn next_payload(&self) -> Option<&[u8]> {
        let line = self.line.as_ref()?;
        self.packets.get(&line.next_ts).map(|e| e.payload.as_slice())
    }

    /// The packet time in RTP ticks: the leg's ptime until consecutive packets show another.
    pub fn frame_ticks(&self) -> u32 {
        self.frame_ticks.clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Forgets the timeline after the sender went quiet: `pop` is `Idle` and `next_due` `None`
    /// until the next packet starts a new timeline with the initial delay.
    pub fn suspend(&mut self) {
        self.line = None;
        self.packets.clear();
        self.n_transits = 0;
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether no packet is waiting.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// The counters, with delay percentiles computed now.
    pub fn stats(&self) -> JitterStats {
        let mut s = self.stats.clone();
        let total: u64 = self.delays.iter().map(|&c| u64::from(c)).sum();
        let percentile = |p: u64| {
            let want = (total * p).div_ceil(100).max(1);
            let mut acc = 0u64;
            for (i, &c) in self.delays.iter().enumerate() {
                acc += u64::from(c);
                if acc >= want {
                    return (i as u32) * 2 + 1;
                }
            }
            0
        };
        if total > 0 {
            s.delay_p50_ms = percentile(50);
            s.delay_p99_ms = percentile(99);
        }
        s
    }
}

fn ticks(d: Duration, clock: u32) -> i64 {
    (d.as_micros() as i64) * i64::from(clock) / 1_000_000
}

fn ticks_duration(t: i64, clock: u32) -> Duration {
    Duration::from_micros((t.max(0) as u64) * 1_000_000 / u64::from(clock.max(1)))
}

fn ts_us(ts: i64, clock: u32) -> i64 {
    ts * 1_000_000 / i64::from(clock.max(1))
}

fn micros_since(base: Instant, now: Instant) -> i64 {
    match now.checked_duration_since(base) {
        Some(d) => d.as_micros() as i64,
        None => -(base.duration_since(now).as_micros() as i64),
    }
}

#[cfg(test)]
#[path = "jitter_tests.rs"]
mod tests;
