//! Safe wrappers over the system AMR libraries: opencore-amrnb (AMR encode and decode),
//! opencore-amrwb (AMR-WB decode) and vo-amrwbenc (AMR-WB encode). `build.rs` links them.
//!
//! All four speak the RFC 4867 §5 storage format, one 20 ms frame at a time: a header byte
//! (FT, Q) followed by the speech bits. The decoders read as many bytes as the header's frame
//! type implies, so input always comes from a validated [`AmrFrame`] written into a buffer
//! larger than any frame.

use std::ffi::{c_int, c_short, c_uchar, c_void};
use std::ptr::NonNull;

use super::amr_payload::{AmrFrame, AmrVariant};
use super::CodecError;

#[link(name = "opencore-amrnb")]
extern "C" {
    fn Encoder_Interface_init(dtx: c_int) -> *mut c_void;
    fn Encoder_Interface_exit(state: *mut c_void);
    fn Encoder_Interface_Encode(
        state: *mut c_void,
        mode: c_int,
        speech: *const c_short,
        out: *mut c_uchar,
        force_speech: c_int,
    ) -> c_int;
    fn Decoder_Interface_init() -> *mut c_void;
    fn Decoder_Interface_exit(state: *mut c_void);
    fn Decoder_Interface_Decode(state: *mut c_void, input: *const c_uchar, out: *mut c_short, bfi: c_int);
}

#[link(name = "opencore-amrwb")]
extern "C" {
    fn D_IF_init() -> *mut c_void;
    fn D_IF_decode(state: *mut c_void, bits: *const c_uchar, synth: *mut c_short, bfi: c_int);
    fn D_IF_exit(state: *mut c_void);
}

#[link(name = "vo-amrwbenc")]
extern "C" {
    fn E_IF_init() -> *mut c_void;
    fn E_IF_encode(state: *mut c_void, mode: c_int, speech: *const c_short, out: *mut c_uchar, dtx: c_int) -> c_int;
    fn E_IF_exit(state: *mut c_void);
}

/// Storage-format buffer size: larger than the largest frame (61 bytes with header).
const STORAGE_BYTES: usize = 64;

/// An AMR or AMR-WB speech encoder state.
pub(super) struct FrameEncoder {
    variant: AmrVariant,
    dtx: bool,
    state: NonNull<c_void>,
}

// SAFETY: the state is a heap block owned by this value alone; the libraries keep no
// thread-local or global mutable state, so moving it to another thread is sound.
unsafe impl Send for FrameEncoder {}

impl FrameEncoder {
    pub(super) fn new(variant: AmrVariant, dtx: bool) -> Result<FrameEncoder, CodecError> {
        // SAFETY: plain constructors without arguments that must hold invariants.
        let raw = unsafe {
            match variant {
                AmrVariant::Nb => Encoder_Interface_init(dtx as c_int),
                AmrVariant::Wb => E_IF_init(),
            }
        };
        let state = NonNull::new(raw).ok_or(CodecError::InitFailed(variant.kind()))?;
        Ok(FrameEncoder { variant, dtx, state })
    }

    /// Encodes one 20 ms frame (160 or 320 samples) in speech mode `mode`.
    pub(super) fn encode(&mut self, mode: u8, pcm: &[i16]) -> Result<AmrFrame, CodecError> {
        if mode >= self.variant.speech_modes() {
            return Err(CodecError::BadSetting { kind: self.variant.kind(), reason: "no such AMR mode" });
        }
        super::check_frame(pcm, self.variant.frame_samples())?;
        let mut buf = [0u8; STORAGE_BYTES];
        // SAFETY: `pcm` holds the one frame the library reads; `buf` is larger than the largest
        // storage frame it writes; the state is live until Drop.
        let n = unsafe {
            match self.variant {
                AmrVariant::Nb => {
                    Encoder_Interface_Encode(self.state.as_ptr(), mode as c_int, pcm.as_ptr(), buf.as_mut_ptr(), 0)
                }
                AmrVariant::Wb => {
                    E_IF_encode(self.state.as_ptr(), mode as c_int, pcm.as_ptr(), buf.as_mut_ptr(), self.dtx as c_int)
                }
            }
        };
        let n = usize::try_from(n).unwrap_or(0).min(STORAGE_BYTES);
        let (frame, _) = AmrFrame::from_storage(self.variant, &buf[..n])?;
        Ok(frame)
    }
}

impl Drop for FrameEncoder {
    fn drop(&mut self) {
        // SAFETY: the state came from the matching init and is freed exactly once.
        unsafe {
            match self.variant {
                AmrVariant::Nb => Encoder_Interface_exit(self.state.as_ptr()),
                AmrVariant::Wb => E_IF_exit(self.state.as_ptr()),
            }
        }
    }
}

/// An AMR or AMR-WB speech decoder state.
pub(super) struct FrameDecoder {
    variant: AmrVariant,
    state: NonNull<c_void>,
}

// SAFETY: as for FrameEncoder.
unsafe impl Send for FrameDecoder {}

impl FrameDecoder {
    pub(super) fn new(variant: AmrVariant) -> Result<FrameDecoder, CodecError> {
        // SAFETY: plain constructors.
        let raw = unsafe {
            match variant {
                AmrVariant::Nb => Decoder_Interface_init(),
                AmrVariant::Wb => D_IF_init(),
            }
        };
        let state = NonNull::new(raw).ok_or(CodecError::InitFailed(variant.kind()))?;
        Ok(FrameDecoder { variant, state })
    }

    /// Decodes one frame (NO_DATA and Q=0 frames make the library conceal) and appends
    /// 160 or 320 samples to `out`.
    pub(super) fn decode(&mut self, frame: &AmrFrame, out: &mut Vec<i16>) {
        let mut buf = [0u8; STORAGE_BYTES];
        frame.write_storage(&mut buf);
        let samples = self.variant.frame_samples();
        let start = out.len();
        out.resize(start + samples, 0);
        let pcm = out[start..].as_mut_ptr();
        // SAFETY: `buf` holds a valid storage frame (its type was validated when the AmrFrame
        // was built) and is larger than any frame; `pcm` has room for one frame; bfi 0 lets
        // the header's FT and Q decide good, bad or missing.
        unsafe {
            match self.variant {
                AmrVariant::Nb => Decoder_Interface_Decode(self.state.as_ptr(), buf.as_ptr(), pcm, 0),
                AmrVariant::Wb => D_IF_decode(self.state.as_ptr(), buf.as_ptr(), pcm, 0),
            }
        }
    }
}

impl Drop for FrameDecoder {
    fn drop(&mut self) {
        // SAFETY: the state came from the matching init and is freed exactly once.
        unsafe {
            match self.variant {
                AmrVariant::Nb => Decoder_Interface_exit(self.state.as_ptr()),
                AmrVariant::Wb => D_IF_exit(self.state.as_ptr()),
            }
        }
    }
}
