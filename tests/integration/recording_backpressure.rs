//! A recorder that stops reading its queue never delays the relay: with the writer paused, every
//! packet is still relayed promptly; the fork drops, counts, and the recording is closed as
//! `incomplete` / `recorder_overflow` with its gaps listed.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::harness::wait_until;
use ncgw::media::relay::{RelayConfig, Remote, Side};
use ncgw::media::MediaEngine;
use ncgw::recording::{AnswerInfo, EndInfo, Recorder, RecorderHooks, RecordingConfig};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// Sends `n` packets A→B, each answered by the relay before the next; returns the worst
/// send-to-receive time.
async fn relay_latency(pa: &UdpSocket, pb: &UdpSocket, to: SocketAddr, n: u16, first: u16) -> Duration {
    let mut worst = Duration::ZERO;
    let mut buf = [0u8; 2048];
    for seq in first..first + n {
        let t = Instant::now();
        pa.send_to(&rtp(seq, 0xabc), to).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), pb.recv_from(&mut buf)).await.expect("relayed within 2 s").unwrap();
        assert_eq!(got.0, 172);
        worst = worst.max(t.elapsed());
    }
    worst
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowed_recorder_drops_and_counts_without_delaying_the_relay() {
    let data = tempfile::tempdir().unwrap();
    let index = ncgw::storage::RecordingIndex::open(data.path()).await.unwrap();
    let (pause_tx, pause_rx) = tokio::sync::watch::channel(true);
    let config = RecordingConfig { queue: 16, segment: Duration::from_secs(1), ..Default::default() };
    let mut recorder = Recorder::open(data.path(), config, Some(index.clone()), RecorderHooks { pause: Some(pause_rx) }).unwrap();
    let mut engine = MediaEngine::new(44_100..=44_199, LO, RelayConfig::default()).unwrap();
    let info = engine.open_session("c00000000bp01").unwrap();
    let pa = UdpSocket::bind((LO, 0)).await.unwrap();
    let pb = UdpSocket::bind((LO, 0)).await.unwrap();
    for (side, s) in [(Side::A, &pa), (Side::B, &pb)] {
        engine.set_remote(info.id, side, Remote { rtp: Some(s.local_addr().unwrap()), rtcp: None, clock_rate: 8000, hold: false }).unwrap();
    }
    // Without recording: the reference latency.
    let plain = relay_latency(&pa, &pb, info.a.rtp, 100, 0).await;

    let start_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let at = tokio::time::Instant::now().into_std();
    let tap = recorder.start(AnswerInfo { call_id: "c00000000bp01".into(), caller: "1".into(), callee: "2".into(), answered_ms: start_ms, at, codecs: Default::default() }).unwrap();
    assert!(engine.set_tap(info.id, tap.clone()).unwrap());
    let paused = relay_latency(&pa, &pb, info.a.rtp, 300, 100).await;
    // The engine offers a packet to the tap after relaying it: the last offer may land just
    // after the test received that packet.
    let t = &tap;
    wait_until("the queue holds 16; the rest is dropped and counted", Duration::from_secs(2), || async move { (t.dropped() >= 300 - 16).then_some(()) }).await;
    assert_eq!(tap.dropped(), 300 - 16, "the queue holds 16; the rest is dropped and counted");
    assert!(paused < plain.max(Duration::from_millis(5)) * 4, "relay latency with a stuck recorder {paused:?} vs {plain:?} without");
    let stats = engine.stats(info.id).unwrap();
    assert_eq!((stats.a.packets_in, stats.b.packets_out, stats.send_failed), (400, 400, 0), "every packet relayed");

    pause_tx.send(false).unwrap();
    relay_latency(&pa, &pb, info.a.rtp, 10, 400).await;
    let ended_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    recorder.finish("c00000000bp01", EndInfo { ended_ms, ..Default::default() });
    let row = wait_until("the recording closed", Duration::from_secs(10), || {
        let index = index.clone();
        async move { index.get("c00000000bp01").await.ok().flatten().filter(|r| r.state != "recording") }
    })
    .await;
    assert_eq!((row.state.as_str(), row.reason.as_deref()), ("incomplete", Some("recorder_overflow")));
    // Packets sent just after the un-pause may still meet a full queue: every drop is counted
    // and every counted drop is in a gap.
    assert_eq!(row.dropped_packets as u64, tap.dropped());
    assert!(row.dropped_packets >= 284, "{row:?}");
    let in_gaps: u64 = row.gaps.iter().map(|g| g["packets"].as_u64().unwrap()).sum();
    assert_eq!(in_gaps, tap.dropped(), "{row:?}");
    assert_eq!(row.gaps[0]["track"], "customer");
    engine.close(info.id).unwrap();
}
