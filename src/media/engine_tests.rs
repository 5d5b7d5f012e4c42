//! The engine with real UDP sockets on 127.0.0.1; every wait is bounded, nothing sleeps.
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::timeout;

use super::*;
use crate::media::rtp::RtpPacket;
use crate::media::testpkt;

pub(super) const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub(super) const WAIT: Duration = Duration::from_secs(5);

pub(super) async fn peer() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind((LO, 0)).await.unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

pub(super) fn remote(rtp: SocketAddr, rtcp: Option<SocketAddr>) -> Remote {
    Remote { rtp: Some(rtp), rtcp, clock_rate: 8000, hold: false }
}

/// Receives one datagram within `WAIT`.
pub(super) async fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = timeout(WAIT, s.recv_from(&mut buf)).await.expect("a datagram within the bound").unwrap();
    (buf[..n].to_vec(), from)
}

struct Call {
    engine: MediaEngine,
    info: SessionInfo,
    pa: UdpSocket,
    pb: UdpSocket,
}

async fn call(ports: RangeInclusive<u16>, config: RelayConfig) -> Call {
    let mut engine = MediaEngine::new(ports, LO, config).unwrap();
    let info = engine.open_session("test-call").unwrap();
    let (pa, a) = peer().await;
    let (pb, b) = peer().await;
    engine.set_remote(info.id, Side::A, remote(a, None)).unwrap();
    engine.set_remote(info.id, Side::B, remote(b, None)).unwrap();
    Call { engine, info, pa, pb }
}

#[tokio::test]
async fn relays_500_packets_each_way_without_loss() {
    let Call { mut engine, info, pa, pb } = call(43_000..=43_099, RelayConfig::default()).await;
    assert_eq!(engine.ports().in_use(), 4);
    assert_eq!(info.a.rtcp.port(), info.a.rtp.port() + 1);
    let mut next = [0u16; 2];
    for burst in 0..20u16 {
        for i in 0..25u16 {
            let seq = burst * 25 + i;
            let ts = 160 * u32::from(seq);
            pa.send_to(&testpkt::rtp(0, seq, ts, 0xaaaa, false, &[1; 160]), info.a.rtp).await.unwrap();
            pb.send_to(&testpkt::rtp(8, seq, ts, 0xbbbb, false, &[2; 160]), info.b.rtp).await.unwrap();
        }
        for _ in 0..25 {
            for (k, (sock, from, ssrc)) in [(&pb, info.b.rtp, 0xaaaa), (&pa, info.a.rtp, 0xbbbb)].into_iter().enumerate() {
                let (p, src) = recv(sock).await;
                assert_eq!(src, from, "sent from the other side's RTP socket");
                let v = RtpPacket::parse(&p).unwrap();
                assert_eq!((v.ssrc(), v.sequence(), v.payload().len()), (ssrc, next[k], 160));
                next[k] += 1;
            }
        }
    }
    let stats = engine.close(info.id).unwrap();
    for leg in [stats.a, stats.b] {
        assert_eq!((leg.packets_in, leg.packets_out, leg.lost, leg.dropped.total()), (500, 500, 0, 0));
    }
    assert_eq!(stats.send_failed, 0);
    assert_eq!(engine.ports().in_use(), 0);
    // Other tests share the process-wide registry, so only a lower bound holds.
    let relayed = crate::metrics::metrics().rtp_packets.with_label_values(&["a_to_b", "relayed"]).get();
    assert!(relayed >= 500, "{relayed}");
    assert!(crate::metrics::metrics().render().contains("ncgw_rtp_ports_in_use"));
}

#[tokio::test]
async fn a_transfer_on_side_b_keeps_the_stream_to_a_continuous() {
    let Call { mut engine, info, pa, pb } = call(43_600..=43_699, RelayConfig::default()).await;
    for seq in 100..110u16 {
        pb.send_to(&testpkt::rtp(0, seq, 160 * u32::from(seq), 0xb1, false, &[0; 160]), info.b.rtp).await.unwrap();
        recv(&pa).await;
    }
    // The agent leg is replaced: a new phone with its own SSRC, sequence and timestamps.
    let (pc, c) = peer().await;
    engine.set_remote(info.id, Side::B, remote(c, None)).unwrap();
    for (k, seq) in (7000..7010u16).enumerate() {
        pc.send_to(&testpkt::rtp(0, seq, 0x5000_0000 + 160 * u32::from(seq), 0xc2, false, &[0; 160]), info.b.rtp).await.unwrap();
        let p = recv(&pa).await.0;
        let v = RtpPacket::parse(&p).unwrap();
        assert_eq!((v.ssrc(), v.sequence(), v.marker()), (0xb1, 110 + k as u16, k == 0));
        if k == 0 {
            // The timestamp moved on from the last one sent (109 × 160) by the real gap.
            assert!(v.timestamp() > 109 * 160 && v.timestamp() < 109 * 160 + 8000 * 5, "{}", v.timestamp());
        }
    }
    // The old phone is no longer heard.
    pb.send_to(&testpkt::rtp(0, 110, 0, 0xb1, false, &[0; 160]), info.b.rtp).await.unwrap();
    pc.send_to(&testpkt::rtp(0, 7010, 0, 0xc2, false, &[0; 160]), info.b.rtp).await.unwrap();
    assert_eq!(RtpPacket::parse(&recv(&pa).await.0).unwrap().sequence(), 120);
    let s = engine.stats(info.id).unwrap();
    assert_eq!((s.a.source_switches, s.b.dropped.foreign, s.b.ssrc), (1, 1, Some(0xc2)));
}

#[tokio::test]
async fn a_third_address_is_dropped_counted_and_never_forwarded() {
    let Call { engine, info, pa, pb } = call(43_100..=43_199, RelayConfig::default()).await;
    pa.send_to(&testpkt::rtp(0, 1, 0, 0xaaaa, false, &[0; 160]), info.a.rtp).await.unwrap();
    assert_eq!(RtpPacket::parse(&recv(&pb).await.0).unwrap().sequence(), 1);
    let (intruder, _) = peer().await;
    for i in 0..50u16 {
        intruder.send_to(&testpkt::rtp(0, 100 + i, 0, 0x666, false, &[9; 160]), info.a.rtp).await.unwrap();
    }
    pa.send_to(&testpkt::rtp(0, 2, 160, 0xaaaa, false, &[0; 160]), info.a.rtp).await.unwrap();
    // The socket queue is in arrival order, so once the peer's packet is out the 50 were handled.
    let v = recv(&pb).await.0;
    assert_eq!((RtpPacket::parse(&v).unwrap().ssrc(), RtpPacket::parse(&v).unwrap().sequence()), (0xaaaa, 2));
    let s = engine.stats(info.id).unwrap();
    assert_eq!((s.a.dropped.foreign, s.a.packets_in, s.b.packets_out), (50, 52, 2));
    let mut buf = [0u8; 64];
    assert!(pb.try_recv_from(&mut buf).is_err(), "nothing of the intruder's reached B");
}

#[tokio::test]
async fn rtcp_crosses_from_rtcp_socket_to_rtcp_socket() {
    let Call { mut engine, info, pa, pb } = call(43_200..=43_299, RelayConfig::default()).await;
    let (pb_rtcp, b_rtcp) = peer().await;
    engine.set_remote(info.id, Side::B, remote(pb.local_addr().unwrap(), Some(b_rtcp))).unwrap();
    let (pa_rtcp, _) = peer().await;
    pa_rtcp.send_to(&testpkt::rr(0xaaaa, &[]), info.a.rtcp).await.unwrap();
    let (p, from) = recv(&pb_rtcp).await;
    assert_eq!((p, from), (testpkt::rr(0xaaaa, &[]), info.b.rtcp));
    // B's RTCP goes to A muxed, from A's RTP socket.
    pb_rtcp.send_to(&testpkt::rr(0xbbbb, &[]), info.b.rtcp).await.unwrap();
    assert_eq!(recv(&pa).await, (testpkt::rr(0xbbbb, &[]), info.a.rtp));
}

#[tokio::test]
async fn ports_are_released_on_close_and_on_engine_drop() {
    let mut engine = MediaEngine::new(43_300..=43_399, LO, RelayConfig::default()).unwrap();
    let ids: Vec<_> = (0..5).map(|i| engine.open_session(&format!("c{i}")).unwrap().id).collect();
    assert_eq!((engine.ports().in_use(), engine.session_count()), (20, 5));
    for id in &ids[..3] {
        engine.close(*id).unwrap();
    }
    assert_eq!(engine.ports().in_use(), 8);
    assert!(matches!(engine.close(ids[0]), Err(MediaError::UnknownSession(_))));
    let ports = engine.ports().clone();
    drop(engine);
    assert_eq!(ports.in_use(), 0);
}

#[test]
fn opening_a_session_outside_a_runtime_is_an_error_not_a_panic() {
    let mut engine = MediaEngine::new(43_500..=43_599, LO, RelayConfig::default()).unwrap();
    assert!(matches!(engine.open_session("x"), Err(MediaError::NoRuntime)));
    assert_eq!(engine.ports().in_use(), 0);
}

#[tokio::test]
async fn silence_raises_a_media_timeout_event_per_side() {
    let config = RelayConfig { rtp_timeout: Duration::from_millis(300), ..RelayConfig::default() };
    let Call { mut engine, info, pa, pb } = call(43_400..=43_499, config).await;
    let mut events = engine.take_events().unwrap();
    let started = tokio::time::Instant::now();
    pa.send_to(&testpkt::rtp(0, 1, 0, 0xaaaa, false, &[0; 160]), info.a.rtp).await.unwrap();
    recv(&pb).await;
    let mut sides = Vec::new();
    for _ in 0..2 {
        let e = timeout(WAIT, events.recv()).await.expect("an event within the bound").unwrap();
        assert_eq!(e.session, info.id);
        let MediaEvent::Timeout { side, on_hold, silent_for } = e.event;
        assert!(!on_hold && silent_for >= Duration::from_millis(300));
        sides.push(side);
    }
    assert!(started.elapsed() >= Duration::from_millis(300));
    sides.sort_by_key(|s| s.code());
    assert_eq!(sides, [Side::A, Side::B]);
    drop(pa);
}

/// CPU time of the calling thread, from the scheduler's accounting (nanoseconds).
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(s.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// 200 sessions, each peer sending 50 packets/s (G.711 pacing) both ways, for 5 s. The engine runs
/// on one current-thread runtime, so its thread's CPU time is the relay's whole cost.
#[test]
#[ignore = "benchmark: cargo test --release --lib media::engine::tests::bench_200_sessions -- --ignored --nocapture"]
fn bench_200_sessions() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const SESSIONS: usize = 200;
    const PACE: Duration = Duration::from_millis(20);
    const RUN: Duration = Duration::from_secs(5);
    let (info_tx, info_rx) = std::sync::mpsc::channel::<Vec<SessionInfo>>();
    let (peers_tx, peers_rx) = std::sync::mpsc::channel::<Vec<(SocketAddr, SocketAddr)>>();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_engine = stop.clone();
    let engine = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut engine = MediaEngine::new(44_000..=45_999, LO, RelayConfig::default()).unwrap();
            let infos: Vec<_> = (0..SESSIONS).map(|i| engine.open_session(&format!("bench{i}")).unwrap()).collect();
            info_tx.send(infos.clone()).unwrap();
            let peers = peers_rx.recv().unwrap();
            for (info, (a, b)) in infos.iter().zip(peers) {
                engine.set_remote(info.id, Side::A, remote(a, None)).unwrap();
                engine.set_remote(info.id, Side::B, remote(b, None)).unwrap();
            }
            tokio::time::sleep(Duration::from_secs(1)).await; // warm-up: latching, buffers
            let before: u64 = infos.iter().map(|i| engine.stats(i.id).map(|s| s.a.packets_out + s.b.packets_out).unwrap()).sum();
            let cpu0 = thread_cpu();
            let t0 = std::time::Instant::now();
            while !stop_engine.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let (cpu, wall) = (thread_cpu() - cpu0, t0.elapsed());
            let after: u64 = infos.iter().map(|i| engine.stats(i.id).map(|s| s.a.packets_out + s.b.packets_out).unwrap()).sum();
            let lost: u64 =
                infos.iter().map(|i| engine.stats(i.id).map(|s| s.send_failed + s.a.dropped.total() + s.b.dropped.total()).unwrap()).sum();
            (after - before, cpu, wall, lost)
        })
    });
    let infos = info_rx.recv().unwrap();
    let bind = || {
        let s = std::net::UdpSocket::bind((LO, 0)).unwrap();
        s.set_nonblocking(true).unwrap();
        s
    };
    let peers: Vec<_> = (0..SESSIONS).map(|_| (bind(), bind())).collect();
    peers_tx.send(peers.iter().map(|(a, b)| (a.local_addr().unwrap(), b.local_addr().unwrap())).collect()).unwrap();
    let mut received = 0u64;
    let mut buf = [0u8; 2048];
    let start = std::time::Instant::now();
    let mut seq = 0u16;
    while start.elapsed() < RUN + Duration::from_secs(1) {
        let tick = std::time::Instant::now();
        for (info, (a, b)) in infos.iter().zip(&peers) {
            let _ = a.send_to(&testpkt::rtp(0, seq, 160 * u32::from(seq), 0xa, false, &[0xd5; 160]), info.a.rtp);
            let _ = b.send_to(&testpkt::rtp(0, seq, 160 * u32::from(seq), 0xb, false, &[0xd5; 160]), info.b.rtp);
        }
        seq = seq.wrapping_add(1);
        for (a, b) in &peers {
            while a.recv_from(&mut buf).is_ok() || b.recv_from(&mut buf).is_ok() {
                received += 1;
            }
        }
        std::thread::sleep(PACE.saturating_sub(tick.elapsed()));
    }
    stop.store(true, Ordering::Relaxed);
    let (relayed, cpu, wall, lost) = engine.join().unwrap();
    let pps = relayed as f64 / wall.as_secs_f64();
    let per_packet = cpu.as_nanos() as f64 / relayed.max(1) as f64;
    println!(
        "{SESSIONS} sessions: {pps:.0} relayed packets/s, engine thread CPU {:.1}% of one core, {:.2} µs CPU per packet \
         (≈ {:.0} packets/s per core at saturation), {lost} dropped or failed, {received} received by peers",
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        per_packet / 1000.0,
        1e9 / per_packet
    );
}

#[tokio::test(start_paused = true)]
async fn a_closed_sessions_sockets_serve_the_next_session_after_a_rest_and_late_packets_do_not_cross() {
    let Call { mut engine, info, pa, pb } = call(45_000..=45_099, RelayConfig::default()).await;
    pa.send_to(&testpkt::rtp(0, 1, 160, 0xaaaa, false, &[1; 160]), info.a.rtp).await.unwrap();
    assert_eq!(RtpPacket::parse(&recv(&pb).await.0).unwrap().ssrc(), 0xaaaa);
    engine.close(info.id).unwrap();
    assert_eq!((engine.ports().in_use(), engine.ports().warm()), (0, 4), "kept bound, not in use");
    // Within the rest a new session gets fresh ports.
    let fresh = engine.open_session("second").unwrap();
    assert_ne!(fresh.a.rtp, info.a.rtp);
    engine.close(fresh.id).unwrap();
    // The old caller keeps sending after its call ended.
    pa.send_to(&testpkt::rtp(0, 2, 320, 0xaaaa, false, &[1; 160]), info.a.rtp).await.unwrap();
    tokio::time::advance(Duration::from_millis(600)).await;
    tokio::task::yield_now().await;
    let again = engine.open_session("third").unwrap();
    assert_eq!((again.a, again.b), (info.a, info.b), "the oldest rested sockets are reused");
    assert_eq!((engine.ports().in_use(), engine.ports().warm()), (4, 4));
    let (qa, a) = peer().await;
    let (qb, b) = peer().await;
    engine.set_remote(again.id, Side::A, remote(a, None)).unwrap();
    engine.set_remote(again.id, Side::B, remote(b, None)).unwrap();
    qa.send_to(&testpkt::rtp(0, 7, 1120, 0xcccc, false, &[3; 160]), again.a.rtp).await.unwrap();
    let v = recv(&qb).await.0;
    assert_eq!(RtpPacket::parse(&v).unwrap().ssrc(), 0xcccc, "the old call's late packet was discarded, not relayed");
    let stats = engine.close(again.id).unwrap();
    assert_eq!((stats.a.packets_in, stats.a.dropped.total()), (1, 0));
    drop(engine);
    let ports = PortAllocator::new(45_000..=45_099).unwrap();
    assert_eq!(ports.in_use(), 0);
}

#[tokio::test(start_paused = true)]
async fn kept_sockets_are_closed_after_30_s_without_new_calls() {
    let mut engine = MediaEngine::new(45_200..=45_299, LO, RelayConfig::default()).unwrap();
    let info = engine.open_session("only").unwrap();
    engine.close(info.id).unwrap();
    tokio::task::yield_now().await;
    engine.expire_warm();
    assert_eq!(engine.ports().warm(), 4, "still resting");
    tokio::time::advance(Duration::from_secs(31)).await;
    engine.expire_warm();
    assert_eq!((engine.ports().warm(), engine.ports().in_use()), (0, 0));
    // Closed for real: the port binds again.
    std::net::UdpSocket::bind(info.a.rtp).expect("the port was released");
}
