//! The per-call task end to end on the filesystem: frames in, a verified recording file out;
//! and start-up recovery of files a crash left open.
use std::time::Duration;

use super::*;
use crate::recording::container::{self, Block};
use crate::recording::records;
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
    let path = store::recording_path(tmp.path(), "c00000000beef", 1_798_761_600_000);
    let keys = Keys::load(tmp.path(), None).unwrap();
    let mut blocks = Vec::new();
    let (report, m) = store::verify(&path, "c00000000beef", &SegmentKey::new(&keys.segment), &keys.public(), Some(&mut blocks));
    assert!(report.ok(), "{:?}", report.problems);
    let m = m.unwrap();
    assert_eq!(m.duration_ms, 2500);
    assert_eq!(blocks.iter().map(|b| b.frames()).sum::<usize>(), 20_000);
    assert_eq!(m.segments.len(), 3);
    assert_eq!(m.state, "complete");
    assert_eq!(m.tags.get("k").map(String::as_str), Some("v"));
    assert!(m.participants[0].id.starts_with("hmac-sha256:"));
    let file = std::fs::read(&path).unwrap();
    assert!(!file.windows(13).any(|w| w == b"8613800000000"), "the customer's number is only hashed");
    // One file: a header, three segment records, the manifest and its signature.
    let scan = records::scan(&std::fs::File::open(&path).unwrap()).unwrap();
    let kinds: Vec<_> = scan.records.iter().map(|r| r.kind).collect();
    let seg = records::Kind::Segment { stream: 0 };
    assert_eq!(kinds, vec![seg, seg, seg, records::Kind::Manifest, records::Kind::Signature]);
    assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no directory per call");
    // Both channels carry audio (0x44 A-law is a non-zero level).
    let mid = &blocks[1].pcm;
    assert!(mid[0] != 0 && mid[1] != 0, "{:?}", &mid[..4]);
}

#[tokio::test(start_paused = true)]
async fn a_segment_that_cannot_be_written_is_a_signed_gap() {
    let tmp = tempfile::tempdir().unwrap();
    // 1 s blocks: the segment (crash horizon) adds the jitter margin and one drain.
    let config = RecordingConfig { segment: Duration::from_millis(1400), ..Default::default() };
    // Segment 1's write fails halfway (as on a full disk).
    let hooks = RecorderHooks { fail_segment: Some(1), ..Default::default() };
    let mut rec = Recorder::open(tmp.path(), config, None, hooks).unwrap();
    let id = "c0000000000f1";
    let path = store::recording_path(tmp.path(), id, 1_798_761_600_000);
    let tap = rec.start(AnswerInfo { call_id: id.into(), caller: "1".into(), callee: "2".into(), answered_ms: 1_798_761_600_000, at: now(), codecs: Default::default() }).unwrap();
    for i in 0..150u32 {
        tokio::time::advance(Duration::from_millis(20)).await;
        tap.offer(0, now(), &pcma_packet(i as u16, i * 160, 1));
    }
    rec.finish(id, EndInfo { ended_ms: 1_798_761_603_000, ..Default::default() });
    rec.shutdown(Duration::from_secs(5)).await;
    let keys = Keys::load(tmp.path(), None).unwrap();
    let (report, m) = store::verify(&path, id, &SegmentKey::new(&keys.segment), &keys.public(), None);
    assert!(report.ok(), "{:?}", report.problems);
    assert!(records::scan(&std::fs::File::open(&path).unwrap()).unwrap().torn.is_none(), "the half record was cut back off");
    let m = m.unwrap();
    assert_eq!(m.segments.iter().map(|s| s.index).collect::<Vec<_>>(), vec![0, 2]);
    assert_eq!((m.state.as_str(), m.reason.as_deref()), ("incomplete", Some("write_failed")));
    assert!(m.gaps.iter().any(|g| g.track == "all" && g.from_ms == 1000 && g.to_ms == 2000), "{:?}", m.gaps);
    // Removing a listed segment afterwards is still caught.
    let two = store::segment_records(&path).into_iter().find(|r| r.segment == Some(2)).unwrap();
    let mut b = std::fs::read(&path).unwrap();
    b.drain(two.offset as usize..two.end() as usize);
    std::fs::write(&path, b).unwrap();
    let (report, _) = store::verify(&path, id, &SegmentKey::new(&keys.segment), &keys.public(), None);
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
    let path = store::recording_path(tmp.path(), id, 1_798_761_600_000);
    let file = std::fs::File::open(&path).unwrap();
    let scan = records::scan(&file).unwrap();
    let mut sig = Vec::new();
    records::read_payload(&file, scan.records.last().unwrap(), &mut sig).unwrap();
    assert_eq!(scan.records.last().unwrap().kind, records::Kind::Signature);
    let sig: manifest::SignatureFile = serde_json::from_slice(&sig).unwrap();
    assert_eq!(sig.rfc3161_token.as_deref(), Some(sig.manifest_sha256.as_str()));
}

/// Recovery fixture: a file of `n` sealed segments written as the writer does, and its row.
fn crashed(n: u32) -> (tempfile::TempDir, Arc<Context>, RecordingRow, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let rec = Recorder::open(tmp.path(), RecordingConfig::default(), None, RecorderHooks::default()).unwrap();
    let id = "c0000000000e1";
    let path = store::recording_path(tmp.path(), id, 1_798_761_600_000);
    let mut f = RecordingFile::create(&path).unwrap();
    for i in 0..n {
        let block = Block { index: i, sample_rate: 8000, start_sample: u64::from(i) * 8000, pcm: vec![7; 16000], raw: Vec::new() };
        let mut buf = Vec::new();
        records::push_record(&mut buf, records::TYPE_SEGMENT, &container::seal(&rec.ctx.key, id, [1; 8], &block));
        f.append(&buf).unwrap();
    }
    let row = RecordingRow::started(id, path.strip_prefix(tmp.path()).unwrap().display().to_string(), 1_798_761_600_000);
    (tmp, rec.ctx.clone(), row, path)
}

fn verified(ctx: &Context, row: &RecordingRow, path: &Path) -> manifest::Manifest {
    let (report, m) = store::verify(path, &row.call_id, &ctx.key, &ctx.signing.verifying_key(), None);
    assert!(report.ok(), "{:?}", report.problems);
    let m = m.unwrap();
    assert_eq!(report.manifest_sha256, row.manifest_sha256);
    assert_eq!(m.segments.len() as i64, row.segments);
    assert_eq!(std::fs::metadata(path).unwrap().len() as i64, row.size_bytes);
    m
}

#[test]
fn recovery_closes_whole_segments_as_node_restart() {
    let (_tmp, ctx, row, path) = crashed(2);
    let row = recover_one(&ctx, row).unwrap();
    assert_eq!((row.state.as_str(), row.reason.as_deref(), row.duration_ms), ("incomplete", Some("node_restart"), Some(2000)));
    assert_eq!(verified(&ctx, &row, &path).state, "incomplete");
    assert!(!store::damaged_path(&path).exists());
}

#[test]
fn recovery_sets_a_torn_last_append_aside_and_closes_as_node_restart() {
    let (_tmp, ctx, row, path) = crashed(3);
    let whole = std::fs::read(&path).unwrap();
    // The crash tore segment 3's record: half of it landed.
    let block = Block { index: 3, sample_rate: 8000, start_sample: 24_000, pcm: vec![7; 16000], raw: Vec::new() };
    let mut torn = Vec::new();
    records::push_record(&mut torn, records::TYPE_SEGMENT, &container::seal(&ctx.key, &row.call_id, [1; 8], &block));
    torn.truncate(torn.len() / 2);
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, &torn).unwrap();
    let row = recover_one(&ctx, row).unwrap();
    // The append the kill interrupted: an ordinary crash, not damage; the bytes are kept aside.
    assert_eq!((row.state.as_str(), row.reason.as_deref()), ("incomplete", Some("node_restart")));
    assert_eq!(std::fs::read(store::damaged_path(&path)).unwrap(), torn, "the torn bytes are kept");
    assert_eq!(verified(&ctx, &row, &path).segments.len(), 3);
    assert_eq!(std::fs::read(&path).unwrap()[..whole.len()], whole[..], "the intact prefix is untouched");
}

#[test]
fn recovery_stops_at_a_garbled_segment() {
    let (_tmp, ctx, row, path) = crashed(3);
    let one = store::segment_records(&path)[1];
    let mut b = std::fs::read(&path).unwrap();
    b[one.offset as usize + 200] ^= 0xff;
    std::fs::write(&path, &b).unwrap();
    let row = recover_one(&ctx, row).unwrap();
    assert_eq!(row.state, "damaged");
    assert!(row.reason.as_deref().unwrap().contains("segment 1"), "{:?}", row.reason);
    assert_eq!(std::fs::read(store::damaged_path(&path)).unwrap(), b[one.offset as usize..]);
    assert_eq!(verified(&ctx, &row, &path).segments.len(), 1);
}

#[test]
fn recovery_replaces_a_manifest_the_index_never_saw_and_mends_a_torn_header() {
    let (_tmp, ctx, row, path) = crashed(2);
    let first = recover_one(&ctx, row.clone()).unwrap();
    // The crash came after the close appended its manifest, before the index was updated.
    let again = recover_one(&ctx, row.clone()).unwrap();
    assert_eq!(again.state, "incomplete");
    assert_eq!(again.size_bytes, first.size_bytes, "one manifest, not two");
    verified(&ctx, &again, &path);
    assert!(!store::damaged_path(&path).exists());
    // A crash right after creating the file: the header itself torn.
    std::fs::write(&path, &records::HEADER[..3]).unwrap();
    let empty = recover_one(&ctx, row.clone()).unwrap();
    assert_eq!((empty.state.as_str(), empty.segments), ("incomplete", 0));
    verified(&ctx, &empty, &path);
    // No file at all.
    std::fs::remove_file(&path).unwrap();
    verified(&ctx, &recover_one(&ctx, row).unwrap(), &path);
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
    // The writer starts once its file exists (made on the blocking pool); a bounded wait.
    let path = store::recording_path(tmp.path(), id, 1_798_761_600_000);
    for _ in 0..10_000 {
        if path.exists() {
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
    let (report, _) = store::verify(&path, id, &SegmentKey::new(&keys.segment), &keys.public(), Some(&mut blocks));
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
