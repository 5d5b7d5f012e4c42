//! Opus (RFC 6716, RTP format RFC 7587) through the system libopus (`audiopus`).
//!
//! Always 48 kHz PCM. The encoder follows the peer's fmtp: `useinbandfec` (LBRR redundancy,
//! tuned for 10 % loss), `usedtx`, `cbr`, `maxaveragebitrate` and `maxplaybackrate`. The decoder
//! conceals a lost packet with libopus' PLC, or rebuilds it from the FEC data in the next packet.

use audiopus::coder::{Decoder, Encoder};
use audiopus::{packet::Packet, Application, Bandwidth, Bitrate, Channels, MutSignals, SampleRate};

use super::kind::{EncoderOptions, OpusParams};
use super::{check_frame, AudioDecoder, AudioEncoder, CodecError, CodecKind};

/// Bitrate when the peer sets no `maxaveragebitrate`: wide-band voice, clean at 10 % loss with FEC.
const DEFAULT_BITRATE: u32 = 32_000;
/// Loss the encoder prepares FEC for when the peer accepts it.
const FEC_LOSS_PERCENT: u8 = 10;
/// Longest Opus packet: 120 ms at 48 kHz.
const MAX_PACKET_SAMPLES: usize = 5_760;
/// libopus' recommended output buffer for one packet.
const MAX_PACKET_BYTES: usize = 4_000;

fn opus_setting(reason: &'static str) -> impl FnOnce(audiopus::Error) -> CodecError {
    move |_| CodecError::BadSetting { kind: CodecKind::Opus, reason }
}

fn channels(n: u8) -> Result<Channels, CodecError> {
    match n {
        1 => Ok(Channels::Mono),
        2 => Ok(Channels::Stereo),
        _ => Err(CodecError::BadSetting { kind: CodecKind::Opus, reason: "channels must be 1 or 2" }),
    }
}

/// Opus encoder at 48 kHz.
pub struct OpusEncoder {
    inner: Encoder,
    channels: u8,
    frame_samples: usize,
    dtx: bool,
    fec: bool,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("channels", &self.channels)
            .field("frame_samples", &self.frame_samples)
            .field("dtx", &self.dtx)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// A mono encoder (what a gateway has to send, and valid whatever `stereo` says).
    pub fn new(params: &OpusParams, options: &EncoderOptions) -> Result<OpusEncoder, CodecError> {
        OpusEncoder::with_channels(params, options, 1)
    }

    /// An encoder for 1 or 2 interleaved channels.
    pub fn with_channels(
        params: &OpusParams,
        options: &EncoderOptions,
        n_channels: u8,
    ) -> Result<OpusEncoder, CodecError> {
        if !matches!(options.ptime_ms, 10 | 20 | 40 | 60) {
            return Err(CodecError::BadSetting { kind: CodecKind::Opus, reason: "ptime must be 10, 20, 40 or 60 ms" });
        }
        let mut inner = Encoder::new(SampleRate::Hz48000, channels(n_channels)?, Application::Voip)?;
        inner.set_complexity(options.opus_complexity.min(10)).map_err(opus_setting("complexity"))?;
        let bitrate = params.max_average_bitrate.map_or(DEFAULT_BITRATE, |max| max.min(DEFAULT_BITRATE));
        inner.set_bitrate(Bitrate::BitsPerSecond(bitrate as i32)).map_err(opus_setting("bitrate"))?;
        if params.use_inband_fec {
            inner.set_inband_fec(true).map_err(opus_setting("inband FEC"))?;
            inner.set_packet_loss_perc(FEC_LOSS_PERCENT).map_err(opus_setting("packet loss"))?;
        }
        if params.use_dtx {
            inner.set_dtx(true).map_err(opus_setting("DTX"))?;
        }
        if params.cbr {
            inner.set_vbr(false).map_err(opus_setting("CBR"))?;
        }
        if let Some(rate) = params.max_playback_rate {
            let bandwidth = match rate {
                ..=8_000 => Bandwidth::Narrowband,
                8_001..=12_000 => Bandwidth::Mediumband,
                12_001..=16_000 => Bandwidth::Wideband,
                16_001..=24_000 => Bandwidth::Superwideband,
                _ => Bandwidth::Fullband,
            };
            inner.set_max_bandwidth(bandwidth).map_err(opus_setting("max bandwidth"))?;
        }
        Ok(OpusEncoder {
            inner,
            channels: n_channels,
            frame_samples: 48 * options.ptime_ms as usize,
            dtx: params.use_dtx,
            fec: params.use_inband_fec,
        })
    }
}

impl AudioEncoder for OpusEncoder {
    fn kind(&self) -> CodecKind {
        CodecKind::Opus
    }
    fn sample_rate(&self) -> u32 {
        48_000
    }
    fn channels(&self) -> u8 {
        self.channels
    }
    fn frame_samples(&self) -> usize {
        self.frame_samples
    }
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<usize, CodecError> {
        check_frame(pcm, self.frame_samples * self.channels as usize)?;
        let start = out.len();
        out.resize(start + MAX_PACKET_BYTES, 0);
        let result = self.inner.encode(pcm, &mut out[start..]);
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                out.truncate(start);
                return Err(e.into());
            }
        };
        // In DTX libopus marks silence with packets of at most 2 bytes that need not be sent
        // (the receiver's PLC/comfort noise covers the gap), as WebRTC does.
        let n = if self.dtx && n <= 2 { 0 } else { n };
        out.truncate(start + n);
        Ok(n)
    }
    fn set_expected_loss(&mut self, percent: u8) {
        if self.fec {
            // Keep some redundancy even at no reported loss: the next burst comes unannounced.
            let percent = percent.clamp(FEC_LOSS_PERCENT / 2, 50);
            // libopus accepts 0..=100; the clamp keeps us inside it.
            let _ = self.inner.set_packet_loss_perc(percent);
        }
    }
}

/// Opus decoder producing 48 kHz PCM.
pub struct OpusDecoder {
    inner: Decoder,
    channels: u8,
    /// Samples per channel of the last packet, the length of a concealed one.
    last_samples: usize,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("channels", &self.channels)
            .field("last_samples", &self.last_samples)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder with 1 (mono, stereo input is down-mixed) or 2 output channels.
    pub fn new(n_channels: u8) -> Result<OpusDecoder, CodecError> {
        Ok(OpusDecoder {
            inner: Decoder::new(SampleRate::Hz48000, channels(n_channels)?)?,
            channels: n_channels,
            last_samples: 960,
        })
    }

    /// Runs libopus into the tail of `out` for a packet (or a loss when `None`) of `samples`.
    fn run(
        &mut self,
        packet: Option<&[u8]>,
        samples: usize,
        fec: bool,
        out: &mut Vec<i16>,
    ) -> Result<usize, CodecError> {
        let packet = match packet {
            Some(p) => Some(Packet::try_from(p).map_err(malformed)?),
            None => None,
        };
        let ch = self.channels as usize;
        let start = out.len();
        out.resize(start + samples * ch, 0);
        let signals = MutSignals::try_from(&mut out[start..])?;
        match self.inner.decode(packet, signals, fec) {
            Ok(n) => {
                out.truncate(start + n * ch);
                Ok(n)
            }
            Err(e) => {
                out.truncate(start);
                Err(malformed(e))
            }
        }
    }
}

/// libopus rejects a packet: the peer sent garbage.
fn malformed(e: audiopus::Error) -> CodecError {
    match e {
        audiopus::Error::Opus(audiopus::ErrorCode::InvalidPacket)
        | audiopus::Error::Opus(audiopus::ErrorCode::BufferTooSmall)
        | audiopus::Error::EmptyPacket
        | audiopus::Error::PacketTooLarge => {
            CodecError::MalformedPayload { kind: CodecKind::Opus, reason: "libopus rejected the packet" }
        }
        other => CodecError::Opus(other),
    }
}

impl AudioDecoder for OpusDecoder {
    fn kind(&self) -> CodecKind {
        CodecKind::Opus
    }
    fn sample_rate(&self) -> u32 {
        48_000
    }
    fn channels(&self) -> u8 {
        self.channels
    }
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize, CodecError> {
        let packet = Packet::try_from(payload).map_err(malformed)?;
        let samples = audiopus::packet::nb_samples(packet, SampleRate::Hz48000).map_err(malformed)?;
        if samples == 0 || samples > MAX_PACKET_SAMPLES {
            return Err(CodecError::MalformedPayload { kind: CodecKind::Opus, reason: "packet duration over 120 ms" });
        }
        let n = self.run(Some(payload), samples, false, out)?;
        self.last_samples = n;
        Ok(n)
    }
    fn conceal(&mut self, out: &mut Vec<i16>) -> Result<usize, CodecError> {
        self.run(None, self.last_samples, false, out)
    }
    fn conceal_from_next(&mut self, next: &[u8], out: &mut Vec<i16>) -> Result<usize, CodecError> {
        // libopus takes the lost packet's duration as the output size and decodes the LBRR data
        // of `next` into it (plain PLC if `next` carries none).
        self.run(Some(next), self.last_samples, true, out)
    }
}

#[cfg(test)]
#[path = "opus_tests.rs"]
mod tests;
