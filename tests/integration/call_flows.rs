//! The call path end to end: SIPp caller → ncgw → SIPp callee, with RTP, for every flow the
//! B2BUA must handle. Each test checks both SIPp peers' verdicts and the call records.
use std::time::Duration;

use serde_json::Value;

use super::harness::{admin_get, admin_post, free_port, wait_udp_bound, wait_until, TestNode};
use super::sipp::{Sipp, SippRun};

fn plan_to(port: u16) -> String {
    format!("[[rule]]\nname = \"to-uas\"\nto = \"95555\"\nroute = \"sip:agent@127.0.0.1:{port}\"\n")
}

/// Runs a callee scenario on `uas_port` and a caller scenario against the node, both to the end.
async fn pair(node: &TestNode, uas_port: u16, uas: &str, uas_args: &[&str], uac: &str, uac_args: &[&str]) -> (SippRun, SippRun) {
    let callee = tokio::spawn(Sipp::at_port(None, &format!("calls/{uas}"), uas_port).args(uas_args).run());
    wait_udp_bound(uas_port).await;
    let caller = Sipp::new(Some(node.sip), &format!("calls/{uac}")).args(&["-s", "95555"]).args(uac_args).run().await;
    (caller, callee.await.expect("callee task"))
}

fn leg<'a>(cdr: &'a Value, name: &str) -> &'a Value {
    cdr["media"].as_array().and_then(|m| m.iter().find(|l| l["leg"] == name)).unwrap_or(&Value::Null)
}

async fn assert_clean(node: &TestNode) {
    // This node's own counters (the Prometheus registry is shared by every node in this process).
    let admin = node.admin;
    wait_until("calls, media sessions and RTP ports back to 0", Duration::from_secs(5), || async move {
        let (_, body) = admin_get(admin, "/api/v1/status").await;
        let s: Value = serde_json::from_str(&body).unwrap();
        (s["calls_active"] == 0 && s["media_sessions"] == 0 && s["rtp_ports_in_use"] == 0).then_some(())
    })
    .await
}

/// The id and detail of the node's first call once it is answered and ACKed.
async fn confirmed_call(node: &TestNode) -> (String, Value) {
    let admin = node.admin;
    wait_until("an answered call", Duration::from_secs(10), || async move {
        let (_, body) = admin_get(admin, "/api/v1/calls").await;
        let v: Value = serde_json::from_str(&body).unwrap();
        let id = v["calls"][0]["id"].as_str()?.to_owned();
        if v["calls"][0]["state"] != "confirmed" {
            return None;
        }
        let (_, body) = admin_get(admin, &format!("/api/v1/calls/{id}")).await;
        Some((id, serde_json::from_str(&body).unwrap()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_calls_with_rtp_both_ways() {
    let uas_port = free_port();
    let node = TestNode::with_plan(&plan_to(uas_port), |_| {}).await;
    let (caller, callee) = pair(&node, uas_port, "uas_answer.xml", &["-m", "200"], "uac_call.xml", &["-m", "200", "-r", "25", "-l", "80"]).await;
    caller.assert_ok();
    callee.assert_ok();
    let cdrs = node.cdrs(200).await;
    assert_eq!(cdrs.len(), 200);
    for c in &cdrs {
        assert_eq!((c["outcome"].as_str(), c["cause"].as_str(), c["ended_by"].as_str()), (Some("answered"), Some("normal"), Some("caller")), "{c}");
        assert_eq!((c["sip_code_in"].as_u64(), c["sip_code_out"].as_u64()), (Some(200), Some(200)));
        assert!(c["talk_ms"].as_i64().unwrap() >= 7000, "the caller talks 8 s: {c}");
        for name in ["a", "b"] {
            let l = leg(c, name);
            assert!(l["packets_in"].as_u64().unwrap() > 100 && l["packets_out"].as_u64().unwrap() > 100, "RTP both ways on leg {name}: {c}");
            assert_eq!(l["codec"], "PCMA/8000", "{c}");
        }
        assert_eq!(c["dialplan_rule"], "to-uas");
    }
    assert_clean(&node).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_answer_and_the_200_cancel_race() {
    let uas_port = free_port();
    let node = TestNode::with_plan(&plan_to(uas_port), |_| {}).await;
    let (caller, callee) = pair(&node, uas_port, "uas_ring_until_cancel.xml", &["-m", "1"], "uac_cancel.xml", &["-m", "1"]).await;
    caller.assert_ok();
    callee.assert_ok();
    // The callee answers 200 although we CANCELled: we ACK and BYE it; the caller gets its 487.
    let (caller, callee) = pair(&node, uas_port, "uas_cancel_race.xml", &["-m", "1"], "uac_cancel.xml", &["-m", "1"]).await;
    caller.assert_ok();
    callee.assert_ok();
    let cdrs = node.cdrs(2).await;
    for c in &cdrs {
        assert_eq!((c["outcome"].as_str(), c["cause"].as_str(), c["sip_code_in"].as_u64()), (Some("abandoned"), Some("caller_cancel"), Some(487)), "{c}");
    }
    assert_clean(&node).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callee_busy_and_callee_never_answering() {
    let uas_port = free_port();
    let node = TestNode::with_plan(&plan_to(uas_port), |s| s.no_answer = Duration::from_secs(2)).await;
    let (caller, callee) = pair(&node, uas_port, "uas_busy.xml", &["-m", "1"], "uac_call_busy.xml", &["-m", "1"]).await;
    caller.assert_ok();
    callee.assert_ok();
    let (caller, callee) = pair(&node, uas_port, "uas_ring_until_cancel.xml", &["-m", "1"], "uac_call_unanswered.xml", &["-m", "1"]).await;
    caller.assert_ok();
    callee.assert_ok();
    let cdrs = node.cdrs(2).await;
    let causes: Vec<&str> = cdrs.iter().filter_map(|c| c["cause"].as_str()).collect();
    assert!(causes.contains(&"callee_busy") && causes.contains(&"no_answer"), "{causes:?}");
    assert_clean(&node).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bye_from_the_callee() {
    let uas_port = free_port();
    let node = TestNode::with_plan(&plan_to(uas_port), |_| {}).await;
    let (caller, callee) = pair(&node, uas_port, "uas_hangup.xml", &["-m", "1"], "uac_call_wait_bye.xml", &["-m", "1"]).await;
    caller.assert_ok();
    callee.assert_ok();
    let c = &node.cdrs(1).await[0];
    assert_eq!((c["cause"].as_str(), c["ended_by"].as_str()), (Some("normal"), Some("callee")), "{c}");
    assert_clean(&node).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_and_resume_from_either_side() {
    let uas_port = free_port();
    let node = TestNode::with_plan(&plan_to(uas_port), |_| {}).await;
    let (caller, callee) = pair(&node, uas_port, "uas_answer_reinvite.xml", &["-m", "1"], "uac_hold_resume.xml", &["-m", "1"]).await;
    caller.assert_ok();
    callee.assert_ok();
    let (caller, callee) = pair(&node, uas_port, "uas_hold.xml", &["-m", "1"], "uac_call_accept_reinvite.xml", &["-m", "1"]).await;
    caller.assert_ok();
    callee.assert_ok();
    let cdrs = node.cdrs(2).await;
    assert!(cdrs.iter().all(|c| c["cause"] == "normal"), "{cdrs:?}");
    assert_clean(&node).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_that_never_acks_gets_bye() {
    let uas_port = free_port();
    // T1 = 100 ms: the 200 is retransmitted for 64·T1 = 6.4 s, then both legs get BYE.
    let node = TestNode::with_plan(&plan_to(uas_port), |s| s.t1 = Duration::from_millis(100)).await;
    let (caller, callee) = pair(&node, uas_port, "uas_answer.xml", &["-m", "1"], "uac_no_ack.xml", &["-m", "1", "-trace_screen"]).await;
    caller.assert_ok();
    callee.assert_ok();
    let c = &node.cdrs(1).await[0];
    assert_eq!(c["cause"], "sip.no_ack", "{c}");
    assert_clean(&node).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callee_that_vanishes_times_out_on_media() {
    let uas_port = free_port();
    let node = TestNode::with_plan(&plan_to(uas_port), |s| s.media_timeout = Duration::from_secs(3)).await;
    let callee = tokio::spawn(Sipp::at_port(None, "calls/uas_answer_then_vanish.xml", uas_port).args(&["-m", "1"]).run());
    wait_udp_bound(uas_port).await;
    let caller = Sipp::new(Some(node.sip), "calls/uac_call_expect_bye.xml").args(&["-s", "95555", "-m", "1"]).run().await;
    caller.assert_ok();
    // The vanished callee never answers our BYE; it is stopped here rather than waited for.
    callee.abort();
    let c = &node.cdrs(1).await[0];
    assert_eq!((c["cause"].as_str(), c["ended_by"].as_str()), (Some("media.timeout"), Some("system")), "{c}");
    assert_clean(&node).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_from_a_third_address_is_dropped_and_counted() {
    let uas_port = free_port();
    let node = TestNode::with_plan(&plan_to(uas_port), |_| {}).await;
    let callee = tokio::spawn(Sipp::at_port(None, "calls/uas_answer.xml", uas_port).args(&["-m", "1"]).run());
    wait_udp_bound(uas_port).await;
    let caller = tokio::spawn(Sipp::new(Some(node.sip), "calls/uac_call.xml").args(&["-s", "95555", "-m", "1"]).run());
    // Once media flows both ways (both sides latched), an intruder sends to the caller-side port.
    let (id, detail) = confirmed_call(&node).await;
    let target = detail["legs"][0]["local_media"].as_str().expect("a local media address").to_owned();
    let admin = node.admin;
    wait_until("RTP flowing both ways", Duration::from_secs(10), || {
        let id = id.clone();
        async move {
            let (_, body) = admin_get(admin, &format!("/api/v1/calls/{id}")).await;
            let d: Value = serde_json::from_str(&body).ok()?;
            let flowing = |leg: &str| d["media"].as_array()?.iter().find(|m| m["leg"] == leg)?["packets_in"].as_u64();
            (flowing("a")? >= 25 && flowing("b")? >= 25).then_some(())
        }
    })
    .await;
    let intruder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut pkt = vec![0x80u8, 8, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
    pkt.extend_from_slice(&[0xd5; 160]);
    for seq in 0..50u16 {
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        intruder.send_to(&pkt, &target).unwrap();
    }
    caller.await.unwrap().assert_ok();
    callee.await.unwrap().assert_ok();
    let c = &node.cdrs(1).await[0];
    let a = leg(c, "a");
    let b = leg(c, "b");
    assert!(a["dropped_foreign"].as_u64().unwrap() >= 50, "{c}");
    assert!(b["packets_out"].as_u64().unwrap() + 50 <= a["packets_in"].as_u64().unwrap(), "nothing of the intruder's was forwarded: {c}");
    let (_, metrics) = admin_get(node.admin, "/metrics").await;
    let dropped = metrics.lines().find(|l| l.starts_with("ncgw_rtp_packets_total{direction=\"a_to_b\",result=\"dropped_foreign\"}"));
    let count: f64 = dropped.and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    assert!(count >= 50.0, "dropped packets are counted in /metrics: {dropped:?}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_user_with_digest_auth_receives_a_call() {
    let phone_port = free_port();
    let plan = "[[rule]]\nname = \"to-user\"\nto = \"1011\"\nuser = \"$to\"\n";
    // SIPp 3.6.1 answers only an MD5 challenge offered first.
    let node = TestNode::with_plan(plan, |s| s.auth_algorithms = vec![ncgw::sip::auth::Algorithm::Md5, ncgw::sip::auth::Algorithm::Sha256]).await;
    let (code, body) = admin_post_json(&node, "/api/v1/users", serde_json::json!({ "id": "1011", "password": "secret1011" })).await;
    assert_eq!(code, 200, "{body}");
    let inf = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/sipp/calls/users.csv");
    let reg = Sipp::at_port(Some(node.sip), "calls/uac_register_auth.xml", phone_port).args(&["-m", "1", "-inf", &inf.display().to_string()]).run().await;
    reg.assert_ok();
    let (_, regs) = admin_get(node.admin, "/api/v1/registrations").await;
    assert!(regs.contains("\"user\":\"1011\""), "{regs}");
    // The same phone now answers on the port it registered from.
    let callee = tokio::spawn(Sipp::at_port(None, "calls/uas_answer.xml", phone_port).args(&["-m", "1"]).run());
    wait_udp_bound(phone_port).await;
    let caller = Sipp::new(Some(node.sip), "calls/uac_call.xml").args(&["-s", "1011", "-m", "1"]).run().await;
    caller.assert_ok();
    callee.await.unwrap().assert_ok();
    let c = &node.cdrs(1).await[0];
    assert_eq!((c["cause"].as_str(), c["dialplan_rule"].as_str()), (Some("normal"), Some("to-user")), "{c}");
    node.stop().await;
}

async fn admin_post_json(node: &TestNode, path: &str, body: Value) -> (u16, String) {
    let url = format!("http://{}{path}", node.admin);
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut resp = agent.post(&url).send_json(&body).expect("admin reachable");
        (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap_or_default())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangup_through_the_admin_api_ends_both_legs() {
    let uas_port = free_port();
    let node = TestNode::with_plan(&plan_to(uas_port), |_| {}).await;
    let callee = tokio::spawn(Sipp::at_port(None, "calls/uas_answer.xml", uas_port).args(&["-m", "1"]).run());
    wait_udp_bound(uas_port).await;
    let caller = tokio::spawn(Sipp::new(Some(node.sip), "calls/uac_call_expect_bye.xml").args(&["-s", "95555", "-m", "1"]).run());
    let (id, _) = confirmed_call(&node).await;
    let (code, body) = admin_post(node.admin, &format!("/api/v1/calls/{id}/hangup"), Duration::from_secs(10)).await;
    assert_eq!(code, 200, "{body}");
    caller.await.unwrap().assert_ok();
    callee.await.unwrap().assert_ok();
    let c = &node.cdrs(1).await[0];
    assert_eq!((c["cause"].as_str(), c["ended_by"].as_str()), (Some("admin.hangup"), Some("system")), "{c}");
    let (code, _) = admin_post(node.admin, &format!("/api/v1/calls/{id}/hangup"), Duration::from_secs(10)).await;
    assert_eq!(code, 404, "an ended call cannot be hung up again");
    assert_clean(&node).await;
    node.stop().await;
}

/// The shipped dialplan: an authenticated user dials another by extension. The caller is
/// challenged (407) first; the callee is reached at the address it registered from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_user_calls_a_registered_extension() {
    let node = TestNode::start_with(|s| s.auth_algorithms = vec![ncgw::sip::auth::Algorithm::Md5, ncgw::sip::auth::Algorithm::Sha256]).await;
    for (id, pw) in [("1011", "secret1011"), ("1012", "secret1012")] {
        let (code, body) = admin_post_json(&node, "/api/v1/users", serde_json::json!({ "id": id, "password": pw })).await;
        assert_eq!(code, 200, "{body}");
    }
    let csv = tempfile::tempdir().unwrap();
    let line = |u: &str, p: &str| format!("SEQUENTIAL\n{u};{p};[authentication username={u} password={p}]\n");
    let caller_csv = csv.path().join("caller.csv");
    let callee_csv = csv.path().join("callee.csv");
    std::fs::write(&caller_csv, line("1011", "secret1011")).unwrap();
    std::fs::write(&callee_csv, line("1012", "secret1012")).unwrap();
    let phone_port = free_port();
    Sipp::at_port(Some(node.sip), "calls/uac_register_auth.xml", phone_port).args(&["-m", "1", "-inf", &callee_csv.display().to_string()]).run().await.assert_ok();
    let callee = tokio::spawn(Sipp::at_port(None, "calls/uas_answer.xml", phone_port).args(&["-m", "1"]).run());
    wait_udp_bound(phone_port).await;
    let caller = Sipp::new(Some(node.sip), "calls/uac_call_auth.xml").args(&["-s", "1012", "-m", "1", "-inf", &caller_csv.display().to_string()]).run().await;
    caller.assert_ok();
    callee.await.unwrap().assert_ok();
    let c = &node.cdrs(1).await[0];
    assert_eq!((c["cause"].as_str(), c["dialplan_rule"].as_str(), c["source"].as_str()), (Some("normal"), Some("extensions"), Some("user:1011")), "{c}");
    // Without credentials the same INVITE is only challenged: no call, no record.
    let anon = Sipp::new(Some(node.sip), "calls/uac_call.xml").args(&["-s", "1012", "-m", "1"]).run().await;
    assert_ne!(anon.code, Some(0), "an unauthenticated caller cannot reach an extension");
    assert!(anon.messages.contains("SIP/2.0 407"), "it was challenged:\n{}", anon.messages);
    assert_eq!(node.cdrs(1).await.len(), 1);
    node.stop().await;
}
