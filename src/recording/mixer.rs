//! The recorder's timeline (sans-IO): RTP packets of both sides in, with their arrival offset
//! from the start of the recording; two-channel 8 kHz PCM blocks of a fixed length out.
//!
//! Each side's packets are decoded by payload type (the static G.711 and G.722 types, or what
//! [`Mixer::set_codec`] was told from the SDP) and placed at the sample position given by their
//! RTP timestamp relative to the first packet of the stream, which is itself placed at its
//! arrival time. A new SSRC, or a timestamp that strays more than a second from the arrival
//! clock, re-anchors the stream on arrival. Whatever is not covered by a packet (loss, silence
//! suppression, the recorder's own drops) stays silence, so the timeline equals the call's.
//! Payloads no decoder handles are kept verbatim with their position (`RawPacket`).
//!
//! A block is emitted once the arrival clock is `margin` past its end, so packets delayed by
//! jitter still land in it; later packets for an emitted block are counted as `late`.
use std::collections::HashMap;
use std::time::Duration;

use super::container::{Block, RawPacket, CHANNELS};
use super::manifest::Gap;
use super::Track;
use crate::media::codec::{AudioDecoder, CodecConfig};
use crate::media::rtp::RtpPacket;
use crate::media::transcode::resample::Resampler;

/// The recording's sample rate.
pub const SAMPLE_RATE: u32 = 8000;
/// How far a timestamp may stray from the arrival clock before the stream is re-anchored.
const MAX_SKEW: i64 = SAMPLE_RATE as i64;
/// Packets further ahead than this are implausible and dropped.
const HORIZON: u64 = 30 * SAMPLE_RATE as u64;

fn frames_at(d: Duration) -> u64 {
    (d.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000) as u64
}

fn ms_of(frames: u64) -> u64 {
    frames * 1000 / u64::from(SAMPLE_RATE)
}

struct Decoder {
    decoder: Box<dyn AudioDecoder>,
    resampler: Option<Resampler>,
    clock: u32,
}

#[derive(Clone, Copy)]
struct Anchor {
    ssrc: u32,
    ts: u32,
    pos: i64,
    clock: u32,
}

#[derive(Default)]
struct Side {
    anchor: Option<Anchor>,
    decoders: HashMap<u8, Option<Decoder>>,
    last_arrival: u64,
}

/// Counters of what the timeline did with its input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MixerStats {
    pub packets: u64,
    pub decoded: u64,
    pub raw: u64,
    /// Packets for a block already emitted.
    pub late: u64,
    /// Packets the recorder's queue refused (reported by the tap).
    pub dropped: u64,
    pub malformed: u64,
}

pub struct Mixer {
    seg_frames: u64,
    margin: u64,
    next_index: u32,
    /// Timeline position of `buf[0]`.
    seg_start: u64,
    buf: Vec<i16>,
    raw: Vec<RawPacket>,
    sides: [Side; 2],
    /// Per side: what each payload type carries.
    codecs: [HashMap<u8, CodecConfig>; 2],
    gaps: Vec<Gap>,
    stats: MixerStats,
    pcm: Vec<i16>,
    resampled: Vec<i16>,
    /// A written block's PCM buffer, handed back for the next block.
    spare: Vec<i16>,
}

impl Mixer {
    /// A timeline cut into blocks of `segment`, each emitted `margin` after its end.
    pub fn new(segment: Duration, margin: Duration) -> Mixer {
        let mut codecs = HashMap::new();
        for (pt, name) in [(0u8, "PCMU"), (8, "PCMA"), (9, "G722")] {
            if let Ok(c) = CodecConfig::from_sdp(name, 8000, None, &[]) {
                codecs.insert(pt, c);
            }
        }
        Mixer {
            seg_frames: frames_at(segment).max(1),
            margin: frames_at(margin),
            next_index: 0,
            seg_start: 0,
            buf: Vec::new(),
            raw: Vec::new(),
            sides: [Side::default(), Side::default()],
            codecs: [codecs.clone(), codecs],
            gaps: Vec::new(),
            stats: MixerStats::default(),
            pcm: Vec::new(),
            resampled: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// What a dynamic payload type carries on `side` (from that leg's SDP); replaces the static
    /// assignment.
    pub fn set_codec(&mut self, side: usize, payload_type: u8, codec: CodecConfig) {
        let Some(codecs) = self.codecs.get_mut(side) else { return };
        // The same codec again (a re-INVITE for hold, a refresh) keeps the decoder's state.
        if codecs.get(&payload_type) == Some(&codec) {
            return;
        }
        codecs.insert(payload_type, codec);
        self.sides[side].decoders.remove(&payload_type);
    }

    /// Gives a written block's PCM buffer back: the next block is cut into it instead of a
    /// fresh allocation.
    pub fn recycle(&mut self, pcm: Vec<i16>) {
        if pcm.capacity() > self.spare.capacity() {
            self.spare = pcm;
        }
    }

    pub fn stats(&self) -> MixerStats {
        self.stats
    }

    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }

    /// Segments emitted so far.
    pub fn emitted(&self) -> u32 {
        self.next_index
    }

    /// Takes one packet of `track` that arrived `at` after the start; `dropped_before` packets of
    /// that track were refused by the queue just before it.
    pub fn push(&mut self, track: Track, at: Duration, packet: &[u8], dropped_before: u32) {
        let Some(side) = track.audio_side() else {
            return;
        };
        let arrival = frames_at(at);
        if dropped_before > 0 {
            let from = self.sides[side].last_arrival;
            self.gaps.push(Gap {
                track: track.role().to_owned(),
                from_ms: ms_of(from),
                to_ms: ms_of(arrival),
                packets: u64::from(dropped_before),
            });
            self.stats.dropped += u64::from(dropped_before);
        }
        self.sides[side].last_arrival = arrival;
        self.stats.packets += 1;
        let Ok(rtp) = RtpPacket::parse(packet) else {
            self.stats.malformed += 1;
            return;
        };
        let pt = rtp.payload_type();
        // Comfort noise carries no speech: its stretch stays silence.
        if pt == 13 {
            return;
        }
        let codecs = &self.codecs[side];
        let entry = self.sides[side].decoders.entry(pt).or_insert_with(|| {
            let c = codecs.get(&pt)?;
            let decoder = c.decoder().ok()?;
            let rate = decoder.sample_rate();
            let resampler = if rate == SAMPLE_RATE { None } else { Some(Resampler::new(rate, SAMPLE_RATE).ok()?) };
            Some(Decoder { decoder, resampler, clock: c.clock_rate })
        });
        let clock = entry.as_ref().map_or(SAMPLE_RATE, |d| d.clock);
        let pos = self.place(side, rtp.ssrc(), rtp.timestamp(), clock, arrival as i64);
        let Some(dec) = self.sides[side].decoders.get_mut(&pt).and_then(Option::as_mut) else {
            self.stats.raw += 1;
            if pos >= self.seg_start && pos < self.seg_start + HORIZON {
                self.raw.push(RawPacket { side: side as u8, payload_type: pt, position: pos, payload: rtp.payload().to_vec() });
            } else {
                self.stats.late += 1;
            }
            return;
        };
        self.pcm.clear();
        if dec.decoder.decode(rtp.payload(), &mut self.pcm).is_err() {
            self.stats.malformed += 1;
            return;
        }
        let samples = match dec.resampler.as_mut() {
            Some(r) => {
                self.resampled.clear();
                r.process(&self.pcm, &mut self.resampled);
                &self.resampled
            }
            None => &self.pcm,
        };
        self.stats.decoded += 1;
        write(&mut self.buf, self.seg_start, pos, side, samples, &mut self.stats);
    }

    /// The timeline position of a packet, anchoring its stream when needed.
    fn place(&mut self, side: usize, ssrc: u32, ts: u32, clock: u32, arrival: i64) -> u64 {
        let s = &mut self.sides[side];
        let pos = match s.anchor {
            Some(a) if a.ssrc == ssrc && a.clock == clock => {
                let delta = i64::from(ts.wrapping_sub(a.ts) as i32) * i64::from(SAMPLE_RATE) / i64::from(clock.max(1));
                let pos = a.pos + delta;
                if (pos - arrival).abs() > MAX_SKEW {
                    None
                } else {
                    Some(pos)
                }
            }
            _ => None,
        };
        let pos = pos.unwrap_or_else(|| {
            s.anchor = Some(Anchor { ssrc, ts, pos: arrival, clock });
            arrival
        });
        pos.max(0) as u64
    }

    /// The next block whose end is `margin` behind the arrival clock at `now`.
    pub fn poll(&mut self, now: Duration) -> Option<Block> {
        if frames_at(now) >= self.seg_start + self.seg_frames + self.margin {
            Some(self.emit(self.seg_frames))
        } else {
            None
        }
    }

    /// Every remaining block up to `end`, the last one shorter.
    pub fn finish(&mut self, end: Duration) -> Vec<Block> {
        let end = frames_at(end);
        let mut out = Vec::new();
        while self.seg_start < end {
            out.push(self.emit(self.seg_frames.min(end - self.seg_start)));
        }
        out
    }

    fn emit(&mut self, frames: u64) -> Block {
        let n = frames as usize * CHANNELS;
        let mut pcm = std::mem::take(&mut self.spare);
        pcm.clear();
        pcm.extend(self.buf.drain(..n.min(self.buf.len())));
        pcm.resize(n, 0);
        let end = self.seg_start + frames;
        let (raw, rest): (Vec<RawPacket>, Vec<RawPacket>) = std::mem::take(&mut self.raw).into_iter().partition(|r| r.position < end);
        self.raw = rest;
        let block = Block { index: self.next_index, sample_rate: SAMPLE_RATE, start_sample: self.seg_start, pcm, raw };
        self.next_index += 1;
        self.seg_start = end;
        block
    }
}

/// The audio codecs an SDP announces on m-line `index` (rtpmap + fmtp), by payload type;
/// telephone-event and what `media::codec` cannot build are left out (kept raw).
pub fn codecs_of(sdp: &crate::sip::sdp::SessionDescription, index: usize) -> Vec<(u8, CodecConfig)> {
    use crate::sip::sdp::AttributeSet;
    let Some(m) = sdp.media.get(index) else { return Vec::new() };
    m.payload_types()
        .filter_map(|pt| {
            let r = m.codec(pt)?;
            let fmtp: Vec<(String, String)> = m
                .fmtp(&pt.to_string())
                .map(|f| f.params.into_iter().map(|p| (p.name, p.value.unwrap_or_default())).collect())
                .unwrap_or_default();
            let channels = r.channels.and_then(|c| u8::try_from(c).ok());
            let c = CodecConfig::from_sdp(&r.encoding, r.clock_rate, channels, &fmtp).ok()?;
            c.decoder().ok()?;
            Some((pt, c))
        })
        .collect()
}

fn write(buf: &mut Vec<i16>, seg_start: u64, pos: u64, side: usize, samples: &[i16], stats: &mut MixerStats) {
    let (skip, offset) = if pos < seg_start { ((seg_start - pos) as usize, 0) } else { (0, (pos - seg_start) as usize) };
    if skip >= samples.len() {
        stats.late += 1;
        return;
    }
    if offset as u64 + samples.len() as u64 > HORIZON {
        return;
    }
    let samples = &samples[skip..];
    let need = (offset + samples.len()) * CHANNELS;
    if buf.len() < need {
        buf.resize(need, 0);
    }
    for (i, s) in samples.iter().enumerate() {
        buf[(offset + i) * CHANNELS + side] = *s;
    }
}

#[cfg(test)]
#[path = "mixer_tests.rs"]
mod tests;
