//! The sealed segment: a plaintext block (header, two-channel PCM, raw RTP of undecodable
//! codecs) sealed with AES-256-GCM into one self-contained byte string, the payload of one
//! segment record of the recording file ([`super::records`]).
//!
//! Segment layout (all integers little-endian):
//!
//! ```text
//! "NCGWSEG1" | index u32 | nonce [12] | AES-256-GCM(block) incl. 16-byte tag
//! ```
//!
//! The nonce is the recording's random 8-byte salt followed by the segment index, so it never
//! repeats under one key; the associated data binds the call id and the index, so a segment
//! moved to another position or another recording fails authentication. The block inside:
//!
//! ```text
//! "NCGWPCM1" | version u8 | channels u8 | reserved u16 | sample_rate u32 | index u32
//! | start_sample u64 | frames u32 | raw_count u32 | PCM s16le × frames × channels
//! | raw_count × (side u8 | payload type u8 | len u16 | position u64 | payload)
//! ```
//!
//! Every segment decodes on its own: nothing in it refers to another segment.
use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

/// Magic at the start of every sealed segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"NCGWSEG1";
const BLOCK_MAGIC: &[u8; 8] = b"NCGWPCM1";
const BLOCK_VERSION: u8 = 1;
/// Interleaved channels: customer (side A) left, agent (side B) right.
pub const CHANNELS: usize = 2;
const FILE_HEADER: usize = 8 + 4 + 12;
const BLOCK_HEADER: usize = 8 + 1 + 1 + 2 + 4 + 4 + 8 + 4 + 4;

/// Why a segment did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// The bytes do not start with the segment magic.
    #[error("not a sealed segment (bad magic)")]
    BadMagic,
    /// The segment is shorter than its header and tag.
    #[error("truncated ({0} bytes)")]
    Truncated(usize),
    /// Authentication failed: wrong key, changed bytes, or a segment from another place.
    #[error("decryption failed (wrong key, modified bytes, or moved segment)")]
    Decrypt,
    /// The segment says it is another one than the one expected at this position.
    #[error("holds segment {found}, expected {expected}")]
    IndexMismatch { expected: u32, found: u32 },
    /// The decrypted block is malformed (a bug or a forged key).
    #[error("malformed block: {0}")]
    BadBlock(&'static str),
}

/// Audio of one call kept although its codec could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPacket {
    /// 0 = side A (customer), 1 = side B (agent).
    pub side: u8,
    pub payload_type: u8,
    /// Sample position on the recording's timeline.
    pub position: u64,
    pub payload: Vec<u8>,
}

/// One segment's plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub index: u32,
    pub sample_rate: u32,
    /// Position of the first frame on the recording's timeline.
    pub start_sample: u64,
    /// Interleaved PCM, `CHANNELS` samples per frame.
    pub pcm: Vec<i16>,
    pub raw: Vec<RawPacket>,
}

impl Block {
    /// Frames (samples per channel) in the block.
    pub fn frames(&self) -> usize {
        self.pcm.len() / CHANNELS
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the block's plaintext to `out` (one reserve, no intermediate buffer).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let raw_len: usize = self.raw.iter().map(|r| 12 + r.payload.len()).sum();
        out.reserve(BLOCK_HEADER + self.pcm.len() * 2 + raw_len);
        out.extend_from_slice(BLOCK_MAGIC);
        out.push(BLOCK_VERSION);
        out.push(CHANNELS as u8);
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.sample_rate.to_le_bytes());
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.start_sample.to_le_bytes());
        out.extend_from_slice(&(self.frames() as u32).to_le_bytes());
        out.extend_from_slice(&(self.raw.len() as u32).to_le_bytes());
        out.extend(self.pcm.iter().flat_map(|s| s.to_le_bytes()));
        for r in &self.raw {
            let len = r.payload.len().min(u16::MAX as usize);
            out.push(r.side);
            out.push(r.payload_type);
            out.extend_from_slice(&(len as u16).to_le_bytes());
            out.extend_from_slice(&r.position.to_le_bytes());
            out.extend_from_slice(&r.payload[..len]);
        }
    }

    pub fn decode(b: &[u8]) -> Result<Block, ContainerError> {
        let mut r = Reader { b, at: 0 };
        if r.take(8)? != BLOCK_MAGIC {
            return Err(ContainerError::BadBlock("magic"));
        }
        if r.u8()? != BLOCK_VERSION {
            return Err(ContainerError::BadBlock("version"));
        }
        if usize::from(r.u8()?) != CHANNELS {
            return Err(ContainerError::BadBlock("channels"));
        }
        r.take(2)?;
        let sample_rate = r.u32()?;
        let index = r.u32()?;
        let start_sample = r.u64()?;
        let frames = r.u32()? as usize;
        let raw_count = r.u32()? as usize;
        let pcm_bytes = r.take(frames.checked_mul(CHANNELS * 2).ok_or(ContainerError::BadBlock("frames"))?)?;
        let pcm = pcm_bytes.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
        let mut raw = Vec::with_capacity(raw_count.min(4096));
        for _ in 0..raw_count {
            let side = r.u8()?;
            let payload_type = r.u8()?;
            let len = usize::from(u16::from_le_bytes([r.u8()?, r.u8()?]));
            let position = r.u64()?;
            raw.push(RawPacket { side, payload_type, position, payload: r.take(len)?.to_vec() });
        }
        if r.at != b.len() {
            return Err(ContainerError::BadBlock("trailing bytes"));
        }
        Ok(Block { index, sample_rate, start_sample, pcm, raw })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ContainerError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len()).ok_or(ContainerError::BadBlock("short"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, ContainerError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, ContainerError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, ContainerError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

/// The AES-256 key that seals segments.
#[derive(Clone)]
pub struct SegmentKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SegmentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SegmentKey(..)")
    }
}

impl SegmentKey {
    pub fn new(key: &[u8; 32]) -> SegmentKey {
        SegmentKey { cipher: Aes256Gcm::new(key.into()) }
    }
}

fn aad(call_id: &str, index: u32) -> Vec<u8> {
    let mut a = Vec::with_capacity(call_id.len() + 24);
    a.extend_from_slice(b"ncgw-recording-v1\0");
    a.extend_from_slice(&(call_id.len() as u32).to_le_bytes());
    a.extend_from_slice(call_id.as_bytes());
    a.extend_from_slice(&index.to_le_bytes());
    a
}

/// Encrypts a block into the bytes of its segment.
pub fn seal(key: &SegmentKey, call_id: &str, salt: [u8; 8], block: &Block) -> Vec<u8> {
    let mut out = Vec::new();
    seal_into(key, call_id, salt, block, &mut out);
    out
}

/// Appends the sealed segment to `out`: the plaintext is encoded straight into `out` and
/// encrypted there in place (the same bytes as [`seal`], without a copy per stage).
pub fn seal_into(key: &SegmentKey, call_id: &str, salt: [u8; 8], block: &Block, out: &mut Vec<u8>) {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&salt);
    nonce[8..].copy_from_slice(&block.index.to_le_bytes());
    out.extend_from_slice(SEGMENT_MAGIC);
    out.extend_from_slice(&block.index.to_le_bytes());
    out.extend_from_slice(&nonce);
    let body = out.len();
    block.encode_into(out);
    out.reserve(16);
    let aad = aad(call_id, block.index);
    // Encryption with a valid key and nonce only fails for inputs over 64 GiB.
    match key.cipher.encrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, &mut out[body..]) {
        Ok(tag) => out.extend_from_slice(&tag),
        Err(_) => out.truncate(body),
    }
}

/// The index a sealed segment's clear header claims (authenticated only by [`open`]).
pub fn claimed_index(sealed: &[u8]) -> Option<u32> {
    let h = sealed.get(..12).filter(|h| &h[..8] == SEGMENT_MAGIC)?;
    Some(u32::from_le_bytes([h[8], h[9], h[10], h[11]]))
}

/// Decrypts a sealed segment that should be segment `expected` of `call_id`.
pub fn open(key: &SegmentKey, call_id: &str, expected: u32, file: &[u8]) -> Result<Block, ContainerError> {
    if file.len() < FILE_HEADER + 16 {
        return Err(ContainerError::Truncated(file.len()));
    }
    if &file[..8] != SEGMENT_MAGIC {
        return Err(ContainerError::BadMagic);
    }
    let found = u32::from_le_bytes([file[8], file[9], file[10], file[11]]);
    if found != expected {
        return Err(ContainerError::IndexMismatch { expected, found });
    }
    let aad = aad(call_id, expected);
    let plain = key
        .cipher
        .decrypt(Nonce::from_slice(&file[12..24]), Payload { msg: &file[FILE_HEADER..], aad: &aad })
        .map_err(|_| ContainerError::Decrypt)?;
    let block = Block::decode(&plain)?;
    if block.index != expected {
        return Err(ContainerError::IndexMismatch { expected, found: block.index });
    }
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(index: u32) -> Block {
        Block {
            index,
            sample_rate: 8000,
            start_sample: u64::from(index) * 16000,
            pcm: (0..32000).map(|i| (i % 1000) as i16 - 500).collect(),
            raw: vec![RawPacket { side: 1, payload_type: 96, position: 123, payload: vec![1, 2, 3] }],
        }
    }

    #[test]
    fn block_round_trips() {
        let b = block(3);
        assert_eq!(Block::decode(&b.encode()).unwrap(), b);
        assert_eq!(b.frames(), 16000);
    }

    #[test]
    fn sealed_segment_opens_only_in_place() {
        let key = SegmentKey::new(&[7u8; 32]);
        let file = seal(&key, "c1", [1; 8], &block(2));
        assert_eq!(open(&key, "c1", 2, &file).unwrap(), block(2));
        assert_eq!(open(&key, "c2", 2, &file), Err(ContainerError::Decrypt));
        assert_eq!(open(&key, "c1", 3, &file), Err(ContainerError::IndexMismatch { expected: 3, found: 2 }));
        assert_eq!(open(&SegmentKey::new(&[8u8; 32]), "c1", 2, &file), Err(ContainerError::Decrypt));
        let mut flipped = file.clone();
        flipped[100] ^= 1;
        assert_eq!(open(&key, "c1", 2, &flipped), Err(ContainerError::Decrypt));
        // A forged index in the clear header still fails: the index is in the associated data.
        let mut moved = file.clone();
        moved[8..12].copy_from_slice(&5u32.to_le_bytes());
        assert_eq!(open(&key, "c1", 5, &moved), Err(ContainerError::Decrypt));
        assert!(matches!(open(&key, "c1", 2, &file[..20]), Err(ContainerError::Truncated(20))));
    }

    #[test]
    fn seal_into_appends_the_same_bytes() {
        let key = SegmentKey::new(&[7u8; 32]);
        let mut buf = vec![0xaa; 5];
        seal_into(&key, "c1", [1; 8], &block(4), &mut buf);
        assert_eq!(&buf[..5], &[0xaa; 5]);
        assert_eq!(buf[5..], seal(&key, "c1", [1; 8], &block(4))[..]);
        assert_eq!(claimed_index(&buf[5..]), Some(4));
        assert_eq!(claimed_index(&buf[..12]), None);
    }

    #[test]
    fn no_plaintext_in_sealed_file() {
        let key = SegmentKey::new(&[9u8; 32]);
        let b = Block { index: 0, sample_rate: 8000, start_sample: 0, pcm: vec![0x1234; 4000], raw: Vec::new() };
        let file = seal(&key, "c", [0; 8], &b);
        assert!(!file.windows(8).any(|w| w == [0x34, 0x12, 0x34, 0x12, 0x34, 0x12, 0x34, 0x12]));
    }

    #[test]
    fn malformed_blocks_are_errors() {
        let mut enc = block(1).encode();
        enc.push(0);
        assert!(Block::decode(&enc).is_err());
        let enc = block(1).encode();
        for cut in [0, 7, 20, 40, enc.len() - 1] {
            assert!(Block::decode(&enc[..cut]).is_err(), "cut at {cut}");
        }
    }
}
