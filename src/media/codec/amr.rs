//! AMR and AMR-WB encoders and decoders: the system codec libraries behind the RFC 4867
//! payload format, with codec mode requests (CMR) and the mode-set rules applied.

use super::amr_ffi::{FrameDecoder, FrameEncoder};
use super::amr_payload::{AmrFrame, AmrPacket, AmrParams, AmrVariant, NO_CMR, NO_DATA};
use super::kind::EncoderOptions;
use super::{check_frame, AudioDecoder, AudioEncoder, CodecError, CodecKind};

/// Longest packet time we send or accept as one packet's worth of concealment (maxptime 240).
const MAX_PTIME_MS: u32 = 240;

/// The mode to start in without a choice: 12.2 kbit/s for AMR and 12.65 kbit/s for AMR-WB,
/// the rates VoLTE networks are dimensioned for (lowered to fit the mode-set).
fn default_mode(variant: AmrVariant) -> u8 {
    match variant {
        AmrVariant::Nb => 7,
        AmrVariant::Wb => 2,
    }
}

/// AMR or AMR-WB encoder producing RFC 4867 payloads of `ptime / 20` frames.
pub struct AmrEncoder {
    params: AmrParams,
    codec: FrameEncoder,
    frames_per_packet: usize,
    /// Mode in use now.
    mode: u8,
    /// Mode the peer asked for (CMR) or we were told to use; reached within the mode-change rules.
    target: u8,
    /// Frames sent so far, for `mode-change-period=2`.
    frame_count: u64,
    /// CMR we put in outgoing packets.
    cmr: u8,
    frames: Vec<AmrFrame>,
}

impl std::fmt::Debug for AmrEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmrEncoder")
            .field("params", &self.params)
            .field("mode", &self.mode)
            .field("target", &self.target)
            .field("cmr", &self.cmr)
            .finish_non_exhaustive()
    }
}

impl AmrEncoder {
    /// An encoder sending what `params` (the peer's fmtp) allows; `options.ptime_ms` must be a
    /// multiple of 20 up to 240.
    pub fn new(params: AmrParams, options: &EncoderOptions) -> Result<AmrEncoder, CodecError> {
        let kind = params.variant.kind();
        if options.ptime_ms == 0 || options.ptime_ms > MAX_PTIME_MS || options.ptime_ms % 20 != 0 {
            return Err(CodecError::BadSetting { kind, reason: "ptime must be 20..=240 ms in steps of 20" });
        }
        if let Some(m) = options.amr_mode {
            if m >= params.variant.speech_modes() {
                return Err(CodecError::BadSetting { kind, reason: "no such AMR mode" });
            }
        }
        let mode = params.clamp_mode(options.amr_mode.unwrap_or(default_mode(params.variant)));
        Ok(AmrEncoder {
            codec: FrameEncoder::new(params.variant, options.dtx)?,
            frames_per_packet: (options.ptime_ms / 20) as usize,
            mode,
            target: mode,
            frame_count: 0,
            cmr: NO_CMR,
            frames: Vec::new(),
            params,
        })
    }

    /// The speech mode the next frame will use.
    pub fn mode(&self) -> u8 {
        self.mode
    }

    /// Steps `mode` towards `target` as `mode-change-period` and `mode-change-neighbor` allow.
    fn next_mode(&mut self) -> u8 {
        let period = u64::from(self.params.mode_change_period.max(1));
        if self.mode != self.target && self.frame_count % period == 0 {
            self.mode = if self.params.mode_change_neighbor {
                let modes = self.params.modes();
                if self.target > self.mode {
                    modes.filter(|&m| m > self.mode).min().unwrap_or(self.mode)
                } else {
                    modes.filter(|&m| m < self.mode).max().unwrap_or(self.mode)
                }
            } else {
                self.target
            };
        }
        self.frame_count += 1;
        self.mode
    }
}

impl AudioEncoder for AmrEncoder {
    fn kind(&self) -> CodecKind {
        self.params.variant.kind()
    }
    fn sample_rate(&self) -> u32 {
        self.params.variant.sample_rate()
    }
    fn frame_samples(&self) -> usize {
        self.params.variant.frame_samples() * self.frames_per_packet
    }
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<usize, CodecError> {
        check_frame(pcm, self.frame_samples())?;
        let mut frames = std::mem::take(&mut self.frames);
        frames.clear();
        for chunk in pcm.chunks_exact(self.params.variant.frame_samples()) {
            let mode = self.next_mode();
            frames.push(self.codec.encode(mode, chunk)?);
        }
        // In DTX, a packet of NO_DATA frames only is not sent (RFC 4867 §4.3.5.1 allows sending
        // it to carry a CMR; we do when we have a request to make).
        let nothing = frames.iter().all(|f| f.frame_type() == NO_DATA);
        let packet = AmrPacket { cmr: self.cmr, frames };
        let result = if nothing && self.cmr == NO_CMR { Ok(0) } else { self.params.pack(&packet, out) };
        self.frames = packet.frames;
        Ok(result?)
    }
    /// We move to the highest allowed mode not above the request, within the mode-change rules.
    fn apply_mode_request(&mut self, mode: u8) {
        if mode < self.params.variant.speech_modes() {
            self.target = self.params.clamp_mode(mode);
        }
    }
    fn request_peer_mode(&mut self, mode: Option<u8>) {
        self.cmr = mode.filter(|&m| m < self.params.variant.speech_modes()).unwrap_or(NO_CMR);
    }
}

/// AMR or AMR-WB decoder of RFC 4867 payloads.
pub struct AmrDecoder {
    params: AmrParams,
    codec: FrameDecoder,
    /// Frames in the last packet: how much one lost packet conceals.
    last_frames: usize,
    /// The last mode request the peer sent, until taken.
    cmr: Option<u8>,
}

impl std::fmt::Debug for AmrDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmrDecoder")
            .field("params", &self.params)
            .field("last_frames", &self.last_frames)
            .finish_non_exhaustive()
    }
}

impl AmrDecoder {
    /// A decoder for payloads formatted as `params` says (our own fmtp for this payload type).
    pub fn new(params: AmrParams) -> Result<AmrDecoder, CodecError> {
        Ok(AmrDecoder { codec: FrameDecoder::new(params.variant)?, params, last_frames: 1, cmr: None })
    }
}

impl AudioDecoder for AmrDecoder {
    fn kind(&self) -> CodecKind {
        self.params.variant.kind()
    }
    fn sample_rate(&self) -> u32 {
        self.params.variant.sample_rate()
    }
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize, CodecError> {
        let packet = self.params.unpack(payload)?;
        if packet.cmr != NO_CMR {
            self.cmr = Some(packet.cmr);
        }
        for frame in &packet.frames {
            self.codec.decode(frame, out);
        }
        self.last_frames = packet.frames.len().min((MAX_PTIME_MS / 20) as usize);
        Ok(packet.frames.len() * self.params.variant.frame_samples())
    }
    fn conceal(&mut self, out: &mut Vec<i16>) -> Result<usize, CodecError> {
        // A NO_DATA frame makes the decoder run its own concealment (or comfort noise after SID).
        let lost = AmrFrame::no_data();
        for _ in 0..self.last_frames {
            self.codec.decode(&lost, out);
        }
        Ok(self.last_frames * self.params.variant.frame_samples())
    }
    fn take_mode_request(&mut self) -> Option<u8> {
        self.cmr.take()
    }
}

#[cfg(test)]
#[path = "amr_tests.rs"]
mod tests;
