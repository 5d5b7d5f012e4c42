//! Agent queues end to end: SIPp agents register with digest auth (and are logged in by it),
//! SIPp callers dial 95555; the test checks who answers whom and in what order, the abandoned
//! caller, RTP both ways, the call records, that a waiting caller hears real prompt audio, and
//! the live numbers `ncgw queues` / `ncgw agents --json` show meanwhile.
use std::time::Duration;

use serde_json::Value;

use super::acd_ops::{agent as agent_in, json, queue};
use super::harness::{admin_get, free_port, wait_udp_bound, wait_until, TestNode};
use super::sipp::Sipp;

const QUEUES: &str = r#"
auto_login = true

[[queue]]
name = "general"
ring_timeout_s = 10
wrap_up_s = 2
position_every_s = 5

[[agent]]
id = "1001"
skills = ["retail:1"]

[[agent]]
id = "1002"
skills = ["retail:1", "sign_language:3"]
"#;

const PLAN: &str = r#"
[[rule]]
name = "elderly"
from = "+8613900000002"
set = { priority = 10, tags = { segment = "elderly" } }

[[rule]]
name = "signing"
from = "+8613900000004"
set = { skills = ["sign_language:3"] }

[[rule]]
name = "hotline"
to = "95555"
queue = "general"
"#;

const X: &str = "+8613900000001";
const E: &str = "+8613900000002";
const N: &str = "+8613900000003";
const S: &str = "+8613900000004";
const H: &str = "+8613900000005";

/// Sets the password of a queue-file agent (created with a generated one at start).
async fn add_user(node: &TestNode, id: &str, pw: &str) {
    let url = format!("http://{}/api/v1/agents/{id}", node.admin);
    let body = serde_json::json!({ "password": pw, "mode": "set" });
    let (code, text) = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut resp = agent.put(&url).send_json(&body).expect("admin reachable");
        (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap_or_default())
    })
    .await
    .unwrap();
    assert_eq!(code, 200, "{text}");
}

/// Registers agent `id` from `port` (digest auth), then answers `calls` calls there.
async fn agent(node: &TestNode, dir: &std::path::Path, id: &str, port: u16, calls: usize) -> tokio::task::JoinHandle<super::sipp::SippRun> {
    let csv = dir.join(format!("{id}.csv"));
    std::fs::write(&csv, format!("SEQUENTIAL\n{id};secret{id};[authentication username={id} password=secret{id}]\n")).unwrap();
    Sipp::at_port(Some(node.sip), "calls/uac_register_auth.xml", port).args(&["-m", "1", "-inf", &csv.display().to_string()]).run().await.assert_ok();
    let uas = tokio::spawn(Sipp::at_port(None, "calls/uas_answer.xml", port).args(&["-m", &calls.to_string()]).run());
    wait_udp_bound(port).await;
    uas
}

fn caller(node: &TestNode, number: &str, wait_ms: u64) -> tokio::task::JoinHandle<super::sipp::SippRun> {
    let run = Sipp::new(Some(node.sip), "acd/uac_queue.xml").args(&["-s", "95555", "-m", "1", "-key", "caller", number, "-d", &wait_ms.to_string()]).run();
    tokio::spawn(run)
}

async fn wait_calls(node: &TestNode, n: usize) {
    let admin = node.admin;
    wait_until(&format!("{n} live calls"), Duration::from_secs(10), || async move {
        let (_, body) = admin_get(admin, "/api/v1/calls").await;
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["calls"].as_array()?.len() >= n).then_some(())
    })
    .await
}

fn a_law(b: u8) -> i32 {
    let a = b ^ 0x55;
    let seg = (a >> 4) & 7;
    let mant = i32::from(a & 0x0f);
    let mag = if seg == 0 { (mant << 4) + 8 } else { ((mant << 4) + 0x108) << (seg - 1) };
    if a & 0x80 != 0 { mag } else { -mag }
}

/// Receives RTP on `sock` until `done` resolves; returns (packets, RMS of the decoded A-law, whether
/// SSRC stayed one and sequence numbers rose by one).
async fn listen(sock: tokio::net::UdpSocket, mut done: tokio::sync::oneshot::Receiver<()>) -> (usize, f64, bool) {
    let mut buf = [0u8; 2048];
    let (mut packets, mut sum, mut samples, mut continuous) = (0usize, 0f64, 0usize, true);
    let mut last: Option<(u32, u16)> = None;
    loop {
        tokio::select! {
            _ = &mut done => break,
            r = sock.recv_from(&mut buf) => {
                let Ok((n, _)) = r else { break };
                if n < 12 || buf[1] & 0x7f != 8 {
                    continue;
                }
                let seq = u16::from_be_bytes([buf[2], buf[3]]);
                let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                if let Some((s, q)) = last {
                    continuous &= s == ssrc && q.wrapping_add(1) == seq;
                }
                last = Some((ssrc, seq));
                packets += 1;
                for &b in &buf[12..n] {
                    let v = f64::from(a_law(b));
                    sum += v * v;
                    samples += 1;
                }
            }
        }
    }
    (packets, if samples > 0 { (sum / samples as f64).sqrt() } else { 0.0 }, continuous)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acd_callers_reach_agents_by_priority_and_skill_with_prompts_while_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let queues = dir.path().join("queues.toml");
    std::fs::write(&queues, QUEUES).unwrap();
    std::os::unix::fs::symlink(concat!(env!("CARGO_MANIFEST_DIR"), "/config/prompts"), dir.path().join("prompts")).unwrap();
    let q = queues.clone();
    let node = TestNode::with_plan(PLAN, move |s| {
        s.queues_file = q;
        // SIPp 3.6.1 answers only an MD5 challenge offered first.
        s.auth_algorithms = vec![ncgw::sip::auth::Algorithm::Md5, ncgw::sip::auth::Algorithm::Sha256];
    })
    .await;
    add_user(&node, "1001", "secret1001").await;
    add_user(&node, "1002", "secret1002").await;

    // Agent 1001 (no sign language) registers and is logged in; caller X takes it.
    let agent1 = agent(&node, dir.path(), "1001", free_port(), 2).await;
    let x = caller(&node, X, 6000);
    wait_calls(&node, 1).await;
    // While 1001 is busy: a normal caller, an elderly one, one who gives up, one who signs.
    let n = caller(&node, N, 11_000);
    wait_calls(&node, 2).await;
    let e = caller(&node, E, 10_000);
    wait_calls(&node, 3).await;
    let sink = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let heard = tokio::spawn(listen(sink, stopped));
    let h = tokio::spawn(Sipp::new(Some(node.sip), "acd/uac_queue_abandon.xml").args(&["-s", "95555", "-m", "1", "-key", "caller", H, "-key", "sink", &sink_port, "-d", "1500"]).run());
    wait_calls(&node, 4).await;
    let s = caller(&node, S, 15_000);
    wait_calls(&node, 5).await;
    // Live numbers while 1001 talks to X and N, E, S wait (H gives up after 1.5 s); 1002 is not
    // registered yet.
    let nd = &node;
    let q = wait_until("3 waiting, 1 abandoned, 1001 on a call", Duration::from_secs(8), move || async move {
        let g = queue(&json(nd, &["queues"]).await, "general").clone();
        (g["waiting"] == 3 && g["abandoned"] == 1 && g["agents"]["on_call"] == 1).then_some(g)
    })
    .await;
    assert!(q["longest_wait_s"].as_f64().is_some_and(|w| w > 0.0), "the longest wait grows: {q}");
    assert_eq!(q["agents"], serde_json::json!({ "available": 0, "offered": 0, "on_call": 1, "wrap_up": 0, "break": 0 }), "{q}");
    assert_eq!((q["ringing"].as_u64(), q["offered"].as_u64(), q["answered"].as_u64()), (Some(0), Some(5), Some(1)), "{q}");
    let shown = json(&node, &["queues", "show", "general"]).await;
    assert_eq!((shown["queue"]["waiting"].as_u64(), shown["queue"]["abandoned"].as_u64()), (Some(3), Some(1)), "{shown}");
    let now = json(&node, &["agents"]).await;
    let x_key = agent_in(&now, "1001").and_then(|a| (a["state"] == "on_call").then(|| a["call"].as_u64()).flatten()).unwrap_or_else(|| panic!("1001 on a call: {now}"));
    let a2 = agent_in(&now, "1002").unwrap_or_else(|| panic!("1002 listed: {now}"));
    assert_eq!((a2["state"].as_str(), a2["call"].as_u64()), (Some("logged_out"), None), "{a2}");
    // Agent 1002 (signs) comes in: it takes the elderly caller although N waited longer. Then
    // 1001 (free after X, ~9 s) takes N, and 1002 (free after E, ~13 s) the signing caller S.
    // The margins are seconds, so a slow machine does not change who answers whom.
    let agent2 = agent(&node, dir.path(), "1002", free_port(), 2).await;
    // 1002 logged in on registration and took E: both agents talk, N and S wait.
    let q = wait_until("1002 on a call", Duration::from_secs(8), move || async move {
        let g = queue(&json(nd, &["queues"]).await, "general").clone();
        (g["agents"]["on_call"] == 2).then_some(g)
    })
    .await;
    assert_eq!((q["waiting"].as_u64(), q["agents"]["available"].as_u64(), q["answered"].as_u64()), (Some(2), Some(0), Some(2)), "{q}");
    let now = json(&node, &["agents"]).await;
    let call_of = |id: &str| agent_in(&now, id).map(|a| (a["state"].as_str().unwrap_or_default().to_owned(), a["call"].as_u64()));
    assert_eq!(call_of("1001"), Some(("on_call".into(), Some(x_key))), "1001 still has X: {now}");
    // Call keys are given in arrival order: X, N, E, H, S.
    assert_eq!(call_of("1002"), Some(("on_call".into(), Some(x_key + 2))), "1002 has E: {now}");

    let h = h.await.unwrap();
    let _ = stop.send(());
    h.assert_ok();
    let (packets, rms, continuous) = heard.await.unwrap();
    assert!(packets >= 50, "the waiting caller got {packets} prompt packets in 1.5 s");
    assert!(rms > 300.0, "prompt audio is not silence (RMS {rms:.0})");
    assert!(continuous, "one SSRC, consecutive sequence numbers");
    for (who, run) in [("X", x), ("N", n), ("E", e), ("S", s)] {
        let r = run.await.unwrap();
        assert_eq!(r.code, Some(0), "caller {who}\n{}\n{}", r.errors, r.messages);
    }
    // S hung up last: 1002 wraps up (2 s), 1001 is free again.
    let q = wait_until("1002 in wrap-up", Duration::from_secs(2), move || async move {
        let g = queue(&json(nd, &["queues"]).await, "general").clone();
        (g["agents"]["wrap_up"] == 1).then_some(g)
    })
    .await;
    assert_eq!((q["agents"]["available"].as_u64(), q["agents"]["on_call"].as_u64(), q["waiting"].as_u64()), (Some(1), Some(0), Some(0)), "{q}");
    let now = json(&node, &["agents"]).await;
    for (id, state) in [("1001", "available"), ("1002", "wrap_up")] {
        let a = agent_in(&now, id).unwrap_or_else(|| panic!("{id} listed: {now}"));
        assert_eq!((a["state"].as_str(), a["call"].as_u64()), (Some(state), None), "{a}");
    }
    let q = wait_until("both agents available", Duration::from_secs(5), move || async move {
        let g = queue(&json(nd, &["queues"]).await, "general").clone();
        (g["agents"]["available"] == 2).then_some(g)
    })
    .await;
    let counts = |q: &Value| ["offered", "answered", "abandoned", "overflowed", "timed_out", "waiting", "ringing"].map(|k| q[k].as_u64().unwrap_or(u64::MAX));
    assert_eq!(counts(&q), [5, 4, 1, 0, 0, 0, 0], "offered, answered, abandoned, overflowed, timed out, waiting, ringing: {q}");
    let shown = json(&node, &["queues", "show", "general"]).await;
    assert_eq!(counts(&shown["queue"]), [5, 4, 1, 0, 0, 0, 0], "{shown}");
    agent1.await.unwrap().assert_ok();
    agent2.await.unwrap().assert_ok();

    let cdrs = node.cdrs(5).await;
    let by = |num: &str| cdrs.iter().find(|c| c["caller"].as_str() == Some(num)).unwrap_or_else(|| panic!("no record for {num}: {cdrs:?}")).clone();
    for c in &cdrs {
        assert_eq!(c["queue"], "general", "{c}");
        assert!(c["wait_ms"].as_i64().is_some(), "every record has the wait: {c}");
    }
    let answered_at = |c: &Value| c["started_at"].as_i64().unwrap() + c["wait_ms"].as_i64().unwrap();
    let (x, n, e, s, h) = (by(X), by(N), by(E), by(S), by(H));
    assert_eq!(x["agent"], "1001", "{x}");
    assert_eq!(e["agent"], "1002", "the elderly caller went to the agent who came in: {e}");
    assert_eq!(n["agent"], "1001", "{n}");
    assert_eq!(s["agent"], "1002", "the signing caller reached the signing agent: {s}");
    assert!(answered_at(&e) < answered_at(&n), "the elderly caller was answered first although N called earlier: {e} {n}");
    assert!(e["started_at"].as_i64() > n["started_at"].as_i64());
    assert_eq!((h["outcome"].as_str(), h["cause"].as_str(), h["agent"].as_str()), (Some("abandoned"), Some("acd.abandoned"), None), "{h}");
    assert!(h["wait_ms"].as_i64().unwrap() >= 1000, "{h}");
    for c in [&x, &n, &e, &s] {
        assert_eq!((c["outcome"].as_str(), c["cause"].as_str()), (Some("answered"), Some("normal")), "{c}");
        let leg = |name: &str| c["media"].as_array().and_then(|m| m.iter().find(|l| l["leg"] == name)).cloned().unwrap_or(Value::Null);
        let (a, b) = (leg("a"), leg("b"));
        assert!(a["packets_in"].as_u64() > Some(0) && b["packets_out"].as_u64() > Some(0), "caller → agent RTP: {c}");
        assert!(b["packets_in"].as_u64() > Some(0) && a["packets_out"].as_u64() > Some(0), "agent → caller RTP: {c}");
    }
    // Each answered call is recorded from the agent's answer, indexed with its agent and queue.
    for (c, agent) in [(&x, "1001"), (&n, "1001"), (&e, "1002"), (&s, "1002")] {
        let id = c["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/recordings?agent={agent}&limit=100");
        let rec = wait_until(&format!("recording of {id} closed"), Duration::from_secs(20), || {
            let (path, id) = (path.clone(), id.clone());
            let admin = node.admin;
            async move {
                let (_, body) = admin_get(admin, &path).await;
                let v: Value = serde_json::from_str(&body).ok()?;
                v["recordings"].as_array()?.iter().find(|r| r["call_id"] == id.as_str() && r["state"] == "complete").cloned()
            }
        })
        .await;
        assert_eq!((rec["agent"].as_str(), rec["queue"].as_str()), (Some(agent), Some("general")), "{rec}");
    }
    node.stop().await;
}

/// Waits (bounded) until `name` has `n` callers waiting; a caller whose SIPp ends first fails the
/// test with that caller's trace (a caller that never got into the queue, not a slow queue).
async fn wait_waiting(node: &TestNode, name: &str, n: u64, callers: &mut [&mut tokio::task::JoinHandle<super::sipp::SippRun>]) {
    let ended = |c: &[&mut tokio::task::JoinHandle<super::sipp::SippRun>]| c.iter().any(|h| h.is_finished());
    let seen = wait_until(&format!("{n} callers waiting in {name}"), Duration::from_secs(10), || {
        let done = ended(callers);
        async move {
            if done {
                return Some(false);
            }
            (queue(&json(node, &["queues"]).await, name)["waiting"] == n).then_some(true)
        }
    })
    .await;
    if !seen {
        if let Some(h) = callers.iter_mut().find(|h| h.is_finished()) {
            let run = (&mut **h).await.expect("caller task");
            run.assert_ok();
            panic!("a caller ended cleanly before {n} were waiting in {name}:\n{}", run.messages);
        }
    }
}

/// `ncgw_acd_offer_latency_seconds{queue}` count for `queue` in the node's /metrics.
async fn offer_latency_count(node: &TestNode, queue: &str) -> u64 {
    let (_, text) = admin_get(node.admin, "/metrics").await;
    let series = format!("ncgw_acd_offer_latency_seconds_count{{queue=\"{queue}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&series)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// The agent-available → offer latency is measured on the real path: an agent back from a
/// break with a caller waiting, then the same agent at the end of its wrap-up with the next
/// caller waiting. (The queue's name is this test's own: the metrics are process-wide.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acd_offer_latency_is_observed_when_an_agent_becomes_available() {
    const LQ: &str = "auto_login = true\n\n[[queue]]\nname = \"latency\"\nwrap_up_s = 1\n\n[[agent]]\nid = \"3101\"\nskills = [\"retail:1\"]\n";
    const LPLAN: &str = "[[rule]]\nname = \"hotline\"\nto = \"95555\"\nqueue = \"latency\"\n";
    let dir = tempfile::tempdir().unwrap();
    let queues = dir.path().join("queues.toml");
    std::fs::write(&queues, LQ).unwrap();
    let q = queues.clone();
    let node = TestNode::with_plan(LPLAN, move |s| {
        s.queues_file = q;
        s.auth_algorithms = vec![ncgw::sip::auth::Algorithm::Md5, ncgw::sip::auth::Algorithm::Sha256];
    })
    .await;
    add_user(&node, "3101", "secret3101").await;
    let agent_run = agent(&node, dir.path(), "3101", free_port(), 2).await;
    let (code, _, err) = super::acd_ops::cli(&node, &["agents", "state", "3101", "break", "--reason", "coffee"]).await;
    assert_eq!(code, 0, "{err}");
    let before = offer_latency_count(&node, "latency").await;
    let nd = &node;
    let mut first = caller(&node, "+8613900000011", 3000);
    wait_waiting(nd, "latency", 1, &mut [&mut first]).await;
    let mut second = caller(&node, "+8613900000012", 8000);
    wait_waiting(nd, "latency", 2, &mut [&mut first, &mut second]).await;
    assert_eq!(offer_latency_count(&node, "latency").await, before, "nothing offered while the agent is on break");
    // Back from the break: the first caller is offered at once.
    let (code, _, err) = super::acd_ops::cli(&node, &["agents", "state", "3101", "available"]).await;
    assert_eq!(code, 0, "{err}");
    wait_until("one offer latency observed", Duration::from_secs(5), move || async move { (offer_latency_count(nd, "latency").await == before + 1).then_some(()) }).await;
    // The first call ends, wrap-up (1 s) ends, and the second caller is offered.
    first.await.unwrap().assert_ok();
    wait_until("a second offer latency observed", Duration::from_secs(10), move || async move { (offer_latency_count(nd, "latency").await == before + 2).then_some(()) }).await;
    second.await.unwrap().assert_ok();
    agent_run.await.unwrap().assert_ok();
    let (_, text) = admin_get(node.admin, "/metrics").await;
    let sum: f64 = text.lines().find_map(|l| l.strip_prefix("ncgw_acd_offer_latency_seconds_sum{queue=\"latency\"} ")).and_then(|v| v.trim().parse().ok()).expect("a sum");
    assert!(sum > 0.0 && sum < 1.0, "two offers, each well under a second after the agent was free: {sum} s");
    node.stop().await;
}
