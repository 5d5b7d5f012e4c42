//! G.711 µ-law and A-law (ITU-T G.711), written from the companding formulas.
//!
//! Each law maps a 16-bit sample to one of 8 segments (the exponent, a power of two) and 16
//! steps inside it (the mantissa). Decoding uses a 256-entry table built at compile time;
//! encoding computes the segment from the position of the leading one bit.

use super::plc::RepeatPlc;
use super::{check_frame, AudioDecoder, AudioEncoder, CodecError, CodecKind};

/// Which G.711 companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum G711Law {
    /// µ-law (PCMU), North America and Japan.
    Mu,
    /// A-law (PCMA), Europe and most of the rest.
    A,
}

impl G711Law {
    fn kind(self) -> CodecKind {
        match self {
            G711Law::Mu => CodecKind::Pcmu,
            G711Law::A => CodecKind::Pcma,
        }
    }
}

/// µ-law bias: shifts every magnitude so segment boundaries fall on powers of two.
const MU_BIAS: i32 = 0x84;
/// Largest magnitude µ-law can code before the bias would overflow the top segment.
const MU_CLIP: i32 = 32_635;

/// Compresses one sample to µ-law.
pub(crate) fn mu_law_encode(sample: i16) -> u8 {
    let x = sample as i32;
    // One's complement for negatives, so -32768 needs no special case.
    let (magnitude, sign) = if x < 0 { (!x, 0x80) } else { (x, 0x00) };
    let biased = magnitude.min(MU_CLIP) + MU_BIAS;
    // biased is in 132..=32767: its leading one is bit 7..=14, giving segment 0..=7.
    let segment = (31 - (biased as u32).leading_zeros() - 7) as i32;
    let mantissa = (biased >> (segment + 3)) & 0x0F;
    // Codes are sent inverted (G.711 §2: all-ones is the smallest positive value).
    !((sign | (segment << 4) | mantissa) as u8)
}

/// Expands one µ-law code.
pub(crate) const fn mu_law_decode(code: u8) -> i16 {
    let c = !code;
    let segment = ((c >> 4) & 0x07) as i32;
    let mantissa = (c & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + MU_BIAS) << segment) - MU_BIAS;
    (if c & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// Compresses one sample to A-law.
pub(crate) fn a_law_encode(sample: i16) -> u8 {
    let x = sample as i32;
    let (magnitude, sign) = if x < 0 { (!x, 0x00) } else { (x, 0x80) };
    // A-law works on 12-bit magnitudes; segment 0 and 1 share a step size.
    let m = magnitude >> 4;
    let code = if m < 32 {
        m
    } else {
        // Leading one at bit 5..=10 gives segment 2..=7 for m >= 32.
        let segment = (31 - (m as u32).leading_zeros()) as i32 - 3;
        (segment << 4) | ((m >> (segment - 1)) & 0x0F)
    };
    // Even bits are inverted on the line (G.711 Table 1/2).
    ((sign | code) as u8) ^ 0x55
}

/// Expands one A-law code.
pub(crate) const fn a_law_decode(code: u8) -> i16 {
    let c = code ^ 0x55;
    let segment = ((c >> 4) & 0x07) as i32;
    let mut magnitude = ((c & 0x0F) as i32) << 4;
    // Reconstruct at the middle of the step.
    magnitude += 8;
    if segment > 0 {
        magnitude += 0x100;
    }
    if segment > 1 {
        magnitude <<= segment - 1;
    }
    (if c & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

const fn table(law: G711Law) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match law {
            G711Law::Mu => mu_law_decode(i as u8),
            G711Law::A => a_law_decode(i as u8),
        };
        i += 1;
    }
    t
}

static MU_TABLE: [i16; 256] = table(G711Law::Mu);
static A_TABLE: [i16; 256] = table(G711Law::A);

/// G.711 encoder: one byte per sample at 8 kHz.
#[derive(Debug)]
pub struct G711Encoder {
    law: G711Law,
    frame_samples: usize,
}

impl G711Encoder {
    /// An encoder sending `ptime_ms` of audio per packet (10..=120 ms in steps of 10).
    pub fn new(law: G711Law, ptime_ms: u32) -> Result<G711Encoder, CodecError> {
        Ok(G711Encoder { law, frame_samples: frame_samples(law.kind(), 8_000, ptime_ms)? })
    }
}

/// Samples per packet for the sample-by-sample codecs (G.711, G.722).
pub(super) fn frame_samples(kind: CodecKind, rate: u32, ptime_ms: u32) -> Result<usize, CodecError> {
    if ptime_ms == 0 || ptime_ms > 120 || ptime_ms % 10 != 0 {
        return Err(CodecError::BadSetting { kind, reason: "ptime must be 10..=120 ms in steps of 10" });
    }
    Ok((rate / 1000 * ptime_ms) as usize)
}

impl AudioEncoder for G711Encoder {
    fn kind(&self) -> CodecKind {
        self.law.kind()
    }
    fn sample_rate(&self) -> u32 {
        8_000
    }
    fn frame_samples(&self) -> usize {
        self.frame_samples
    }
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<usize, CodecError> {
        check_frame(pcm, self.frame_samples)?;
        match self.law {
            G711Law::Mu => out.extend(pcm.iter().map(|&s| mu_law_encode(s))),
            G711Law::A => out.extend(pcm.iter().map(|&s| a_law_encode(s))),
        }
        Ok(pcm.len())
    }
}

/// G.711 decoder with fade-out repetition for lost packets.
#[derive(Debug)]
pub struct G711Decoder {
    law: G711Law,
    plc: RepeatPlc,
}

impl G711Decoder {
    /// A decoder for one law.
    pub fn new(law: G711Law) -> G711Decoder {
        G711Decoder { law, plc: RepeatPlc::default() }
    }
}

impl AudioDecoder for G711Decoder {
    fn kind(&self) -> CodecKind {
        self.law.kind()
    }
    fn sample_rate(&self) -> u32 {
        8_000
    }
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize, CodecError> {
        if payload.is_empty() {
            return Err(CodecError::MalformedPayload { kind: self.kind(), reason: "empty payload" });
        }
        let table = match self.law {
            G711Law::Mu => &MU_TABLE,
            G711Law::A => &A_TABLE,
        };
        let start = out.len();
        out.extend(payload.iter().map(|&c| table[c as usize]));
        self.plc.remember(&out[start..]);
        Ok(payload.len())
    }
    fn conceal(&mut self, out: &mut Vec<i16>) -> Result<usize, CodecError> {
        Ok(self.plc.conceal(out, 160))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_signal::{self, snr_db};
    use super::*;

    #[test]
    fn reference_values() {
        // Extremes and zeros of G.711 Tables 1 and 2, scaled to 16 bits.
        assert_eq!(mu_law_decode(0xFF), 0);
        assert_eq!(mu_law_decode(0x7F), 0);
        assert_eq!(mu_law_decode(0x80), 32_124);
        assert_eq!(mu_law_decode(0x00), -32_124);
        assert_eq!(mu_law_encode(0), 0xFF);
        assert_eq!(mu_law_encode(i16::MAX), 0x80);
        assert_eq!(mu_law_encode(i16::MIN), 0x00);
        assert_eq!(a_law_decode(0xD5), 8);
        assert_eq!(a_law_decode(0x55), -8);
        assert_eq!(a_law_decode(0xAA), 32_256);
        assert_eq!(a_law_decode(0x2A), -32_256);
        assert_eq!(a_law_encode(0), 0xD5);
        assert_eq!(a_law_encode(i16::MAX), 0xAA);
        assert_eq!(a_law_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_survives_decode_encode() {
        for code in 0..=255u8 {
            // µ-law has a negative zero (0x7F), which encodes back as the positive one.
            let mu = if code == 0x7F { 0xFF } else { code };
            assert_eq!(mu_law_encode(mu_law_decode(code)), mu, "µ-law {code:#04x}");
            assert_eq!(a_law_encode(a_law_decode(code)), code, "A-law {code:#04x}");
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        let mut prev = (i32::MIN, i32::MIN);
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let mu = mu_law_decode(mu_law_encode(s)) as i32;
            let a = a_law_decode(a_law_encode(s)) as i32;
            assert!(mu >= prev.0 && a >= prev.1, "not monotonic at {s}");
            prev = (mu, a);
        }
    }

    fn round_trip(law: G711Law, input: &[i16]) -> Vec<i16> {
        let mut enc = G711Encoder::new(law, 20).unwrap();
        let mut dec = G711Decoder::new(law);
        let mut out = Vec::new();
        for frame in input.chunks_exact(160) {
            let mut payload = Vec::new();
            assert_eq!(enc.encode(frame, &mut payload).unwrap(), 160);
            assert_eq!(dec.decode(&payload, &mut out).unwrap(), 160);
        }
        out
    }

    #[test]
    fn tone_and_speech_snr() {
        let tone = test_signal::tone(1000.0, 8_000, 8_000, 0.5);
        for law in [G711Law::Mu, G711Law::A] {
            let snr = snr_db(&tone, &round_trip(law, &tone));
            eprintln!("{law:?} tone SNR {snr:.1} dB");
            // About 38 dB on a loud tone in general; a 1 kHz tone at 8 kHz hits only 8 sample
            // values, and µ-law measures 33.8 dB on them.
            assert!(snr > 33.0, "{law:?} tone SNR {snr:.1} dB");
        }
        let Some(speech) = test_signal::speech(8_000) else { return };
        for law in [G711Law::Mu, G711Law::A] {
            let len = speech.len() / 160 * 160;
            let snr = snr_db(&speech[..len], &round_trip(law, &speech[..len]));
            eprintln!("{law:?} speech SNR {snr:.1} dB");
            assert!(snr > 33.0, "{law:?} speech SNR {snr:.1} dB");
        }
    }

    #[test]
    fn concealment_fades_and_stays_bounded() {
        let tone = test_signal::tone(1000.0, 8_000, 160, 0.5);
        let mut dec = G711Decoder::new(G711Law::A);
        let mut out = Vec::new();
        let mut enc = G711Encoder::new(G711Law::A, 20).unwrap();
        let mut payload = Vec::new();
        enc.encode(&tone, &mut payload).unwrap();
        dec.decode(&payload, &mut out).unwrap();
        let mut lost = Vec::new();
        assert_eq!(dec.conceal(&mut lost).unwrap(), 160);
        assert!(test_signal::rms(&lost) > 1000.0);
        for _ in 0..6 {
            dec.conceal(&mut lost).unwrap();
        }
        assert!(lost[lost.len() - 160..].iter().all(|&s| s == 0), "fades to silence");
        assert!(dec.decode(&[], &mut out).is_err());
        assert!(matches!(enc.encode(&tone[..100], &mut payload), Err(CodecError::WrongFrameLength { .. })));
    }
}
