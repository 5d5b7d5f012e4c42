//! The engine with the kernel fast path on real loopback sockets: a plain relayed stream moves to
//! the kernel after its first packets and loses nothing, its counters and timeouts stay right,
//! a foreign source is still dropped and counted, new SDP takes the stream back into the relay,
//! and closing removes the rule before the ports are freed. Needs root (or CAP_BPF +
//! CAP_NET_ADMIN); without it the test says so and returns.
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::timeout;

use super::tests::{peer, recv, remote, LO, WAIT};
use super::*;
use crate::media::fastpath::FastPathError;
use crate::media::rtp::RtpPacket;
use crate::media::testpkt;

/// An engine with the fast path on and one session whose sides point at two peers, or `None`
/// (with the reason printed) where the kernel refuses the fast path.
async fn session(ports: RangeInclusive<u16>, config: RelayConfig) -> Option<(MediaEngine, SessionInfo, UdpSocket, UdpSocket)> {
    let mut engine = MediaEngine::new(ports, LO, config).unwrap();
    match engine.enable_fast_path() {
        Ok(_) => {}
        Err(e @ (FastPathError::NotPermitted { .. } | FastPathError::Unsupported { .. })) => {
            eprintln!("kernel fast path not available here ({e}); test skipped");
            return None;
        }
        Err(e) => panic!("the fast path failed to load: {e}"),
    }
    let info = engine.open_session("fastpath-test").unwrap();
    let (pa, a) = peer().await;
    let (pb, b) = peer().await;
    engine.set_remote(info.id, Side::A, remote(a, None)).unwrap();
    engine.set_remote(info.id, Side::B, remote(b, None)).unwrap();
    Some((engine, info, pa, pb))
}

/// Sends `n` packets from `from` to `to` (sequence from `seq0`) and checks each arrives at `at`
/// from `via`, in order, byte for byte.
async fn stream(from: &UdpSocket, to: SocketAddr, at: &UdpSocket, via: SocketAddr, ssrc: u32, seq0: u16, n: u16) {
    for i in 0..n {
        let seq = seq0.wrapping_add(i);
        let p = testpkt::rtp(8, seq, u32::from(seq) * 160, ssrc, false, &[seq as u8; 160]);
        from.send_to(&p, to).await.unwrap();
        let (got, src) = recv(at).await;
        assert_eq!(src, via, "sent from the other side's RTP socket");
        assert_eq!(got, p, "packet {seq} forwarded untouched");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_stream_moves_to_the_kernel_and_back_with_nothing_lost() {
    let Some((mut engine, info, pa, pb)) = session(46_000..=46_099, RelayConfig::default()).await else { return };

    stream(&pa, info.a.rtp, &pb, info.b.rtp, 0xaaaa, 0, 300).await;
    stream(&pb, info.b.rtp, &pa, info.a.rtp, 0xbbbb, 1000, 300).await;
    let s = engine.stats(info.id).unwrap();
    assert!(s.kernel_forwarded[0] >= 250 && s.kernel_forwarded[1] >= 250, "the kernel took over: {:?}", s.kernel_forwarded);
    assert_eq!((s.a.packets_in, s.b.packets_out, s.b.packets_in, s.a.packets_out), (300, 300, 300, 300));
    assert_eq!((s.a.bytes_in, s.a.lost, s.b.lost), (300 * 172, 0, 0));

    // A stranger sending to A's port is dropped and counted, never forwarded.
    let (stranger, _) = peer().await;
    for i in 0..5u16 {
        stranger.send_to(&testpkt::rtp(8, i, 0, 0xdead, false, &[0; 160]), info.a.rtp).await.unwrap();
    }
    stream(&pa, info.a.rtp, &pb, info.b.rtp, 0xaaaa, 300, 20).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while engine.stats(info.id).unwrap().a.dropped.foreign < 5 {
        assert!(tokio::time::Instant::now() < deadline, "foreign packets counted");
        tokio::task::yield_now().await;
    }

    // New SDP for B: the stream toward B comes back into the relay and goes to the new address.
    let (pb2, b2) = peer().await;
    let before = engine.stats(info.id).unwrap().kernel_forwarded[0];
    engine.set_remote(info.id, Side::B, remote(b2, None)).unwrap();
    stream(&pa, info.a.rtp, &pb2, info.b.rtp, 0xaaaa, 320, 50).await;
    let s = engine.stats(info.id).unwrap();
    assert_eq!(s.a.packets_in, 370 + 5);
    assert_eq!(s.b.packets_out, 370);
    assert!(s.kernel_forwarded[0] >= before, "{:?}", s.kernel_forwarded);

    // Close: the rules go before the ports; nothing reaches the peers afterwards.
    let s = engine.close(info.id).unwrap();
    assert_eq!((s.a.packets_in, s.b.packets_out), (375, 370));
    assert_eq!(engine.ports().in_use(), 0);
    pa.send_to(&testpkt::rtp(8, 999, 0, 0xaaaa, false, &[9; 160]), info.a.rtp).await.unwrap();
    let mut buf = [0u8; 64];
    assert!(timeout(Duration::from_millis(300), pb2.recv_from(&mut buf)).await.is_err(), "no rule left after close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_ssrc_from_the_latched_peer_is_spliced_by_the_relay_after_the_kernel_part() {
    let Some((mut engine, info, pa, pb)) = session(46_100..=46_199, RelayConfig::default()).await else { return };
    stream(&pa, info.a.rtp, &pb, info.b.rtp, 0xaaaa, 10, 200).await;
    assert!(engine.stats(info.id).unwrap().kernel_forwarded[0] > 150);
    // A's phone restarts its stream: the relay continues B's stream after the kernel's last packet.
    pa.send_to(&testpkt::rtp(8, 5000, 7, 0xcccc, false, &[1; 160]), info.a.rtp).await.unwrap();
    let (got, _) = recv(&pb).await;
    let v = RtpPacket::parse(&got).unwrap();
    assert_eq!((v.ssrc(), v.sequence()), (0xaaaa, 210), "spliced after seq 209");
    assert!(v.marker());
    engine.close(info.id).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_silent_in_the_kernel_still_times_out_and_a_talking_one_does_not() {
    let config = RelayConfig { rtp_timeout: Duration::from_millis(1500), ..RelayConfig::default() };
    let Some((mut engine, info, pa, pb)) = session(46_200..=46_299, config).await else { return };
    let mut events = engine.take_events().unwrap();
    // A talks for 2.5 s (past the timeout), all of it after the first packets in the kernel;
    // B talks only at the start.
    stream(&pb, info.b.rtp, &pa, info.a.rtp, 0xbbbb, 0, 5).await;
    let start = tokio::time::Instant::now();
    let mut seq = 0u16;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while start.elapsed() < Duration::from_millis(2500) {
        tick.tick().await;
        stream(&pa, info.a.rtp, &pb, info.b.rtp, 0xaaaa, seq, 1).await;
        seq += 1;
    }
    let ev = timeout(WAIT, events.recv()).await.expect("a timeout event").unwrap();
    assert!(matches!(ev.event, MediaEvent::Timeout { side: Side::B, .. }), "{ev:?}");
    assert!(events.try_recv().is_err(), "A, forwarded by the kernel, did not time out");
    assert!(engine.stats(info.id).unwrap().kernel_forwarded[0] > 50);
    engine.close(info.id).unwrap();
}
