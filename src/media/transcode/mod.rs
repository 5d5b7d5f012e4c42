//! Transcoding between two legs that share no codec: the per-direction pipeline (jitter buffer,
//! decode with loss concealment, resampling, re-framing, encode, RTP), DTMF translation and
//! detection, and the per-call choice between copying and transcoding.
//!
//! Everything here is sans-IO: RTP datagrams and the arrival time go in, datagrams come out of
//! [`Direction::poll_output`], and [`Direction::poll_timeout`] says when to call again. The
//! relay engine owns the sockets and the timer; the B2BUA picks the codecs with [`plan`].

pub mod dtmf;
mod dtmf_detect;
pub mod jitter;
pub mod pipeline;
pub mod plan;
pub mod resample;

#[cfg(test)]
pub(crate) mod test_util;
#[cfg(test)]
mod pipeline_tests;

pub use dtmf::{DtmfDetector, DtmfGenerator, DtmfTranslator, EventPacket, ToneInserter};
pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
pub use pipeline::{Direction, DirectionOptions, DirectionStats};
pub use plan::{plan_call, LegFormat, MediaPlan, OfferedCodec};
pub use resample::Resampler;

use crate::media::codec::CodecError;
use crate::media::rtp::RtpError;

/// Why a transcoding pipeline could not be built, or refused a packet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscodeError {
    /// Our configuration: a codec could not be built from its description.
    #[error("codec set-up: {0}")]
    Codec(#[from] CodecError),
    /// Our configuration: the resampler cannot convert between these rates.
    #[error("cannot resample {from} Hz to {to} Hz")]
    UnsupportedRates {
        /// Input rate in Hz.
        from: u32,
        /// Output rate in Hz.
        to: u32,
    },
    /// Our configuration: a ptime the leg's codec cannot frame.
    #[error("ptime {0} ms is not a whole number of 10 ms")]
    BadPtime(u32),
    /// The peer sent a datagram that is not RTP.
    #[error("not an RTP packet: {0}")]
    NotRtp(#[from] RtpError),
    /// The leg offered or answered no audio codec we can build (only EVS, unknown names …).
    #[error("leg {leg} has no usable audio codec")]
    NoUsableCodec {
        /// `"a"` or `"b"`.
        leg: &'static str,
    },
    /// The peer sent a payload type that was not negotiated for this leg (counted, dropped).
    #[error("payload type {0} was not negotiated")]
    UnknownPayloadType(u8),
}
