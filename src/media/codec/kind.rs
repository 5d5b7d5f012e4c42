//! Which codec an SDP rtpmap/fmtp describes, its parameters, and building encoders and decoders.

use super::amr::{AmrDecoder, AmrEncoder};
use super::amr_payload::{AmrParams, AmrVariant};
use super::g711::{G711Decoder, G711Encoder, G711Law};
use super::g722::{G722Decoder, G722Encoder};
use super::opus::{OpusDecoder, OpusEncoder};
use super::{AudioDecoder, AudioEncoder, CodecError};

/// The encodings ncgw recognises in SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecKind {
    /// G.711 µ-law, `PCMU/8000`, static payload type 0.
    Pcmu,
    /// G.711 A-law, `PCMA/8000`, static payload type 8.
    Pcma,
    /// G.722, `G722/8000`, static payload type 9: 16 kHz audio on an 8 kHz RTP clock (RFC 3551 §4.5.2).
    G722,
    /// Opus, `opus/48000/2` (RFC 7587).
    Opus,
    /// AMR narrow-band, `AMR/8000` (RFC 4867).
    Amr,
    /// AMR wide-band, `AMR-WB/16000` (RFC 4867).
    AmrWb,
    /// DTMF events, `telephone-event/<clock>` (RFC 4733): not audio, handled by the DTMF relay.
    TelephoneEvent,
    /// 3GPP EVS, `EVS/16000`: recognised so negotiation can drop it; no open implementation exists.
    Evs,
}

impl CodecKind {
    /// Every kind, for tables and tests.
    pub const ALL: [CodecKind; 8] = [
        CodecKind::Pcmu,
        CodecKind::Pcma,
        CodecKind::G722,
        CodecKind::Opus,
        CodecKind::Amr,
        CodecKind::AmrWb,
        CodecKind::TelephoneEvent,
        CodecKind::Evs,
    ];

    /// Looks up an rtpmap encoding name (case-insensitive, as SDP requires).
    pub fn from_rtp_name(name: &str) -> Option<CodecKind> {
        CodecKind::ALL.into_iter().find(|k| k.rtp_name().eq_ignore_ascii_case(name))
    }

    /// The encoding name as written in an rtpmap.
    pub const fn rtp_name(self) -> &'static str {
        match self {
            CodecKind::Pcmu => "PCMU",
            CodecKind::Pcma => "PCMA",
            CodecKind::G722 => "G722",
            CodecKind::Opus => "opus",
            CodecKind::Amr => "AMR",
            CodecKind::AmrWb => "AMR-WB",
            CodecKind::TelephoneEvent => "telephone-event",
            CodecKind::Evs => "EVS",
        }
    }

    /// The RTP clock rate the payload format defines (telephone-event: the usual 8 000; its real
    /// clock follows the audio codec's and is in [`CodecConfig::clock_rate`]).
    pub const fn rtp_clock_rate(self) -> u32 {
        match self {
            CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722 => 8_000,
            CodecKind::Opus => 48_000,
            CodecKind::Amr | CodecKind::TelephoneEvent => 8_000,
            CodecKind::AmrWb | CodecKind::Evs => 16_000,
        }
    }

    /// The PCM sample rate the codec works at (differs from the RTP clock for G.722 only).
    pub const fn sample_rate(self) -> u32 {
        match self {
            CodecKind::G722 => 16_000,
            other => other.rtp_clock_rate(),
        }
    }

    /// The channel count an rtpmap must give (Opus always says 2, RFC 7587 §7).
    pub const fn rtp_channels(self) -> u8 {
        match self {
            CodecKind::Opus => 2,
            _ => 1,
        }
    }

    /// The static payload type of RFC 3551, if any.
    pub const fn static_payload_type(self) -> Option<u8> {
        match self {
            CodecKind::Pcmu => Some(0),
            CodecKind::Pcma => Some(8),
            CodecKind::G722 => Some(9),
            _ => None,
        }
    }

    /// The clock a telephone-event payload type next to this codec must use: the codec's RTP
    /// clock (RFC 4733 §2.1), so 8 000 for AMR, G.711 and G.722, 16 000 for AMR-WB, 48 000 for Opus.
    pub const fn telephone_event_clock(self) -> u32 {
        self.rtp_clock_rate()
    }

    /// Whether [`CodecConfig::encoder`] and [`CodecConfig::decoder`] can build this codec.
    pub const fn is_supported(self) -> bool {
        !matches!(self, CodecKind::Evs | CodecKind::TelephoneEvent)
    }
}

/// Parsed fmtp parameters of Opus (RFC 7587 §6.1), as the peer sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpusParams {
    /// `stereo=1`: the peer prefers to receive stereo.
    pub stereo: bool,
    /// `sprop-stereo=1`: the peer is likely to send stereo.
    pub sprop_stereo: bool,
    /// `useinbandfec=1`: the peer can use in-band FEC, so we add it to what we send.
    pub use_inband_fec: bool,
    /// `usedtx=1`: the peer prefers that we use DTX.
    pub use_dtx: bool,
    /// `cbr=1`: the peer prefers constant bitrate.
    pub cbr: bool,
    /// `maxaveragebitrate`: the most the peer wants to receive, bit/s (6 000..=510 000).
    pub max_average_bitrate: Option<u32>,
    /// `maxplaybackrate`: the highest audio sample rate the peer will play, Hz.
    pub max_playback_rate: Option<u32>,
}

/// Codec-specific parameters from the fmtp line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecParams {
    /// The codec has no fmtp parameters we use (G.711, G.722, EVS).
    None,
    /// Opus parameters.
    Opus(OpusParams),
    /// AMR or AMR-WB payload-format parameters.
    Amr(AmrParams),
    /// telephone-event: the events offered (e.g. `0-15`), unparsed.
    TelephoneEvent {
        /// The fmtp value, e.g. `0-16`; empty when absent.
        events: String,
    },
}

/// One payload type's codec as SDP described it, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecConfig {
    /// Which codec.
    pub kind: CodecKind,
    /// RTP clock rate from the rtpmap.
    pub clock_rate: u32,
    /// Channels from the rtpmap (1 when absent).
    pub channels: u8,
    /// fmtp parameters.
    pub params: CodecParams,
}

/// Our own choices for an encoder, which SDP does not carry in fmtp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderOptions {
    /// Packet time in milliseconds (SDP `a=ptime`): 20 unless the peer asked otherwise.
    pub ptime_ms: u32,
    /// Discontinuous transmission for AMR (SID frames in silence); Opus follows `usedtx`.
    pub dtx: bool,
    /// Opus encoder complexity 0..=10 (measured: 10 costs ~300 µs per 20 ms frame, 5 ~210 µs).
    pub opus_complexity: u8,
    /// AMR/AMR-WB mode to start with; the highest mode the mode-set allows when `None`.
    pub amr_mode: Option<u8>,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions { ptime_ms: 20, dtx: false, opus_complexity: 5, amr_mode: None }
    }
}

impl CodecConfig {
    /// Validates an rtpmap (`name/clock[/channels]`) and its fmtp parameters.
    ///
    /// EVS is accepted here (so it can be named when dropped) but cannot be built; an unknown
    /// name is [`CodecError::UnknownCodec`].
    pub fn from_sdp(
        name: &str,
        clock_rate: u32,
        channels: Option<u8>,
        fmtp: &[(String, String)],
    ) -> Result<CodecConfig, CodecError> {
        let kind = CodecKind::from_rtp_name(name)
            .ok_or_else(|| CodecError::UnknownCodec { name: name.to_owned(), clock_rate })?;
        let channels = channels.unwrap_or(1);
        let clock_ok = match kind {
            CodecKind::TelephoneEvent => matches!(clock_rate, 8_000 | 16_000 | 32_000 | 48_000),
            _ => clock_rate == kind.rtp_clock_rate(),
        };
        // Opus must say 2 (RFC 7587 §7); some peers omit it, which we accept.
        let channels_ok = match kind {
            CodecKind::Opus => channels == 1 || channels == 2,
            _ => channels == 1,
        };
        if !clock_ok || !channels_ok {
            return Err(CodecError::BadRtpmap { kind, clock_rate, channels });
        }
        let params = match kind {
            CodecKind::Opus => CodecParams::Opus(parse_opus_fmtp(fmtp)?),
            CodecKind::Amr => CodecParams::Amr(AmrParams::from_fmtp(AmrVariant::Nb, fmtp)?),
            CodecKind::AmrWb => CodecParams::Amr(AmrParams::from_fmtp(AmrVariant::Wb, fmtp)?),
            CodecKind::TelephoneEvent => CodecParams::TelephoneEvent {
                events: fmtp
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("events"))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            },
            _ => CodecParams::None,
        };
        Ok(CodecConfig { kind, clock_rate, channels, params })
    }

    /// Builds an encoder that sends what this description asks for.
    pub fn encoder(&self, options: &EncoderOptions) -> Result<Box<dyn AudioEncoder>, CodecError> {
        Ok(match (&self.kind, &self.params) {
            (CodecKind::Pcmu, _) => Box::new(G711Encoder::new(G711Law::Mu, options.ptime_ms)?),
            (CodecKind::Pcma, _) => Box::new(G711Encoder::new(G711Law::A, options.ptime_ms)?),
            (CodecKind::G722, _) => Box::new(G722Encoder::new(options.ptime_ms)?),
            (CodecKind::Opus, CodecParams::Opus(p)) => Box::new(OpusEncoder::new(p, options)?),
            (CodecKind::Amr | CodecKind::AmrWb, CodecParams::Amr(p)) => Box::new(AmrEncoder::new(p.clone(), options)?),
            (CodecKind::TelephoneEvent, _) => return Err(CodecError::NotAudio(self.kind)),
            (kind, _) => return Err(CodecError::Unsupported(*kind)),
        })
    }

    /// Builds a decoder for what the peer sends under this description.
    pub fn decoder(&self) -> Result<Box<dyn AudioDecoder>, CodecError> {
        Ok(match (&self.kind, &self.params) {
            (CodecKind::Pcmu, _) => Box::new(G711Decoder::new(G711Law::Mu)),
            (CodecKind::Pcma, _) => Box::new(G711Decoder::new(G711Law::A)),
            (CodecKind::G722, _) => Box::new(G722Decoder::new()),
            // Mono whatever sprop-stereo says: every leg we bridge to is mono (libopus down-mixes).
            (CodecKind::Opus, _) => Box::new(OpusDecoder::new(1)?),
            (CodecKind::Amr | CodecKind::AmrWb, CodecParams::Amr(p)) => Box::new(AmrDecoder::new(p.clone())?),
            (CodecKind::TelephoneEvent, _) => return Err(CodecError::NotAudio(self.kind)),
            (kind, _) => return Err(CodecError::Unsupported(*kind)),
        })
    }
}

impl OpusParams {
    /// These parameters as fmtp pairs (defaults left out), e.g. for an SDP answer.
    pub fn to_fmtp(&self) -> Vec<(String, String)> {
        let flags = [
            ("stereo", self.stereo),
            ("sprop-stereo", self.sprop_stereo),
            ("useinbandfec", self.use_inband_fec),
            ("usedtx", self.use_dtx),
            ("cbr", self.cbr),
        ];
        let mut v: Vec<(String, String)> =
            flags.iter().filter(|(_, on)| *on).map(|(k, _)| (k.to_string(), "1".to_owned())).collect();
        if let Some(rate) = self.max_average_bitrate {
            v.push(("maxaveragebitrate".to_owned(), rate.to_string()));
        }
        if let Some(rate) = self.max_playback_rate {
            v.push(("maxplaybackrate".to_owned(), rate.to_string()));
        }
        v
    }
}

/// Parses `0`/`1` flags as RFC 7587 defines them.
fn parse_flag(key: &str, value: &str) -> Result<bool, CodecError> {
    match value.trim() {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(bad_fmtp(key, value, "expected 0 or 1")),
    }
}

fn parse_number(key: &str, value: &str, range: std::ops::RangeInclusive<u32>) -> Result<u32, CodecError> {
    match value.trim().parse::<u32>() {
        Ok(n) if range.contains(&n) => Ok(n),
        Ok(_) => Err(bad_fmtp(key, value, "out of range")),
        Err(_) => Err(bad_fmtp(key, value, "not a number")),
    }
}

pub(super) fn bad_fmtp(key: &str, value: &str, reason: &'static str) -> CodecError {
    CodecError::BadFmtp { key: key.to_owned(), value: value.to_owned(), reason }
}

fn parse_opus_fmtp(fmtp: &[(String, String)]) -> Result<OpusParams, CodecError> {
    let mut p = OpusParams::default();
    for (key, value) in fmtp {
        match key.to_ascii_lowercase().as_str() {
            "stereo" => p.stereo = parse_flag(key, value)?,
            "sprop-stereo" => p.sprop_stereo = parse_flag(key, value)?,
            "useinbandfec" => p.use_inband_fec = parse_flag(key, value)?,
            "usedtx" => p.use_dtx = parse_flag(key, value)?,
            "cbr" => p.cbr = parse_flag(key, value)?,
            "maxaveragebitrate" => p.max_average_bitrate = Some(parse_number(key, value, 6_000..=510_000)?),
            "maxplaybackrate" => p.max_playback_rate = Some(parse_number(key, value, 8_000..=48_000)?),
            // minptime, sprop-maxcapturerate and unknown parameters do not change what we send.
            _ => {}
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmtp(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn names_clocks_and_quirks() {
        let g722 = CodecConfig::from_sdp("g722", 8000, None, &[]).unwrap();
        assert_eq!(g722.kind, CodecKind::G722);
        assert_eq!(CodecKind::G722.sample_rate(), 16_000);
        assert_eq!(CodecKind::G722.static_payload_type(), Some(9));
        assert!(CodecConfig::from_sdp("G722", 16000, None, &[]).is_err());
        assert!(CodecConfig::from_sdp("opus", 48000, Some(2), &[]).is_ok());
        assert!(matches!(CodecConfig::from_sdp("AMR-WB", 8000, None, &[]), Err(CodecError::BadRtpmap { .. })));
        assert!(matches!(CodecConfig::from_sdp("iLBC", 8000, None, &[]), Err(CodecError::UnknownCodec { .. })));
        let te = CodecConfig::from_sdp("telephone-event", 16000, None, &fmtp(&[("events", "0-15")])).unwrap();
        assert_eq!(te.params, CodecParams::TelephoneEvent { events: "0-15".into() });
        assert!(matches!(te.decoder(), Err(CodecError::NotAudio(_))));
        assert_eq!(CodecKind::AmrWb.telephone_event_clock(), 16_000);
        assert_eq!(CodecKind::G722.telephone_event_clock(), 8_000);
        for kind in CodecKind::ALL {
            assert_eq!(CodecKind::from_rtp_name(kind.rtp_name()), Some(kind));
        }
    }

    #[test]
    fn evs_is_recognised_but_unsupported() {
        let evs = CodecConfig::from_sdp("EVS", 16000, None, &fmtp(&[("br", "13.2")])).unwrap();
        assert_eq!(evs.kind, CodecKind::Evs);
        assert!(!evs.kind.is_supported());
        assert!(matches!(evs.decoder(), Err(CodecError::Unsupported(CodecKind::Evs))));
        assert!(matches!(evs.encoder(&EncoderOptions::default()), Err(CodecError::Unsupported(CodecKind::Evs))));
    }

    #[test]
    fn opus_fmtp() {
        let c = CodecConfig::from_sdp(
            "opus",
            48000,
            Some(2),
            &fmtp(&[("minptime", "10"), ("useinbandfec", "1"), ("maxaveragebitrate", "24000"), ("stereo", "0")]),
        )
        .unwrap();
        let CodecParams::Opus(p) = c.params else { panic!("opus params expected") };
        assert!(p.use_inband_fec && !p.stereo && !p.use_dtx);
        assert_eq!(p.max_average_bitrate, Some(24_000));
        assert!(matches!(
            CodecConfig::from_sdp("opus", 48000, Some(2), &fmtp(&[("useinbandfec", "yes")])),
            Err(CodecError::BadFmtp { .. })
        ));
        assert!(CodecConfig::from_sdp("opus", 48000, Some(2), &fmtp(&[("maxaveragebitrate", "9999999")])).is_err());
        assert_eq!(p.to_fmtp(), fmtp(&[("useinbandfec", "1"), ("maxaveragebitrate", "24000")]));
    }

    #[test]
    fn encoders_from_sdp_count_rtp_ticks() {
        let ticks = |name: &str, clock: u32, ch: Option<u8>| {
            let c = CodecConfig::from_sdp(name, clock, ch, &[]).unwrap();
            let e = c.encoder(&EncoderOptions::default()).unwrap();
            assert_eq!(e.kind(), c.kind);
            let d = c.decoder().unwrap();
            assert_eq!(d.sample_rate(), e.sample_rate());
            (e.frame_samples(), e.rtp_ticks_per_frame())
        };
        assert_eq!(ticks("PCMU", 8000, None), (160, 160));
        assert_eq!(ticks("PCMA", 8000, None), (160, 160));
        assert_eq!(ticks("G722", 8000, Some(1)), (320, 160));
        assert_eq!(ticks("opus", 48000, Some(2)), (960, 960));
        assert_eq!(ticks("AMR", 8000, None), (160, 160));
        assert_eq!(ticks("AMR-WB", 16000, None), (320, 320));
    }
}
