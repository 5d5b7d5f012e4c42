//! One direction of a transcoded call: RTP of leg X in, RTP of leg Y out.
//!
//! jitter buffer → decode (codec PLC for lost frames, Opus FEC when the next packet is here)
//! → resample to Y's PCM rate → re-frame to Y's ptime → encode → RTP with our SSRC and
//! continuous sequence numbers and timestamps on Y's clock. RFC 4733 events skip the jitter
//! buffer and are rescaled to Y's telephone-event clock, or played as tones into Y's audio when
//! Y has no telephone-event; when X has none and Y has, digits are detected in X's audio and
//! sent as events.
//!
//! Drive it like every sans-IO core here: [`Direction::handle_packet`] for each datagram,
//! then [`Direction::poll_output`] until `None`, and call again at [`Direction::poll_timeout`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::dtmf::{DtmfDetector, DtmfGenerator, DtmfTranslator, EventPacket, ToneInserter};
use super::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
use super::plan::LegFormat;
use super::resample::Resampler;
use super::TranscodeError;
use crate::media::codec::{AudioDecoder, AudioEncoder, CodecKind, EncoderOptions};
use crate::media::rtp::RtpPacket;

/// RTP header length of what we send (no CSRC, no extension).
const HEADER: usize = 12;
/// Comfort noise (RFC 3389): accepted and ignored, the decoder's own concealment stands in.
const PT_COMFORT_NOISE: u8 = 13;
/// Packets queued for sending at most; older ones are dropped if the driver stops polling.
const MAX_QUEUED: usize = 32;
/// Frames concealed in a row with nothing buffered after which the input counts as stopped
/// (hold, a peer that went quiet without DTX): we stop sending until it resumes.
const QUIET_AFTER_LOSSES: u32 = 25;

/// Our side's choices for one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectionOptions {
    /// SSRC of what we send.
    pub ssrc: u32,
    /// First sequence number we send.
    pub first_seq: u16,
    /// First RTP timestamp we send.
    pub first_timestamp: u32,
    /// Least and most jitter-buffer delay.
    pub min_delay: Duration,
    /// See `min_delay`.
    pub max_delay: Duration,
    /// Opus encoder complexity when the output is Opus.
    pub opus_complexity: u8,
    /// Detect in-band DTMF when the input leg lacks telephone-event and the output has it.
    pub detect_dtmf: bool,
}

impl DirectionOptions {
    /// Defaults: 20–200 ms jitter buffer, Opus complexity 5, DTMF detection on.
    pub fn new(ssrc: u32, first_seq: u16, first_timestamp: u32) -> DirectionOptions {
        DirectionOptions {
            ssrc,
            first_seq,
            first_timestamp,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            opus_complexity: 5,
            detect_dtmf: true,
        }
    }
}

/// Counters of one direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// RTP packets taken in (audio and events).
    pub packets_in: u64,
    /// RTP packets sent (audio and events).
    pub packets_out: u64,
    /// Frames decoded from packets.
    pub decoded: u64,
    /// Frames concealed (loss or jitter-buffer growth), FEC included.
    pub concealed: u64,
    /// Concealed frames rebuilt from the next packet's in-band FEC.
    pub fec_used: u64,
    /// Payloads the decoder refused (concealed instead).
    pub decode_errors: u64,
    /// Packets of a payload type not negotiated on the input leg.
    pub unknown_pt: u64,
    /// RFC 4733 events received.
    pub events_in: u64,
    /// RFC 4733 packets sent.
    pub events_out: u64,
    /// Event packets not sent because the output leg has no telephone-event (generated events
    /// only; received events are played in-band there).
    pub events_dropped: u64,
    /// Digits detected in the input audio.
    pub digits_detected: u64,
    /// Audio dropped because packets held more than their timestamps said, ms.
    pub pcm_dropped_ms: u64,
    /// The jitter buffer's counters (late, duplicates, delay percentiles …).
    pub jitter: JitterStats,
}

/// The transcoding pipeline of one direction.
pub struct Direction {
    in_pt: u8,
    in_clock: u32,
    in_te: Option<u8>,
    out_pt: u8,
    out_te: Option<u8>,
    jitter: JitterBuffer,
    decoder: Box<dyn AudioDecoder>,
    encoder: Box<dyn AudioEncoder>,
    resampler: Option<Resampler>,
    translator: Option<DtmfTranslator>,
    inserter: Option<ToneInserter>,
    detector: Option<DtmfDetector>,
    generator: DtmfGenerator,
    /// PCM at the decoder's rate, one frame.
    decoded: Vec<i16>,
    /// The last frame decoded from a packet, and losses since (AMR's isolated-loss concealment).
    last_good: Vec<i16>,
    losses_in_row: u32,
    /// When the input went quiet (see `QUIET_AFTER_LOSSES`); output timestamps skip the pause.
    quiet_since: Option<Instant>,
    /// PCM at the encoder's rate waiting to make a frame.
    fifo: Vec<i16>,
    frame_samples: usize,
    frame_ticks: u32,
    payload: Vec<u8>,
    events: Vec<EventPacket>,
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker: bool,
    queue: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    stats: DirectionStats,
}

impl std::fmt::Debug for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direction")
            .field("in", &(self.in_pt, self.decoder.kind()))
            .field("out", &(self.out_pt, self.encoder.kind()))
            .field("ssrc", &self.ssrc)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Direction {
    /// A pipeline from what leg X sends (`input`) to what leg Y receives (`output`).
    pub fn new(input: &LegFormat, output: &LegFormat, options: &DirectionOptions) -> Result<Direction, TranscodeError> {
        for ptime in [input.ptime_ms, output.ptime_ms] {
            if ptime == 0 || ptime % 10 != 0 || ptime > 120 {
                return Err(TranscodeError::BadPtime(ptime));
            }
        }
        let decoder = input.config.decoder()?;
        let encoder = output.config.encoder(&EncoderOptions {
            ptime_ms: output.ptime_ms,
            dtx: false,
            opus_complexity: options.opus_complexity,
            amr_mode: None,
        })?;
        let resampler = match (decoder.sample_rate(), encoder.sample_rate()) {
            (a, b) if a == b => None,
            (a, b) => Some(Resampler::new(a, b)?),
        };
        let mut jc = JitterConfig::new(input.config.clock_rate, Duration::from_millis(u64::from(input.ptime_ms)));
        jc.min_delay = options.min_delay;
        jc.max_delay = options.max_delay.max(options.min_delay);
        jc.initial_delay = jc.initial_delay.clamp(jc.min_delay, jc.max_delay);
        let translator = match (input.telephone_event, output.telephone_event) {
            (Some((_, in_clock)), Some((_, out_clock))) => Some(DtmfTranslator::new(in_clock, out_clock)),
            _ => None,
        };
        let detect = options.detect_dtmf && input.telephone_event.is_none() && output.telephone_event.is_some();
        Ok(Direction {
            in_pt: input.pt,
            in_clock: input.config.clock_rate,
            in_te: input.telephone_event.map(|(pt, _)| pt),
            out_pt: output.pt,
            out_te: output.telephone_event.map(|(pt, _)| pt),
            jitter: JitterBuffer::new(jc),
            detector: detect.then(|| DtmfDetector::new(decoder.sample_rate())),
            frame_samples: encoder.frame_samples(),
            frame_ticks: encoder.rtp_ticks_per_frame(),
            decoder,
            encoder,
            resampler,
            translator,
            inserter: None,
            generator: DtmfGenerator::new(),
            decoded: Vec::new(),
            last_good: Vec::new(),
            losses_in_row: 0,
            quiet_since: None,
            fifo: Vec::new(),
            payload: Vec::new(),
            events: Vec::new(),
            ssrc: options.ssrc,
            seq: options.first_seq,
            ts: options.first_timestamp,
            marker: true,
            queue: VecDeque::with_capacity(8),
            spare: Vec::new(),
            stats: DirectionStats::default(),
        })
    }

    /// Takes one RTP datagram from leg X that arrived at `now`.
    ///
    /// Audio goes to the jitter buffer; telephone-events are translated at once. Errors say why a
    /// packet was dropped (the pipeline carries on).
    pub fn handle_packet(&mut self, now: Instant, data: &[u8]) -> Result<(), TranscodeError> {
        let packet = RtpPacket::parse(data)?;
        self.stats.packets_in += 1;
        let pt = packet.payload_type();
        if pt == self.in_pt {
            if let Some(since) = self.quiet_since.take() {
                // Our timestamps advance by the pause, whole frames, and the marker starts a talkspurt.
                let frames = (now.saturating_duration_since(since).as_micros() as u64 * u64::from(self.encoder.rtp_clock_rate()) / 1_000_000) / u64::from(self.frame_ticks.max(1));
                self.ts = self.ts.wrapping_add((frames as u32).wrapping_mul(self.frame_ticks));
                self.marker = true;
            }
            self.jitter.insert(now, packet.ssrc(), packet.sequence(), packet.timestamp(), packet.marker(), packet.payload());
            return Ok(());
        }
        if Some(pt) == self.in_te {
            let Some(translator) = &mut self.translator else {
                // The output leg has no telephone-event: the digit goes into its audio.
                let inserter = self.inserter.get_or_insert_with(ToneInserter::new);
                let before = inserter.played();
                let result = inserter.on_packet(packet.timestamp(), packet.payload());
                self.stats.events_in += inserter.played() - before;
                return Ok(result?);
            };
            let before = translator.events();
            let mut events = std::mem::take(&mut self.events);
            events.clear();
            let result = translator.on_packet(packet.timestamp(), packet.payload(), self.ts, &mut events);
            self.stats.events_in += translator.events() - before;
            for e in &events {
                self.send_event(e);
            }
            self.events = events;
            return Ok(result?);
        }
        if pt == PT_COMFORT_NOISE {
            return Ok(());
        }
        self.stats.unknown_pt += 1;
        Err(TranscodeError::UnknownPayloadType(pt))
    }

    /// The next datagram to send to leg Y, after running every frame due at `now`.
    pub fn poll_output(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.run(now);
        self.queue.pop_front()
    }

    /// Like [`Direction::poll_output`], into `out` (cleared first); `false` when nothing is due.
    /// Buffers are recycled, so a steady call allocates nothing per packet.
    pub fn poll_output_into(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        self.run(now);
        match self.queue.pop_front() {
            Some(p) => {
                out.clear();
                out.extend_from_slice(&p);
                self.spare.push(p);
                true
            }
            None => false,
        }
    }

    /// When the next frame is due (`None` until the first packet arrives).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.jitter.next_due()
    }

    /// The counters, with the jitter buffer's delay percentiles.
    pub fn stats(&self) -> DirectionStats {
        DirectionStats { jitter: self.jitter.stats(), ..self.stats.clone() }
    }

    /// The AMR codec mode request (CMR) leg X sent since the last call; hand it to
    /// [`Direction::apply_mode_request`] of the opposite direction, whose encoder sends to X.
    pub fn take_mode_request(&mut self) -> Option<u8> {
        self.decoder.take_mode_request()
    }

    /// Applies a codec mode request from leg Y to our encoder (AMR only).
    pub fn apply_mode_request(&mut self, mode: u8) {
        self.encoder.apply_mode_request(mode);
    }

    /// Tells the encoder the loss leg Y reports (RTCP), for Opus FEC sizing.
    pub fn set_expected_loss(&mut self, percent: u8) {
        self.encoder.set_expected_loss(percent);
    }

    /// Plays out every frame due at `now`.
    fn run(&mut self, now: Instant) {
        loop {
            self.decoded.clear();
            let result = match self.jitter.pop(now) {
                Playout::Wait(_) | Playout::Idle => return,
                Playout::Packet { payload, marker } => {
                    self.marker |= marker;
                    match self.decoder.decode(&payload, &mut self.decoded) {
                        Ok(_) => {
                            self.stats.decoded += 1;
                            self.trim_to_timestamps();
                            self.losses_in_row = 0;
                            self.last_good.clear();
                            self.last_good.extend_from_slice(&self.decoded);
                            Ok(())
                        }
                        Err(_) => {
                            self.stats.decode_errors += 1;
                            self.decoded.clear();
                            self.conceal(None)
                        }
                    }
                }
                Playout::Lost { .. } if self.jitter.is_empty() && self.losses_in_row >= QUIET_AFTER_LOSSES => {
                    self.jitter.suspend();
                    self.quiet_since = Some(now);
                    return;
                }
                Playout::Lost { next_present } => {
                    let fec = next_present && self.decoder.kind() == CodecKind::Opus;
                    let next = if fec { self.jitter.next_payload().map(<[u8]>::to_vec) } else { None };
                    self.conceal(next.as_deref())
                }
                Playout::Gap => self.decoder.conceal(&mut self.decoded).map(|_| ()),
            };
            if result.is_err() {
                // Concealment itself failed (it never should): keep time with silence.
                let n = self.decoder.sample_rate() as usize / 50;
                self.decoded.clear();
                self.decoded.resize(n, 0);
            }
            self.frame_decoded();
        }
    }

    /// Cuts a decoded packet to the time its timestamps give it: a peer whose packets hold more
    /// audio than that (a 120 ms Opus packet every 20 ms of timestamps) cannot make the output
    /// run faster than real time or the buffers grow.
    fn trim_to_timestamps(&mut self) {
        let rate = u64::from(self.decoder.sample_rate());
        let clock = u64::from(self.in_clock.max(1));
        let limit = (u64::from(self.jitter.frame_ticks()) * rate / clock) as usize;
        if limit > 0 && self.decoded.len() > limit {
            let excess = self.decoded.len() - limit;
            self.decoded.truncate(limit);
            self.stats.pcm_dropped_ms += (excess as u64 * 1000 / rate.max(1)).max(1);
        }
    }

    fn conceal(&mut self, next: Option<&[u8]>) -> Result<(), crate::media::codec::CodecError> {
        self.stats.concealed += 1;
        // Only Opus carries FEC; for the others the next packet adds nothing.
        match next.filter(|_| self.decoder.kind() == CodecKind::Opus) {
            Some(next) => {
                self.decoder.conceal_from_next(next, &mut self.decoded)?;
                self.stats.fec_used += 1;
            }
            None if self.repeats_isolated_losses() => {
                // 1 − 0.3 per lost frame in a row, falling linearly across the frame.
                let k = self.losses_in_row as f32;
                let n = self.last_good.len().max(1) as f32;
                self.decoded.extend(self.last_good.iter().enumerate().map(|(i, &s)| {
                    (f32::from(s) * (1.0 - 0.3 * (k + i as f32 / n))) as i16
                }));
            }
            None => {
                self.decoder.conceal(&mut self.decoded)?;
            }
        }
        self.losses_in_row += 1;
        Ok(())
    }

    /// Whether this loss is concealed by repeating the last frame without telling the decoder.
    ///
    /// The AMR decoders' own erasure concealment, on stationary sound, leaves the good frames
    /// after one lost frame 20–35 dB down for ~200 ms while the adaptive codebook rebuilds
    /// (measured on the bare codec with a 1 kHz tone); a decoder that never hears of the loss
    /// decodes them at full level. Longer bursts go to the codec's concealment, which mutes.
    fn repeats_isolated_losses(&self) -> bool {
        matches!(self.decoder.kind(), CodecKind::Amr | CodecKind::AmrWb)
            && self.losses_in_row < 2
            && !self.last_good.is_empty()
    }

    /// Resamples one decoded frame into the FIFO and encodes every whole output frame.
    fn frame_decoded(&mut self) {
        if let Some(inserter) = &mut self.inserter {
            inserter.fill(&mut self.decoded, self.decoder.sample_rate());
        }
        if let Some(detector) = &mut self.detector {
            let before = detector.detected();
            detector.process(&self.decoded);
            self.stats.digits_detected += detector.detected() - before;
        }
        match &mut self.resampler {
            Some(r) => {
                r.process(&self.decoded, &mut self.fifo);
            }
            None => self.fifo.extend_from_slice(&self.decoded),
        }
        let mut start = 0;
        while self.fifo.len() - start >= self.frame_samples {
            self.payload.clear();
            let frame = &self.fifo[start..start + self.frame_samples];
            start += self.frame_samples;
            // An encoder error (none is expected with whole frames) sends nothing for this frame.
            let sent = self.encoder.encode(frame, &mut self.payload).unwrap_or(0);
            if sent > 0 {
                let mut packet = self.spare.pop().unwrap_or_default();
                packet.clear();
                write_header(&mut packet, self.out_pt, self.marker, self.seq, self.ts, self.ssrc);
                packet.extend_from_slice(&self.payload);
                self.marker = false;
                self.enqueue(packet);
            } else {
                // Discontinuous transmission: the next packet starts a talkspurt.
                self.marker = true;
            }
            self.ts = self.ts.wrapping_add(self.frame_ticks);
            if let Some(detector) = &self.detector {
                let mut events = std::mem::take(&mut self.events);
                events.clear();
                self.generator.tick(self.ts, self.frame_ticks, detector.active(), &mut events);
                for e in &events {
                    self.send_event(e);
                }
                self.events = events;
            }
        }
        self.fifo.drain(..start);
    }

    fn send_event(&mut self, e: &EventPacket) {
        let Some(pt) = self.out_te else {
            self.stats.events_dropped += 1;
            return;
        };
        let mut packet = self.spare.pop().unwrap_or_default();
        packet.clear();
        write_header(&mut packet, pt, e.marker, self.seq, e.timestamp, self.ssrc);
        packet.extend_from_slice(&e.payload());
        self.stats.events_out += 1;
        self.enqueue(packet);
    }

    fn enqueue(&mut self, packet: Vec<u8>) {
        self.seq = self.seq.wrapping_add(1);
        self.stats.packets_out += 1;
        if self.queue.len() >= MAX_QUEUED {
            if let Some(old) = self.queue.pop_front() {
                self.spare.push(old);
            }
        }
        self.queue.push_back(packet);
    }
}

fn write_header(out: &mut Vec<u8>, pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) {
    out.reserve(HEADER + 160);
    out.push(0x80);
    out.push((pt & 0x7f) | if marker { 0x80 } else { 0 });
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
}
