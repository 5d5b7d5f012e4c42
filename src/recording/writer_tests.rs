//! The per-call task end to end on the filesystem: frames in, a verified recording out.
use std::time::Duration;

use super::*;
use crate::recording::store;

fn pcma_packet(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0x55 ^ 0x11; 160]);
    p
}

#[test]
fn a_kill_loses_at_most_one_segment() {
    assert_eq!(block_length(Duration::from_secs(1)), Duration::from_millis(600));
    assert_eq!(block_length(Duration::from_secs(4)), Duration::from_millis(3600));
    assert_eq!(block_length(Duration::from_millis(50)), DRAIN_EVERY);
}

#[tokio::test(start_paused = true)]
async fn a_recorded_call_verifies_and_has_the_calls_length() {
    let tmp = tempfile::tempdir().unwrap();
    // 1 s blocks: the segment (crash horizon) adds the jitter margin and one drain.
    let config = RecordingConfig { segment: Duration::from_millis(1400), ..Default::default() };
    let mut rec = Recorder::open(tmp.path(), config, None, RecorderHooks::default()).unwrap();
    let t0 = now();
    let call = AnswerInfo { call_id: "c00000000beef".into(), caller: "+8613800000000".into(), callee: "1001".into(), answered_ms: 1_798_761_600_000, at: t0, codecs: Default::default() };
    let tap = rec.start(call).unwrap();
    for i in 0..125u32 {
        tokio::time::advance(Duration::from_millis(20)).await;
        tap.offer(0, now(), &pcma_packet(i as u16, i * 160, 1));
        tap.offer(1, now(), &pcma_packet(i as u16, i * 160, 2));
    }
    tokio::task::yield_now().await;
    rec.finish("c00000000beef", EndInfo { ended_ms: 1_798_761_602_500, tags: [("k".to_owned(), "v".to_owned())].into(), ..Default::default() });
    rec.shutdown(Duration::from_secs(5)).await;
    let dir = store::call_dir(tmp.path(), "c00000000beef", 1_798_761_600_000);
    let keys = Keys::load(tmp.path(), None).unwrap();
    let mut blocks = Vec::new();
    let (report, m) = store::verify(&dir, "c00000000beef", &SegmentKey::new(&keys.segment), &keys.public(), Some(&mut blocks));
    assert!(report.ok(), "{:?}", report.problems);
    let m = m.unwrap();
    assert_eq!(m.duration_ms, 2500);
    assert_eq!(blocks.iter().map(|b| b.frames()).sum::<usize>(), 20_000);
    assert_eq!(m.segments.len(), 3);
    assert_eq!(m.state, "complete");
    assert_eq!(m.tags.get("k").map(String::as_str), Some("v"));
    assert!(m.participants[0].id.starts_with("hmac-sha256:"));
    assert!(!std::fs::read_to_string(dir.join("manifest.json")).unwrap().contains("8613800000000"));
    // Both channels carry audio (0x44 A-law is a non-zero level).
    let mid = &blocks[1].pcm;
    assert!(mid[0] != 0 && mid[1] != 0, "{:?}", &mid[..4]);
}

#[tokio::test(start_paused = true)]
async fn a_segment_that_cannot_be_written_is_a_signed_gap() {
    let tmp = tempfile::tempdir().unwrap();
    // 1 s blocks: the segment (crash horizon) adds the jitter margin and one drain.
    let config = RecordingConfig { segment: Duration::from_millis(1400), ..Default::default() };
    let mut rec = Recorder::open(tmp.path(), config, None, RecorderHooks::default()).unwrap();
    let id = "c0000000000f1";
    let dir = store::call_dir(tmp.path(), id, 1_798_761_600_000);
    let tap = rec.start(AnswerInfo { call_id: id.into(), caller: "1".into(), callee: "2".into(), answered_ms: 1_798_761_600_000, at: now(), codecs: Default::default() }).unwrap();
    // The directory appears from the blocking pool; a bounded wait on it.
    for _ in 0..10_000 {
        if dir.exists() {
            break;
        }
        tokio::task::yield_now().await;
    }
    // Segment 1's temporary path is taken by a directory: its write fails (as on a full disk).
    std::fs::create_dir_all(dir.join("seg-000001.nrs.tmp")).unwrap();
    for i in 0..150u32 {
        tokio::time::advance(Duration::from_millis(20)).await;
        tap.offer(0, now(), &pcma_packet(i as u16, i * 160, 1));
    }
    rec.finish(id, EndInfo { ended_ms: 1_798_761_603_000, ..Default::default() });
    rec.shutdown(Duration::from_secs(5)).await;
    let keys = Keys::load(tmp.path(), None).unwrap();
    let (report, m) = store::verify(&dir, id, &SegmentKey::new(&keys.segment), &keys.public(), None);
    assert!(report.ok(), "{:?}", report.problems);
    let m = m.unwrap();
    assert_eq!(m.segments.iter().map(|s| s.index).collect::<Vec<_>>(), vec![0, 2]);
    assert_eq!((m.state.as_str(), m.reason.as_deref()), ("incomplete", Some("write_failed")));
    assert!(m.gaps.iter().any(|g| g.track == "all" && g.from_ms == 1000 && g.to_ms == 2000), "{:?}", m.gaps);
    // Removing a listed segment afterwards is still caught.
    std::fs::remove_file(dir.join("seg-000002.nrs")).unwrap();
    let (report, _) = store::verify(&dir, id, &SegmentKey::new(&keys.segment), &keys.public(), None);
    assert_eq!(report.first_bad_segment(), Some(2));
}

struct EchoTsa;

impl ManifestTimestamper for EchoTsa {
    fn timestamp(&self, digest: &[u8; 32]) -> Option<Vec<u8>> {
        Some(digest.to_vec())
    }
}

#[tokio::test(start_paused = true)]
async fn a_timestamping_authority_stamps_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = Recorder::open(tmp.path(), RecordingConfig::default(), None, RecorderHooks::default()).unwrap();
    let mut rec = rec.with_timestamper(Arc::new(EchoTsa));
    let id = "c0000000000d1";
    rec.start(AnswerInfo { call_id: id.into(), caller: "1".into(), callee: "2".into(), answered_ms: 1_798_761_600_000, at: now(), codecs: Default::default() }).unwrap();
    rec.finish(id, EndInfo { ended_ms: 1_798_761_600_500, ..Default::default() });
    rec.shutdown(Duration::from_secs(5)).await;
    let dir = store::call_dir(tmp.path(), id, 1_798_761_600_000);
    let sig: manifest::SignatureFile = serde_json::from_slice(&std::fs::read(dir.join(manifest::SIGNATURE_FILE)).unwrap()).unwrap();
    assert_eq!(sig.rfc3161_token.as_deref(), Some(sig.manifest_sha256.as_str()));
}

#[tokio::test(start_paused = true)]
async fn a_mid_call_codec_change_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let config = RecordingConfig { segment: Duration::from_millis(1400), ..Default::default() };
    let mut rec = Recorder::open(tmp.path(), config, None, RecorderHooks::default()).unwrap();
    let id = "c0000000000c5";
    let tap = rec.start(AnswerInfo { call_id: id.into(), caller: "1".into(), callee: "2".into(), answered_ms: 1_798_761_600_000, at: now(), codecs: Default::default() }).unwrap();
    // Side A sends A-law under dynamic type 96: unknown until a re-INVITE says what it is.
    let pt96 = |seq: u16| {
        let mut p = pcma_packet(seq, u32::from(seq) * 160, 7);
        p[1] = 96;
        p
    };
    // The writer starts once its directory exists (made on the blocking pool); a bounded wait.
    let dir = store::call_dir(tmp.path(), id, 1_798_761_600_000);
    for _ in 0..10_000 {
        if dir.exists() {
            break;
        }
        tokio::task::yield_now().await;
    }
    for i in 0..100u16 {
        if i == 50 {
            let pcma = crate::media::codec::CodecConfig::from_sdp("PCMA", 8000, None, &[]).unwrap();
            tap.update_codecs([vec![(96, pcma)], Vec::new()]);
        }
        tokio::time::advance(Duration::from_millis(20)).await;
        tap.offer(0, now(), &pt96(i));
        // Let the writer drain on its 100 ms ticks as the packets come.
        tokio::task::yield_now().await;
    }
    rec.finish(id, EndInfo { ended_ms: 1_798_761_602_000, ..Default::default() });
    rec.shutdown(Duration::from_secs(5)).await;
    let keys = Keys::load(tmp.path(), None).unwrap();
    let mut blocks = Vec::new();
    let (report, _) = store::verify(&dir, id, &SegmentKey::new(&keys.segment), &keys.public(), Some(&mut blocks));
    assert!(report.ok(), "{:?}", report.problems);
    // Block 0 (0-1 s): kept raw, silence in the PCM (the change applies at the writer's next
    // 100 ms drain, so the last packets before it may decode); block 1 (1-2 s): decoded audio.
    assert!(!blocks[0].raw.is_empty(), "type 96 kept raw before the change");
    assert!(blocks[0].pcm.iter().step_by(2).take(6400).all(|s| *s == 0));
    let left: Vec<i16> = blocks[1].pcm.iter().step_by(2).copied().collect();
    let first = left.iter().position(|s| *s != 0);
    let last = left.iter().rposition(|s| *s != 0);
    assert!(left[2000..6000].iter().all(|s| *s != 0), "decoded after the change: {} blocks, non-zero {first:?}..{last:?} of {}, raw {}", blocks.len(), left.len(), blocks[1].raw.len());
}
