//! Recording directories on disk: where a call's files go, writing a sealed segment crash-safely,
//! and checking a directory (every segment, the chain, the signature) with the first bad segment
//! named. Blocking file I/O: the writer calls it from `spawn_blocking`, the CLI directly.
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use super::container::{self, Block, SegmentKey};
use super::manifest::{self, Manifest, SegmentEntry, MANIFEST_FILE, SIGNATURE_FILE};
use super::keys::hex;
use super::RecordingError;

/// Recordings live under this directory of the data directory.
pub const RECORDINGS_DIR: &str = "recordings";

/// A call id made safe as a directory name (ids are ours, but the CLI passes user input).
pub fn safe_id(call_id: &str) -> Option<&str> {
    let ok = !call_id.is_empty()
        && call_id.len() <= 128
        && !call_id.starts_with('.')
        && call_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    ok.then_some(call_id)
}

/// `DATA_DIR/recordings/YYYY/MM/DD/<call-id>` for a recording started at `started_ms` (UTC).
pub fn call_dir(data_dir: &Path, call_id: &str, started_ms: i64) -> PathBuf {
    let (y, m, d) = manifest::civil(started_ms.div_euclid(86_400_000));
    data_dir.join(RECORDINGS_DIR).join(format!("{y:04}")).join(format!("{m:02}")).join(format!("{d:02}")).join(call_id)
}

pub fn segment_name(index: u32) -> String {
    format!("seg-{index:06}.nrs")
}

fn io(path: &Path, e: std::io::Error) -> RecordingError {
    RecordingError::Io { path: path.display().to_string(), source: e }
}

/// How durable a write must be when `write_atomic` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The file is fsynced; the rename is made durable later (with the manifest's directory sync).
    File,
    /// The file and its directory are fsynced (the manifest: the recording is closed for good).
    FileAndDir,
    /// No fsync here: the group syncer (`durable`) syncs the filesystem within a second. Segments.
    Deferred,
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename, so a crash leaves either
/// the whole file or none (the temporary holds the same sealed bytes, never plaintext).
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8], durability: Durability) -> Result<(), RecordingError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io(&tmp, e))?;
    if durability != Durability::Deferred {
        f.sync_all().map_err(|e| io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    match durability {
        Durability::FileAndDir => {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Durability::Deferred => super::durable::defer(dir),
        Durability::File => {}
    }
    Ok(())
}

/// Segment files present in `dir`, by index.
pub fn segment_files(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut out: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let idx = name.strip_prefix("seg-")?.strip_suffix(".nrs")?.parse().ok()?;
            Some((idx, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The intact prefix of a directory's segments (recovery): each opens with the key and chains.
pub fn intact_prefix(dir: &Path, call_id: &str, key: &SegmentKey) -> (Vec<SegmentEntry>, [u8; 32], u64) {
    let mut entries = Vec::new();
    let mut head = manifest::genesis(call_id);
    let mut frames_total = 0u64;
    for (expected, (idx, path)) in segment_files(dir).into_iter().enumerate() {
        if idx != expected as u32 {
            break;
        }
        let Ok(bytes) = std::fs::read(&path) else { break };
        let Ok(block) = container::open(key, call_id, idx, &bytes) else { break };
        let h = manifest::segment_hash(&bytes);
        head = manifest::link(&head, idx, &h);
        frames_total += block.frames() as u64;
        entries.push(SegmentEntry {
            index: idx,
            file: segment_name(idx),
            bytes: bytes.len() as u64,
            frames: block.frames() as u64,
            sha256: hex(&h),
            link: hex(&head),
        });
    }
    (entries, head, frames_total)
}

/// One thing wrong with a recording.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The segment concerned; `None` for the manifest or the whole recording.
    pub segment: Option<u32>,
    pub what: String,
}

/// The outcome of checking a recording.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub call_id: String,
    pub segments: usize,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The first segment named by a problem.
    pub fn first_bad_segment(&self) -> Option<u32> {
        self.problems.iter().find_map(|p| p.segment)
    }

    fn bad(&mut self, segment: Option<u32>, what: impl Into<String>) {
        self.problems.push(Problem { segment, what: what.into() });
    }
}

/// Checks the signature, every listed segment (present, hash, decryption, index, chain link),
/// the chain head, and that no segment file is left unlisted. With `blocks`, the decrypted
/// blocks are handed over in order (export).
pub fn verify(dir: &Path, call_id: &str, key: &SegmentKey, public: &VerifyingKey, mut blocks: Option<&mut Vec<Block>>) -> (Report, Option<Manifest>) {
    let mut r = Report { call_id: call_id.to_owned(), ..Default::default() };
    let body = match std::fs::read(dir.join(MANIFEST_FILE)) {
        Ok(b) => b,
        Err(e) => {
            r.bad(None, format!("{MANIFEST_FILE}: {e}"));
            return (r, None);
        }
    };
    match std::fs::read(dir.join(SIGNATURE_FILE)) {
        Ok(sig) => {
            if let Err(e) = manifest::check_signature(&body, &sig, public) {
                r.bad(None, format!("manifest: {e}"));
            }
        }
        Err(e) => r.bad(None, format!("{SIGNATURE_FILE}: {e}")),
    }
    let m: Manifest = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            r.bad(None, format!("manifest unreadable: {e}"));
            return (r, None);
        }
    };
    if m.call_id != call_id {
        r.bad(None, format!("manifest is for call {}", m.call_id));
    }
    r.segments = m.segments.len();
    let mut head = manifest::genesis(call_id);
    // Indices rise; one may be skipped only where the writer failed (the manifest, signed, says
    // so in `gaps`), never where a file was removed afterwards.
    let mut last: Option<u32> = None;
    for (pos, e) in m.segments.iter().enumerate() {
        let i = e.index;
        if last.is_some_and(|l| i <= l) || e.file != segment_name(i) {
            r.bad(Some(i), format!("manifest lists {} at position {pos}", e.file));
            continue;
        }
        last = Some(i);
        let path = dir.join(&e.file);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(err) => {
                r.bad(Some(i), format!("{}: missing ({err})", e.file));
                continue;
            }
        };
        let h = manifest::segment_hash(&bytes);
        head = manifest::link(&head, i, &manifest::unhex_32(&e.sha256).unwrap_or(h));
        if bytes.len() as u64 != e.bytes {
            r.bad(Some(i), format!("{}: {} bytes, manifest says {} (truncated or replaced)", e.file, bytes.len(), e.bytes));
        } else if hex(&h) != e.sha256 {
            r.bad(Some(i), format!("{}: SHA-256 differs from the manifest (modified or swapped)", e.file));
        }
        if hex(&head) != e.link {
            r.bad(Some(i), format!("{}: chain link differs from the manifest", e.file));
        }
        match container::open(key, call_id, i, &bytes) {
            Ok(b) => {
                if b.frames() as u64 != e.frames {
                    r.bad(Some(i), format!("{}: {} frames, manifest says {}", e.file, b.frames(), e.frames));
                }
                if let Some(out) = blocks.as_deref_mut() {
                    out.push(b);
                }
            }
            Err(err) => r.bad(Some(i), format!("{}: {err}", e.file)),
        }
    }
    if hex(&head) != m.chain_head {
        r.bad(None, "chain head differs from the manifest");
    }
    for (idx, path) in segment_files(dir) {
        if !m.segments.iter().any(|e| e.index == idx) {
            r.bad(Some(idx), format!("{}: not listed in the manifest", path.file_name().and_then(|n| n.to_str()).unwrap_or("?")));
        }
    }
    (r, Some(m))
}

/// A playable WAV (16-bit PCM, two channels) of verified blocks.
pub fn wav(blocks: &[Block], sample_rate: u32) -> Vec<u8> {
    let samples: usize = blocks.iter().map(|b| b.pcm.len()).sum();
    let data_len = (samples * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&(container::CHANNELS as u16).to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2 * container::CHANNELS as u32).to_le_bytes());
    out.extend_from_slice(&(2 * container::CHANNELS as u16).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for b in blocks {
        for s in &b.pcm {
            out.extend_from_slice(&s.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
