//! Amendments: appended, signed, checked by verify; an edited or foreign one is reported.
use std::collections::BTreeMap;

use super::*;
use crate::recording::store::tests::{check, recording, CALL};

fn tags(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn tags_after_the_close_are_signed_and_verified() {
    let f = recording(2);
    let a = amend_tags(&f.path, CALL, &tags(&[("business_serial", "BX-1"), ("consent", "verbal")]), "ops-7", 1_798_761_600_000, &f.signing, None).unwrap();
    let b = amend_tags(&f.path, CALL, &tags(&[("business_type", "loan")]), "ops-8", 1_798_761_601_000, &f.signing, None).unwrap();
    let r = check(&f);
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(r.amendments, vec![a.clone(), b]);
    assert_eq!(Some(a.amends_manifest_sha256.as_str()), r.manifest_sha256.as_deref());
    assert_eq!((a.by.as_str(), a.at.as_str()), ("ops-7", "2027-01-01T00:00:00.000Z"));
}

#[test]
fn an_edited_amendment_fails_its_signature() {
    let f = recording(2);
    amend_tags(&f.path, CALL, &tags(&[("business_type", "loan")]), "ops-7", 1, &f.signing, None).unwrap();
    let text = std::fs::read(&f.path).unwrap();
    let at = text.windows(4).position(|w| w == b"loan").expect("the tag in the file");
    let mut edited = text.clone();
    edited[at..at + 4].copy_from_slice(b"card");
    std::fs::write(&f.path, edited).unwrap();
    let r = check(&f);
    assert!(r.amendments.is_empty());
    assert!(r.problems.iter().any(|p| p.what.starts_with("amendment 1") && p.what.contains("edited after signing")), "{:?}", r.problems);
    assert_eq!(r.first_bad_segment(), None, "no segment is concerned");
}

#[test]
fn an_amendment_of_another_manifest_or_without_signature_is_reported() {
    let f = recording(1);
    let body = serde_json::to_vec(&Amendment {
        version: 1,
        kind: "tags".into(),
        call_id: CALL.into(),
        amends_manifest_sha256: "00".repeat(32),
        at_ms: 0,
        at: manifest::utc(0),
        by: "x".into(),
        tags: tags(&[("k", "v")]),
    })
    .unwrap();
    let sig = manifest::sign_bytes(&body, &f.signing, None);
    let mut out = Vec::new();
    records::push_record(&mut out, TYPE_AMENDMENT, &body);
    records::push_record(&mut out, TYPE_AMENDMENT_SIGNATURE, &sig);
    records::push_record(&mut out, TYPE_AMENDMENT, &body);
    let mut file = OpenOptions::new().append(true).open(&f.path).unwrap();
    file.write_all(&out).unwrap();
    let r = check(&f);
    assert!(r.problems.iter().any(|p| p.what.contains("amends another manifest")), "{:?}", r.problems);
    assert!(r.problems.iter().any(|p| p.what.contains("amendment 1") && p.what.contains("no signature")), "{:?}", r.problems);
}

#[test]
fn an_open_or_damaged_recording_is_not_amended() {
    let tmp = tempfile::tempdir().unwrap();
    let path = crate::recording::store::recording_path(tmp.path(), CALL, 0);
    let file = records::RecordingFile::create(&path).unwrap();
    file.sync().unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
    let e = amend_tags(&path, CALL, &tags(&[("k", "v")]), "x", 0, &key, None).unwrap_err();
    assert_eq!(e.cause_code(), "recording.not_closed", "no manifest yet: {e}");
    let f = recording(1);
    let mut b = std::fs::read(&f.path).unwrap();
    b.truncate(b.len() - 3);
    std::fs::write(&f.path, b).unwrap();
    let e = amend_tags(&f.path, CALL, &tags(&[("k", "v")]), "x", 0, &f.signing, None).unwrap_err();
    assert_eq!(e.cause_code(), "recording.not_closed", "torn: {e}");
}
