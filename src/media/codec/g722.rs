//! G.722 at 64 kbit/s (16 kHz audio, one byte per two samples) through `ezk-g722`.
//!
//! RTP timestamps still count at 8 kHz (RFC 3551 §4.5.2): [`CodecKind::G722`] carries both
//! rates. Lost packets are concealed by fading repetition; the ADPCM state then differs from the
//! sender's for a few milliseconds, which G.722 recovers from on its own.

use ezk_g722::libg722::{decoder::Decoder, encoder::Encoder, Bitrate};

use super::g711::frame_samples;
use super::plc::RepeatPlc;
use super::{check_frame, AudioDecoder, AudioEncoder, CodecError, CodecKind};

/// G.722 encoder (mode 1, 64 kbit/s).
pub struct G722Encoder {
    inner: Encoder,
    frame_samples: usize,
}

impl std::fmt::Debug for G722Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G722Encoder").field("frame_samples", &self.frame_samples).finish()
    }
}

impl G722Encoder {
    /// An encoder sending `ptime_ms` per packet (10..=120 ms in steps of 10).
    pub fn new(ptime_ms: u32) -> Result<G722Encoder, CodecError> {
        Ok(G722Encoder {
            // Argument order of this constructor: (rate, eight_k, packed).
            inner: Encoder::new(Bitrate::Mode1_64000, false, false),
            frame_samples: frame_samples(CodecKind::G722, 16_000, ptime_ms)?,
        })
    }
}

impl AudioEncoder for G722Encoder {
    fn kind(&self) -> CodecKind {
        CodecKind::G722
    }
    fn sample_rate(&self) -> u32 {
        16_000
    }
    fn frame_samples(&self) -> usize {
        self.frame_samples
    }
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<usize, CodecError> {
        check_frame(pcm, self.frame_samples)?;
        let coded = self.inner.encode(pcm);
        out.extend_from_slice(&coded);
        Ok(coded.len())
    }
}

/// G.722 decoder (any of the three modes decodes as mode 1; peers send mode 1 on RTP).
pub struct G722Decoder {
    inner: Decoder,
    plc: RepeatPlc,
}

impl std::fmt::Debug for G722Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G722Decoder").finish_non_exhaustive()
    }
}

impl G722Decoder {
    /// A decoder for 64 kbit/s G.722.
    pub fn new() -> G722Decoder {
        // Argument order of this constructor: (rate, packed, eight_k).
        G722Decoder { inner: Decoder::new(Bitrate::Mode1_64000, false, false), plc: RepeatPlc::default() }
    }
}

impl Default for G722Decoder {
    fn default() -> Self {
        G722Decoder::new()
    }
}

impl AudioDecoder for G722Decoder {
    fn kind(&self) -> CodecKind {
        CodecKind::G722
    }
    fn sample_rate(&self) -> u32 {
        16_000
    }
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize, CodecError> {
        if payload.is_empty() {
            return Err(CodecError::MalformedPayload { kind: CodecKind::G722, reason: "empty payload" });
        }
        // Every byte is a valid pair of codewords, so nothing else can be malformed.
        let pcm = self.inner.decode(payload);
        self.plc.remember(&pcm);
        out.extend_from_slice(&pcm);
        Ok(pcm.len())
    }
    fn conceal(&mut self, out: &mut Vec<i16>) -> Result<usize, CodecError> {
        Ok(self.plc.conceal(out, 320))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_signal::{self, aligned_snr_db};
    use super::*;

    fn round_trip(input: &[i16]) -> Vec<i16> {
        let mut enc = G722Encoder::new(20).unwrap();
        let mut dec = G722Decoder::new();
        let mut out = Vec::new();
        for frame in input.chunks_exact(320) {
            let mut payload = Vec::new();
            assert_eq!(enc.encode(frame, &mut payload).unwrap(), 160);
            assert_eq!(dec.decode(&payload, &mut out).unwrap(), 320);
        }
        out
    }

    #[test]
    fn tone_and_speech_snr() {
        let tone = test_signal::tone(1000.0, 16_000, 16_000, 0.5);
        // The QMF filter pair delays by 22 samples; align before comparing.
        let (snr, lag) = aligned_snr_db(&tone[..15_000], &round_trip(&tone), 64);
        eprintln!("G.722 tone SNR {snr:.1} dB at lag {lag}");
        assert!(snr > 40.0, "tone SNR {snr:.1} dB at lag {lag}");
        let Some(speech) = test_signal::speech(16_000) else { return };
        let len = speech.len() / 320 * 320;
        let out = round_trip(&speech[..len]);
        let (snr, lag) = aligned_snr_db(&speech[..len - 320], &out, 64);
        eprintln!("G.722 speech SNR {snr:.1} dB at lag {lag}");
        assert!(snr > 22.0, "speech SNR {snr:.1} dB at lag {lag}");
    }

    #[test]
    fn concealment_and_garbage() {
        let tone = test_signal::tone(1000.0, 16_000, 320, 0.5);
        let mut enc = G722Encoder::new(20).unwrap();
        let mut dec = G722Decoder::new();
        let (mut payload, mut out) = (Vec::new(), Vec::new());
        enc.encode(&tone, &mut payload).unwrap();
        dec.decode(&payload, &mut out).unwrap();
        let mut lost = Vec::new();
        assert_eq!(dec.conceal(&mut lost).unwrap(), 320);
        assert!(test_signal::rms(&lost) > 1000.0);
        assert!(dec.decode(&[], &mut out).is_err());
        // Any byte string is valid G.722; random bytes must decode without trouble.
        let noise: Vec<u8> = (0..997u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        assert_eq!(dec.decode(&noise, &mut out).unwrap(), 2 * 997);
    }
}
