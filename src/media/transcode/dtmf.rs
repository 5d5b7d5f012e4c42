//! RFC 4733 DTMF between legs: events translated from one leg's clock to the other's, and
//! events generated from digits detected in the audio of a leg without telephone-event.
//!
//! Event timestamps are the output stream's own (the audio timestamp when the event started
//! there), durations are rescaled from the input clock to the output clock, and an event's end
//! is sent three times (RFC 4733 §2.5.1.4). A duration that does not fit 16 bits at the output
//! clock (over 1.36 s at 48 kHz) is held at the maximum.

pub use super::dtmf_detect::{synthesize, DtmfDetector};
use crate::media::rtp::{RtpError, TelephoneEvent};

/// Times an end packet is sent (RFC 4733 §2.5.1.4 recommends three).
const END_REPEATS: usize = 3;
/// Volume of generated events, −dBm0 (a typical DTMF level).
const GENERATED_VOLUME: u8 = 10;

/// One telephone-event packet to send on the output leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// RTP timestamp: the event's start on the output clock.
    pub timestamp: u32,
    /// RTP marker: set on the first packet of an event.
    pub marker: bool,
    /// The event block.
    pub event: TelephoneEvent,
}

impl EventPacket {
    /// The 4-byte RFC 4733 payload.
    pub fn payload(&self) -> [u8; 4] {
        let e = &self.event;
        let d = e.duration.to_be_bytes();
        [e.event, (u8::from(e.end) << 7) | (e.volume & 0x3f), d[0], d[1]]
    }
}

#[derive(Debug, Clone, Copy)]
struct Current {
    in_ts: u32,
    out_ts: u32,
    event: u8,
    duration: u16,
    ended: bool,
}

/// Translates one leg's RFC 4733 events to the other leg's clock.
#[derive(Debug, Clone)]
pub struct DtmfTranslator {
    in_clock: u32,
    out_clock: u32,
    current: Option<Current>,
    events: u64,
}

impl DtmfTranslator {
    /// A translator from events at `in_clock` to events at `out_clock` (Hz).
    pub fn new(in_clock: u32, out_clock: u32) -> DtmfTranslator {
        DtmfTranslator { in_clock: in_clock.max(1), out_clock, current: None, events: 0 }
    }

    /// Events started so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Takes one telephone-event payload with its RTP timestamp; `out_now` is the output
    /// stream's current audio timestamp (where a new event starts). Appends what to send.
    pub fn on_packet(
        &mut self,
        in_ts: u32,
        payload: &[u8],
        out_now: u32,
        out: &mut Vec<EventPacket>,
    ) -> Result<(), RtpError> {
        let ev = TelephoneEvent::parse(payload)?;
        let first = out.len();
        self.translate(in_ts, ev, out_now, out);
        // Events keep the sender's volume; an implied end of the previous event keeps ours.
        for p in out[first..].iter_mut().filter(|p| p.timestamp == out_now || p.event.event == ev.event) {
            p.event.volume = ev.volume;
        }
        Ok(())
    }

    fn translate(&mut self, in_ts: u32, ev: TelephoneEvent, out_now: u32, out: &mut Vec<EventPacket>) {
        let duration = self.scale(ev.duration);
        match &mut self.current {
            Some(cur) if cur.in_ts == in_ts => {
                if cur.ended || (!ev.end && duration <= cur.duration) {
                    return; // a retransmission
                }
                cur.duration = cur.duration.max(duration);
                cur.ended = ev.end;
            }
            Some(cur) if (in_ts.wrapping_sub(cur.in_ts) as i32) < 0 => return, // an old event
            _ => {
                if let Some(prev) = self.current.filter(|c| !c.ended) {
                    // The previous event's end never came: end it before starting the next.
                    push(out, prev.out_ts, false, prev.event, true, prev.duration, END_REPEATS);
                }
                self.events += 1;
                self.current = Some(Current { in_ts, out_ts: out_now, event: ev.event, duration, ended: ev.end });
                if !ev.end {
                    push(out, out_now, true, ev.event, false, duration, 1);
                    return;
                }
            }
        }
        if let Some(cur) = self.current {
            let repeats = if cur.ended { END_REPEATS } else { 1 };
            push(out, cur.out_ts, false, cur.event, cur.ended, cur.duration, repeats);
        }
    }

    fn scale(&self, duration: u16) -> u16 {
        (u64::from(duration) * u64::from(self.out_clock) / u64::from(self.in_clock)).min(0xFFFF) as u16
    }
}

fn push(out: &mut Vec<EventPacket>, ts: u32, marker: bool, event: u8, end: bool, duration: u16, n: usize) {
    for _ in 0..n {
        out.push(EventPacket {
            timestamp: ts,
            marker,
            event: TelephoneEvent { event, end, volume: GENERATED_VOLUME, duration },
        });
    }
}

/// Turns the digit a detector currently hears into RFC 4733 packets, one per output frame.
#[derive(Debug, Clone, Default)]
pub struct DtmfGenerator {
    current: Option<(u8, u32)>,
    events: u64,
}

impl DtmfGenerator {
    /// A generator with no event running.
    pub fn new() -> DtmfGenerator {
        DtmfGenerator::default()
    }

    /// Events started so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Called once per output frame with the output timestamp at the end of the frame
    /// (`out_ts`) and the digit heard now, if any; appends what to send.
    pub fn tick(&mut self, out_ts: u32, frame_ticks: u32, heard: Option<u8>, out: &mut Vec<EventPacket>) {
        match (self.current, heard) {
            (Some((event, start)), Some(h)) if h == event => {
                push(out, start, false, event, false, dur(out_ts, start), 1);
            }
            (current, heard) => {
                if let Some((event, start)) = current {
                    push(out, start, false, event, true, dur(out_ts, start), END_REPEATS);
                    self.current = None;
                }
                if let Some(h) = heard {
                    let start = out_ts.wrapping_sub(frame_ticks);
                    self.current = Some((h, start));
                    self.events += 1;
                    push(out, start, true, h, false, dur(out_ts, start), 1);
                }
            }
        }
    }
}

/// Plays RFC 4733 digits into the audio of a leg that has no telephone-event.
///
/// While an event runs, each decoded frame is replaced by the digit's two tones at the level
/// the event gives; an event whose end never comes stops after 200 ms without an update.
#[derive(Debug, Clone, Default)]
pub struct ToneInserter {
    /// Input timestamp, event code, amplitude per tone, samples played.
    current: Option<(u32, u8, f32, usize)>,
    ended: Option<u32>,
    frames_since_update: u32,
    played: u64,
}

/// dBFS of 0 dBm0 (µ-law: a full-scale sine is +3.17 dBm0, ITU-T G.711).
const DBM0_IN_DBFS: f32 = -3.17;
/// Frames (20 ms) without an update after which a running event is taken as ended.
const STALE_FRAMES: u32 = 10;

impl ToneInserter {
    /// No event running.
    pub fn new() -> ToneInserter {
        ToneInserter::default()
    }

    /// Events played so far.
    pub fn played(&self) -> u64 {
        self.played
    }

    /// Takes one telephone-event payload with its RTP timestamp.
    pub fn on_packet(&mut self, in_ts: u32, payload: &[u8]) -> Result<(), RtpError> {
        let ev = TelephoneEvent::parse(payload)?;
        if ev.event > 15 || self.ended == Some(in_ts) {
            return Ok(()); // flash and other non-digits, or a repeated end
        }
        self.frames_since_update = 0;
        if ev.end {
            self.ended = Some(in_ts);
            self.current = None;
            return Ok(());
        }
        if self.current.map(|c| c.0) != Some(in_ts) {
            // −volume dBm0, with 0 dBm0 at −3.14 dBFS; each tone carries half the power.
            let amplitude = 10f32.powf((DBM0_IN_DBFS - f32::from(ev.volume)) / 20.0) * std::f32::consts::FRAC_1_SQRT_2;
            self.current = Some((in_ts, ev.event, amplitude, 0));
            self.played += 1;
        }
        Ok(())
    }

    /// Replaces `pcm` (one frame at `rate`) with the running digit's tones, if one runs.
    pub fn fill(&mut self, pcm: &mut Vec<i16>, rate: u32) {
        self.frames_since_update += 1;
        if self.frames_since_update > STALE_FRAMES {
            self.current = None;
        }
        let Some((_, event, amplitude, offset)) = &mut self.current else { return };
        let n = pcm.len();
        pcm.clear();
        synthesize(*event, rate, *offset, n, *amplitude, pcm);
        *offset += n;
    }
}

fn dur(now: u32, start: u32) -> u16 {
    now.wrapping_sub(start).min(0xFFFF) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        EventPacket { timestamp: 0, marker: false, event: TelephoneEvent { event, end, volume: 10, duration } }.payload()
    }

    #[test]
    fn events_are_rescaled_and_ends_sent_three_times() {
        let mut t = DtmfTranslator::new(16_000, 48_000);
        let mut out = Vec::new();
        for d in [320u16, 640, 960, 1280, 1600] {
            t.on_packet(5000, &payload(1, false, d), 777, &mut out).unwrap();
        }
        for _ in 0..3 {
            t.on_packet(5000, &payload(1, true, 1600), 999, &mut out).unwrap();
        }
        assert_eq!(out.len(), 5 + 3);
        assert!(out[0].marker && out[1..].iter().all(|p| !p.marker));
        assert!(out.iter().all(|p| p.timestamp == 777 && p.event.event == 1));
        assert_eq!(out[4].event.duration, 4800);
        assert!(out[5..].iter().all(|p| p.event.end && p.event.duration == 4800));
        assert_eq!(TelephoneEvent::parse(&out[7].payload()).unwrap(), out[7].event);
        // A second event starts at the output's current timestamp.
        out.clear();
        t.on_packet(9000, &payload(2, false, 160), 2000, &mut out).unwrap();
        assert_eq!((out[0].timestamp, out[0].marker, out[0].event.duration), (2000, true, 480));
        assert_eq!(t.events(), 2);
        assert!(t.on_packet(9000, &[1, 2], 2000, &mut out).is_err());
    }

    #[test]
    fn a_missing_end_is_sent_before_the_next_event() {
        let mut t = DtmfTranslator::new(8_000, 8_000);
        let mut out = Vec::new();
        t.on_packet(100, &payload(3, false, 160), 50, &mut out).unwrap();
        t.on_packet(2000, &payload(4, false, 160), 900, &mut out).unwrap();
        assert_eq!(out.len(), 1 + 3 + 1);
        assert!(out[1..4].iter().all(|p| p.event.end && p.event.event == 3 && p.timestamp == 50));
        // A late packet of the old event is ignored.
        t.on_packet(100, &payload(3, true, 320), 900, &mut out).unwrap();
        assert_eq!(out.len(), 5);
    }

    #[test]
    fn the_inserter_plays_a_digit_until_its_end() {
        let mut ins = ToneInserter::new();
        let mut pcm = vec![0i16; 160];
        ins.fill(&mut pcm, 8000);
        assert!(pcm.iter().all(|&s| s == 0));
        ins.on_packet(10, &payload(7, false, 160)).unwrap();
        ins.fill(&mut pcm, 8000);
        assert_eq!(pcm.len(), 160);
        let mut d = DtmfDetector::new(8000);
        for _ in 0..5 {
            ins.fill(&mut pcm, 8000);
            d.process(&pcm);
        }
        assert_eq!(d.active(), Some(7));
        ins.on_packet(10, &payload(7, true, 960)).unwrap();
        pcm.iter_mut().for_each(|s| *s = 0);
        ins.fill(&mut pcm, 8000);
        assert!(pcm.iter().all(|&s| s == 0));
        assert_eq!(ins.played(), 1);
    }

    #[test]
    fn the_generator_starts_updates_and_ends() {
        let mut g = DtmfGenerator::new();
        let mut out = Vec::new();
        g.tick(160, 160, None, &mut out);
        g.tick(320, 160, Some(5), &mut out);
        g.tick(480, 160, Some(5), &mut out);
        g.tick(640, 160, None, &mut out);
        assert_eq!(out.len(), 1 + 1 + 3);
        assert!(out[0].marker && out.iter().all(|p| p.timestamp == 160 && p.event.event == 5));
        assert_eq!(out[1].event.duration, 320);
        assert!(out[2..].iter().all(|p| p.event.end && p.event.duration == 480));
        assert_eq!(g.events(), 1);
    }
}
