//! Tamper tests: each kind of change to a closed recording file is detected and the right
//! segment named.
use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;

use super::*;
use crate::recording::container::Block;
use crate::recording::manifest::{Manifest, SegmentEntry};
use crate::recording::records::{RecordingFile, FRAME, HEADER, TYPE_MANIFEST, TYPE_SEGMENT, TYPE_SIGNATURE};

pub(crate) const CALL: &str = "c0000000000ab";

pub(crate) struct Fixture {
    _tmp: tempfile::TempDir,
    pub(crate) path: PathBuf,
    pub(crate) key: SegmentKey,
    pub(crate) signing: SigningKey,
}

fn block(i: u32) -> Block {
    Block { index: i, sample_rate: 8000, start_sample: u64::from(i) * 8000, pcm: vec![i as i16 + 1; 16000], raw: Vec::new() }
}

/// A signed recording file of `n` one-second segments.
pub(crate) fn recording(n: u32) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let path = recording_path(tmp.path(), CALL, 0);
    let mut file = RecordingFile::create(&path).unwrap();
    let key = SegmentKey::new(&[3; 32]);
    let signing = SigningKey::from_bytes(&[4; 32]);
    let mut head = manifest::genesis(CALL);
    let mut segments = Vec::new();
    for i in 0..n {
        let sealed = container::seal(&key, CALL, [9; 8], &block(i));
        let mut rec = Vec::new();
        records::push_record(&mut rec, TYPE_SEGMENT, &sealed);
        let offset = file.append(&rec).unwrap();
        let h = manifest::segment_hash(&sealed);
        head = manifest::link(&head, i, &h);
        segments.push(SegmentEntry { index: i, offset, bytes: sealed.len() as u64, frames: 8000, sha256: hex(&h), link: hex(&head) });
    }
    let m = Manifest {
        version: manifest::VERSION,
        call_id: CALL.into(),
        node_key: hex(signing.verifying_key().as_bytes()),
        participants: Vec::new(),
        agent: None,
        queue: None,
        started_ms: 0,
        ended_ms: i64::from(n) * 1000,
        started_at: manifest::utc(0),
        ended_at: manifest::utc(i64::from(n) * 1000),
        duration_ms: u64::from(n) * 1000,
        sample_rate: 8000,
        channels: 2,
        channel_layout: vec!["customer".into(), "agent".into()],
        segments,
        chain_head: hex(&head),
        tags: BTreeMap::new(),
        gaps: Vec::new(),
        dropped_packets: 0,
        state: "complete".into(),
        reason: None,
    };
    let (body, sig) = manifest::sign(&m, &signing, None);
    let mut tail = Vec::new();
    records::push_record(&mut tail, TYPE_MANIFEST, &body);
    records::push_record(&mut tail, TYPE_SIGNATURE, &sig);
    file.append(&tail).unwrap();
    file.sync().unwrap();
    Fixture { _tmp: tmp, path, key, signing }
}

pub(crate) fn check(f: &Fixture) -> Report {
    verify(&f.path, CALL, &f.key, &f.signing.verifying_key(), None).0
}

fn bytes(f: &Fixture) -> Vec<u8> {
    std::fs::read(&f.path).unwrap()
}

/// The byte range of segment `i`'s whole record (frame and payload).
fn seg(f: &Fixture, i: u32) -> std::ops::Range<usize> {
    let r = segment_records(&f.path).into_iter().find(|r| r.segment == Some(i)).expect("segment record");
    r.offset as usize..r.end() as usize
}

#[test]
fn intact_recording_verifies_and_exports() {
    let f = recording(3);
    let mut blocks = Vec::new();
    let (r, m) = verify(&f.path, CALL, &f.key, &f.signing.verifying_key(), Some(&mut blocks));
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(m.unwrap().segments.len(), 3);
    assert!(r.manifest_sha256.is_some());
    let w = wav(&blocks, 8000);
    assert_eq!(&w[..4], b"RIFF");
    assert_eq!(w.len(), 44 + 3 * 8000 * 4);
    assert_eq!(i16::from_le_bytes([w[44 + 8000 * 4], w[45 + 8000 * 4]]), 2, "second segment follows the first");
    // One file, no directory per call.
    let day = f.path.parent().unwrap();
    assert_eq!(std::fs::read_dir(day).unwrap().count(), 1);
    assert!(std::fs::read_dir(day).unwrap().all(|e| e.unwrap().path().is_file()));
}

#[test]
fn flipped_byte_names_the_segment() {
    let f = recording(4);
    let mut b = bytes(&f);
    let r = seg(&f, 2);
    b[r.start + 500] ^= 0x01;
    std::fs::write(&f.path, b).unwrap();
    let r = check(&f);
    assert_eq!(r.first_bad_segment(), Some(2), "{:?}", r.problems);
    assert!(r.problems[0].what.contains("SHA-256"), "{:?}", r.problems);
    assert!(r.problems.iter().all(|p| p.segment == Some(2)), "{:?}", r.problems);
}

#[test]
fn deleted_segment_record_is_named() {
    let f = recording(4);
    let mut b = bytes(&f);
    b.drain(seg(&f, 1));
    std::fs::write(&f.path, b).unwrap();
    let r = check(&f);
    assert_eq!(r.first_bad_segment(), Some(1), "{:?}", r.problems);
    assert!(r.problems[0].what.contains("deleted"), "{:?}", r.problems);
}

#[test]
fn swapped_segment_records_are_named() {
    let f = recording(4);
    let b = bytes(&f);
    let (one, three) = (seg(&f, 1), seg(&f, 3));
    let mut swapped = b[..one.start].to_vec();
    swapped.extend_from_slice(&b[three.clone()]);
    swapped.extend_from_slice(&b[one.end..three.start]);
    swapped.extend_from_slice(&b[one.clone()]);
    swapped.extend_from_slice(&b[three.end..]);
    std::fs::write(&f.path, swapped).unwrap();
    let r = check(&f);
    assert_eq!(r.first_bad_segment(), Some(1), "{:?}", r.problems);
    assert!(r.problems[0].what.contains("swapped"), "{:?}", r.problems);
    assert!(r.problems.iter().any(|p| p.segment == Some(3)));
    assert!(!r.problems.iter().any(|p| p.segment == Some(2)), "segment 2 stayed in place: {:?}", r.problems);
}

#[test]
fn truncated_file_names_the_cut_segment() {
    let f = recording(3);
    let b = bytes(&f);
    // Inside segment 2's record: the torn record is named.
    let two = seg(&f, 2);
    std::fs::write(&f.path, &b[..two.start + 40]).unwrap();
    let r = check(&f);
    assert_eq!(r.first_bad_segment(), Some(2), "{:?}", r.problems);
    assert!(r.problems[0].what.contains("truncated"), "{:?}", r.problems);
    // Inside the segment's frame: no index readable, the next one after the whole records.
    std::fs::write(&f.path, &b[..two.start + 3]).unwrap();
    assert_eq!(check(&f).first_bad_segment(), Some(2));
    // Exactly after segment 1's record: the manifest is gone; the index's count names segment 2.
    std::fs::write(&f.path, &b[..two.start]).unwrap();
    let mut r = check(&f);
    assert!(!r.ok());
    assert_eq!(r.first_bad_segment(), None);
    r.expect_segments(3);
    assert_eq!(r.first_bad_segment(), Some(2), "{:?}", r.problems);
    // Inside the signature: the manifest no longer verifies, no segment is blamed.
    std::fs::write(&f.path, &b[..b.len() - 10]).unwrap();
    let r = check(&f);
    assert!(!r.ok());
    assert_eq!(r.first_bad_segment(), None, "{:?}", r.problems);
    assert!(r.problems.iter().any(|p| p.what.contains("cut short")), "{:?}", r.problems);
}

#[test]
fn edited_manifest_fails_the_signature() {
    let f = recording(2);
    let mut b = bytes(&f);
    let (from, to) = (b"\"duration_ms\": 2000", b"\"duration_ms\": 1000");
    let at = b.windows(from.len()).position(|w| w == from).expect("duration in the manifest record");
    b[at..at + to.len()].copy_from_slice(to);
    std::fs::write(&f.path, b).unwrap();
    let r = check(&f);
    assert!(!r.ok());
    assert!(r.problems[0].what.contains("edited after signing"), "{:?}", r.problems);
    assert_eq!(r.first_bad_segment(), None);
}

#[test]
fn edited_manifest_of_another_length_with_its_frame_fixed_fails_the_signature() {
    let f = recording(2);
    let b = bytes(&f);
    let s = records::scan(&std::fs::File::open(&f.path).unwrap()).unwrap();
    let m = s.records.iter().find(|r| r.kind == records::Kind::Manifest).unwrap();
    let body = String::from_utf8(b[m.offset as usize + FRAME..m.end() as usize].to_vec()).unwrap();
    let forged = body.replace("\"complete\"", "\"complete and approved\"");
    let mut out = b[..m.offset as usize].to_vec();
    records::push_record(&mut out, TYPE_MANIFEST, forged.as_bytes());
    out.extend_from_slice(&b[m.end() as usize..]);
    std::fs::write(&f.path, out).unwrap();
    let r = check(&f);
    assert!(r.problems.iter().any(|p| p.what.contains("edited after signing")), "{:?}", r.problems);
}

#[test]
fn unlisted_segment_record_or_missing_signature_is_caught() {
    let f = recording(3);
    let b = bytes(&f);
    // A genuinely sealed segment 3 slipped in before the manifest (a manifest entry dropped).
    let manifest_at = seg(&f, 2).end;
    let mut out = b[..manifest_at].to_vec();
    records::push_record(&mut out, TYPE_SEGMENT, &container::seal(&f.key, CALL, [9; 8], &block(3)));
    out.extend_from_slice(&b[manifest_at..]);
    std::fs::write(&f.path, &out).unwrap();
    let r = check(&f);
    assert_eq!(r.first_bad_segment(), Some(3), "{:?}", r.problems);
    assert!(r.problems[0].what.contains("not listed"), "{:?}", r.problems);
    // Without its signature record the manifest proves nothing.
    let s = records::scan(&std::fs::File::open(&f.path).unwrap()).unwrap();
    let sig = s.records.last().unwrap();
    std::fs::write(&f.path, &out[..sig.offset as usize]).unwrap();
    let r = check(&f);
    assert!(r.problems.iter().any(|p| p.what.contains("no signature")), "{:?}", r.problems);
}

#[test]
fn unknown_records_and_foreign_files_are_reported() {
    let f = recording(1);
    let mut b = bytes(&f);
    let one = seg(&f, 0);
    b[one.start] = 0x40;
    std::fs::write(&f.path, &b).unwrap();
    let r = check(&f);
    assert!(r.problems.iter().any(|p| p.what.contains("0x40")), "{:?}", r.problems);
    assert_eq!(r.first_bad_segment(), Some(0));
    std::fs::write(&f.path, b"RIFF....").unwrap();
    assert!(check(&f).problems[0].what.contains("not a recording file"));
    std::fs::remove_file(&f.path).unwrap();
    assert!(!check(&f).ok());
}

#[test]
fn wrong_key_is_reported_per_segment() {
    let f = recording(2);
    let r = verify(&f.path, CALL, &SegmentKey::new(&[0; 32]), &f.signing.verifying_key(), None).0;
    assert_eq!(r.first_bad_segment(), Some(0));
    assert!(r.problems[0].what.contains("decryption failed"));
}

#[test]
fn call_ids_are_checked_and_dated_files_named() {
    assert!(safe_id("c0123abc").is_some());
    assert!(safe_id("../x").is_none());
    assert!(safe_id("").is_none());
    let p = recording_path(Path::new("/d"), "c1", 1_798_761_600_000);
    assert_eq!(p, Path::new("/d/recordings/2027/01/01/c1.nrec"));
    assert_eq!(damaged_path(&p), Path::new("/d/recordings/2027/01/01/c1.nrec.damaged"));
    assert_eq!(HEADER.len(), 8);
}
