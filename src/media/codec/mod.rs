//! Audio codecs behind one pair of traits: G.711, G.722, Opus, AMR-NB and AMR-WB (RFC 4867).
//!
//! A codec is chosen from what SDP said about it ([`CodecConfig::from_sdp`]: rtpmap name, clock
//! rate, channels, fmtp parameters), then [`CodecConfig::encoder`] / [`CodecConfig::decoder`]
//! build the two directions. Everything here is sans-IO: PCM and payload bytes in, bytes and PCM
//! out; no sockets, clocks or tasks. Payloads come from the network, so every decode path returns
//! a [`CodecError`] for malformed input rather than panicking.
//!
//! PCM is signed 16-bit at [`AudioEncoder::sample_rate`] / [`AudioDecoder::sample_rate`]
//! (interleaved when a codec runs with two channels); resampling between legs is the caller's.
//!
//! Licensing: G.711 is implemented here from the ITU-T formulas; G.722 comes from `ezk-g722`
//! (MIT, a port of the public-domain spandsp/CMU code); Opus is the system libopus (BSD).
//! AMR-NB and AMR-WB use the system opencore-amr and vo-amrwbenc libraries (Apache-2.0). Those
//! licences cover the code only: AMR and AMR-WB are patent-encumbered, and licensing the patents
//! for a deployment is the operator's concern. EVS has no open implementation and is only
//! recognised ([`CodecKind::Evs`]) so that negotiation can drop it.

mod amr;
mod amr_ffi;
pub mod amr_payload;
mod g711;
mod g722;
mod kind;
mod opus;
mod plc;

#[cfg(test)]
mod test_signal;

pub use amr::{AmrDecoder, AmrEncoder};
pub use amr_payload::{AmrFrame, AmrPacket, AmrParams, AmrPayloadError, AmrVariant};
pub use g711::{G711Decoder, G711Encoder, G711Law};
pub use g722::{G722Decoder, G722Encoder};
pub use kind::{CodecConfig, CodecKind, CodecParams, EncoderOptions, OpusParams};
pub use opus::{OpusDecoder, OpusEncoder};

/// Why a codec could not be set up, or a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The peer's SDP names an encoding we do not know (negotiation should drop it).
    #[error("unknown codec {name}/{clock_rate}")]
    UnknownCodec {
        /// The rtpmap encoding name as received.
        name: String,
        /// The rtpmap clock rate as received.
        clock_rate: u32,
    },
    /// The codec is recognised but not implemented here (EVS); negotiation should drop it.
    #[error("codec {0:?} is recognised but not supported")]
    Unsupported(CodecKind),
    /// The payload type carries no audio (telephone-event is the DTMF relay's, not a codec's).
    #[error("{0:?} is not an audio codec")]
    NotAudio(CodecKind),
    /// The peer's rtpmap gives a clock rate or channel count the codec does not define.
    #[error("{kind:?} cannot run at {clock_rate} Hz with {channels} channel(s)")]
    BadRtpmap {
        /// The codec named.
        kind: CodecKind,
        /// The clock rate given.
        clock_rate: u32,
        /// The channel count given.
        channels: u8,
    },
    /// The peer's fmtp has a parameter value we cannot use.
    #[error("fmtp {key}={value}: {reason}")]
    BadFmtp {
        /// The parameter name.
        key: String,
        /// The value as received.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The peer asked for a payload-format feature we do not implement (e.g. AMR interleaving).
    #[error("fmtp {key}={value} is not supported")]
    UnsupportedFmtp {
        /// The parameter name.
        key: String,
        /// The value as received.
        value: String,
    },
    /// An AMR payload from the peer is malformed, or one we were asked to pack is inconsistent.
    #[error("AMR payload: {0}")]
    AmrPayload(#[from] AmrPayloadError),
    /// A payload from the peer cannot be decoded by this codec.
    #[error("malformed {kind:?} payload: {reason}")]
    MalformedPayload {
        /// The codec that rejected it.
        kind: CodecKind,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The caller passed a PCM block of the wrong length (a bug in the caller).
    #[error("expected {expected} PCM samples per frame, got {got}")]
    WrongFrameLength {
        /// Samples the encoder needs per call ([`AudioEncoder::frame_samples`]).
        expected: usize,
        /// Samples passed.
        got: usize,
    },
    /// Our own encoder or decoder settings were refused by the codec (a bug or a bad option).
    #[error("invalid {kind:?} setting: {reason}")]
    BadSetting {
        /// The codec that refused it.
        kind: CodecKind,
        /// What was refused.
        reason: &'static str,
    },
    /// The codec library failed to create its state (out of memory).
    #[error("{0:?} library could not create its state")]
    InitFailed(CodecKind),
    /// libopus returned an error.
    #[error("opus: {0}")]
    Opus(#[from] audiopus::Error),
}

/// Encodes PCM frames into RTP payloads of one codec.
pub trait AudioEncoder: Send {
    /// Which codec this is.
    fn kind(&self) -> CodecKind;
    /// PCM sample rate in Hz (e.g. 16 000 for G.722 although its RTP clock is 8 000).
    fn sample_rate(&self) -> u32;
    /// RTP timestamp units per second.
    fn rtp_clock_rate(&self) -> u32 {
        self.kind().rtp_clock_rate()
    }
    /// Interleaved channels in the PCM passed to [`AudioEncoder::encode`].
    fn channels(&self) -> u8 {
        1
    }
    /// PCM samples (per channel) that make one payload: the packet time at the sample rate.
    fn frame_samples(&self) -> usize;
    /// RTP timestamp advance per payload (half of `frame_samples` for G.722).
    fn rtp_ticks_per_frame(&self) -> u32 {
        (self.frame_samples() as u64 * u64::from(self.rtp_clock_rate()) / u64::from(self.sample_rate())) as u32
    }
    /// Encodes exactly `frame_samples() * channels()` samples and appends one payload to `out`.
    ///
    /// Returns the payload length; 0 means "send nothing" (discontinuous transmission).
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<usize, CodecError>;
    /// Applies a codec mode request the peer sent (AMR CMR, from
    /// [`AudioDecoder::take_mode_request`] of the opposite direction); other codecs ignore it.
    fn apply_mode_request(&mut self, mode: u8) {
        let _ = mode;
    }
    /// Tells the encoder how much loss the peer reports (RTCP), in percent, so codecs with
    /// in-band FEC (Opus with `useinbandfec=1`) size their redundancy; others ignore it.
    fn set_expected_loss(&mut self, percent: u8) {
        let _ = percent;
    }
    /// Asks the peer to send in `mode` (AMR: the CMR of every packet we send), or stops asking;
    /// other codecs ignore it.
    fn request_peer_mode(&mut self, mode: Option<u8>) {
        let _ = mode;
    }
}

/// Decodes RTP payloads of one codec into PCM, and conceals lost packets.
pub trait AudioDecoder: Send {
    /// Which codec this is.
    fn kind(&self) -> CodecKind;
    /// PCM sample rate of the output in Hz.
    fn sample_rate(&self) -> u32;
    /// Interleaved channels in the output.
    fn channels(&self) -> u8 {
        1
    }
    /// Decodes one payload, appends its PCM to `out` and returns the samples appended (per channel).
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize, CodecError>;
    /// Appends PCM standing in for one lost packet (as long as the last one decoded, 20 ms before
    /// any) and returns the samples appended (per channel).
    fn conceal(&mut self, out: &mut Vec<i16>) -> Result<usize, CodecError>;
    /// Like [`AudioDecoder::conceal`] for a lost packet whose successor `next` has arrived; codecs
    /// with in-band forward error correction (Opus) rebuild the lost audio from it. `next` itself
    /// must still be passed to [`AudioDecoder::decode`] afterwards.
    fn conceal_from_next(&mut self, next: &[u8], out: &mut Vec<i16>) -> Result<usize, CodecError> {
        let _ = next;
        self.conceal(out)
    }
    /// The codec mode the peer last requested since the previous call (AMR CMR); hand it to the
    /// encoder of the opposite direction with [`AudioEncoder::apply_mode_request`].
    fn take_mode_request(&mut self) -> Option<u8> {
        None
    }
}

/// Checks that an encoder got exactly one frame of PCM.
fn check_frame(pcm: &[i16], expected: usize) -> Result<(), CodecError> {
    if pcm.len() == expected {
        Ok(())
    } else {
        Err(CodecError::WrongFrameLength { expected, got: pcm.len() })
    }
}
