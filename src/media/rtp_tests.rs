use super::*;
use crate::media::testpkt;

#[test]
fn reads_the_fixed_header() {
    let p = testpkt::rtp(0, 0xfffe, 0x1234_5678, 0xdead_beef, true, &[1, 2, 3]);
    let v = RtpPacket::parse(&p).unwrap();
    assert_eq!((v.version(), v.padding(), v.extension(), v.csrc_count()), (2, false, false, 0));
    assert_eq!((v.marker(), v.payload_type(), v.sequence()), (true, 0, 0xfffe));
    assert_eq!((v.timestamp(), v.ssrc()), (0x1234_5678, 0xdead_beef));
    assert_eq!((v.payload_offset(), v.payload()), (12, &[1u8, 2, 3][..]));
    assert_eq!(v.extension_profile(), None);
}

#[test]
fn csrcs_extension_and_padding_bound_the_payload() {
    // CC=1, X=1, P=1: header 12 + 4 (CSRC) + 4 (ext header) + 4 (one ext word) = 24.
    let mut p = vec![0xb1, 8, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]);
    p.extend_from_slice(&[9, 9, 0, 0, 3]);
    let v = RtpPacket::parse(&p).unwrap();
    assert_eq!(v.csrcs().collect::<Vec<_>>(), vec![7]);
    assert_eq!((v.extension_profile(), v.extension_len_words()), (Some(0xbede), Some(1)));
    assert_eq!((v.payload_offset(), v.payload(), v.padding_len()), (24, &[9u8, 9][..], 3));
}

#[test]
fn rejects_what_does_not_fit() {
    assert_eq!(RtpPacket::parse(&[0x80; 11]).unwrap_err(), RtpError::TooShort { len: 11 });
    let mut p = testpkt::rtp(0, 1, 1, 1, false, &[]);
    p[0] = 0x40;
    assert_eq!(RtpPacket::parse(&p).unwrap_err(), RtpError::BadVersion(1));
    p[0] = 0x8f; // 15 CSRCs, none present
    assert!(matches!(RtpPacket::parse(&p), Err(RtpError::HeaderOverrun { .. })));
    p[0] = 0x90; // extension header missing
    assert!(matches!(RtpPacket::parse(&p), Err(RtpError::HeaderOverrun { .. })));
    let mut p = testpkt::rtp(0, 1, 1, 1, false, &[1, 0]);
    p[0] = 0xa0; // padding count 0
    assert_eq!(RtpPacket::parse(&p).unwrap_err(), RtpError::BadPadding { padding: 0, available: 2 });
    *p.last_mut().unwrap() = 3;
    assert_eq!(RtpPacket::parse(&p).unwrap_err(), RtpError::BadPadding { padding: 3, available: 2 });
}

#[test]
fn rewrites_the_header_in_place() {
    let mut p = testpkt::rtp(8, 1, 2, 3, false, &[5; 4]);
    let mut h = RtpHeaderMut::new(&mut p).unwrap();
    h.set_sequence(0xabcd);
    h.set_timestamp(0x0102_0304);
    h.set_ssrc(0x0a0b_0c0d);
    h.set_marker(true);
    let v = h.view();
    assert_eq!((v.sequence(), v.timestamp(), v.ssrc(), v.marker(), v.payload_type()), (0xabcd, 0x0102_0304, 0x0a0b_0c0d, true, 8));
    assert_eq!(v.payload(), &[5; 4]);
}

#[test]
fn demultiplexes_per_rfc_5761_and_7983() {
    assert_eq!(classify(&testpkt::rtp(0, 1, 1, 1, false, &[])), PacketKind::Rtp);
    assert_eq!(classify(&testpkt::rtp(96, 1, 1, 1, true, &[])), PacketKind::Rtp);
    assert_eq!(classify(&testpkt::rtp(63, 1, 1, 1, false, &[])), PacketKind::Rtp);
    assert_eq!(classify(&testpkt::rr(1, &[])), PacketKind::Rtcp);
    assert_eq!(classify(&testpkt::sr(1, 0, &[])), PacketKind::Rtcp);
    assert_eq!(classify(&[0x80, 0xc8]), PacketKind::Rtcp); // marker bit set over PT 72 is still RTCP
    assert_eq!(classify(&[0x00, 0x01]), PacketKind::Stun);
    assert_eq!(classify(&[22, 0xfe]), PacketKind::Dtls);
    assert_eq!(classify(&[]), PacketKind::Other);
    assert_eq!(classify(&[0x80]), PacketKind::Other);
    assert_eq!(classify(&[0xff, 0]), PacketKind::Other);
}

#[test]
fn walks_a_compound_rtcp_packet() {
    let mut c = testpkt::sr(0x11, 1000, &[testpkt::Block { source: 0x22, ext_seq: 5 }]);
    c.extend(testpkt::sdes(0x11, b"a@b"));
    c.extend(testpkt::bye(0x11));
    assert_eq!(RtcpCompound::validate(&c), Ok(3));
    let items: Vec<_> = RtcpCompound::new(&c).map(|r| r.unwrap()).collect();
    assert_eq!(items[0].0, 0);
    assert_eq!((items[0].1.packet_type(), items[0].1.count(), items[0].1.length_words()), (RTCP_SR, 1, 12));
    assert_eq!(items[1].0, 52);
    assert_eq!((items[1].1.packet_type(), items[1].1.ssrc()), (RTCP_SDES, Some(0x11)));
    assert_eq!((items[2].1.packet_type(), items[2].1.bytes().len()), (RTCP_BYE, 8));
}

#[test]
fn rejects_a_compound_packet_whose_lengths_do_not_tile() {
    let mut c = testpkt::rr(1, &[]);
    c[3] = 9;
    assert!(matches!(RtcpCompound::validate(&c), Err(RtpError::RtcpLength { offset: 0, .. })));
    let mut c = testpkt::rr(1, &[]);
    c.extend_from_slice(&[0x80, 201]);
    assert_eq!(RtcpCompound::validate(&c), Err(RtpError::TooShort { len: 2 }));
    let mut c = testpkt::rr(1, &[]);
    c.extend_from_slice(&[0x80, 100, 0, 0]);
    assert_eq!(RtcpCompound::validate(&c), Err(RtpError::NotRtcp(100)));
    assert_eq!(RtcpCompound::validate(&[]), Err(RtpError::TooShort { len: 0 }));
}

#[test]
fn reads_a_telephone_event() {
    let e = TelephoneEvent::parse(&testpkt::dtmf(11, true, 800)).unwrap();
    assert_eq!(e, TelephoneEvent { event: 11, end: true, volume: 10, duration: 800 });
    assert_eq!(e.dtmf_char(), Some('#'));
    assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), Err(RtpError::ShortEvent(3)));
    assert_eq!(TelephoneEvent { event: 16, end: false, volume: 0, duration: 0 }.dtmf_char(), None);
}
