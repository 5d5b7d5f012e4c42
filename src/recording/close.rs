//! Closing a recording: the signed manifest over the chain of written segments, the index row's
//! final values, and the recovery of a recording a crash left open (blocking file I/O; the
//! writer calls it from the blocking pool).
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::container::CHANNELS;
use super::keys::hex;
use super::manifest::{self, Gap, Manifest, Participant, SegmentEntry};
use super::mixer::SAMPLE_RATE;
use super::store;
use super::writer::Context;
use super::RecordingError;
use crate::storage::RecordingRow;

/// The chain so far.
pub(super) struct Chain {
    pub(super) entries: Vec<SegmentEntry>,
    pub(super) head: [u8; 32],
    pub(super) bytes: u64,
    /// Segments that could not be written (disk full, I/O error): index and timeline position.
    pub(super) failed: Vec<(u32, u64, u64)>,
}

/// Participants with the customer's number keyed-hashed (HMAC-SHA-256 with the segment key).
pub(super) fn participants(secret: &[u8; 32], caller: &str, agent: Option<&str>) -> Vec<serde_json::Value> {
    let mut out = vec![serde_json::json!({ "role": "customer", "id": customer_hash(secret, caller) })];
    if let Some(a) = agent {
        out.push(serde_json::json!({ "role": "agent", "id": a }));
    }
    out
}

pub fn customer_hash(secret: &[u8; 32], number: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return String::new() };
    mac.update(b"customer\0");
    mac.update(number.as_bytes());
    format!("hmac-sha256:{}", hex(&mac.finalize().into_bytes()))
}

/// Writes the signed manifest for `chain` and returns the row's final values.
pub(super) fn close(ctx: &Context, dir: &Path, mut row: RecordingRow, chain: Chain, gaps: Vec<Gap>) -> Result<RecordingRow, RecordingError> {
    let ended = row.ended_at.unwrap_or(row.started_at);
    let m = Manifest {
        version: 1,
        call_id: row.call_id.clone(),
        node_key: hex(ctx.signing.verifying_key().as_bytes()),
        participants: row
            .participants
            .iter()
            .map(|p| Participant { role: p["role"].as_str().unwrap_or("").into(), id: p["id"].as_str().unwrap_or("").into() })
            .collect(),
        agent: row.agent.clone(),
        queue: row.queue.clone(),
        started_ms: row.started_at,
        ended_ms: ended,
        started_at: manifest::utc(row.started_at),
        ended_at: manifest::utc(ended),
        duration_ms: row.duration_ms.unwrap_or(0).max(0) as u64,
        sample_rate: SAMPLE_RATE,
        channels: CHANNELS as u32,
        channel_layout: vec!["customer".into(), "agent".into()],
        segments: chain.entries,
        chain_head: hex(&chain.head),
        tags: row.tags.clone(),
        gaps,
        dropped_packets: row.dropped_packets.max(0) as u64,
        state: row.state.clone(),
        reason: row.reason.clone(),
    };
    let (body, sig) = manifest::sign(&m, &ctx.signing, ctx.tsa.as_deref());
    store::write_atomic(dir, manifest::SIGNATURE_FILE, &sig, store::Durability::File)?;
    store::write_atomic(dir, manifest::MANIFEST_FILE, &body, store::Durability::FileAndDir)?;
    row.segments = m.segments.len() as i64;
    row.size_bytes = (chain.bytes + body.len() as u64 + sig.len() as u64) as i64;
    row.chain_head = Some(m.chain_head);
    row.manifest_sha256 = Some(hex(&Sha256::digest(&body)));
    Ok(row)
}

pub(super) fn recover_one(ctx: &Context, mut row: RecordingRow) -> Result<RecordingRow, RecordingError> {
    let dir = ctx.data_dir.join(&row.path);
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let (entries, head, frames) = store::intact_prefix(&dir, &row.call_id, &ctx.key);
    let present = store::segment_files(&dir).len();
    let duration = frames * 1000 / u64::from(SAMPLE_RATE);
    row.duration_ms = Some(duration as i64);
    row.ended_at = Some(row.started_at + duration as i64);
    if present > entries.len() {
        // Unreadable segments past the intact prefix are set aside, not deleted.
        for (idx, path) in store::segment_files(&dir).into_iter().skip(entries.len()) {
            let _ = std::fs::rename(&path, dir.join(format!("{}.damaged", store::segment_name(idx))));
        }
        row.state = "damaged".into();
        row.reason = Some(format!("node_restart; segment {} unreadable", entries.len()));
    } else {
        row.state = "incomplete".into();
        row.reason = Some("node_restart".into());
    }
    let bytes = entries.iter().map(|e| e.bytes).sum();
    let gaps = row.gaps.iter().filter_map(|g| serde_json::from_value(g.clone()).ok()).collect();
    close(ctx, &dir, row, Chain { entries, head, bytes, failed: Vec::new() }, gaps)
}
