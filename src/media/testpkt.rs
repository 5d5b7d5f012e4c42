//! Test-only builders for RTP and RTCP datagrams.

/// An RTP packet with a 12-byte header (no CSRC, no extension, no padding).
pub fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// One report block about `source` (RFC 3550 §6.4.1).
pub struct Block {
    pub source: u32,
    pub ext_seq: u32,
}

/// A sender report from `ssrc` with RTP timestamp `rtp_ts` and the given report blocks.
pub fn sr(ssrc: u32, rtp_ts: u32, blocks: &[Block]) -> Vec<u8> {
    let words = 6 + 6 * blocks.len();
    let mut v = vec![0x80 | blocks.len() as u8, 200];
    v.extend_from_slice(&(words as u16).to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(&[0x11; 8]); // NTP timestamp
    v.extend_from_slice(&rtp_ts.to_be_bytes());
    v.extend_from_slice(&100u32.to_be_bytes()); // packet count
    v.extend_from_slice(&16000u32.to_be_bytes()); // octet count
    push_blocks(&mut v, blocks);
    v
}

/// A receiver report from `ssrc`.
pub fn rr(ssrc: u32, blocks: &[Block]) -> Vec<u8> {
    let words = 1 + 6 * blocks.len();
    let mut v = vec![0x80 | blocks.len() as u8, 201];
    v.extend_from_slice(&(words as u16).to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    push_blocks(&mut v, blocks);
    v
}

fn push_blocks(v: &mut Vec<u8>, blocks: &[Block]) {
    for b in blocks {
        v.extend_from_slice(&b.source.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 1]); // fraction lost, cumulative lost
        v.extend_from_slice(&b.ext_seq.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 5]); // jitter
        v.extend_from_slice(&[0; 8]); // LSR, DLSR
    }
}

/// An SDES with one chunk for `ssrc` carrying a CNAME.
pub fn sdes(ssrc: u32, cname: &[u8]) -> Vec<u8> {
    let mut body = ssrc.to_be_bytes().to_vec();
    body.push(1);
    body.push(cname.len() as u8);
    body.extend_from_slice(cname);
    body.push(0);
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let mut v = vec![0x81, 202];
    v.extend_from_slice(&((body.len() / 4) as u16).to_be_bytes());
    v.extend_from_slice(&body);
    v
}

/// A BYE for `ssrc`.
pub fn bye(ssrc: u32) -> Vec<u8> {
    let mut v = vec![0x81, 203, 0, 1];
    v.extend_from_slice(&ssrc.to_be_bytes());
    v
}

/// A telephone-event payload (RFC 4733).
pub fn dtmf(event: u8, end: bool, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [event, if end { 0x80 } else { 0 } | 10, d[0], d[1]]
}
