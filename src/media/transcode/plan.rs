//! Per-call choice of the media path: copy when both legs can use one codec, otherwise the
//! transcoding pair that keeps the most audio bandwidth at the least work.
//!
//! Order of preference: (1) a codec both legs accept with compatible fmtp essentials → `Copy`;
//! (2) the pair whose narrower side is widest (wide-band end to end when both legs can do it);
//! (3) no resampling (equal PCM rates, e.g. G.722 ↔ AMR-WB); (4) the least codec CPU, from the
//! costs measured on the reference machine; (5) the legs' own order of preference. EVS and
//! codecs we cannot build are never chosen. Each leg keeps its own payload types, fmtp and ptime.

use super::TranscodeError;
use crate::media::codec::{CodecConfig, CodecKind, CodecParams};

/// One payload type a leg offered or answered, as SDP gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedCodec {
    /// RTP payload type.
    pub pt: u8,
    /// rtpmap encoding name.
    pub name: String,
    /// rtpmap clock rate.
    pub clock_rate: u32,
    /// rtpmap channels, when given.
    pub channels: Option<u8>,
    /// fmtp parameters.
    pub fmtp: Vec<(String, String)>,
}

/// What one leg sends and receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegFormat {
    /// Payload type of the audio codec on this leg.
    pub pt: u8,
    /// The audio codec.
    pub config: CodecConfig,
    /// Packet time on this leg, ms (the leg's `a=ptime`, 20 when absent).
    pub ptime_ms: u32,
    /// Payload type and clock of telephone-event on this leg, if it has one.
    pub telephone_event: Option<(u8, u32)>,
}

/// The media path of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaPlan {
    /// Both legs use the same codec: relay the packets (payload types may differ per leg).
    Copy {
        /// Leg A's side.
        a: LegFormat,
        /// Leg B's side.
        b: LegFormat,
    },
    /// The legs share no codec: run a [`super::Direction`] each way.
    Transcode {
        /// Leg A's side.
        a: LegFormat,
        /// Leg B's side.
        b: LegFormat,
    },
}

/// Codec CPU per 20 ms, encode + decode, µs (measured; Opus encoder at complexity 5).
fn cost_us(kind: CodecKind) -> u32 {
    match kind {
        CodecKind::Pcmu | CodecKind::Pcma => 2,
        CodecKind::G722 => 25,
        CodecKind::Amr => 125,
        CodecKind::AmrWb => 360,
        CodecKind::Opus => 257,
        _ => u32::MAX / 4,
    }
}

/// Resampling cost per 20 ms and direction, µs.
const RESAMPLE_US: u32 = 5;

struct Candidate {
    pt: u8,
    config: CodecConfig,
    rank: usize,
}

/// The audio codecs of a leg we can build, in the leg's order.
fn usable(codecs: &[OfferedCodec]) -> Vec<Candidate> {
    codecs
        .iter()
        .filter_map(|c| CodecConfig::from_sdp(&c.name, c.clock_rate, c.channels, &c.fmtp).ok().map(|cfg| (c.pt, cfg)))
        .filter(|(_, cfg)| cfg.kind.is_supported())
        .enumerate()
        .map(|(rank, (pt, config))| Candidate { pt, config, rank })
        .collect()
}

/// Whether a stream in `a` can be relayed untouched to a receiver that described `b`.
fn copy_compatible(a: &CodecConfig, b: &CodecConfig) -> bool {
    if a.kind != b.kind {
        return false;
    }
    match (&a.params, &b.params) {
        (CodecParams::Amr(x), CodecParams::Amr(y)) => {
            let all = (1u16 << x.variant.speech_modes()) - 1;
            x.octet_align == y.octet_align && x.mode_set.unwrap_or(all) & y.mode_set.unwrap_or(all) != 0
        }
        // Any Opus decoder decodes any Opus stream; G.711/G.722 have no essentials.
        _ => true,
    }
}

/// The telephone-event of a leg: the one on the audio codec's clock, else any.
fn telephone_event(codecs: &[OfferedCodec], audio: &CodecConfig) -> Option<(u8, u32)> {
    let te: Vec<&OfferedCodec> = codecs.iter().filter(|c| c.name.eq_ignore_ascii_case("telephone-event")).collect();
    te.iter()
        .find(|c| c.clock_rate == audio.kind.telephone_event_clock())
        .or_else(|| te.first())
        .map(|c| (c.pt, c.clock_rate))
}

/// Whether a codec can frame packets of `ptime` ms (otherwise the leg gets 20 ms).
fn ptime_fits(kind: CodecKind, ptime: u32) -> bool {
    match kind {
        CodecKind::Opus => matches!(ptime, 10 | 20 | 40 | 60),
        CodecKind::Amr | CodecKind::AmrWb => ptime % 20 == 0 && (20..=120).contains(&ptime),
        _ => ptime % 10 == 0 && (10..=120).contains(&ptime),
    }
}

/// Chooses the path of a call from the codecs each leg accepts (in its order of preference)
/// and each leg's ptime.
pub fn plan_call(
    a: &[OfferedCodec],
    a_ptime_ms: Option<u32>,
    b: &[OfferedCodec],
    b_ptime_ms: Option<u32>,
) -> Result<MediaPlan, TranscodeError> {
    let (ca, cb) = (usable(a), usable(b));
    if ca.is_empty() {
        return Err(TranscodeError::NoUsableCodec { leg: "a" });
    }
    if cb.is_empty() {
        return Err(TranscodeError::NoUsableCodec { leg: "b" });
    }
    let choice = |codecs: &[OfferedCodec], c: &Candidate, ptime: Option<u32>| LegFormat {
        pt: c.pt,
        config: c.config.clone(),
        ptime_ms: ptime.filter(|&p| ptime_fits(c.config.kind, p)).unwrap_or(20),
        telephone_event: telephone_event(codecs, &c.config),
    };
    // A's preference first, as the offerer's order decides among equals (RFC 3264 §6.1).
    for x in &ca {
        if let Some(y) = cb.iter().find(|y| copy_compatible(&x.config, &y.config)) {
            return Ok(MediaPlan::Copy { a: choice(a, x, a_ptime_ms), b: choice(b, y, b_ptime_ms) });
        }
    }
    let best = ca
        .iter()
        .flat_map(|x| cb.iter().map(move |y| (x, y)))
        .min_by_key(|(x, y)| {
            let (ra, rb) = (x.config.kind.sample_rate(), y.config.kind.sample_rate());
            let resample = ra != rb;
            let cpu = cost_us(x.config.kind) + cost_us(y.config.kind) + if resample { 2 * RESAMPLE_US } else { 0 };
            (std::cmp::Reverse(ra.min(rb)), resample, cpu, x.rank + y.rank, x.rank)
        })
        .expect("both lists are non-empty");
    Ok(MediaPlan::Transcode { a: choice(a, best.0, a_ptime_ms), b: choice(b, best.1, b_ptime_ms) })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
