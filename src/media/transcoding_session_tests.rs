//! A transcoding session in the engine with real UDP sockets on 127.0.0.1: a PCMU tone in on
//! side A (20 ms) comes out as Opus on side B (40 ms) at the same frequency, RFC 4733 digits are
//! translated to B's 48 kHz telephone-event, A's RTCP is not relayed, and the reverse direction
//! works at once; and, on a virtual clock, our sender reports per leg. Waits are bounded.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::timeout;

use crate::media::codec::{CodecConfig, EncoderOptions};
use crate::media::engine::MediaEngine;
use crate::media::relay::{RelayConfig, Remote, Side};
use crate::media::rtp::{RtpPacket, TelephoneEvent};
use crate::media::testpkt;
use crate::media::transcode::test_util::{dominant_frequency, tone};
use crate::media::transcode::{LegFormat, MediaPlan};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn leg(name: &str, clock: u32, pt: u8, te: Option<(u8, u32)>) -> LegFormat {
    let channels = (name == "opus").then_some(2);
    LegFormat { pt, config: CodecConfig::from_sdp(name, clock, channels, &[]).unwrap(), ptime_ms: 20, telephone_event: te }
}

fn with_ptime(mut f: LegFormat, ptime_ms: u32) -> LegFormat {
    f.ptime_ms = ptime_ms;
    f
}

async fn peer() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind((LO, 0)).await.unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcmu_20ms_in_on_a_comes_out_as_opus_40ms_on_b_with_dtmf_translated() {
    let mut engine = MediaEngine::new(43_700..=43_799, LO, RelayConfig::default()).unwrap();
    let info = engine.open_session("xcode").unwrap();
    let ((pa, a), (pb, b)) = (peer().await, peer().await);
    engine.set_remote(info.id, Side::A, Remote { rtp: Some(a), rtcp: None, clock_rate: 8000, hold: false }).unwrap();
    engine.set_remote(info.id, Side::B, Remote { rtp: Some(b), rtcp: None, clock_rate: 48000, hold: false }).unwrap();
    let plan = MediaPlan::Transcode { a: leg("PCMU", 8000, 0, Some((101, 8000))), b: with_ptime(leg("opus", 48000, 111, Some((110, 48000))), 40) };
    engine.set_codecs(info.id, Some(plan)).unwrap();

    // One second of a 1 kHz tone from A at the real pace, then digit 5 as RFC 4733.
    let pcm = tone(1000.0, 8000, 8000, 0.3);
    let mut enc = CodecConfig::from_sdp("PCMU", 8000, None, &[]).unwrap().encoder(&EncoderOptions::default()).unwrap();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut opus = CodecConfig::from_sdp("opus", 48000, Some(2), &[]).unwrap().decoder().unwrap();
    let (mut decoded, mut events, mut buf) = (Vec::new(), Vec::new(), [0u8; 2048]);
    let mut receive = |decoded: &mut Vec<i16>, events: &mut Vec<u8>, data: &[u8]| {
        let p = RtpPacket::parse(data).unwrap();
        match p.payload_type() {
            111 => {
                assert_eq!(opus.decode(p.payload(), decoded).unwrap(), 1920, "B's ptime is 40 ms");
            }
            110 => events.push(TelephoneEvent::parse(p.payload()).unwrap().event),
            other => panic!("unexpected payload type {other}"),
        }
    };
    for (i, frame) in pcm.chunks_exact(160).enumerate() {
        tick.tick().await;
        let mut payload = Vec::new();
        enc.encode(frame, &mut payload).unwrap();
        pa.send_to(&testpkt::rtp(0, i as u16, 160 * i as u32, 0xa1, i == 0, &payload), info.a.rtp).await.unwrap();
        while let Ok((n, _)) = pb.try_recv_from(&mut buf) {
            receive(&mut decoded, &mut events, &buf[..n]);
        }
    }
    // A's own RTCP is not relayed while transcoding (B would see payload type 72 and fail above).
    pa.send_to(&testpkt::sr(0xa1, 8000, &[]), info.a.rtp).await.unwrap();
    for (k, end) in [(0u16, false), (1, false), (2, true)] {
        let payload = [5u8, if end { 0x8a } else { 0x0a }, 0x01, (160 * (k + 1)) as u8];
        pa.send_to(&testpkt::rtp(101, 50 + k, 8000, 0xa1, k == 0, &payload), info.a.rtp).await.unwrap();
    }
    while !events.contains(&5) {
        let (n, _) = timeout(Duration::from_secs(5), pb.recv_from(&mut buf)).await.expect("the digit within 5 s").unwrap();
        receive(&mut decoded, &mut events, &buf[..n]);
    }
    assert!(decoded.len() >= 48_000 * 8 / 10, "most of one second arrived: {} samples", decoded.len());
    let tail = &decoded[decoded.len() / 2..];
    let f = dominant_frequency(tail, 48_000);
    assert!((f - 1000.0).abs() <= 10.0, "the tone arrived at {f} Hz");

    // The reverse direction: Opus from B reaches A as PCMU.
    let mut enc = CodecConfig::from_sdp("opus", 48000, Some(2), &[]).unwrap().encoder(&EncoderOptions { ptime_ms: 40, ..Default::default() }).unwrap();
    let pcm = tone(600.0, 48_000, 48_000 / 2, 0.3);
    let mut tick = tokio::time::interval(Duration::from_millis(40));
    for (i, frame) in pcm.chunks_exact(1920).enumerate() {
        tick.tick().await;
        let mut payload = Vec::new();
        enc.encode(frame, &mut payload).unwrap();
        pb.send_to(&testpkt::rtp(111, i as u16, 1920 * i as u32, 0xb1, i == 0, &payload), info.b.rtp).await.unwrap();
    }
    let mut pcmu = CodecConfig::from_sdp("PCMU", 8000, None, &[]).unwrap().decoder().unwrap();
    let mut back = Vec::new();
    while back.len() < 8000 * 3 / 10 {
        let (n, _) = timeout(Duration::from_secs(5), pa.recv_from(&mut buf)).await.expect("PCMU within 5 s").unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        if p.payload_type() == 0 {
            pcmu.decode(p.payload(), &mut back).unwrap();
        }
    }
    let f = dominant_frequency(&back[back.len() - 1600..], 8000);
    assert!((f - 600.0).abs() <= 10.0, "the reverse tone arrived at {f} Hz");
    let stats = engine.close(info.id).unwrap();
    assert!(stats.b.packets_out >= 20 && stats.a.packets_out >= 10, "{stats:?}");
}

#[test]
fn each_leg_gets_our_sender_report_every_five_seconds() {
    use super::Transcoding;
    use crate::media::relay::{Channel, LegStats};
    use crate::media::rtp::RtcpCompound;
    let plan = MediaPlan::Transcode { a: leg("PCMU", 8000, 0, None), b: leg("PCMA", 8000, 8, None) };
    let t0 = crate::testing::epoch();
    let mut x = Transcoding::new(&plan, 7, t0).unwrap().unwrap();
    let stats = |s: Side| LegStats { ssrc: Some(if s == Side::A { 0xa1 } else { 0xb1 }), packets_in: 50, lost: 2, jitter_ms: 3.0, ..Default::default() };
    let (mut out, mut rtp_ssrc_to_b) = (Vec::new(), None);
    assert!(x.poll_output(t0, &mut out, stats).is_none(), "nothing before any packet");
    for i in 0..50u16 {
        let at = t0 + Duration::from_millis(20 * u64::from(i));
        x.on_rtp(at, Side::A, &testpkt::rtp(0, i, 160 * u32::from(i), 0xa1, i == 0, &[0xff; 160]));
        while let Some((side, _)) = x.poll_output(at, &mut out, stats) {
            assert_eq!(side, Side::B);
            rtp_ssrc_to_b = Some(u32::from_be_bytes([out[8], out[9], out[10], out[11]]));
        }
    }
    let mut reports = Vec::new();
    let at = t0 + Duration::from_secs(5);
    while let Some((side, channel)) = x.poll_output(at, &mut out, stats) {
        match channel {
            Channel::Rtp => rtp_ssrc_to_b = Some(u32::from_be_bytes([out[8], out[9], out[10], out[11]])),
            Channel::Rtcp => {
                assert_eq!(RtcpCompound::validate(&out).unwrap(), 1, "one well-formed SR");
                assert_eq!(out[1], 200);
                reports.push((side, out.clone()));
            }
        }
    }
    assert_eq!(reports.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [Side::A, Side::B]);
    let to_b = &reports[1].1;
    assert_eq!(Some(u32::from_be_bytes([to_b[4], to_b[5], to_b[6], to_b[7]])), rtp_ssrc_to_b, "the SR is from the SSRC of our RTP to B");
    assert!(u32::from_be_bytes([to_b[20], to_b[21], to_b[22], to_b[23]]) >= 40, "the SR counts the packets we sent to B");
    let to_a = &reports[0].1;
    assert_eq!(to_a[0] & 0x1f, 1, "A's SR carries a report block on what A sends us");
    assert_eq!(u32::from_be_bytes([to_a[28], to_a[29], to_a[30], to_a[31]]), 0xa1);
    assert_eq!(u32::from_be_bytes([to_a[36], to_a[37], to_a[38], to_a[39]]), 49, "highest sequence number received");
    assert!(x.poll_timeout().is_some_and(|t| t > at && t <= at + Duration::from_secs(5)));
}
