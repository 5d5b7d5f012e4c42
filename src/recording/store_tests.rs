//! Tamper tests: each kind of change to a closed recording is detected and the right segment named.
use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;

use super::*;
use crate::recording::container::Block;
use crate::recording::manifest::{Manifest, SegmentEntry};

const CALL: &str = "c0000000000ab";

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    key: SegmentKey,
    signing: SigningKey,
}

/// A signed recording of `n` one-second segments.
fn recording(n: u32) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    std::fs::create_dir_all(&dir).unwrap();
    let key = SegmentKey::new(&[3; 32]);
    let signing = SigningKey::from_bytes(&[4; 32]);
    let mut head = manifest::genesis(CALL);
    let mut segments = Vec::new();
    for i in 0..n {
        let block = Block { index: i, sample_rate: 8000, start_sample: u64::from(i) * 8000, pcm: vec![i as i16 + 1; 16000], raw: Vec::new() };
        let file = container::seal(&key, CALL, [9; 8], &block);
        write_atomic(&dir, &segment_name(i), &file, Durability::Deferred).unwrap();
        let h = manifest::segment_hash(&file);
        head = manifest::link(&head, i, &h);
        segments.push(SegmentEntry { index: i, file: segment_name(i), bytes: file.len() as u64, frames: 8000, sha256: hex(&h), link: hex(&head) });
    }
    let m = Manifest {
        version: 1,
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
    write_atomic(&dir, MANIFEST_FILE, &body, Durability::FileAndDir).unwrap();
    write_atomic(&dir, SIGNATURE_FILE, &sig, Durability::File).unwrap();
    Fixture { _tmp: tmp, dir, key, signing }
}

fn check(f: &Fixture) -> Report {
    verify(&f.dir, CALL, &f.key, &f.signing.verifying_key(), None).0
}

fn seg(f: &Fixture, i: u32) -> PathBuf {
    f.dir.join(segment_name(i))
}

#[test]
fn intact_recording_verifies_and_exports() {
    let f = recording(3);
    let mut blocks = Vec::new();
    let (r, m) = verify(&f.dir, CALL, &f.key, &f.signing.verifying_key(), Some(&mut blocks));
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(m.unwrap().segments.len(), 3);
    let w = wav(&blocks, 8000);
    assert_eq!(&w[..4], b"RIFF");
    assert_eq!(w.len(), 44 + 3 * 8000 * 4);
    assert_eq!(i16::from_le_bytes([w[44 + 8000 * 4], w[45 + 8000 * 4]]), 2, "second segment follows the first");
}

#[test]
fn flipped_byte_names_the_segment() {
    let f = recording(4);
    let mut b = std::fs::read(seg(&f, 2)).unwrap();
    b[500] ^= 0x01;
    std::fs::write(seg(&f, 2), b).unwrap();
    let r = check(&f);
    assert_eq!(r.first_bad_segment(), Some(2), "{:?}", r.problems);
    assert!(r.problems[0].what.contains("SHA-256"), "{:?}", r.problems);
}

#[test]
fn deleted_segment_is_named() {
    let f = recording(4);
    std::fs::remove_file(seg(&f, 1)).unwrap();
    let r = check(&f);
    assert_eq!(r.first_bad_segment(), Some(1));
    assert!(r.problems[0].what.contains("missing"), "{:?}", r.problems);
}

#[test]
fn swapped_segments_are_named() {
    let f = recording(4);
    let (a, b) = (std::fs::read(seg(&f, 1)).unwrap(), std::fs::read(seg(&f, 3)).unwrap());
    std::fs::write(seg(&f, 1), b).unwrap();
    std::fs::write(seg(&f, 3), a).unwrap();
    let r = check(&f);
    assert_eq!(r.first_bad_segment(), Some(1), "{:?}", r.problems);
    assert!(r.problems.iter().any(|p| p.segment == Some(3)));
}

#[test]
fn truncated_segment_is_named() {
    let f = recording(3);
    let b = std::fs::read(seg(&f, 2)).unwrap();
    std::fs::write(seg(&f, 2), &b[..b.len() / 2]).unwrap();
    let r = check(&f);
    assert_eq!(r.first_bad_segment(), Some(2));
    assert!(r.problems[0].what.contains("truncated"), "{:?}", r.problems);
}

#[test]
fn edited_manifest_fails_the_signature() {
    let f = recording(2);
    let text = std::fs::read_to_string(f.dir.join(MANIFEST_FILE)).unwrap();
    std::fs::write(f.dir.join(MANIFEST_FILE), text.replace("\"duration_ms\": 2000", "\"duration_ms\": 1000")).unwrap();
    let r = check(&f);
    assert!(!r.ok());
    assert!(r.problems[0].what.contains("manifest was edited"), "{:?}", r.problems);
    assert_eq!(r.first_bad_segment(), None);
}

#[test]
fn dropped_manifest_entry_or_extra_file_is_caught() {
    let f = recording(3);
    std::fs::copy(seg(&f, 2), seg(&f, 3)).unwrap();
    let r = check(&f);
    assert_eq!(r.first_bad_segment(), Some(3));
    assert!(r.problems[0].what.contains("not listed"), "{:?}", r.problems);
    std::fs::remove_file(f.dir.join(SIGNATURE_FILE)).unwrap();
    assert!(!check(&f).ok());
}

#[test]
fn wrong_key_is_reported_per_segment() {
    let f = recording(2);
    let r = verify(&f.dir, CALL, &SegmentKey::new(&[0; 32]), &f.signing.verifying_key(), None).0;
    assert_eq!(r.first_bad_segment(), Some(0));
    assert!(r.problems[0].what.contains("decryption failed"));
}

#[test]
fn intact_prefix_stops_at_the_first_bad_segment() {
    let f = recording(4);
    std::fs::write(seg(&f, 2), b"torn").unwrap();
    let (entries, head, frames) = intact_prefix(&f.dir, CALL, &f.key);
    assert_eq!(entries.len(), 2);
    assert_eq!(frames, 16000);
    assert_eq!(hex(&head), entries[1].link);
}

#[test]
fn call_ids_are_checked_and_dated_directories_built() {
    assert!(safe_id("c0123abc").is_some());
    assert!(safe_id("../x").is_none());
    assert!(safe_id("").is_none());
    let d = call_dir(Path::new("/d"), "c1", 1_798_761_600_000);
    assert_eq!(d, Path::new("/d/recordings/2027/01/01/c1"));
}
