//! The admin listener: /metrics, /healthz, status, and OPTIONS ping through a real client
//! transaction — against a SIPp UAS that answers, and one that never does (retransmission schedule).
use std::time::Duration;

use super::harness::{admin_get, admin_post, wait_udp_bound, TestNode};
use super::sipp::Sipp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_status() {
    let node = TestNode::start().await;
    Sipp::new(Some(node.sip), "options.xml").args(&["-m", "2"]).run().await.assert_ok();
    let (code, body) = admin_get(node.admin, "/healthz").await;
    assert_eq!((code, body.trim()), (200, "ok"));
    let (code, text) = admin_get(node.admin, "/metrics").await;
    assert_eq!(code, 200);
    for name in [
        "ncgw_sip_messages_total{direction=\"in\",kind=\"OPTIONS\",transport=\"udp\"}",
        "ncgw_sip_messages_total{direction=\"out\",kind=\"2xx\",transport=\"udp\"}",
        "ncgw_sip_transactions_active{kind=\"server_non_invite\"}",
        "ncgw_sip_transaction_outcomes_total{method=\"OPTIONS\",outcome=\"2xx\",side=\"server\"}",
        "ncgw_up",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    let (code, body) = admin_get(node.admin, "/api/v1/status").await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["accepting"], true);
    assert_eq!(v["sip_listen"][0], node.sip.to_string());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_a_sipp_uas_that_answers() {
    let node = TestNode::start().await;
    let uas = Sipp::new(None, "uas_options_200.xml").args(&["-m", "1"]);
    let uas_port = uas.local_port;
    let uas_run = tokio::spawn(uas.run());
    wait_udp_bound(uas_port).await;
    let path = format!("/api/v1/ping?target=127.0.0.1:{uas_port}&transport=udp");
    let (code, body) = admin_post(node.admin, &path, Duration::from_secs(60)).await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["outcome"], "ok", "{v}");
    assert_eq!(v["status"], 200);
    uas_run.await.unwrap().assert_ok();
    node.stop().await;
}

/// A SIPp UAS that never answers: the node's non-INVITE client transaction retransmits with
/// Timer E doubling from T1 and capped at T2, and gives up at Timer F = 64·T1 (RFC 3261 §17.1.2.2).
/// T1 = 200 ms and T2 = 800 ms here, so the gaps are 0.2, 0.4, 0.8, 0.8, … and F fires at 12.8 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_retransmissions_follow_timer_e_then_timer_f() {
    let node = TestNode::start_with(|s| {
        s.t1 = Duration::from_millis(200);
        s.t2 = Duration::from_millis(800);
    })
    .await;
    let uas = Sipp::new(None, "uas_silent.xml").args(&["-m", "1"]);
    let uas_port = uas.local_port;
    let uas_run = tokio::spawn(uas.run());
    wait_udp_bound(uas_port).await;
    let path = format!("/api/v1/ping?target=127.0.0.1:{uas_port}&transport=udp");
    let (code, body) = admin_post(node.admin, &path, Duration::from_secs(60)).await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["outcome"], "timeout", "{v}");
    let rtt = v["rtt_ms"].as_f64().unwrap();
    assert!((12_700.0..13_500.0).contains(&rtt), "Timer F should fire at 12.8 s, fired at {rtt} ms");
    // Sends at 0, 0.2, 0.6, 1.4, then every 0.8 s up to 12.6 s: 18 in all.
    assert_eq!(v["sends"], 18, "{v}");
    let run = uas_run.await.unwrap();
    let times: Vec<f64> = run.trace().iter().filter(|t| t.1 == "received" && t.2.starts_with("OPTIONS")).map(|t| t.0).collect();
    assert_eq!(times.len(), 18, "SIPp saw every copy:\n{}", run.messages);
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let expect = |i: usize| if i < 2 { 0.2 * f64::from(1u32 << i) } else { 0.8 };
    for (i, g) in gaps.iter().enumerate() {
        assert!((g - expect(i)).abs() < 0.15, "gap {i} was {g:.3} s, expected {:.1} s; all gaps {gaps:?}", expect(i));
    }
    node.stop().await;
}
