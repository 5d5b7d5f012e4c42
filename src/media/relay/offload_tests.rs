//! Offloading on a virtual clock: when the relay offers a direction, and that what was forwarded
//! elsewhere keeps counters, loss, timeouts, latching and the next source switch right.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::media::relay::*;
use crate::media::rtp::RtpPacket;
use crate::media::testpkt;
use crate::testing::epoch;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn remote(rtp: &str) -> Remote {
    Remote { rtp: Some(addr(rtp)), rtcp: None, clock_rate: 8000, hold: false }
}

fn bridge(t0: Instant) -> Bridge {
    let mut b = Bridge::new(&RelayConfig::default());
    b.set_remote(t0, Side::A, remote("10.0.0.1:4000"));
    b.set_remote(t0, Side::B, remote("10.0.0.2:6000"));
    b
}

fn send(b: &mut Bridge, at: Instant, side: Side, from: &str, seq: u16, ssrc: u32) -> (Verdict, Vec<u8>) {
    let mut p = testpkt::rtp(8, seq, u32::from(seq) * 160, ssrc, false, &[0xd5; 160]);
    let v = b.handle_packet(at, side, Channel::Rtp, addr(from), &mut p);
    (v, p)
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn a_latched_stream_is_offered_as_an_identity_forward_and_nothing_before() {
    let t0 = epoch();
    let mut b = bridge(t0);
    assert_eq!(b.offload_candidate(Side::A), None, "no packet yet: no latch, no SSRC");
    send(&mut b, t0, Side::A, "10.0.0.1:4000", 1, 0xaa);
    let o = b.offload_candidate(Side::A).expect("latched on the SDP address");
    assert_eq!(o, Offload { from: addr("10.0.0.1:4000"), ssrc: 0xaa, to: addr("10.0.0.2:6000"), out_ssrc: 0xaa, seq_add: 0, ts_add: 0 });
    assert!(o.is_identity());
    // A peer still in probation (not the SDP address) is not offered.
    send(&mut b, t0, Side::B, "192.0.2.9:7000", 50, 0xbb);
    assert_eq!(b.offload_candidate(Side::B), None);
}

#[test]
fn after_a_source_switch_the_offer_carries_the_splice_offsets() {
    let t0 = epoch();
    let mut b = bridge(t0);
    for i in 0..5u16 {
        send(&mut b, t0 + MS * 20 * u32::from(i), Side::A, "10.0.0.1:4000", 100 + i, 0xaa);
    }
    // A's phone restarts its stream with a new SSRC: the relay splices it into the old one.
    let (_, p) = send(&mut b, t0 + MS * 100, Side::A, "10.0.0.1:4000", 9000, 0xcc);
    let out = RtpPacket::parse(&p).unwrap();
    assert_eq!((out.ssrc(), out.sequence()), (0xaa, 105));
    let o = b.offload_candidate(Side::A).unwrap();
    assert_eq!((o.ssrc, o.out_ssrc, o.seq_add), (0xcc, 0xaa, 105u16.wrapping_sub(9000)));
    assert_eq!(o.ts_add, out.timestamp().wrapping_sub(9000 * 160));
    assert!(!o.is_identity());
}

#[test]
fn absorbed_packets_count_keep_the_peer_alive_and_the_next_switch_continues_from_them() {
    let t0 = epoch();
    let mut b = bridge(t0);
    send(&mut b, t0, Side::A, "10.0.0.1:4000", 1, 0xaa);
    let o = b.offload_candidate(Side::A).unwrap();
    // The kernel forwarded seq 2..=1500 (two lost), the last 29.98 s after the first packet.
    let last = t0 + MS * 29_980;
    b.absorb_offloaded(Side::A, &o, Offloaded { packets: 1497, bytes: 1497 * 172, last: Some((last, 1500, 1500 * 160)) });
    let (a, bs) = (b.leg(Side::A).stats(), b.leg(Side::B).stats());
    assert_eq!((a.packets_in, a.bytes_in, bs.packets_out, bs.bytes_out), (1498, 172 + 1497 * 172, 1498, 172 + 1497 * 172));
    assert_eq!(a.lost, 2);
    // 30 s of media timeout run from the kernel's last packet, not from the first one.
    // (Side B's peer never sent anything: its timeout is the only one due at 31 s.)
    let due: Vec<_> = std::iter::from_fn(|| b.handle_timeout(t0 + Duration::from_secs(31))).collect();
    assert!(matches!(due.as_slice(), [MediaEvent::Timeout { side: Side::B, .. }]), "{due:?}");
    assert_eq!(b.poll_timeout(), Some(last + Duration::from_secs(30)));
    // A foreign source 1 s after the kernel's last packet is still foreign (the latch saw it live).
    assert_eq!(send(&mut b, last + MS * 1000, Side::A, "203.0.113.5:1", 7, 0xee).0, Verdict::Drop(DropReason::Foreign));
    // A new SSRC continues the outgoing stream after the kernel's last packet.
    let (_, p) = send(&mut b, last + MS * 20, Side::A, "10.0.0.1:4000", 40_000, 0xcc);
    let out = RtpPacket::parse(&p).unwrap();
    assert_eq!((out.ssrc(), out.sequence()), (0xaa, 1501));
    assert_eq!(out.timestamp(), 1500 * 160 + 160);
}

#[test]
fn a_sequence_wrap_in_the_kernel_counts_a_cycle() {
    let t0 = epoch();
    let mut b = bridge(t0);
    send(&mut b, t0, Side::B, "10.0.0.2:6000", 65_000, 0xbb);
    let o = b.offload_candidate(Side::B).unwrap();
    b.absorb_offloaded(Side::B, &o, Offloaded { packets: 1000, bytes: 0, last: Some((t0 + MS * 20_000, 464, 0)) });
    assert_eq!(b.leg(Side::B).stats().lost, 0);
}
