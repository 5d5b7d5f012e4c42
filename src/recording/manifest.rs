//! The hash chain over sealed segments and the signed manifest that closes a recording.
//!
//! `segment_hash = SHA-256(sealed segment)` (the encrypted bytes, so anyone holding the public
//! key can check the chain without the segment key) and
//! `link_i = SHA-256(link_{i-1} | i as u32 LE | segment_hash_i)`, starting from
//! `link_{-1} = SHA-256("ncgw-recording-chain-v1\0" | call id)`. The manifest lists every
//! segment's place in the file, hash and link, the chain head and the call's metadata; the
//! signature record after it holds the node's Ed25519 signature over the manifest's exact bytes
//! and, when a timestamping authority is configured, its RFC 3161 token over their SHA-256.
use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::hex;

/// Manifest format: 2 lists segments by their place in the one recording file.
pub const VERSION: u32 = 2;

pub fn genesis(call_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"ncgw-recording-chain-v1\0");
    h.update(call_id.as_bytes());
    h.finalize().into()
}

pub fn segment_hash(file: &[u8]) -> [u8; 32] {
    Sha256::digest(file).into()
}

pub fn link(prev: &[u8; 32], index: u32, segment: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(index.to_le_bytes());
    h.update(segment);
    h.finalize().into()
}

/// A stretch of the timeline where the recorder lost packets (its queue was full).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// "customer" (side A) or "agent" (side B).
    pub track: String,
    /// Offsets from the start of the recording.
    pub from_ms: u64,
    pub to_ms: u64,
    pub packets: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    pub index: u32,
    /// Where the segment's record starts in the recording file.
    pub offset: u64,
    /// Length of the sealed segment (the record's payload).
    pub bytes: u64,
    pub frames: u64,
    pub sha256: String,
    pub link: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// "customer" or "agent".
    pub role: String,
    /// The agent's id, or `hmac-sha256:<hex>` of the customer's number (keyed with the segment key).
    pub id: String,
}

/// What a recording is, as signed by the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub call_id: String,
    /// The node's public key (hex) that signs this manifest.
    pub node_key: String,
    pub participants: Vec<Participant>,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub started_at: String,
    pub ended_at: String,
    pub duration_ms: u64,
    pub sample_rate: u32,
    pub channels: u32,
    /// "customer" is the left channel, "agent" the right.
    pub channel_layout: Vec<String>,
    pub segments: Vec<SegmentEntry>,
    pub chain_head: String,
    pub tags: BTreeMap<String, String>,
    pub gaps: Vec<Gap>,
    pub dropped_packets: u64,
    /// "complete" or "incomplete".
    pub state: String,
    pub reason: Option<String>,
}

/// The signature record's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureFile {
    pub algorithm: String,
    pub public_key: String,
    pub signature: String,
    /// SHA-256 of the manifest's bytes (hex).
    pub manifest_sha256: String,
    /// RFC 3161 TimeStampToken (DER, hex) over `manifest_sha256`, when a TSA is configured.
    pub rfc3161_token: Option<String>,
}

/// The RFC 3161 hook: a timestamping authority's token over the manifest's SHA-256.
/// The node has no TSA client yet; a deployment plugs one in here.
pub trait ManifestTimestamper: Send + Sync {
    /// A DER TimeStampToken, or `None` when the authority could not be reached (the manifest is
    /// still signed by the node).
    fn timestamp(&self, manifest_sha256: &[u8; 32]) -> Option<Vec<u8>>;
}

/// Serialises and signs a manifest: returns the bytes of the manifest and signature records.
pub fn sign(manifest: &Manifest, key: &SigningKey, tsa: Option<&dyn ManifestTimestamper>) -> (Vec<u8>, Vec<u8>) {
    let mut body = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    body.push(b'\n');
    let sig = sign_bytes(&body, key, tsa);
    (body, sig)
}

/// The signature record over `body` (a manifest or an amendment): Ed25519 by the node's key,
/// the body's SHA-256, and the RFC 3161 token over it when a TSA is plugged in.
pub fn sign_bytes(body: &[u8], key: &SigningKey, tsa: Option<&dyn ManifestTimestamper>) -> Vec<u8> {
    let digest: [u8; 32] = Sha256::digest(body).into();
    let signature = key.sign(body);
    let sig = SignatureFile {
        algorithm: "ed25519".into(),
        public_key: hex(key.verifying_key().as_bytes()),
        signature: hex(&signature.to_bytes()),
        manifest_sha256: hex(&digest),
        rfc3161_token: tsa.and_then(|t| t.timestamp(&digest)).map(|t| hex(&t)),
    };
    let mut sig_bytes = serde_json::to_vec_pretty(&sig).unwrap_or_default();
    sig_bytes.push(b'\n');
    sig_bytes
}

/// Why the signature of a manifest or an amendment does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("signature record is unreadable: {0}")]
    Unreadable(String),
    #[error("signed by another key ({0})")]
    OtherKey(String),
    #[error("signature does not match what it signs (edited after signing)")]
    Mismatch,
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// Checks a signature record against the manifest's exact bytes and the node's key.
pub fn check_signature(manifest: &[u8], sig: &[u8], key: &VerifyingKey) -> Result<(), SignatureError> {
    let s: SignatureFile = serde_json::from_slice(sig).map_err(|e| SignatureError::Unreadable(e.to_string()))?;
    if s.public_key != hex(key.as_bytes()) {
        return Err(SignatureError::OtherKey(s.public_key));
    }
    let bytes = unhex(&s.signature).ok_or_else(|| SignatureError::Unreadable("signature is not hex".into()))?;
    let arr: [u8; 64] = bytes.try_into().map_err(|_| SignatureError::Unreadable("signature is not 64 bytes".into()))?;
    key.verify(manifest, &Signature::from_bytes(&arr)).map_err(|_| SignatureError::Mismatch)
}

/// 32 bytes from 64 hex digits.
pub fn unhex_32(s: &str) -> Option<[u8; 32]> {
    unhex(s)?.try_into().ok()
}

/// RFC 3339 UTC (millisecond precision) of a unix time in milliseconds.
pub fn utc(unix_ms: i64) -> String {
    crate::civil_time::utc_ms(unix_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            version: 1,
            call_id: "c1".into(),
            node_key: String::new(),
            participants: vec![Participant { role: "agent".into(), id: "1001".into() }],
            agent: Some("1001".into()),
            queue: Some("sales".into()),
            started_ms: 0,
            ended_ms: 1000,
            started_at: utc(0),
            ended_at: utc(1000),
            duration_ms: 1000,
            sample_rate: 8000,
            channels: 2,
            channel_layout: vec!["customer".into(), "agent".into()],
            segments: Vec::new(),
            chain_head: hex(&genesis("c1")),
            tags: BTreeMap::from([("serial".to_owned(), "B-1".to_owned())]),
            gaps: Vec::new(),
            dropped_packets: 0,
            state: "complete".into(),
            reason: None,
        }
    }

    struct FixedTsa;
    impl ManifestTimestamper for FixedTsa {
        fn timestamp(&self, d: &[u8; 32]) -> Option<Vec<u8>> {
            Some(d[..4].to_vec())
        }
    }

    #[test]
    fn signed_manifest_verifies_and_edits_are_caught() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let (body, sig) = sign(&manifest(), &key, Some(&FixedTsa));
        assert_eq!(check_signature(&body, &sig, &key.verifying_key()), Ok(()));
        let parsed: SignatureFile = serde_json::from_slice(&sig).unwrap();
        assert_eq!(parsed.rfc3161_token.as_deref(), Some(&parsed.manifest_sha256[..8]));
        let edited = String::from_utf8(body.clone()).unwrap().replace("B-1", "B-2");
        assert_eq!(check_signature(edited.as_bytes(), &sig, &key.verifying_key()), Err(SignatureError::Mismatch));
        let other = SigningKey::from_bytes(&[6; 32]).verifying_key();
        assert!(matches!(check_signature(&body, &sig, &other), Err(SignatureError::OtherKey(_))));
        assert!(matches!(check_signature(&body, b"{}", &key.verifying_key()), Err(SignatureError::Unreadable(_))));
    }

    #[test]
    fn chain_depends_on_order_and_content() {
        let (a, b) = (segment_hash(b"one"), segment_hash(b"two"));
        let g = genesis("c");
        let ab = link(&link(&g, 0, &a), 1, &b);
        let ba = link(&link(&g, 0, &b), 1, &a);
        assert_ne!(ab, ba);
        assert_ne!(genesis("c"), genesis("d"));
    }

    #[test]
    fn utc_formats_known_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_798_761_600_123), "2027-01-01T00:00:00.123Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
