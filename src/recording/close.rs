//! Closing a recording: the signed manifest over the chain of written segments appended to the
//! recording file, the index row's final values, and the recovery of a recording a crash left
//! open (blocking file I/O; the writer calls it from the blocking pool).
use std::fs::{File, OpenOptions};
use std::io::Write;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::container::{self, CHANNELS};
use super::keys::hex;
use super::manifest::{self, Gap, Manifest, Participant, SegmentEntry};
use super::mixer::SAMPLE_RATE;
use super::records::{self, Kind, RecordingFile, Scan};
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

/// Appends the signed manifest for `chain` and its signature to the file (one write, one
/// fsync) and returns the row's final values.
pub(super) fn close(ctx: &Context, file: &mut RecordingFile, mut row: RecordingRow, chain: Chain, gaps: Vec<Gap>) -> Result<RecordingRow, RecordingError> {
    let ended = row.ended_at.unwrap_or(row.started_at);
    let m = Manifest {
        version: manifest::VERSION,
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
    let mut out = Vec::with_capacity(body.len() + sig.len() + 2 * records::FRAME);
    records::push_record(&mut out, records::TYPE_MANIFEST, &body);
    records::push_record(&mut out, records::TYPE_SIGNATURE, &sig);
    file.append(&out)?;
    file.sync()?;
    if let Some(dir) = file.path().parent() {
        super::durable::defer(dir);
    }
    row.segments = m.segments.len() as i64;
    row.size_bytes = file.len() as i64;
    row.chain_head = Some(m.chain_head);
    row.manifest_sha256 = Some(hex(&Sha256::digest(&body)));
    Ok(row)
}

fn io(path: &std::path::Path, e: std::io::Error) -> RecordingError {
    RecordingError::Io { path: path.display().to_string(), source: e }
}

/// The intact prefix of a file's segment records (recovery): consecutive indices from 0, each
/// opening with the key; returns the chain and where the prefix ends.
fn intact_prefix(file: &File, scan: &Scan, call_id: &str, ctx: &Context) -> (Chain, u64, u64) {
    let mut chain = Chain { entries: Vec::new(), head: manifest::genesis(call_id), bytes: 0, failed: Vec::new() };
    let mut end = records::HEADER.len() as u64;
    let mut frames_total = 0u64;
    let mut buf = Vec::new();
    for (expected, rec) in scan.records.iter().enumerate() {
        let idx = expected as u32;
        if rec.kind != (Kind::Segment { stream: 0 }) || records::read_payload(file, rec, &mut buf).is_err() {
            break;
        }
        let Ok(block) = container::open(&ctx.key, call_id, idx, &buf) else { break };
        let h = manifest::segment_hash(&buf);
        chain.head = manifest::link(&chain.head, idx, &h);
        chain.bytes += buf.len() as u64;
        frames_total += block.frames() as u64;
        chain.entries.push(SegmentEntry { index: idx, offset: rec.offset, bytes: buf.len() as u64, frames: block.frames() as u64, sha256: hex(&h), link: hex(&chain.head) });
        end = rec.end();
    }
    (chain, end, frames_total)
}

/// Closes a recording a crash left open: the intact segment records are chained and signed; a
/// torn or unreadable tail is copied to `<file>.damaged` (never deleted) and cut off. A last
/// record merely cut short (the append the crash interrupted) leaves the recording `incomplete`
/// like any crash; anything else unreadable makes it `damaged`. A manifest
/// and signature the close had appended before the crash (the index was not updated) are
/// replaced, as the recording is closed again as `node_restart`.
pub(super) fn recover_one(ctx: &Context, mut row: RecordingRow) -> Result<RecordingRow, RecordingError> {
    let path = ctx.data_dir.join(&row.path);
    if !path.exists() {
        // The crash came between creating the row and the file: an empty recording.
        RecordingFile::create(&path)?;
    }
    let file = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| io(&path, e))?;
    let scan = records::scan(&file).map_err(|e| io(&path, e))?;
    let (chain, end, frames) = if scan.header_ok {
        intact_prefix(&file, &scan, &row.call_id, ctx)
    } else {
        (Chain { entries: Vec::new(), head: manifest::genesis(&row.call_id), bytes: 0, failed: Vec::new() }, 0, 0)
    };
    let duration = frames * 1000 / u64::from(SAMPLE_RATE);
    row.duration_ms = Some(duration as i64);
    row.ended_at = Some(row.started_at + duration as i64);
    let tail: Vec<_> = scan.records.iter().filter(|r| r.offset >= end).collect();
    let closed_before = scan.torn.is_none() && tail.len() == 2 && tail[0].kind == Kind::Manifest && tail[1].kind == Kind::Signature;
    // A header cut short by the crash is no damage: nothing followed it.
    let torn_header = !scan.header_ok && records::HEADER.starts_with(&std::fs::read(&path).map_err(|e| io(&path, e))?);
    if scan.size > end && !closed_before && !torn_header {
        let mut bad = vec![0u8; (scan.size - end) as usize];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut bad, end).map_err(|e| io(&path, e))?;
        let aside = store::damaged_path(&path);
        let mut d = OpenOptions::new().create(true).append(true).open(&aside).map_err(|e| io(&aside, e))?;
        d.write_all(&bad).and_then(|()| d.sync_all()).map_err(|e| io(&aside, e))?;
        let aside_name = aside.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
        // Only the last append cut short by the kill (a write interrupted by SIGKILL or power
        // loss), nothing after it: the intact prefix is the whole recording up to the crash.
        let cut_short = tail.is_empty() && scan.torn.is_some_and(|t| t.offset == end);
        if cut_short {
            tracing::info!(call = %row.call_id, aside = %aside_name, "the last segment's write was cut short by the crash; its bytes are set aside");
            row.state = "incomplete".into();
            row.reason = Some("node_restart".into());
        } else {
            row.state = "damaged".into();
            row.reason = Some(format!("node_restart; segment {} unreadable (set aside in {aside_name})", chain.entries.len()));
        }
    } else {
        row.state = "incomplete".into();
        row.reason = Some("node_restart".into());
    }
    file.set_len(end).map_err(|e| io(&path, e))?;
    if end == 0 {
        (&file).write_all(records::HEADER).map_err(|e| io(&path, e))?;
    }
    drop(file);
    let mut rec = RecordingFile::reopen(&path, end.max(records::HEADER.len() as u64))?;
    let gaps = row.gaps.iter().filter_map(|g| serde_json::from_value(g.clone()).ok()).collect();
    close(ctx, &mut rec, row, chain, gaps)
}
