//! Recording end to end with SIPp (RTP both ways): every answered call is recorded for its
//! answered duration, both channels carry what each side sent (the g711a.pcap audio), the
//! recordings verify with the CLI, export to a WAV, take tags through the admin API, and no
//! plaintext audio is on disk.
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::harness::{admin_get, free_port, ncgw, wait_udp_bound, wait_until, TestNode};
use super::sipp::Sipp;
use ncgw::media::codec::{AudioDecoder, G711Decoder, G711Law};

pub const PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

pub fn plan_to(port: u16) -> String {
    format!("[[rule]]\nname = \"to-uas\"\nto = \"95555\"\nroute = \"sip:agent@127.0.0.1:{port}\"\n")
}

/// The RTP payloads of the SIPp pcap, in order.
pub fn pcap_payloads() -> Vec<Vec<u8>> {
    let d = std::fs::read(PCAP).expect("sip-tester's g711a.pcap (./tools/setup)");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= d.len() {
        let incl = u32::from_le_bytes([d[at + 8], d[at + 9], d[at + 10], d[at + 11]]) as usize;
        let frame = &d[at + 16..(at + 16 + incl).min(d.len())];
        at += 16 + incl;
        let ihl = usize::from(frame.get(14).copied().unwrap_or(0x45) & 0x0f) * 4;
        if let Some(rtp) = frame.get(14 + ihl + 8..) {
            if let Ok(p) = ncgw::media::rtp::RtpPacket::parse(rtp) {
                out.push(p.payload().to_vec());
            }
        }
    }
    out
}

/// Every file under `dir`.
pub fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

async fn recordings(admin: std::net::SocketAddr, n: usize) -> Vec<Value> {
    wait_until(&format!("{n} closed recordings"), Duration::from_secs(30), || async move {
        let (_, body) = admin_get(admin, "/api/v1/recordings?limit=1000").await;
        let v: Value = serde_json::from_str(&body).ok()?;
        let list = v["recordings"].as_array().cloned().unwrap_or_default();
        (list.len() >= n && list.iter().all(|r| r["state"] != "recording")).then_some(list)
    })
    .await
}

async fn post_json(admin: std::net::SocketAddr, path: &str, body: Value) -> (u16, String) {
    let url = format!("http://{admin}{path}");
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut resp = agent.post(&url).send_json(&body).expect("admin reachable");
        (resp.status().as_u16(), resp.body_mut().read_to_string().expect("body"))
    })
    .await
    .expect("admin task")
}

/// Whether `needle` (decoded PCM of one packet) occurs in channel `ch` of interleaved stereo.
fn channel_contains(pcm: &[i16], ch: usize, needle: &[i16]) -> bool {
    let chan: Vec<i16> = pcm.iter().skip(ch).step_by(2).copied().collect();
    chan.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_sipp_calls_duration_channels_verify_export_no_plaintext() {
    let uas_port = free_port();
    let node = TestNode::with_plan(&plan_to(uas_port), |s| s.recording.segment = Duration::from_secs(2)).await;
    let data = node._data.path().to_owned();
    let calls = 4;
    let n = calls.to_string();
    let callee = tokio::spawn(Sipp::at_port(None, "calls/uas_answer.xml", uas_port).args(&["-m", &n]).run());
    wait_udp_bound(uas_port).await;
    let caller = tokio::spawn(Sipp::new(Some(node.sip), "calls/uac_call.xml").args(&["-s", "95555", "-m", &n, "-r", "2", "-l", &n]).run());
    // Tags during the call go into the signed manifest.
    let admin = node.admin;
    let first = wait_until("a recording in progress", Duration::from_secs(15), || async move {
        let (_, body) = admin_get(admin, "/api/v1/recordings?state=recording").await;
        let v: Value = serde_json::from_str(&body).ok()?;
        v["recordings"][0]["call_id"].as_str().map(str::to_owned)
    })
    .await;
    let (code, body) = post_json(admin, &format!("/api/v1/calls/{first}/tags"), serde_json::json!({ "business_serial": "BS-42", "consent": "verbal" })).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["signed"], "manifest", "{body}");
    let (code, _) = post_json(admin, "/api/v1/calls/nosuchcall/tags", serde_json::json!({ "a": "b" })).await;
    assert_eq!(code, 404);
    caller.await.unwrap().assert_ok();
    callee.await.unwrap().assert_ok();

    let cdrs = node.cdrs(calls).await;
    let recs = recordings(node.admin, calls).await;
    assert_eq!(recs.len(), calls);
    for r in &recs {
        let id = r["call_id"].as_str().unwrap();
        let cdr = cdrs.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("a CDR for {id}"));
        let talk = cdr["talk_ms"].as_i64().unwrap();
        let dur = r["duration_ms"].as_i64().unwrap();
        assert!((dur - talk).abs() <= 100, "recording {dur} ms vs answered {talk} ms");
        assert_eq!(r["state"], "complete", "{r}");
        assert_eq!(r["dropped_packets"], 0);
    }
    let tagged = recs.iter().find(|r| r["call_id"] == first.as_str()).unwrap();
    assert_eq!(tagged["tags"]["business_serial"], "BS-42");
    let (_, body) = admin_get(node.admin, "/api/v1/recordings?tag=consent=verbal").await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["recordings"].as_array().unwrap().len(), 1);

    // Tags after the call are appended to the closed recording as a signed amendment.
    let later = recs.iter().map(|r| r["call_id"].as_str().unwrap().to_owned()).find(|id| *id != first).unwrap();
    let (code, body) = post_json(admin, &format!("/api/v1/calls/{later}/tags"), serde_json::json!({ "business_type": "loan" })).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["signed"], "amendment", "{body}");

    let dd = data.display().to_string();
    let (code, out, err) = ncgw(&["recordings", "verify", "--all", "--data-dir", &dd]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("{calls} checked, 0 failed")), "{out}");
    assert!(out.contains(&format!("OK    {later}")) && out.contains("1 signed tag amendment"), "{out}");
    let (_, out, _) = ncgw(&["recordings", "verify", &later, "--data-dir", &dd, "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(out.contains("\"by\": \"admin-api\"") && out.contains("\"business_type\": \"loan\""), "{v}");
    let (_, out, _) = ncgw(&["recordings", "audit", &later, "--data-dir", &dd, "--json"]);
    assert!(out.contains("admin-api") && out.contains("\"tag\""), "{out}");
    let (code, out, _) = ncgw(&["recordings", "list", "--data-dir", &dd, "--tag", "business_serial=BS-42", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["recordings"][0]["call_id"], first.as_str());

    // Both channels carry what each side sent: SIPp plays g711a.pcap from caller and callee.
    let out_dir = tempfile::tempdir().unwrap();
    let wav = out_dir.path().join("call.wav");
    let (code, out, err) = ncgw(&["recordings", "export", &first, "--out", &wav.display().to_string(), "--data-dir", &dd, "--operator", "auditor-7"]);
    assert_eq!(code, 0, "{out}{err}");
    let bytes = std::fs::read(&wav).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    let pcm: Vec<i16> = bytes[44..].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    let talk = cdrs.iter().find(|c| c["id"] == first.as_str()).unwrap()["talk_ms"].as_i64().unwrap();
    assert!(((pcm.len() / 2) as i64 * 1000 / 8000 - talk).abs() <= 100);
    let payloads = pcap_payloads();
    assert!(payloads.len() > 200);
    let mut dec = G711Decoder::new(G711Law::A);
    let mut found = [0usize; 2];
    for p in payloads.iter().step_by(10).take(20) {
        let mut pkt = Vec::new();
        dec.decode(p, &mut pkt).unwrap();
        if pkt.iter().all(|s| s.abs() < 64) {
            continue;
        }
        for (ch, f) in found.iter_mut().enumerate() {
            *f += usize::from(channel_contains(&pcm, ch, &pkt));
        }
    }
    assert!(found[0] >= 10 && found[1] >= 10, "pcap audio found in the customer/agent channels: {found:?}");
    let (_, out, _) = ncgw(&["recordings", "audit", &first, "--data-dir", &dd, "--json"]);
    assert!(out.contains("auditor-7") && out.contains("export"), "{out}");

    // No plaintext audio anywhere under the data directory: neither the G.711 payload bytes
    // SIPp sent nor their decoded PCM.
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for p in payloads.iter().skip(40).step_by(25).take(6) {
        needles.push(p[40..72].to_vec());
        let mut pkt = Vec::new();
        dec.decode(p, &mut pkt).unwrap();
        needles.push(pkt[40..56].iter().flat_map(|s| s.to_le_bytes()).collect());
    }
    let all = files(&data);
    let recs_on_disk: Vec<_> = all.iter().filter(|f| f.extension().is_some_and(|e| e == "nrec")).collect();
    assert_eq!(recs_on_disk.len(), calls, "one file per recording: {all:?}");
    for f in all {
        let content = std::fs::read(&f).unwrap();
        for n in &needles {
            assert!(!content.windows(n.len()).any(|w| w == n.as_slice()), "plaintext audio in {}", f.display());
        }
    }
    node.stop().await;
}

#[test]
fn pubkey_and_verify_report_a_tampered_recording() {
    // A data directory with one recording written by the library, then tampered with.
    let data = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = "c0000000000c1";
    rt.block_on(async {
        let index = ncgw::storage::RecordingIndex::open(data.path()).await.unwrap();
        let config = ncgw::recording::RecordingConfig { segment: Duration::from_secs(1), ..Default::default() };
        let mut rec = ncgw::recording::Recorder::open(data.path(), config, Some(index.clone()), Default::default()).unwrap();
        let at = tokio::time::Instant::now().into_std();
        let tap = rec.start(ncgw::recording::AnswerInfo { call_id: id.into(), caller: "100".into(), callee: "200".into(), answered_ms: 1_798_761_600_000, at, codecs: Default::default() }).unwrap();
        tap.offer(0, at, &[0x80, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xd5, 0xd5]);
        rec.finish(id, ncgw::recording::EndInfo { ended_ms: 1_798_761_603_000, ..Default::default() });
        rec.shutdown(Duration::from_secs(10)).await;
    });
    let dd = data.path().display().to_string();
    let (code, out, _) = ncgw(&["recordings", "pubkey", "--data-dir", &dd]);
    assert_eq!(code, 0);
    assert!(out.starts_with("-----BEGIN PUBLIC KEY-----"), "{out}");
    let (code, out, _) = ncgw(&["recordings", "verify", id, "--data-dir", &dd]);
    assert_eq!(code, 0, "{out}");
    let file = files(data.path()).into_iter().find(|f| f.ends_with(format!("{id}.nrec"))).expect("the recording file");
    let seg = ncgw::recording::store::segment_records(&file).into_iter().find(|r| r.segment == Some(1)).expect("segment 1's record");
    let mut b = std::fs::read(&file).unwrap();
    let mid = ((seg.offset + seg.end()) / 2) as usize;
    b[mid] ^= 0x40;
    std::fs::write(&file, b).unwrap();
    let (code, out, _) = ncgw(&["recordings", "verify", "--all", "--data-dir", &dd]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("first bad segment: 1"), "{out}");
    let wav = data.path().join("x.wav");
    let (code, _, err) = ncgw(&["recordings", "export", id, "--out", &wav.display().to_string(), "--data-dir", &dd]);
    assert_eq!(code, 1);
    assert!(err.contains("did not verify") && !wav.exists(), "{err}");
    // Cut the file exactly where segment 1's record starts: the manifest is gone with the rest,
    // and the index's segment count names the first segment missing.
    let b = std::fs::read(&file).unwrap();
    std::fs::write(&file, &b[..seg.offset as usize]).unwrap();
    let (code, out, _) = ncgw(&["recordings", "verify", id, "--data-dir", &dd]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("first bad segment: 1") && out.contains("truncated"), "{out}");
}
