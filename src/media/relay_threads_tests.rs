//! Sessions opened on a multi-thread runtime run on the relay threads and relay as before.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

use super::*;
use crate::media::rtp::RtpPacket;
use crate::media::{testpkt, MediaEngine, RelayConfig, Remote, Side};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(5);

async fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(WAIT, s.recv_from(&mut buf)).await.expect("a datagram within the bound").unwrap();
    (buf[..n].to_vec(), from)
}

#[tokio::test]
async fn a_current_thread_caller_keeps_its_sessions() {
    assert!(relay_runtime(&Handle::current()).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_thread_caller_relays_on_the_relay_threads_in_order_and_frees_the_ports() {
    assert!(relay_runtime(&Handle::current()).is_some());
    let mut engine = MediaEngine::new(43_800..=43_899, LO, RelayConfig::default()).unwrap();
    let info = engine.open_session("relay-threads").unwrap();
    let pa = UdpSocket::bind((LO, 0)).await.unwrap();
    let pb = UdpSocket::bind((LO, 0)).await.unwrap();
    let remote = |s: &UdpSocket| Remote { rtp: Some(s.local_addr().unwrap()), rtcp: None, clock_rate: 8000, hold: false };
    engine.set_remote(info.id, Side::A, remote(&pa)).unwrap();
    engine.set_remote(info.id, Side::B, remote(&pb)).unwrap();
    // Bursts longer than one receive batch, both ways at once.
    for burst in 0..4u16 {
        for i in 0..40u16 {
            let seq = burst * 40 + i;
            pa.send_to(&testpkt::rtp(0, seq, 160 * u32::from(seq), 0xa1, false, &[1; 160]), info.a.rtp).await.unwrap();
            pb.send_to(&testpkt::rtp(0, seq, 160 * u32::from(seq), 0xb1, false, &[2; 160]), info.b.rtp).await.unwrap();
        }
        for i in 0..40u16 {
            let seq = burst * 40 + i;
            let (p, from) = recv(&pb).await;
            assert_eq!((RtpPacket::parse(&p).unwrap().sequence(), from), (seq, info.b.rtp));
            let (p, from) = recv(&pa).await;
            assert_eq!((RtpPacket::parse(&p).unwrap().sequence(), from), (seq, info.a.rtp));
        }
    }
    let stats = engine.close(info.id).unwrap();
    assert_eq!((stats.a.packets_in, stats.b.packets_out, stats.b.packets_in, stats.a.packets_out), (160, 160, 160, 160));
    assert_eq!(engine.ports().in_use(), 0);
}
