//! RFC 4867 RTP payload format for AMR and AMR-WB: bandwidth-efficient and octet-aligned
//! packing, CMR, table of contents, and the fmtp parameters that shape them.
//!
//! Frames are held as the codec emits them: a frame type (FT), the quality bit (Q) and the
//! speech bits MSB-first, in the order of TS 26.101/26.201 (the same order the RTP payload and
//! the storage format of RFC 4867 §5 use). Not implemented, and refused in fmtp: interleaving,
//! `crc=1`, `robust-sorting=1` (no VoLTE or WebRTC peer uses them).

use super::kind::bad_fmtp;
use super::{CodecError, CodecKind};

/// CMR value meaning "no mode request".
pub const NO_CMR: u8 = 15;
/// Frame type of an empty frame (nothing transmitted for this 20 ms).
pub const NO_DATA: u8 = 15;
/// Bytes of the largest frame (AMR-WB 23.85 kbit/s, 477 bits).
pub const MAX_FRAME_BYTES: usize = 60;
/// Most frames accepted in one packet (RFC 4867 allows more; maxptime 240 ms is 12).
pub const MAX_FRAMES: usize = 48;

/// Speech bits per frame type of AMR (TS 26.101 Table 1a); `None` for reserved types.
#[rustfmt::skip]
const AMR_BITS: [Option<u16>; 16] = [
    Some(95), Some(103), Some(118), Some(134), Some(148), Some(159), Some(204), Some(244),
    Some(39),         // SID
    None, None, None, // GSM-EFR, TDMA and PDC SIDs: RFC 4867 §4.3.2 says discard
    None, None, None, // reserved
    Some(0),          // NO_DATA
];

/// Speech bits per frame type of AMR-WB (TS 26.201 Table 1a); `None` for reserved types.
#[rustfmt::skip]
const AMR_WB_BITS: [Option<u16>; 16] = [
    Some(132), Some(177), Some(253), Some(285), Some(317), Some(365), Some(397), Some(461), Some(477),
    Some(40),               // SID
    None, None, None, None, // reserved
    Some(0),                // SPEECH_LOST
    Some(0),                // NO_DATA
];

/// AMR narrow-band or wide-band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmrVariant {
    /// AMR, 8 kHz, modes 0..=7 (4.75 to 12.2 kbit/s).
    Nb,
    /// AMR-WB, 16 kHz, modes 0..=8 (6.6 to 23.85 kbit/s).
    Wb,
}

impl AmrVariant {
    /// The codec kind.
    pub const fn kind(self) -> CodecKind {
        match self {
            AmrVariant::Nb => CodecKind::Amr,
            AmrVariant::Wb => CodecKind::AmrWb,
        }
    }
    /// Number of speech modes (8 or 9); modes are `0..speech_modes()`.
    pub const fn speech_modes(self) -> u8 {
        match self {
            AmrVariant::Nb => 8,
            AmrVariant::Wb => 9,
        }
    }
    /// Frame type of a SID (comfort noise) frame: 8 for AMR, 9 for AMR-WB.
    pub const fn sid_frame_type(self) -> u8 {
        self.speech_modes()
    }
    /// PCM sample rate.
    pub const fn sample_rate(self) -> u32 {
        match self {
            AmrVariant::Nb => 8_000,
            AmrVariant::Wb => 16_000,
        }
    }
    /// PCM samples in one 20 ms frame.
    pub const fn frame_samples(self) -> usize {
        (self.sample_rate() / 50) as usize
    }
    /// Speech bits carried by a frame type, `None` when the type is reserved or out of range.
    pub fn frame_bits(self, frame_type: u8) -> Option<u16> {
        let table = match self {
            AmrVariant::Nb => &AMR_BITS,
            AmrVariant::Wb => &AMR_WB_BITS,
        };
        table.get(frame_type as usize).copied().flatten()
    }
}

/// Why an AMR payload could not be packed or unpacked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmrPayloadError {
    /// The peer sent an empty payload.
    #[error("empty payload")]
    Empty,
    /// The payload ends before the frames its table of contents announces (peer's fault).
    #[error("payload has {available} bits, its table of contents needs {needed}")]
    Truncated {
        /// Bits the header, table of contents and frames need.
        needed: usize,
        /// Bits present.
        available: usize,
    },
    /// A table-of-contents entry names a reserved frame type (RFC 4867 §4.3.2: discard).
    #[error("reserved frame type {0}")]
    ReservedFrameType(u8),
    /// More frames in one packet than [`MAX_FRAMES`].
    #[error("more than {MAX_FRAMES} frames in one packet")]
    TooManyFrames,
    /// A packet to pack has no frames (our bug).
    #[error("a packet needs at least one frame")]
    NoFrames,
    /// A speech frame to pack uses a mode outside the negotiated mode-set (our bug).
    #[error("mode {0} is outside the mode-set")]
    ModeNotAllowed(u8),
    /// Frame bytes shorter than the frame type needs (our bug, or a bad storage frame).
    #[error("frame type {frame_type} needs {needed} bytes, got {got}")]
    FrameTooShort {
        /// The frame type.
        frame_type: u8,
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
}

/// One 20 ms AMR or AMR-WB frame.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AmrFrame {
    frame_type: u8,
    quality: bool,
    bits: u16,
    data: [u8; MAX_FRAME_BYTES],
}

impl std::fmt::Debug for AmrFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmrFrame")
            .field("frame_type", &self.frame_type)
            .field("quality", &self.quality)
            .field("bits", &self.bits)
            .finish()
    }
}

impl AmrFrame {
    /// A frame of `frame_type` whose speech bits are the first bits of `data` (MSB first);
    /// bits past the frame's length are cleared.
    pub fn new(variant: AmrVariant, frame_type: u8, quality: bool, data: &[u8]) -> Result<AmrFrame, AmrPayloadError> {
        let bits = variant.frame_bits(frame_type).ok_or(AmrPayloadError::ReservedFrameType(frame_type))?;
        let needed = (bits as usize).div_ceil(8);
        if data.len() < needed {
            return Err(AmrPayloadError::FrameTooShort { frame_type, needed, got: data.len() });
        }
        let mut frame = AmrFrame { frame_type, quality, bits, data: [0; MAX_FRAME_BYTES] };
        frame.data[..needed].copy_from_slice(&data[..needed]);
        if bits % 8 != 0 {
            frame.data[needed - 1] &= 0xFF << (8 - bits % 8);
        }
        Ok(frame)
    }

    /// An empty frame (FT 15): nothing sent for these 20 ms.
    pub fn no_data() -> AmrFrame {
        AmrFrame { frame_type: NO_DATA, quality: true, bits: 0, data: [0; MAX_FRAME_BYTES] }
    }

    /// Parses one frame in RFC 4867 §5.3 storage format (a ToC-like header byte, then the
    /// speech bits padded to a byte), as the opencore/vo encoders write it; returns the frame and
    /// the bytes used.
    pub fn from_storage(variant: AmrVariant, bytes: &[u8]) -> Result<(AmrFrame, usize), AmrPayloadError> {
        let (&header, rest) = bytes.split_first().ok_or(AmrPayloadError::Empty)?;
        let frame = AmrFrame::new(variant, (header >> 3) & 0x0F, header & 0x04 != 0, rest)?;
        Ok((frame, 1 + frame.data().len()))
    }

    /// Writes the frame in storage format (header byte, then the speech bytes).
    pub fn write_storage(&self, out: &mut [u8]) -> usize {
        out[0] = (self.frame_type << 3) | ((self.quality as u8) << 2);
        let data = self.data();
        out[1..=data.len()].copy_from_slice(data);
        1 + data.len()
    }

    /// Frame type: a speech mode, SID, NO_DATA (15) or, for AMR-WB, SPEECH_LOST (14).
    pub fn frame_type(&self) -> u8 {
        self.frame_type
    }
    /// Quality bit: false when the sender knows the frame is damaged.
    pub fn quality(&self) -> bool {
        self.quality
    }
    /// Number of speech bits.
    pub fn bit_len(&self) -> usize {
        self.bits as usize
    }
    /// The speech bits, MSB first, the last byte zero-padded.
    pub fn data(&self) -> &[u8] {
        &self.data[..(self.bits as usize).div_ceil(8)]
    }
    /// Whether this frame carries speech of some mode (not SID, NO_DATA or SPEECH_LOST).
    pub fn is_speech(&self, variant: AmrVariant) -> bool {
        self.frame_type < variant.speech_modes()
    }
}

/// One RTP payload's worth: the codec mode request and the frames, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmrPacket {
    /// Mode the sender asks us to send in, or [`NO_CMR`].
    pub cmr: u8,
    /// The frames, 20 ms each.
    pub frames: Vec<AmrFrame>,
}

/// The RFC 4867 §8.1 fmtp parameters of an AMR or AMR-WB payload type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmrParams {
    /// Which codec.
    pub variant: AmrVariant,
    /// `octet-align=1`: octet-aligned mode; bandwidth-efficient otherwise.
    pub octet_align: bool,
    /// `mode-set`: bit `m` set when mode `m` may be used; `None` when absent (all modes).
    pub mode_set: Option<u16>,
    /// `mode-change-period` (1 or 2): the sender may change mode only every N frames.
    pub mode_change_period: u8,
    /// `mode-change-capability` (1 or 2): 2 when the peer can restrict its own changes to every
    /// other frame (needed for TrFO with CS networks, TS 26.114 A.15).
    pub mode_change_capability: u8,
    /// `mode-change-neighbor=1`: the sender may only step to the neighbouring mode of the set.
    pub mode_change_neighbor: bool,
    /// `max-red` in ms: the most redundancy the peer sends; parsed and otherwise ignored.
    pub max_red: Option<u32>,
}

impl AmrParams {
    /// The defaults of RFC 4867 (bandwidth-efficient, every mode).
    pub fn new(variant: AmrVariant) -> AmrParams {
        AmrParams {
            variant,
            octet_align: false,
            mode_set: None,
            mode_change_period: 1,
            mode_change_capability: 1,
            mode_change_neighbor: false,
            max_red: None,
        }
    }

    /// Parses fmtp parameters; refuses the options we do not implement.
    pub fn from_fmtp(variant: AmrVariant, fmtp: &[(String, String)]) -> Result<AmrParams, CodecError> {
        let mut p = AmrParams::new(variant);
        for (key, value) in fmtp {
            let v = value.trim();
            let flag = || match v {
                "0" => Ok(false),
                "1" => Ok(true),
                _ => Err(bad_fmtp(key, value, "expected 0 or 1")),
            };
            let one_or_two = || match v {
                "1" => Ok(1),
                "2" => Ok(2),
                _ => Err(bad_fmtp(key, value, "expected 1 or 2")),
            };
            match key.to_ascii_lowercase().as_str() {
                "octet-align" => p.octet_align = flag()?,
                "mode-set" => p.mode_set = Some(parse_mode_set(variant, key, value)?),
                "mode-change-period" => p.mode_change_period = one_or_two()?,
                "mode-change-capability" => p.mode_change_capability = one_or_two()?,
                "mode-change-neighbor" => p.mode_change_neighbor = flag()?,
                "max-red" => p.max_red = Some(v.parse().map_err(|_| bad_fmtp(key, value, "not a number"))?),
                "crc" | "robust-sorting" if v == "1" => {
                    return Err(CodecError::UnsupportedFmtp { key: key.clone(), value: value.clone() })
                }
                "crc" | "robust-sorting" => {
                    flag()?;
                }
                "interleaving" => return Err(CodecError::UnsupportedFmtp { key: key.clone(), value: value.clone() }),
                // channels, ptime hints, ecn-capable-rtp …: nothing we must act on.
                _ => {}
            }
        }
        Ok(p)
    }

    /// Whether speech mode `mode` may be sent.
    pub fn allows(&self, mode: u8) -> bool {
        mode < self.variant.speech_modes() && self.mode_set.is_none_or(|set| set & (1 << mode) != 0)
    }

    /// The allowed modes, lowest first.
    pub fn modes(&self) -> impl Iterator<Item = u8> + '_ {
        (0..self.variant.speech_modes()).filter(|&m| self.allows(m))
    }

    /// The highest allowed mode not above `mode`, else the lowest allowed one.
    pub fn clamp_mode(&self, mode: u8) -> u8 {
        self.modes().filter(|&m| m <= mode).last().or_else(|| self.modes().next()).unwrap_or(0)
    }

    /// These parameters as fmtp pairs (defaults left out), e.g. for an SDP answer.
    pub fn to_fmtp(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if let Some(set) = self.mode_set {
            let modes: Vec<String> = (0..16).filter(|m| set & (1 << m) != 0).map(|m: u8| m.to_string()).collect();
            v.push(("mode-set".to_owned(), modes.join(",")));
        }
        if self.octet_align {
            v.push(("octet-align".to_owned(), "1".to_owned()));
        }
        if self.mode_change_period != 1 {
            v.push(("mode-change-period".to_owned(), self.mode_change_period.to_string()));
        }
        if self.mode_change_capability != 1 {
            v.push(("mode-change-capability".to_owned(), self.mode_change_capability.to_string()));
        }
        if self.mode_change_neighbor {
            v.push(("mode-change-neighbor".to_owned(), "1".to_owned()));
        }
        if let Some(red) = self.max_red {
            v.push(("max-red".to_owned(), red.to_string()));
        }
        v
    }

    /// Packs `packet` into `out` (appended) and returns the bytes written.
    pub fn pack(&self, packet: &AmrPacket, out: &mut Vec<u8>) -> Result<usize, AmrPayloadError> {
        if packet.frames.is_empty() {
            return Err(AmrPayloadError::NoFrames);
        }
        if packet.frames.len() > MAX_FRAMES {
            return Err(AmrPayloadError::TooManyFrames);
        }
        for f in &packet.frames {
            if f.is_speech(self.variant) && !self.allows(f.frame_type) {
                return Err(AmrPayloadError::ModeNotAllowed(f.frame_type));
            }
        }
        let cmr = if packet.cmr < self.variant.speech_modes() { packet.cmr } else { NO_CMR };
        let start = out.len();
        let last = packet.frames.len() - 1;
        if self.octet_align {
            out.push(cmr << 4);
            for (i, f) in packet.frames.iter().enumerate() {
                out.push(((i != last) as u8) << 7 | f.frame_type << 3 | (f.quality as u8) << 2);
            }
            for f in &packet.frames {
                out.extend_from_slice(f.data());
            }
        } else {
            let mut w = BitWriter::new(out);
            w.put(cmr as u32, 4);
            for (i, f) in packet.frames.iter().enumerate() {
                w.put(((i != last) as u32) << 5 | (f.frame_type as u32) << 1 | f.quality as u32, 6);
            }
            for f in &packet.frames {
                w.put_bits(f.data(), f.bit_len());
            }
            w.finish();
        }
        Ok(out.len() - start)
    }

    /// Unpacks a payload from the peer. A CMR that names no mode of this codec is read as
    /// [`NO_CMR`]; bytes after the last frame are ignored.
    pub fn unpack(&self, payload: &[u8]) -> Result<AmrPacket, AmrPayloadError> {
        if payload.is_empty() {
            return Err(AmrPayloadError::Empty);
        }
        let mut r = BitReader { data: payload, pos: 0 };
        let mut toc: Vec<(u8, bool)> = Vec::new();
        let cmr;
        if self.octet_align {
            cmr = payload[0] >> 4;
            r.pos = 8;
            loop {
                let b = r.take(8)? as u8;
                toc.push(self.toc_entry((b >> 3) & 0x0F, b & 0x04 != 0)?);
                if b & 0x80 == 0 {
                    break;
                }
                if toc.len() == MAX_FRAMES {
                    return Err(AmrPayloadError::TooManyFrames);
                }
            }
        } else {
            cmr = r.take(4)? as u8;
            loop {
                let e = r.take(6)?;
                toc.push(self.toc_entry(((e >> 1) & 0x0F) as u8, e & 1 != 0)?);
                if e & 0x20 == 0 {
                    break;
                }
                if toc.len() == MAX_FRAMES {
                    return Err(AmrPayloadError::TooManyFrames);
                }
            }
        }
        let needed = r.pos + toc.iter().map(|&(ft, _)| self.stored_bits(ft)).sum::<usize>();
        if needed > payload.len() * 8 {
            return Err(AmrPayloadError::Truncated { needed, available: payload.len() * 8 });
        }
        let mut frames = Vec::with_capacity(toc.len());
        let mut buf = [0u8; MAX_FRAME_BYTES];
        for (ft, q) in toc {
            let bits = self.stored_bits(ft);
            r.take_bits(&mut buf, bits)?;
            frames.push(AmrFrame::new(self.variant, ft, q, &buf)?);
        }
        let cmr = if cmr < self.variant.speech_modes() { cmr } else { NO_CMR };
        Ok(AmrPacket { cmr, frames })
    }

    fn toc_entry(&self, ft: u8, q: bool) -> Result<(u8, bool), AmrPayloadError> {
        match self.variant.frame_bits(ft) {
            Some(_) => Ok((ft, q)),
            None => Err(AmrPayloadError::ReservedFrameType(ft)),
        }
    }

    /// Bits a frame occupies in the payload: exact in bandwidth-efficient mode, whole bytes in
    /// octet-aligned mode.
    fn stored_bits(&self, ft: u8) -> usize {
        let bits = self.variant.frame_bits(ft).unwrap_or(0) as usize;
        if self.octet_align {
            bits.div_ceil(8) * 8
        } else {
            bits
        }
    }
}

fn parse_mode_set(variant: AmrVariant, key: &str, value: &str) -> Result<u16, CodecError> {
    let mut set = 0u16;
    for part in value.split(',') {
        match part.trim().parse::<u8>() {
            Ok(m) if m < variant.speech_modes() => set |= 1 << m,
            _ => return Err(bad_fmtp(key, value, "not a list of this codec's modes")),
        }
    }
    Ok(set)
}

/// Appends bits MSB-first to a byte vector.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u32,
    n: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter { out, acc: 0, n: 0 }
    }
    /// Appends the low `n` (≤ 24) bits of `v`.
    fn put(&mut self, v: u32, n: u32) {
        self.acc = (self.acc << n) | (v & ((1 << n) - 1));
        self.n += n;
        while self.n >= 8 {
            self.n -= 8;
            self.out.push((self.acc >> self.n) as u8);
        }
        self.acc &= (1 << self.n) - 1;
    }
    /// Appends the first `bits` bits of `data`.
    fn put_bits(&mut self, data: &[u8], bits: usize) {
        for &b in &data[..bits / 8] {
            self.put(b as u32, 8);
        }
        if bits % 8 != 0 {
            let rest = (bits % 8) as u32;
            self.put((data[bits / 8] >> (8 - rest)) as u32, rest);
        }
    }
    /// Pads the last byte with zeros.
    fn finish(mut self) {
        if self.n > 0 {
            let pad = 8 - self.n;
            self.put(0, pad);
        }
    }
}

/// Reads bits MSB-first from a byte slice.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn truncated(&self, n: usize) -> AmrPayloadError {
        AmrPayloadError::Truncated { needed: self.pos + n, available: self.data.len() * 8 }
    }
    /// Reads `n` (≤ 8) bits.
    fn take(&mut self, n: usize) -> Result<u32, AmrPayloadError> {
        if self.pos + n > self.data.len() * 8 {
            return Err(self.truncated(n));
        }
        let mut v = 0u32;
        for _ in 0..n {
            let bit = (self.data[self.pos / 8] >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | bit as u32;
            self.pos += 1;
        }
        Ok(v)
    }
    /// Reads `bits` bits into `dst`, MSB-first, zero-padding its last byte.
    fn take_bits(&mut self, dst: &mut [u8], bits: usize) -> Result<(), AmrPayloadError> {
        if self.pos + bits > self.data.len() * 8 || bits.div_ceil(8) > dst.len() {
            return Err(self.truncated(bits));
        }
        for (i, byte) in dst[..bits.div_ceil(8)].iter_mut().enumerate() {
            let n = (bits - i * 8).min(8);
            *byte = (self.take(n)? << (8 - n)) as u8;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "amr_payload_tests.rs"]
mod tests;
