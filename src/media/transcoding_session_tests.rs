//! A transcoding session in the engine with real UDP sockets on 127.0.0.1: a PCMU tone in on
//! side A comes out as Opus on side B at the same frequency, RFC 4733 digits are translated to
//! B's 48 kHz telephone-event, and the reverse direction works at once. Waits are bounded.
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

async fn peer() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind((LO, 0)).await.unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcmu_in_on_a_comes_out_as_opus_on_b_with_dtmf_translated() {
    let mut engine = MediaEngine::new(43_700..=43_799, LO, RelayConfig::default()).unwrap();
    let info = engine.open_session("xcode").unwrap();
    let ((pa, a), (pb, b)) = (peer().await, peer().await);
    engine.set_remote(info.id, Side::A, Remote { rtp: Some(a), rtcp: None, clock_rate: 8000, hold: false }).unwrap();
    engine.set_remote(info.id, Side::B, Remote { rtp: Some(b), rtcp: None, clock_rate: 48000, hold: false }).unwrap();
    let plan = MediaPlan::Transcode { a: leg("PCMU", 8000, 0, Some((101, 8000))), b: leg("opus", 48000, 111, Some((110, 48000))) };
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
                opus.decode(p.payload(), decoded).unwrap();
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
    let mut enc = CodecConfig::from_sdp("opus", 48000, Some(2), &[]).unwrap().encoder(&EncoderOptions::default()).unwrap();
    let pcm = tone(600.0, 48_000, 48_000 / 2, 0.3);
    for (i, frame) in pcm.chunks_exact(960).enumerate() {
        tick.tick().await;
        let mut payload = Vec::new();
        enc.encode(frame, &mut payload).unwrap();
        pb.send_to(&testpkt::rtp(111, i as u16, 960 * i as u32, 0xb1, i == 0, &payload), info.b.rtp).await.unwrap();
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
    assert!(stats.b.packets_out >= 40 && stats.a.packets_out >= 10, "{stats:?}");
}
