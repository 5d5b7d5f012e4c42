//! Zero-copy RTP/RTCP header views (RFC 3550), RTP/RTCP demultiplexing (RFC 5761, RFC 7983) and
//! the RFC 4733 telephone-event payload; parsing validates lengths first and never panics.
//!
//! The views borrow the datagram and read fields on demand, so the relay's hot path copies nothing.
//! `RtpHeaderMut` rewrites the fixed-header fields in place on a buffer that was validated first.

/// The only RTP/RTCP version in use (RFC 3550 §5.1).
pub const RTP_VERSION: u8 = 2;
/// The fixed RTP header: V/P/X/CC, M/PT, sequence, timestamp, SSRC.
pub const RTP_HEADER_LEN: usize = 12;
/// The common RTCP header: V/P/count, PT, length.
pub const RTCP_HEADER_LEN: usize = 4;

/// RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1).
pub const RTCP_SR: u8 = 200;
pub const RTCP_RR: u8 = 201;
pub const RTCP_SDES: u8 = 202;
pub const RTCP_BYE: u8 = 203;
pub const RTCP_APP: u8 = 204;
pub const RTCP_RTPFB: u8 = 205;
pub const RTCP_PSFB: u8 = 206;

/// Why bytes are not a valid RTP or RTCP packet; the peer sent garbage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the header it claims to be.
    #[error("packet of {len} bytes is shorter than its header")]
    TooShort { len: usize },
    /// The version bits are not 2.
    #[error("RTP/RTCP version {0}, expected 2")]
    BadVersion(u8),
    /// The CSRC list or the header extension runs past the end of the packet.
    #[error("header of {header} bytes exceeds the {len}-byte packet")]
    HeaderOverrun { header: usize, len: usize },
    /// The padding count is zero or larger than the payload it ends.
    #[error("padding of {padding} bytes does not fit a {available}-byte payload")]
    BadPadding { padding: usize, available: usize },
    /// An RTCP packet's length field points past the end of the compound packet.
    #[error("RTCP packet at offset {offset} claims {claimed} bytes, {available} remain")]
    RtcpLength { offset: usize, claimed: usize, available: usize },
    /// An RTCP packet type outside 192–223, so this is not RTCP (RFC 5761 §4).
    #[error("RTCP packet type {0} is outside 192-223")]
    NotRtcp(u8),
    /// A telephone-event payload shorter than its 4-byte block.
    #[error("telephone-event payload of {0} bytes, need 4")]
    ShortEvent(usize),
}

/// What a datagram on a media port is, by its first bytes (RFC 7983 §7, RFC 5761 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    Rtp,
    Rtcp,
    /// First byte 0–3: a STUN message (ICE connectivity check or keepalive).
    Stun,
    /// First byte 20–63: a DTLS record.
    Dtls,
    /// Anything else, including empty datagrams.
    Other,
}

/// Classifies a datagram received on an RTP port that may carry multiplexed RTCP.
///
/// RFC 5761 §4: with the first byte in 128–191, a second byte whose low 7 bits are 64–95 is RTCP
/// (packet types 192–223); other values are RTP payload types.
pub fn classify(data: &[u8]) -> PacketKind {
    match data.first() {
        None => PacketKind::Other,
        Some(0..=3) => PacketKind::Stun,
        Some(20..=63) => PacketKind::Dtls,
        Some(128..=191) => match data.get(1) {
            Some(b) if (64..=95).contains(&(b & 0x7f)) => PacketKind::Rtcp,
            Some(_) => PacketKind::Rtp,
            None => PacketKind::Other,
        },
        Some(_) => PacketKind::Other,
    }
}

fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

/// A validated RTP packet borrowed from a datagram (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy)]
pub struct RtpPacket<'a> {
    data: &'a [u8],
    payload_offset: usize,
    payload_end: usize,
}

impl<'a> RtpPacket<'a> {
    /// Checks version, CSRC list, header extension and padding against the length.
    pub fn parse(data: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        let (payload_offset, payload_end) = validate_rtp(data)?;
        Ok(RtpPacket { data, payload_offset, payload_end })
    }

    pub fn version(&self) -> u8 {
        self.data[0] >> 6
    }
    pub fn padding(&self) -> bool {
        self.data[0] & 0x20 != 0
    }
    pub fn extension(&self) -> bool {
        self.data[0] & 0x10 != 0
    }
    pub fn csrc_count(&self) -> usize {
        usize::from(self.data[0] & 0x0f)
    }
    pub fn marker(&self) -> bool {
        self.data[1] & 0x80 != 0
    }
    pub fn payload_type(&self) -> u8 {
        self.data[1] & 0x7f
    }
    pub fn sequence(&self) -> u16 {
        be16(self.data, 2)
    }
    pub fn timestamp(&self) -> u32 {
        be32(self.data, 4)
    }
    pub fn ssrc(&self) -> u32 {
        be32(self.data, 8)
    }
    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let d = self.data;
        (0..self.csrc_count()).map(move |i| be32(d, RTP_HEADER_LEN + 4 * i))
    }
    /// The header extension's profile-defined 16 bits (e.g. 0xBEDE for RFC 8285), if present.
    pub fn extension_profile(&self) -> Option<u16> {
        self.extension().then(|| be16(self.data, RTP_HEADER_LEN + 4 * self.csrc_count()))
    }
    /// The header extension's length in 32-bit words, not counting its 4-byte header.
    pub fn extension_len_words(&self) -> Option<u16> {
        self.extension().then(|| be16(self.data, RTP_HEADER_LEN + 4 * self.csrc_count() + 2))
    }
    /// Where the payload starts: after the fixed header, CSRCs and extension.
    pub fn payload_offset(&self) -> usize {
        self.payload_offset
    }
    /// The payload without padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.data[self.payload_offset..self.payload_end]
    }
    /// Padding bytes at the end, including the count byte.
    pub fn padding_len(&self) -> usize {
        self.data.len() - self.payload_end
    }
    pub fn len(&self) -> usize {
        self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Returns (payload start, payload end) or why the packet is invalid.
fn validate_rtp(data: &[u8]) -> Result<(usize, usize), RtpError> {
    let len = data.len();
    if len < RTP_HEADER_LEN {
        return Err(RtpError::TooShort { len });
    }
    let version = data[0] >> 6;
    if version != RTP_VERSION {
        return Err(RtpError::BadVersion(version));
    }
    let mut header = RTP_HEADER_LEN + 4 * usize::from(data[0] & 0x0f);
    if data[0] & 0x10 != 0 {
        if header + 4 > len {
            return Err(RtpError::HeaderOverrun { header: header + 4, len });
        }
        header += 4 + 4 * usize::from(be16(data, header + 2));
    }
    if header > len {
        return Err(RtpError::HeaderOverrun { header, len });
    }
    let mut end = len;
    if data[0] & 0x20 != 0 {
        let padding = usize::from(data[len - 1]);
        let available = len - header;
        if padding == 0 || padding > available {
            return Err(RtpError::BadPadding { padding, available });
        }
        end -= padding;
    }
    Ok((header, end))
}

/// In-place access to the fixed RTP header of a validated packet, for the relay's rewrite.
#[derive(Debug)]
pub struct RtpHeaderMut<'a> {
    data: &'a mut [u8],
}

impl<'a> RtpHeaderMut<'a> {
    /// Validates like `RtpPacket::parse`, then allows rewriting the fixed header.
    pub fn new(data: &'a mut [u8]) -> Result<RtpHeaderMut<'a>, RtpError> {
        validate_rtp(data)?;
        Ok(RtpHeaderMut { data })
    }
    pub fn view(&self) -> RtpPacket<'_> {
        let (payload_offset, payload_end) = validate_rtp(self.data).expect("validated in RtpHeaderMut::new");
        RtpPacket { data: self.data, payload_offset, payload_end }
    }
    pub fn set_marker(&mut self, marker: bool) {
        self.data[1] = (self.data[1] & 0x7f) | if marker { 0x80 } else { 0 };
    }
    pub fn set_sequence(&mut self, seq: u16) {
        self.data[2..4].copy_from_slice(&seq.to_be_bytes());
    }
    pub fn set_timestamp(&mut self, ts: u32) {
        self.data[4..8].copy_from_slice(&ts.to_be_bytes());
    }
    pub fn set_ssrc(&mut self, ssrc: u32) {
        self.data[8..12].copy_from_slice(&ssrc.to_be_bytes());
    }
}

/// One RTCP packet inside a compound packet (RFC 3550 §6.4–6.7, RFC 4585 §6.1).
#[derive(Debug, Clone, Copy)]
pub struct RtcpPacket<'a> {
    data: &'a [u8],
}

impl<'a> RtcpPacket<'a> {
    /// Padding bit.
    pub fn padding(&self) -> bool {
        self.data[0] & 0x20 != 0
    }
    /// The 5-bit count: report blocks (SR/RR), chunks (SDES), sources (BYE), subtype/FMT otherwise.
    pub fn count(&self) -> usize {
        usize::from(self.data[0] & 0x1f)
    }
    pub fn packet_type(&self) -> u8 {
        self.data[1]
    }
    /// The length field: the packet's size in 32-bit words minus one.
    pub fn length_words(&self) -> u16 {
        be16(self.data, 2)
    }
    /// The first SSRC after the header (sender of SR/RR/APP/feedback, first source of SDES/BYE);
    /// `None` for a packet with no body (an empty BYE or SDES).
    pub fn ssrc(&self) -> Option<u32> {
        (self.data.len() >= 8).then(|| be32(self.data, 4))
    }
    /// The whole packet, header included.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }
}

/// Walks a compound RTCP packet; each item is the packet's offset and view, or the first error.
///
/// Validation follows RFC 3550 A.2 where it matters to a relay: version 2 on every packet, types
/// 192–223, and lengths that tile the datagram exactly. The "first packet is SR/RR" rule is not
/// enforced, because reduced-size RTCP (RFC 5506) drops it.
#[derive(Debug, Clone)]
pub struct RtcpCompound<'a> {
    data: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> RtcpCompound<'a> {
    pub fn new(data: &'a [u8]) -> RtcpCompound<'a> {
        RtcpCompound { data, offset: 0, failed: false }
    }

    /// Validates the whole compound packet and returns how many RTCP packets it holds.
    pub fn validate(data: &[u8]) -> Result<usize, RtpError> {
        if data.len() < RTCP_HEADER_LEN {
            return Err(RtpError::TooShort { len: data.len() });
        }
        let mut n = 0;
        for item in RtcpCompound::new(data) {
            item?;
            n += 1;
        }
        Ok(n)
    }
}

impl<'a> Iterator for RtcpCompound<'a> {
    type Item = Result<(usize, RtcpPacket<'a>), RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.data.len() {
            return None;
        }
        let offset = self.offset;
        let rest = &self.data[offset..];
        let result = rtcp_at(rest, offset);
        match result {
            Ok(p) => {
                self.offset += p.data.len();
                Some(Ok((offset, p)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn rtcp_at(rest: &[u8], offset: usize) -> Result<RtcpPacket<'_>, RtpError> {
    if rest.len() < RTCP_HEADER_LEN {
        return Err(RtpError::TooShort { len: rest.len() });
    }
    let version = rest[0] >> 6;
    if version != RTP_VERSION {
        return Err(RtpError::BadVersion(version));
    }
    if !(192..=223).contains(&rest[1]) {
        return Err(RtpError::NotRtcp(rest[1]));
    }
    let claimed = 4 * (usize::from(be16(rest, 2)) + 1);
    if claimed > rest.len() {
        return Err(RtpError::RtcpLength { offset, claimed, available: rest.len() });
    }
    Ok(RtcpPacket { data: &rest[..claimed] })
}

/// One RFC 4733 §2.3 named-event block: the first 4 bytes of a telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0–9 digits, 10 `*`, 11 `#`, 12–15 A–D, 16 flash (RFC 4733 §3.2).
    pub event: u8,
    /// E bit: the last packet(s) of the event.
    pub end: bool,
    /// Power level in −dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in timestamp units from the event's start timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, RtpError> {
        match payload {
            [event, flags, d0, d1, ..] => {
                Ok(TelephoneEvent { event: *event, end: flags & 0x80 != 0, volume: flags & 0x3f, duration: u16::from_be_bytes([*d0, *d1]) })
            }
            _ => Err(RtpError::ShortEvent(payload.len())),
        }
    }

    /// The digit or letter of a DTMF event, if it is one.
    pub fn dtmf_char(&self) -> Option<char> {
        b"0123456789*#ABCD".get(usize::from(self.event)).map(|&b| char::from(b))
    }
}

#[cfg(test)]
#[path = "rtp_tests.rs"]
mod tests;
