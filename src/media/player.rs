//! Prompt playback toward one side of a media session: PCM clips encoded to G.711 and sent as
//! 20 ms RTP packets with one SSRC and continuous sequence numbers and timestamps across clips
//! and restarts. `Player` is sans-IO (time comes in as `now`); `Slots` is the per-session holder
//! the engine's session task polls, and `parse_wav` reads the shipped prompt files.
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::codec::{AudioEncoder, G711Encoder, G711Law};
use super::relay::Side;

/// 8 kHz mono 16-bit PCM.
pub type Clip = Arc<[i16]>;

/// Samples per packet (20 ms at 8 kHz).
const FRAME: usize = 160;
const PTIME: Duration = Duration::from_millis(20);
/// Further behind than this (a stalled task), the player skips ahead instead of bursting.
const MAX_LAG: Duration = Duration::from_millis(200);

/// The G.711 law prompts are encoded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    Mu,
    A,
}

/// Plays a queue of clips, then loops a background clip (comfort tone) if one is given.
#[derive(Debug)]
pub struct Player {
    ssrc: u32,
    seq: u16,
    ts: u32,
    pt: u8,
    law: Law,
    clips: VecDeque<Clip>,
    pos: usize,
    then: Option<Clip>,
    next: Option<Instant>,
    marker: bool,
}

impl Player {
    /// A stopped player; `ssrc`, `seq` and `ts` are the random starting values (RFC 3550 §5.1).
    pub fn new(ssrc: u32, seq: u16, ts: u32) -> Player {
        Player { ssrc, seq, ts, pt: 0, law: Law::Mu, clips: VecDeque::new(), pos: 0, then: None, next: None, marker: false }
    }

    /// Replaces what is playing: `clips` in order, then `then` in a loop. The stream goes on with
    /// the same SSRC; the first packet carries the marker bit (a new talkspurt).
    pub fn start(&mut self, now: Instant, pt: u8, law: Law, clips: Vec<Clip>, then: Option<Clip>) {
        if let Some(last) = self.next {
            // Keep the timeline: the time not sent since the last packet still passes.
            let gap = now.saturating_duration_since(last);
            self.ts = self.ts.wrapping_add((gap.as_micros() / 125) as u32);
        }
        self.pt = pt;
        self.law = law;
        self.clips = clips.into_iter().filter(|c| !c.is_empty()).collect();
        self.pos = 0;
        self.then = then.filter(|c| !c.is_empty());
        self.marker = true;
        self.next = (!self.clips.is_empty() || self.then.is_some()).then_some(now);
    }

    /// Stops sending.
    pub fn stop(&mut self) {
        self.clips.clear();
        self.then = None;
        self.next = None;
    }

    /// When the next packet is due; `None` when nothing plays.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    /// Writes the packet due at `now` into `out` (cleared first); `false` when none is due.
    pub fn poll_packet(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        let Some(mut due) = self.next else { return false };
        if due > now {
            return false;
        }
        if now.saturating_duration_since(due) > MAX_LAG {
            let skipped = (now.saturating_duration_since(due).as_micros() / PTIME.as_micros()) as u32;
            self.ts = self.ts.wrapping_add(skipped * FRAME as u32);
            due += PTIME * skipped;
        }
        let mut pcm = [0i16; FRAME];
        let mut filled = 0;
        while filled < FRAME {
            let Some(clip) = self.clips.front().or(self.then.as_ref()).cloned() else { break };
            let n = (clip.len() - self.pos).min(FRAME - filled);
            pcm[filled..filled + n].copy_from_slice(&clip[self.pos..self.pos + n]);
            filled += n;
            self.pos += n;
            if self.pos >= clip.len() {
                self.pos = 0;
                if self.clips.pop_front().is_none() && self.then.as_ref().is_some_and(|t| t.len() < FRAME) {
                    // A background shorter than a packet: pad with silence rather than spin.
                    break;
                }
            }
        }
        if filled == 0 {
            self.next = None;
            return false;
        }
        out.clear();
        out.extend_from_slice(&[0x80, self.pt & 0x7f | if self.marker { 0x80 } else { 0 }]);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ts.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        let law = match self.law {
            Law::Mu => G711Law::Mu,
            Law::A => G711Law::A,
        };
        // 20 ms is a valid G.711 ptime and `pcm` is exactly one frame: neither call can fail.
        if let Ok(mut enc) = G711Encoder::new(law, 20) {
            let _ = enc.encode(&pcm, out);
        }
        self.marker = false;
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(FRAME as u32);
        self.next = (!self.clips.is_empty() || self.then.is_some()).then_some(due + PTIME);
        true
    }
}

/// The players of one session, side A and side B, shared between the core (start/stop) and the
/// session task (sending).
#[derive(Debug, Default)]
pub struct Slots {
    sides: Mutex<[Option<Player>; 2]>,
}

fn index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

impl Slots {
    fn lock(&self) -> MutexGuard<'_, [Option<Player>; 2]> {
        // A player has no invariant a panic elsewhere could break.
        self.sides.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts (or restarts, keeping the stream) playback toward `side`.
    #[allow(clippy::too_many_arguments)]
    pub fn play(&self, now: Instant, side: Side, pt: u8, law: Law, clips: Vec<Clip>, then: Option<Clip>, seed: u64) {
        let mut sides = self.lock();
        let p = sides[index(side)].get_or_insert_with(|| Player::new(seed as u32, (seed >> 32) as u16, (seed >> 48) as u32 * 7919));
        p.start(now, pt, law, clips, then);
    }

    pub fn stop(&self, side: Side) {
        if let Some(p) = self.lock()[index(side)].as_mut() {
            p.stop();
        }
    }

    /// Prompts are being played toward `side` (its outgoing stream is ours, not the other side's).
    pub fn playing(&self, side: Side) -> bool {
        self.lock()[index(side)].as_ref().is_some_and(|p| p.poll_timeout().is_some())
    }

    /// The earliest packet due on either side.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.lock().iter().flatten().filter_map(Player::poll_timeout).min()
    }

    /// Sends every packet due at `now`: `route` rewrites it for the side's outgoing stream and
    /// says where it goes, `send` sends it from that side's RTP socket.
    pub fn emit(&self, now: Instant, mut route: impl FnMut(Side, &mut [u8]) -> Option<SocketAddr>, mut send: impl FnMut(Side, &[u8], SocketAddr)) {
        let mut buf = Vec::with_capacity(12 + FRAME);
        let mut sides = self.lock();
        for (i, side) in [Side::A, Side::B].into_iter().enumerate() {
            let Some(p) = sides[i].as_mut() else { continue };
            while p.poll_packet(now, &mut buf) {
                if let Some(to) = route(side, &mut buf) {
                    send(side, &buf, to);
                }
            }
        }
    }
}

/// Why a prompt file was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// Not a RIFF/WAVE file, or a chunk runs past the end.
    #[error("not a WAV file")]
    NotWav,
    /// A format other than 8 kHz mono 16-bit PCM (regenerate with tools/prompts/generate.sh).
    #[error("{0} (need 8 kHz mono 16-bit PCM)")]
    Format(String),
}

/// The samples of an 8 kHz mono 16-bit PCM WAV file.
pub fn parse_wav(data: &[u8]) -> Result<Vec<i16>, WavError> {
    if data.len() < 12 || &data[0..4] != b"RIFF" || &data[8..12] != b"WAVE" {
        return Err(WavError::NotWav);
    }
    let mut at = 12;
    let mut format_ok = false;
    while at + 8 <= data.len() {
        let id = &data[at..at + 4];
        let len = u32::from_le_bytes([data[at + 4], data[at + 5], data[at + 6], data[at + 7]]) as usize;
        let body = data.get(at + 8..(at + 8).saturating_add(len).min(data.len())).ok_or(WavError::NotWav)?;
        match id {
            b"fmt " => {
                if body.len() < 16 {
                    return Err(WavError::NotWav);
                }
                let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                let (tag, channels, bits) = (u16_at(0), u16_at(2), u16_at(14));
                if tag != 1 || channels != 1 || bits != 16 || rate != 8000 {
                    return Err(WavError::Format(format!("format {tag}, {channels} channel(s), {bits} bit, {rate} Hz")));
                }
                format_ok = true;
            }
            b"data" if format_ok => return Ok(body.chunks_exact(2).map(|s| i16::from_le_bytes([s[0], s[1]])).collect()),
            b"data" => return Err(WavError::NotWav),
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    Err(WavError::NotWav)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(n: usize, v: i16) -> Clip {
        vec![v; n].into()
    }

    fn header(p: &[u8]) -> (bool, u8, u16, u32, u32) {
        (p[1] & 0x80 != 0, p[1] & 0x7f, u16::from_be_bytes([p[2], p[3]]), u32::from_be_bytes([p[4], p[5], p[6], p[7]]), u32::from_be_bytes([p[8], p[9], p[10], p[11]]))
    }

    #[test]
    fn packets_every_20ms_with_continuous_seq_and_timestamp() {
        let t0 = crate::testing::epoch();
        let mut p = Player::new(0x1234, 100, 1000);
        p.start(t0, 8, Law::A, vec![clip(400, 1000)], Some(clip(800, 0)));
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut now = t0;
        for _ in 0..10 {
            while p.poll_packet(now, &mut buf) {
                got.push(header(&buf));
                assert_eq!(buf.len(), 12 + 160);
            }
            now += Duration::from_millis(20);
        }
        assert_eq!(got.len(), 10);
        assert!(got[0].0 && !got[1].0, "marker on the first packet only");
        for (i, h) in got.iter().enumerate() {
            assert_eq!((h.1, h.2, h.3, h.4), (8, 100 + i as u16, 1000 + 160 * i as u32, 0x1234));
        }
        assert_eq!(p.poll_timeout(), Some(now), "the background loops on");
        // A restart keeps SSRC, sequence and the timeline.
        let later = now + Duration::from_millis(100);
        p.start(later, 8, Law::A, vec![clip(160, 5)], None);
        assert!(p.poll_packet(later, &mut buf));
        let h = header(&buf);
        assert_eq!((h.0, h.2, h.4), (true, 110, 0x1234));
        assert_eq!(h.3, 1000 + 160 * 10 + 800, "100 ms not sent still pass on the timeline");
        assert!(!p.poll_packet(later + Duration::from_millis(20), &mut buf), "nothing after the last clip");
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn a_stall_skips_ahead_instead_of_bursting() {
        let t0 = crate::testing::epoch();
        let mut p = Player::new(1, 0, 0);
        p.start(t0, 0, Law::Mu, vec![], Some(clip(8000, 300)));
        let mut buf = Vec::new();
        assert!(p.poll_packet(t0, &mut buf));
        let mut n = 0;
        while p.poll_packet(t0 + Duration::from_secs(1), &mut buf) {
            n += 1;
        }
        assert!(n <= 2, "{n} packets sent at once after a stall");
        assert_eq!(header(&buf).3 % 160, 0);
        assert!(header(&buf).3 >= 160 * 49);
    }

    #[test]
    fn the_bridge_continues_the_prompt_stream_when_the_agent_takes_over() {
        use crate::media::relay::{Bridge, Channel, RelayConfig, Remote, Verdict};
        let t0 = crate::testing::epoch();
        let caller: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let agent: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let mut bridge = Bridge::new(&RelayConfig::default());
        bridge.set_remote(t0, Side::A, Remote { rtp: Some(caller), rtcp: None, clock_rate: 8000, hold: false });
        let slots = Slots::default();
        slots.play(t0, Side::A, 8, Law::A, vec![clip(800, 2000)], None, 0x0102_0304_0506_0708);
        let mut sent = Vec::new();
        let mut now = t0;
        for _ in 0..5 {
            slots.emit(now, |side, data| bridge.inject_rtp(now, side, data, 8000), |side, data, to| sent.push((side, to, data.to_vec())));
            now += PTIME;
        }
        assert_eq!(sent.len(), 5);
        assert!(sent.iter().all(|(s, to, _)| *s == Side::A && *to == caller), "prompts go to the caller's SDP address");
        let (_, _, last_seq, _, ssrc) = header(&sent[4].2);
        // The agent answers: the prompt stops, the agent's own stream is relayed in its place.
        slots.stop(Side::A);
        assert_eq!(slots.poll_timeout(), None);
        bridge.set_remote(now, Side::B, Remote { rtp: Some(agent), rtcp: None, clock_rate: 8000, hold: false });
        let mut pkt = crate::media::testpkt::rtp(8, 40_000, 123_456, 0xa9e47, false, &[0xd5; 160]);
        let v = bridge.handle_packet(now, Side::B, Channel::Rtp, agent, &mut pkt);
        assert_eq!(v, Verdict::Forward { to: caller, via: Channel::Rtp });
        let h = header(&pkt);
        assert_eq!((h.4, h.2), (ssrc, last_seq.wrapping_add(1)), "the caller sees one stream: same SSRC, next sequence number");
        assert!(h.0, "the marker bit flags the new talkspurt");
    }

    #[test]
    fn wav_parsing_accepts_only_8khz_mono_pcm() {
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(36u32 + 4).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&[1, 0, 1, 0]);
        w.extend_from_slice(&8000u32.to_le_bytes());
        w.extend_from_slice(&16000u32.to_le_bytes());
        w.extend_from_slice(&[2, 0, 16, 0]);
        w.extend_from_slice(b"data");
        w.extend_from_slice(&4u32.to_le_bytes());
        w.extend_from_slice(&[1, 0, 0xff, 0xff]);
        assert_eq!(parse_wav(&w), Ok(vec![1, -1]));
        let mut stereo = w.clone();
        stereo[22] = 2;
        assert!(matches!(parse_wav(&stereo), Err(WavError::Format(_))));
        assert_eq!(parse_wav(b"RIFF\x04\x00\x00\x00WAVE"), Err(WavError::NotWav));
        assert_eq!(parse_wav(&w[..30]), Err(WavError::NotWav));
    }
}
