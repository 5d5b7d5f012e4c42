//! Signed amendments: business tags attached to a recording after it was closed. The manifest
//! is signed once, at the end of the call; a later `POST /api/v1/calls/{id}/tags` appends an
//! amendment record (the tags, who and when, and the SHA-256 of the manifest it amends) and its
//! signature record to the recording file, signed with the node's key like the manifest. Verify
//! checks each one: its signature, that it amends this file's manifest, and its call id.
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::hex;
use super::manifest::{self, ManifestTimestamper};
use super::records::{self, Kind, Record, Scan, TYPE_AMENDMENT, TYPE_AMENDMENT_SIGNATURE};
use super::store::Report;
use super::RecordingError;

/// One amendment record's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amendment {
    pub version: u32,
    /// What is amended; `tags` is the only kind.
    pub kind: String,
    pub call_id: String,
    /// SHA-256 (hex) of the manifest record this amends.
    pub amends_manifest_sha256: String,
    pub at_ms: i64,
    /// `at_ms` as RFC 3339 UTC.
    pub at: String,
    /// Who attached the tags (the operator named to the admin API).
    pub by: String,
    pub tags: BTreeMap<String, String>,
}

fn io(path: &Path, e: std::io::Error) -> RecordingError {
    RecordingError::Io { path: path.display().to_string(), source: e }
}

fn not_closed(path: &Path, why: &'static str) -> RecordingError {
    RecordingError::NotClosed { path: path.display().to_string(), why }
}

/// SHA-256 of the (first) manifest record's payload.
fn manifest_digest(file: &File, scan: &Scan) -> std::io::Result<Option<[u8; 32]>> {
    let Some(m) = scan.records.iter().find(|r| r.kind == Kind::Manifest) else { return Ok(None) };
    let mut body = Vec::new();
    records::read_payload(file, m, &mut body)?;
    Ok(Some(Sha256::digest(&body).into()))
}

/// Appends a signed tags amendment to the closed recording at `path` (blocking: one write and
/// one fsync). Refused for a file that has no manifest yet or ends in a torn record.
#[allow(clippy::too_many_arguments)]
pub fn amend_tags(path: &Path, call_id: &str, tags: &BTreeMap<String, String>, by: &str, at_ms: i64, key: &SigningKey, tsa: Option<&dyn ManifestTimestamper>) -> Result<Amendment, RecordingError> {
    let mut file = OpenOptions::new().read(true).append(true).open(path).map_err(|e| io(path, e))?;
    let scan = records::scan(&file).map_err(|e| io(path, e))?;
    if !scan.header_ok || scan.torn.is_some() {
        return Err(not_closed(path, "the recording file is damaged; tags stay in the index only"));
    }
    let digest = manifest_digest(&file, &scan).map_err(|e| io(path, e))?.ok_or_else(|| not_closed(path, "the recording has no manifest yet"))?;
    let a = Amendment {
        version: 1,
        kind: "tags".into(),
        call_id: call_id.to_owned(),
        amends_manifest_sha256: hex(&digest),
        at_ms,
        at: manifest::utc(at_ms),
        by: by.to_owned(),
        tags: tags.clone(),
    };
    let mut body = serde_json::to_vec_pretty(&a).unwrap_or_default();
    body.push(b'\n');
    let sig = manifest::sign_bytes(&body, key, tsa);
    let mut out = Vec::with_capacity(body.len() + sig.len() + 2 * records::FRAME);
    records::push_record(&mut out, TYPE_AMENDMENT, &body);
    records::push_record(&mut out, TYPE_AMENDMENT_SIGNATURE, &sig);
    file.write_all(&out).map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))?;
    Ok(a)
}

/// Checks the amendments after the signature record at `after` (its index in `scan.records`):
/// each an amendment record followed by its signature, signed by `public`, amending
/// `manifest_sha256` of `call_id`. Problems go into `r`; the valid amendments are returned.
pub fn check(file: &File, scan: &Scan, after: usize, manifest_sha256: &str, call_id: &str, public: &VerifyingKey, r: &mut Report) -> Vec<Amendment> {
    let mut out = Vec::new();
    let rest: Vec<&Record> = scan.records.iter().skip(after + 1).collect();
    let mut k = 0;
    while k < rest.len() {
        let rec = rest[k];
        let n = out.len() + 1;
        if rec.kind != Kind::Amendment {
            r.bad(None, format!("record at byte {} after the signature is not an amendment", rec.offset));
            k += 1;
            continue;
        }
        let sig = rest.get(k + 1).filter(|s| s.kind == Kind::AmendmentSignature);
        k += if sig.is_some() { 2 } else { 1 };
        let (mut body, mut sig_bytes) = (Vec::new(), Vec::new());
        let read = records::read_payload(file, rec, &mut body).and_then(|()| match sig {
            Some(s) => records::read_payload(file, s, &mut sig_bytes),
            None => Ok(()),
        });
        if let Err(e) = read {
            r.bad(None, format!("amendment {n} at byte {}: unreadable ({e})", rec.offset));
            continue;
        }
        if sig.is_none() {
            r.bad(None, format!("amendment {n} at byte {}: no signature record after it", rec.offset));
            continue;
        }
        if let Err(e) = manifest::check_signature(&body, &sig_bytes, public) {
            r.bad(None, format!("amendment {n} at byte {}: {e}", rec.offset));
            continue;
        }
        match serde_json::from_slice::<Amendment>(&body) {
            Ok(a) if a.amends_manifest_sha256 != manifest_sha256 => r.bad(None, format!("amendment {n}: amends another manifest ({})", a.amends_manifest_sha256)),
            Ok(a) if a.call_id != call_id => r.bad(None, format!("amendment {n}: is for call {}", a.call_id)),
            Ok(a) => out.push(a),
            Err(e) => r.bad(None, format!("amendment {n}: unreadable ({e})")),
        }
    }
    out
}

#[cfg(test)]
#[path = "amend_tests.rs"]
mod tests;
