//! The relay on a virtual clock: latching, continuity, RTCP, telephone-events, stats, timeouts.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::media::rtp::{RtcpCompound, RtpPacket, TelephoneEvent};
use crate::media::testpkt::{self, Block};
use crate::testing::epoch;

const MS: Duration = Duration::from_millis(1);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Side A's peer at 10.0.0.1:4000 (RTCP muxed), side B's at 10.0.0.2:6000 (RTCP on 6001).
struct Fixture {
    bridge: Bridge,
    t0: Instant,
}

impl Fixture {
    fn new(config: RelayConfig) -> Fixture {
        let t0 = epoch();
        let mut bridge = Bridge::new(&config);
        bridge.set_remote(t0, Side::A, remote(Some("10.0.0.1:4000"), None, false));
        bridge.set_remote(t0, Side::B, remote(Some("10.0.0.2:6000"), Some("10.0.0.2:6001"), false));
        Fixture { bridge, t0 }
    }

    fn rtp(&mut self, at_ms: u64, side: Side, from: &str, seq: u16, ts: u32, ssrc: u32) -> (Verdict, Vec<u8>) {
        let mut p = testpkt::rtp(0, seq, ts, ssrc, false, &[0xd5; 160]);
        let v = self.bridge.handle_packet(self.t0 + Duration::from_millis(at_ms), side, Channel::Rtp, addr(from), &mut p);
        (v, p)
    }
}

fn remote(rtp: Option<&str>, rtcp: Option<&str>, hold: bool) -> Remote {
    Remote { rtp: rtp.map(addr), rtcp: rtcp.map(addr), clock_rate: 8000, hold }
}

fn fwd(to: &str) -> Verdict {
    Verdict::Forward { to: addr(to), via: Channel::Rtp }
}

fn header(p: &[u8]) -> (u32, u16, u32, bool) {
    let v = RtpPacket::parse(p).unwrap();
    (v.ssrc(), v.sequence(), v.timestamp(), v.marker())
}

#[test]
fn the_sdp_address_latches_at_once_and_others_must_pass_probation() {
    let mut f = Fixture::new(RelayConfig::default());
    // A's peer sends from its SDP address: relayed from the first packet.
    assert_eq!(f.rtp(0, Side::A, "10.0.0.1:4000", 1, 0, 0xa).0, fwd("10.0.0.2:6000"));
    // B's peer is behind NAT: its packets come from another address and need two in sequence.
    assert_eq!(f.rtp(0, Side::B, "192.0.2.9:30000", 10, 0, 0xb).0, Verdict::Drop(DropReason::NotLatched));
    assert_eq!(f.rtp(20, Side::B, "192.0.2.9:30000", 12, 320, 0xb).0, Verdict::Drop(DropReason::NotLatched));
    assert_eq!(f.rtp(40, Side::B, "192.0.2.9:30000", 13, 480, 0xb).0, fwd("10.0.0.1:4000"));
    assert_eq!(f.bridge.leg(Side::B).stats().latched, Some(addr("192.0.2.9:30000")));
    // Symmetric RTP: A's media now goes to where B's peer really sends from.
    assert_eq!(f.rtp(60, Side::A, "10.0.0.1:4000", 2, 160, 0xa).0, fwd("192.0.2.9:30000"));
    let b = f.bridge.leg(Side::B).stats();
    assert_eq!((b.dropped.not_latched, b.packets_in, b.packets_out), (2, 3, 2));
}

#[test]
fn a_foreign_source_is_dropped_and_counted_while_the_latched_one_talks() {
    let mut f = Fixture::new(RelayConfig::default());
    f.rtp(0, Side::A, "10.0.0.1:4000", 1, 0, 0xa);
    for i in 0..10u16 {
        let (v, _) = f.rtp(10 + u64::from(i) * 20, Side::A, "203.0.113.66:9999", 500 + i, 0, 0xbad);
        assert_eq!(v, Verdict::Drop(DropReason::Foreign));
        assert_eq!(f.rtp(20 + u64::from(i) * 20, Side::A, "10.0.0.1:4000", 2 + i, 160, 0xa).0, fwd("10.0.0.2:6000"));
    }
    let a = f.bridge.leg(Side::A).stats();
    assert_eq!((a.dropped.foreign, a.latched, a.relatches), (10, Some(addr("10.0.0.1:4000")), 0));
    assert_eq!(f.bridge.leg(Side::B).stats().packets_out, 11);
}

#[test]
fn relatches_only_after_the_latched_source_was_silent() {
    let config = RelayConfig { relatch_after: Duration::from_secs(2), ..RelayConfig::default() };
    let mut f = Fixture::new(config);
    f.rtp(0, Side::A, "10.0.0.1:4000", 1, 0, 0xa);
    // The NAT rebinds after 1 s of silence: too early, still foreign.
    assert_eq!(f.rtp(1000, Side::A, "10.0.0.1:4002", 50, 8000, 0xa).0, Verdict::Drop(DropReason::Foreign));
    assert_eq!(f.rtp(1020, Side::A, "10.0.0.1:4002", 51, 8160, 0xa).0, Verdict::Drop(DropReason::Foreign));
    // After 2 s of silence the new address may pass probation and take the latch.
    assert_eq!(f.rtp(2000, Side::A, "10.0.0.1:4002", 52, 16000, 0xa).0, Verdict::Drop(DropReason::NotLatched));
    assert_eq!(f.rtp(2020, Side::A, "10.0.0.1:4002", 53, 16160, 0xa).0, fwd("10.0.0.2:6000"));
    // The old address is foreign now.
    assert_eq!(f.rtp(2040, Side::A, "10.0.0.1:4000", 2, 160, 0xa).0, Verdict::Drop(DropReason::Foreign));
    let a = f.bridge.leg(Side::A).stats();
    assert_eq!((a.latched, a.relatches, a.dropped.foreign, a.dropped.not_latched), (Some(addr("10.0.0.1:4002")), 1, 3, 1));
}

#[test]
fn a_new_ssrc_is_spliced_into_one_continuous_stream() {
    let mut f = Fixture::new(RelayConfig::default());
    for i in 0..5u16 {
        let (_, p) = f.rtp(u64::from(i) * 20, Side::B, "10.0.0.2:6000", 65_533u16.wrapping_add(i), 1000 + 160 * u32::from(i), 0x1111);
        assert_eq!(header(&p), (0x1111, 65_533u16.wrapping_add(i), 1000 + 160 * u32::from(i), false));
    }
    // 60 ms after the last packet a new source starts with unrelated numbers.
    let (v, p) = f.rtp(140, Side::B, "10.0.0.2:6000", 7, 0x7000_0000, 0x2222);
    assert_eq!(v, fwd("10.0.0.1:4000"));
    assert_eq!(header(&p), (0x1111, 2, 1000 + 4 * 160 + 480, true));
    let (_, p) = f.rtp(160, Side::B, "10.0.0.2:6000", 8, 0x7000_0000 + 160, 0x2222);
    assert_eq!(header(&p), (0x1111, 3, 1000 + 4 * 160 + 640, false));
    // A late packet of the new source keeps its place.
    let (_, p) = f.rtp(170, Side::B, "10.0.0.2:6000", 6, 0x7000_0000 - 160, 0x2222);
    assert_eq!(header(&p), (0x1111, 1, 1000 + 4 * 160 + 320, false));
    // A straggler of the old source keeps its old place instead of switching back.
    let (_, p) = f.rtp(175, Side::B, "10.0.0.2:6000", 65_535, 1000 + 2 * 160, 0x1111);
    assert_eq!(header(&p), (0x1111, 65_535, 1000 + 2 * 160, false));
    let (_, p) = f.rtp(180, Side::B, "10.0.0.2:6000", 9, 0x7000_0000 + 320, 0x2222);
    assert_eq!(header(&p), (0x1111, 4, 1000 + 4 * 160 + 800, false));
    assert_eq!(f.bridge.leg(Side::A).stats().source_switches, 1);
    // The old source coming back for real (far from where it stopped) is a switch.
    let (_, p) = f.rtp(200, Side::B, "10.0.0.2:6000", 30_000, 1, 0x1111);
    assert_eq!(header(&p), (0x1111, 5, 1000 + 4 * 160 + 800 + 160, true));
    assert_eq!(f.bridge.leg(Side::A).stats().source_switches, 2);
}

#[test]
fn a_transfer_to_a_new_peer_splices_even_with_the_same_ssrc() {
    let mut f = Fixture::new(RelayConfig::default());
    f.rtp(0, Side::B, "10.0.0.2:6000", 100, 5000, 0x77);
    f.rtp(20, Side::B, "10.0.0.2:6000", 101, 5160, 0x77);
    // B is replaced by a new agent phone (re-INVITE after REFER); it happens to reuse the SSRC.
    f.bridge.set_remote(f.t0 + 30 * MS, Side::B, remote(Some("10.0.0.3:7000"), None, false));
    assert_eq!(f.bridge.leg(Side::B).stats().latched, None);
    let (v, p) = f.rtp(100, Side::B, "10.0.0.3:7000", 9, 1, 0x77);
    assert_eq!(v, fwd("10.0.0.1:4000"));
    assert_eq!(header(&p), (0x77, 102, 5160 + 640, true));
    // The old phone's late packets are foreign now.
    assert_eq!(f.rtp(110, Side::B, "10.0.0.2:6000", 102, 5320, 0x77).0, Verdict::Drop(DropReason::Foreign));
}

#[test]
fn rtcp_is_relayed_with_the_same_ssrc_sequence_and_timestamp_mappings() {
    let mut f = Fixture::new(RelayConfig::default());
    // B's first source 0xb1, then a new source 0xb2 spliced in (seq offset 1000 - 50 + ..).
    f.rtp(0, Side::B, "10.0.0.2:6000", 999, 8000, 0xb1);
    f.rtp(20, Side::B, "10.0.0.2:6000", 50, 100, 0xb2);
    f.rtp(0, Side::A, "10.0.0.1:4000", 1, 0, 0xa1);
    // Out to A: ssrc 0xb1, seq 1000 for in-seq 50 (offset 950), ts 8160 for in-ts 100.
    // B's SR + SDES + BYE go to A (muxed: A's RTP address, from A's RTP socket).
    let mut c = testpkt::sr(0xb2, 100 + 800, &[Block { source: 0xa1, ext_seq: 7 }]);
    c.extend(testpkt::sdes(0xb2, b"agent@bank"));
    c.extend(testpkt::bye(0xb2));
    let v = f.bridge.handle_packet(f.t0 + 40 * MS, Side::B, Channel::Rtcp, addr("10.0.0.2:6001"), &mut c);
    assert_eq!(v, fwd("10.0.0.1:4000"));
    let ps: Vec<_> = RtcpCompound::new(&c).map(|r| r.unwrap().1).collect();
    assert_eq!(ps.iter().map(|p| p.ssrc()).collect::<Vec<_>>(), vec![Some(0xb1); 3]);
    let sr = ps[0].bytes();
    assert_eq!(u32::from_be_bytes(sr[16..20].try_into().unwrap()), 8160 + 800);
    // A reports on what it received (source 0xb1, its seq space) and asks for retransmission:
    // B's current source must hear about itself in its own numbers.
    let mut c = testpkt::rr(0xa1, &[Block { source: 0xb1, ext_seq: (1 << 16) | 1005 }]);
    c.extend_from_slice(&[0x81, 205, 0, 3]);
    c.extend_from_slice(&0xa1u32.to_be_bytes());
    c.extend_from_slice(&0xb1u32.to_be_bytes());
    c.extend_from_slice(&[(1003u16 >> 8) as u8, 1003u16 as u8, 0, 0]);
    let v = f.bridge.handle_packet(f.t0 + 50 * MS, Side::A, Channel::Rtp, addr("10.0.0.1:4000"), &mut c);
    assert_eq!(v, Verdict::Forward { to: addr("10.0.0.2:6001"), via: Channel::Rtcp });
    assert_eq!(u32::from_be_bytes(c[8..12].try_into().unwrap()), 0xb2);
    assert_eq!(u32::from_be_bytes(c[16..20].try_into().unwrap()), (1 << 16) | 55);
    assert_eq!(u32::from_be_bytes(c[40..44].try_into().unwrap()), 0xb2);
    assert_eq!(u16::from_be_bytes(c[44..46].try_into().unwrap()), 53);
    assert_eq!(f.bridge.leg(Side::A).stats().rtcp_in, 1);
}

#[test]
fn rtcp_from_elsewhere_is_foreign_and_garbage_is_malformed() {
    let mut f = Fixture::new(RelayConfig::default());
    f.rtp(0, Side::A, "10.0.0.1:4000", 1, 0, 0xa1);
    let mut c = testpkt::rr(0xa1, &[]);
    let v = f.bridge.handle_packet(f.t0, Side::A, Channel::Rtp, addr("10.9.9.9:4000"), &mut c);
    assert_eq!(v, Verdict::Drop(DropReason::Foreign));
    let mut junk = vec![0x80, 201, 0, 9, 1, 2, 3, 4];
    let v = f.bridge.handle_packet(f.t0, Side::A, Channel::Rtcp, addr("10.0.0.1:4001"), &mut junk);
    assert_eq!(v, Verdict::Drop(DropReason::Malformed));
    for bad in [&[0u8, 1, 0, 0][..], &[0x80, 0, 0][..], &[0x17, 0xfe][..], &[][..]] {
        let mut b = bad.to_vec();
        assert_eq!(
            f.bridge.handle_packet(f.t0, Side::A, Channel::Rtp, addr("10.0.0.1:4000"), &mut b),
            Verdict::Drop(DropReason::Malformed)
        );
    }
    let d = f.bridge.leg(Side::A).stats().dropped;
    assert_eq!((d.foreign, d.malformed), (1, 5));
}

#[test]
fn telephone_events_pass_unchanged_with_their_end_redundancy() {
    let mut f = Fixture::new(RelayConfig::default());
    f.rtp(0, Side::A, "10.0.0.1:4000", 10, 1600, 0xa);
    f.rtp(20, Side::A, "10.0.0.2:6000", 99, 0, 0xa); // foreign, ignored
                                                     // Digit 5: start (marker), two updates, then the end packet three times (RFC 4733 §2.5.1.4),
                                                     // all with the event's start timestamp.
    let mut sent = Vec::new();
    let plan =
        [(false, 160u16, true), (false, 320, false), (false, 480, false), (true, 640, false), (true, 640, false), (true, 640, false)];
    for (i, (end, duration, marker)) in plan.into_iter().enumerate() {
        let payload = testpkt::dtmf(5, end, duration);
        let mut p = testpkt::rtp(101, 11 + i as u16, 1760, 0xa, marker, &payload);
        let v =
            f.bridge.handle_packet(f.t0 + Duration::from_millis(20 + 20 * i as u64), Side::A, Channel::Rtp, addr("10.0.0.1:4000"), &mut p);
        assert_eq!(v, fwd("10.0.0.2:6000"));
        let r = RtpPacket::parse(&p).unwrap();
        assert_eq!((r.payload_type(), r.timestamp(), r.marker(), r.sequence()), (101, 1760, marker, 11 + i as u16));
        assert_eq!(r.payload(), &payload);
        sent.push(TelephoneEvent::parse(r.payload()).unwrap());
    }
    assert_eq!(sent.iter().filter(|e| e.end).count(), 3);
    assert!(sent.iter().all(|e| e.dtmf_char() == Some('5')));
    // The repeated timestamps did not disturb the jitter figure.
    assert!(f.bridge.leg(Side::A).stats().jitter_ms < 1.0);
}

#[test]
fn loss_counts_gaps_and_forgives_reordering() {
    let mut f = Fixture::new(RelayConfig::default());
    // 100 packets, 20 ms apart; 5 never arrive, two pairs arrive swapped, one is duplicated.
    let missing = [10u16, 11, 40, 77, 98];
    let mut order: Vec<u16> = (0..100).filter(|s| !missing.contains(s)).collect();
    order.swap(20, 21);
    order.swap(60, 61);
    order.insert(50, order[49]);
    for (k, seq) in order.iter().enumerate() {
        let seq = 65_500u16.wrapping_add(*seq); // crosses the wrap
        let ts = 160 * u32::from(seq.wrapping_sub(65_500));
        f.rtp(20 * k as u64, Side::A, "10.0.0.1:4000", seq, ts, 0xa);
    }
    let a = f.bridge.leg(Side::A).stats();
    assert_eq!(a.lost, 5 - 1);
    assert_eq!(a.packets_in, 96);
}

#[test]
fn jitter_follows_rfc_3550_a8_in_milliseconds() {
    let mut f = Fixture::new(RelayConfig::default());
    // Perfect 20 ms pacing: no jitter.
    for i in 0..50u16 {
        f.rtp(20 * u64::from(i), Side::A, "10.0.0.1:4000", i, 160 * u32::from(i), 0xa);
    }
    assert!(f.bridge.leg(Side::A).stats().jitter_ms < 0.01);
    // Every other packet 10 ms late: |D| = 10 ms each time, so J converges to 10 ms.
    for i in 50..450u16 {
        let late = if i % 2 == 0 { 10 } else { 0 };
        f.rtp(20 * u64::from(i) + late, Side::A, "10.0.0.1:4000", i, 160 * u32::from(i), 0xa);
    }
    let j = f.bridge.leg(Side::A).stats().jitter_ms;
    assert!((9.5..=10.01).contains(&j), "jitter {j}");
}

#[test]
fn silence_raises_one_timeout_and_media_rearms_it() {
    let config = RelayConfig { rtp_timeout: Duration::from_secs(5), hold_timeout: None, ..RelayConfig::default() };
    let mut f = Fixture::new(config);
    f.rtp(1000, Side::A, "10.0.0.1:4000", 1, 0, 0xa);
    f.rtp(1000, Side::B, "10.0.0.2:6000", 1, 0, 0xb);
    assert_eq!(f.bridge.poll_timeout(), Some(f.t0 + Duration::from_secs(6)));
    f.rtp(3000, Side::B, "10.0.0.2:6000", 2, 160, 0xb);
    assert_eq!(f.bridge.handle_timeout(f.t0 + Duration::from_millis(5999)), None);
    let e = f.bridge.handle_timeout(f.t0 + Duration::from_secs(6));
    assert_eq!(e, Some(MediaEvent::Timeout { side: Side::A, on_hold: false, silent_for: Duration::from_secs(5) }));
    assert_eq!(f.bridge.handle_timeout(f.t0 + Duration::from_secs(6)), None);
    // Once: A's deadline is gone, B's remains.
    assert_eq!(f.bridge.poll_timeout(), Some(f.t0 + Duration::from_secs(8)));
    f.rtp(7000, Side::A, "10.0.0.1:4000", 2, 160, 0xa);
    assert_eq!(f.bridge.poll_timeout(), Some(f.t0 + Duration::from_secs(8)));
    assert_eq!(f.bridge.handle_timeout(f.t0 + Duration::from_secs(8)).map(|MediaEvent::Timeout { side, .. }| side), Some(Side::B));
    assert_eq!(f.bridge.poll_timeout(), Some(f.t0 + Duration::from_secs(12)));
}

#[test]
fn a_peer_that_never_sends_times_out_from_its_sdp() {
    let config = RelayConfig { rtp_timeout: Duration::from_secs(5), ..RelayConfig::default() };
    let mut f = Fixture::new(config);
    let e = f.bridge.handle_timeout(f.t0 + Duration::from_secs(5));
    assert!(matches!(e, Some(MediaEvent::Timeout { side: Side::A, .. })));
    assert!(matches!(f.bridge.handle_timeout(f.t0 + Duration::from_secs(5)), Some(MediaEvent::Timeout { side: Side::B, .. })));
}

#[test]
fn hold_disables_the_rtp_timeout_or_uses_the_longer_rtcp_one() {
    let config = RelayConfig { rtp_timeout: Duration::from_secs(5), hold_timeout: None, ..RelayConfig::default() };
    let mut f = Fixture::new(config);
    f.bridge.set_remote(f.t0, Side::A, remote(Some("10.0.0.1:4000"), None, true));
    f.bridge.set_remote(f.t0, Side::B, remote(Some("10.0.0.2:6000"), Some("10.0.0.2:6001"), true));
    assert_eq!(f.bridge.poll_timeout(), None);
    assert_eq!(f.bridge.handle_timeout(f.t0 + Duration::from_secs(3600)), None);

    let config = RelayConfig { rtp_timeout: Duration::from_secs(5), hold_timeout: Some(Duration::from_secs(60)), ..RelayConfig::default() };
    let mut f = Fixture::new(config);
    f.bridge.set_remote(f.t0, Side::B, remote(Some("10.0.0.2:6000"), Some("10.0.0.2:6001"), true));
    f.rtp(0, Side::A, "10.0.0.1:4000", 1, 0, 0xa);
    f.bridge.set_remote(f.t0, Side::A, remote(Some("10.0.0.1:4000"), None, true));
    // A on hold keeps sending RTCP: alive. B on hold says nothing: times out after 60 s.
    for s in (10..=120).step_by(10) {
        let mut rr = testpkt::rr(0xa, &[]);
        let v = f.bridge.handle_packet(f.t0 + Duration::from_secs(s), Side::A, Channel::Rtp, addr("10.0.0.1:4000"), &mut rr);
        assert_eq!(v, Verdict::Forward { to: addr("10.0.0.2:6001"), via: Channel::Rtcp });
        if let Some(e) = f.bridge.handle_timeout(f.t0 + Duration::from_secs(s)) {
            assert_eq!((s, e), (60, MediaEvent::Timeout { side: Side::B, on_hold: true, silent_for: Duration::from_secs(60) }));
        }
    }
    assert_eq!(f.bridge.poll_timeout(), Some(f.t0 + Duration::from_secs(180)));
}

#[test]
fn nothing_is_sent_before_the_other_side_has_an_address() {
    let mut bridge = Bridge::new(&RelayConfig::default());
    let t0 = epoch();
    bridge.set_remote(t0, Side::A, remote(Some("10.0.0.1:4000"), None, false));
    let mut p = testpkt::rtp(0, 1, 0, 0xa, false, &[0; 160]);
    assert_eq!(bridge.handle_packet(t0, Side::A, Channel::Rtp, addr("10.0.0.1:4000"), &mut p), Verdict::Drop(DropReason::NoDestination));
    assert_eq!(bridge.leg(Side::A).stats().dropped.no_destination, 1);
    // Side B's peer sends before its SDP is known (early media race): it latches by probation.
    let mut q = testpkt::rtp(0, 7, 0, 0xb, false, &[0; 160]);
    let mut r = testpkt::rtp(0, 8, 160, 0xb, false, &[0; 160]);
    bridge.handle_packet(t0, Side::B, Channel::Rtp, addr("10.0.0.2:6000"), &mut q);
    bridge.handle_packet(t0, Side::B, Channel::Rtp, addr("10.0.0.2:6000"), &mut r);
    assert_eq!(bridge.leg(Side::B).rtp_destination(), Some(addr("10.0.0.2:6000")));
    let mut p = testpkt::rtp(0, 2, 160, 0xa, false, &[0; 160]);
    assert_eq!(bridge.handle_packet(t0, Side::A, Channel::Rtp, addr("10.0.0.1:4000"), &mut p), fwd("10.0.0.2:6000"));
}

#[test]
fn rtcp_on_its_own_port_must_come_from_the_rtp_host() {
    let mut f = Fixture::new(RelayConfig::default());
    f.rtp(0, Side::B, "10.0.0.2:6000", 1, 0, 0xb);
    let mut rr = testpkt::rr(0xb, &[]);
    let v = f.bridge.handle_packet(f.t0, Side::B, Channel::Rtcp, addr("10.6.6.6:6001"), &mut rr);
    assert_eq!(v, Verdict::Drop(DropReason::Foreign));
    // From the RTP host, on another port than the SDP's (a NAT): latched on the first packet.
    let v = f.bridge.handle_packet(f.t0, Side::B, Channel::Rtcp, addr("10.0.0.2:7777"), &mut rr);
    assert_eq!(v, fwd("10.0.0.1:4000"));
    assert_eq!(f.bridge.leg(Side::B).rtcp_destination(), Some((addr("10.0.0.2:7777"), Channel::Rtcp)));
}

/// The relay's own cost per packet, without sockets.
#[test]
#[ignore = "benchmark: cargo test --release --lib media::relay::tests::bench_handle_packet -- --ignored --nocapture"]
fn bench_handle_packet() {
    let mut f = Fixture::new(RelayConfig::default());
    let mut p = testpkt::rtp(0, 0, 0, 0xa, false, &[0xd5; 160]);
    const N: u32 = 2_000_000;
    let start = std::time::Instant::now();
    for i in 0..N {
        let seq = i as u16;
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[4..8].copy_from_slice(&(160 * i).to_be_bytes());
        p[8..12].copy_from_slice(&0xau32.to_be_bytes());
        let v = f.bridge.handle_packet(
            f.t0 + Duration::from_micros(20_000 * u64::from(i)),
            Side::A,
            Channel::Rtp,
            addr("10.0.0.1:4000"),
            &mut p,
        );
        assert!(matches!(v, Verdict::Forward { .. }));
    }
    let per = start.elapsed() / N;
    println!("Bridge::handle_packet: {per:?} per RTP packet ({:.1} M packets/s)", 1e3 / per.as_nanos() as f64);
}
