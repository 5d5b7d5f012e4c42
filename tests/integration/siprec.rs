//! The external recorder (SIPREC) end to end: SIPp caller → ncgw → SIPp callee, with
//! `[recording] siprec_server` pointing at a third SIPp acting as the recording server
//! (tools/sipp/siprec/srs_uas.xml, which checks the recording INVITE and answers with two m-lines
//! pointing at two UDP sockets of this test). The caller's RTP is sent by the test (its own SSRC),
//! the callee's is SIPp's pcap (another SSRC), so each socket can tell it got the right direction.
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::net::UdpSocket;

use super::harness::{admin_get, free_port, wait_udp_bound, wait_until, TestNode};
use super::sipp::Sipp;

/// The SSRC of /usr/share/sip-tester/g711a.pcap, which the SIPp callee plays.
const PCAP_SSRC: u32 = 3_739_283_087;
/// The SSRC of the caller's stream, sent by this test.
const CALLER_SSRC: u32 = 0x5eed_0008;

/// Payload type and SSRC of every RTP packet a socket receives, until it has been idle for
/// `idle` (the first packet may take up to 20 s: SIPp start and call set-up).
async fn collect(sock: UdpSocket, idle: Duration) -> Vec<(u8, u32)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        let wait = if out.is_empty() { Duration::from_secs(20) } else { idle };
        let Ok(Ok((n, _))) = tokio::time::timeout(wait, sock.recv_from(&mut buf)).await else { return out };
        if n >= 12 && buf[0] >> 6 == 2 {
            out.push((buf[1] & 0x7f, u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]])));
        }
    }
}

fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, 8];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&(160 * u32::from(seq)).to_be_bytes());
    v.extend_from_slice(&CALLER_SSRC.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sipp_call_is_forked_to_a_sipp_recording_server_both_directions() {
    let (uas_port, srs_port) = (free_port(), free_port());
    let plan = format!("[[rule]]\nname = \"to-uas\"\nto = \"95555\"\nroute = \"sip:agent@127.0.0.1:{uas_port}\"\n");
    let node = TestNode::with_plan(&plan, |s| s.siprec_server = Some(format!("sip:srs@127.0.0.1:{srs_port}"))).await;
    let bind = || async { UdpSocket::bind("127.0.0.1:0").await.expect("test socket") };
    let (stream1, stream2, caller_rtp) = (bind().await, bind().await, bind().await);
    let port = |s: &UdpSocket| s.local_addr().map(|a| a.port().to_string()).unwrap_or_default();
    let (p1, p2, caller_port) = (port(&stream1), port(&stream2), port(&caller_rtp));

    let srs = tokio::spawn(Sipp::at_port(None, "siprec/srs_uas.xml", srs_port).args(&["-m", "1", "-key", "port1", &p1, "-key", "port2", &p2]).run());
    wait_udp_bound(srs_port).await;
    let callee = tokio::spawn(Sipp::at_port(None, "calls/uas_answer.xml", uas_port).args(&["-m", "1"]).run());
    wait_udp_bound(uas_port).await;
    let got1 = tokio::spawn(collect(stream1, Duration::from_secs(3)));
    let got2 = tokio::spawn(collect(stream2, Duration::from_secs(3)));
    let caller = tokio::spawn(
        Sipp::new(Some(node.sip), "transcode/uac_offer.xml")
            .args(&["-s", "95555", "-m", "1", "-d", "4000", "-key", "rtp_port", &caller_port])
            .args(&["-key", "pt", "8", "-key", "codec", "PCMA/8000", "-key", "fmtp", "annexb=no", "-key", "te_pt", "101", "-key", "te_clock", "8000"])
            .run(),
    );

    // Once the call is up, the caller's RTP goes to ncgw's side-A address: 3 s of PCMA.
    let admin = node.admin;
    let to_a: SocketAddr = wait_until("an answered call", Duration::from_secs(15), || async move {
        let (_, body) = admin_get(admin, "/api/v1/calls").await;
        let v: Value = serde_json::from_str(&body).ok()?;
        let id = v["calls"][0]["id"].as_str()?.to_owned();
        (v["calls"][0]["state"] == "confirmed").then_some(())?;
        let (_, body) = admin_get(admin, &format!("/api/v1/calls/{id}")).await;
        let d: Value = serde_json::from_str(&body).ok()?;
        d["legs"].as_array()?.iter().find(|l| l["side"] == "a")?["local_media"].as_str()?.parse().ok()
    })
    .await;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for seq in 0..150u16 {
        tick.tick().await;
        caller_rtp.send_to(&rtp(seq, &[0xd5; 160]), to_a).await.expect("caller RTP sent");
    }

    caller.await.expect("caller task").assert_ok();
    callee.await.expect("callee task").assert_ok();
    srs.await.expect("recording server task").assert_ok();
    let (got1, got2) = (got1.await.expect("stream 1"), got2.await.expect("stream 2"));
    eprintln!("SIPREC fork: stream 1 got {} packets, stream 2 got {}", got1.len(), got2.len());
    assert!(got1.len() >= 50, "stream 1 (the caller's) got {} packets", got1.len());
    assert!(got2.len() >= 50, "stream 2 (the callee's) got {} packets", got2.len());
    assert!(got1.iter().all(|&(pt, ssrc)| pt == 8 && ssrc == CALLER_SSRC), "stream 1 carries only the caller's PCMA: {:?}", &got1[..5]);
    assert!(got2.iter().all(|&(pt, ssrc)| pt == 8 && ssrc == PCAP_SSRC), "stream 2 carries only the callee's PCMA: {:?}", &got2[..5]);

    let cdr = node.cdrs(1).await.remove(0);
    assert_eq!((cdr["outcome"].as_str(), cdr["cause"].as_str()), (Some("answered"), Some("normal")), "{cdr}");
    wait_until("media sessions and RTP ports (fork included) back to 0", Duration::from_secs(5), || async move {
        let (_, body) = admin_get(admin, "/api/v1/status").await;
        let s: Value = serde_json::from_str(&body).ok()?;
        (s["calls_active"] == 0 && s["media_sessions"] == 0 && s["rtp_ports_in_use"] == 0).then_some(())
    })
    .await;
    let (_, metrics) = admin_get(admin, "/metrics").await;
    assert!(metrics.contains("ncgw_siprec_sessions_total{result=\"established\"}"), "the session is counted");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_server_that_never_answers_leaves_the_call_alone() {
    let uas_port = free_port();
    // Nobody listens on the recording server's port: Timer B (T1 = 100 ms: 6.4 s) fails it.
    let silent = free_port();
    let plan = format!("[[rule]]\nname = \"to-uas\"\nto = \"95555\"\nroute = \"sip:agent@127.0.0.1:{uas_port}\"\n");
    let node = TestNode::with_plan(&plan, |s| {
        s.siprec_server = Some(format!("sip:srs@127.0.0.1:{silent}"));
        s.t1 = Duration::from_millis(100);
    })
    .await;
    let callee = tokio::spawn(Sipp::at_port(None, "calls/uas_answer.xml", uas_port).args(&["-m", "1"]).run());
    wait_udp_bound(uas_port).await;
    let caller = Sipp::new(Some(node.sip), "calls/uac_call.xml").args(&["-s", "95555", "-m", "1"]).run().await;
    caller.assert_ok();
    callee.await.expect("callee task").assert_ok();
    let cdr = node.cdrs(1).await.remove(0);
    assert_eq!((cdr["outcome"].as_str(), cdr["cause"].as_str()), (Some("answered"), Some("normal")), "{cdr}");
    let admin = node.admin;
    wait_until("the failed recording session counted", Duration::from_secs(15), || async move {
        let (_, m) = admin_get(admin, "/metrics").await;
        m.contains("ncgw_siprec_sessions_total{result=\"failed\"}").then_some(())
    })
    .await;
    wait_until("RTP ports back to 0", Duration::from_secs(5), || async move {
        let (_, body) = admin_get(admin, "/api/v1/status").await;
        let s: Value = serde_json::from_str(&body).ok()?;
        (s["media_sessions"] == 0 && s["rtp_ports_in_use"] == 0).then_some(())
    })
    .await;
    node.stop().await;
}
