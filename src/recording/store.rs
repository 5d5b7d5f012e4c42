//! Recording files on disk: where a call's file goes, and checking one (the signature, every
//! segment, the chain, records the manifest does not list, a truncated end) with the first bad
//! segment named. Blocking file I/O: the writer calls it from `spawn_blocking`, the CLI directly.
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use super::container::{self, Block, SegmentKey};
use super::keys::hex;
use super::manifest::{self, Manifest};
use super::records::{self, Kind, Record, Scan};

/// Recordings live under this directory of the data directory.
pub const RECORDINGS_DIR: &str = "recordings";

/// A call id made safe as a file name (ids are ours, but the CLI passes user input).
pub fn safe_id(call_id: &str) -> Option<&str> {
    let ok = !call_id.is_empty()
        && call_id.len() <= 128
        && !call_id.starts_with('.')
        && call_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    ok.then_some(call_id)
}

/// `DATA_DIR/recordings/YYYY/MM/DD/<call-id>.nrec` for a recording started at `started_ms` (UTC).
pub fn recording_path(data_dir: &Path, call_id: &str, started_ms: i64) -> PathBuf {
    let (y, m, d) = crate::civil_time::civil(started_ms.div_euclid(86_400_000));
    let day = data_dir.join(RECORDINGS_DIR).join(format!("{y:04}")).join(format!("{m:02}")).join(format!("{d:02}"));
    day.join(format!("{call_id}.{}", records::EXTENSION))
}

/// Where recovery sets aside the unreadable tail of `path`.
pub fn damaged_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".damaged");
    path.with_file_name(name)
}

/// The segment records of the file at `path`, in file order (empty when unreadable).
pub fn segment_records(path: &Path) -> Vec<Record> {
    File::open(path).and_then(|f| records::scan(&f)).map(|s| s.segments().copied().collect()).unwrap_or_default()
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
    /// Segments the manifest lists.
    pub segments: usize,
    pub problems: Vec<Problem>,
    /// SHA-256 of the manifest record (hex), when there is one.
    pub manifest_sha256: Option<String>,
    /// Whole segment records in the file.
    #[serde(skip)]
    pub records: u32,
    /// Signed amendments (tags attached after the close) that hold.
    pub amendments: Vec<super::amend::Amendment>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The first segment named by a problem.
    pub fn first_bad_segment(&self) -> Option<u32> {
        self.problems.iter().find_map(|p| p.segment)
    }

    pub(super) fn bad(&mut self, segment: Option<u32>, what: impl Into<String>) {
        self.problems.push(Problem { segment, what: what.into() });
    }

    /// With the index's count of the recording's segments: a file cut after a whole record has
    /// lost its manifest and names no segment by itself; the first one it lacks is named here.
    pub fn expect_segments(&mut self, indexed: u32) {
        if self.manifest_sha256.is_none() && self.first_bad_segment().is_none() && indexed > self.records {
            let first = self.records;
            let what = format!("segment {first}: missing, the file ends after {first} of the {indexed} segments the index lists (truncated)");
            self.problems.insert(0, Problem { segment: Some(first), what });
        }
    }
}

/// Checks the recording file at `path`: the signature, every listed segment (present where the
/// manifest puts it, hash, decryption, index, chain link, frames), the chain head, that no segment
/// record is left unlisted, and a record cut short. With `blocks`, the decrypted blocks are
/// handed over in order (export).
pub fn verify(path: &Path, call_id: &str, key: &SegmentKey, public: &VerifyingKey, mut blocks: Option<&mut Vec<Block>>) -> (Report, Option<Manifest>) {
    let mut r = Report { call_id: call_id.to_owned(), ..Default::default() };
    let scanned = File::open(path).and_then(|f| records::scan(&f).map(|s| (f, s)));
    let (file, scan) = match scanned {
        Ok(x) => x,
        Err(e) => {
            r.bad(None, format!("{}: {e}", path.display()));
            return (r, None);
        }
    };
    if !scan.header_ok {
        r.bad(None, format!("not a recording file ({} bytes, no {} header)", scan.size, records::EXTENSION));
        return (r, None);
    }
    r.records = scan.segments().count() as u32;
    let mut buf = Vec::new();
    let Some((m, body)) = manifest_of(&file, &scan, public, &mut r, &mut buf) else { return (r, None) };
    if m.call_id != call_id {
        r.bad(None, format!("manifest is for call {}", m.call_id));
    }
    r.segments = m.segments.len();
    let manifest_sha256 = hex(&Sha256::digest(&body));
    if let Some(sig_at) = scan.records.iter().position(|x| x.kind == Kind::Manifest).map(|at| at + 1).filter(|&k| scan.records.get(k).is_some_and(|x| x.kind == Kind::Signature)) {
        r.amendments = super::amend::check(&file, &scan, sig_at, &manifest_sha256, call_id, public, &mut r);
    }
    r.manifest_sha256 = Some(manifest_sha256);
    let mut head = manifest::genesis(call_id);
    let mut used = HashSet::new();
    // Indices rise; one may be skipped only where the writer failed (the manifest, signed, says
    // so in `gaps`), never where a record was removed afterwards.
    let mut last: Option<u32> = None;
    for (pos, e) in m.segments.iter().enumerate() {
        let i = e.index;
        if last.is_some_and(|l| i <= l) {
            r.bad(Some(i), format!("manifest lists segment {i} out of order at position {pos}"));
            continue;
        }
        last = Some(i);
        let listed = unhex_or_zero(&e.sha256);
        head = manifest::link(&head, i, &listed);
        if hex(&head) != e.link {
            r.bad(Some(i), format!("segment {i}: chain link differs from the manifest"));
        }
        let in_place = scan.segments().find(|s| s.offset == e.offset && s.segment == Some(i));
        let rec = match in_place.or_else(|| scan.segments().find(|s| s.segment == Some(i) && !used.contains(&s.offset))) {
            Some(rec) => rec,
            None => {
                let what = match scan.torn {
                    Some(t) if t.offset <= e.offset => format!("segment {i}: missing, the file is cut short at byte {} (truncated)", t.offset),
                    _ => format!("segment {i}: no record in the file (deleted)"),
                };
                r.bad(Some(i), what);
                continue;
            }
        };
        used.insert(rec.offset);
        if rec.offset != e.offset {
            r.bad(Some(i), format!("segment {i}: record at byte {}, the manifest puts it at byte {} (records swapped, moved or deleted)", rec.offset, e.offset));
        }
        if let Err(err) = records::read_payload(&file, rec, &mut buf) {
            r.bad(Some(i), format!("segment {i}: unreadable ({err})"));
            continue;
        }
        if buf.len() as u64 != e.bytes {
            r.bad(Some(i), format!("segment {i}: {} bytes, manifest says {} (truncated or replaced)", buf.len(), e.bytes));
        } else if manifest::segment_hash(&buf) != listed {
            r.bad(Some(i), format!("segment {i}: SHA-256 differs from the manifest (modified or swapped)"));
        }
        match container::open(key, call_id, i, &buf) {
            Ok(b) => {
                if b.frames() as u64 != e.frames {
                    r.bad(Some(i), format!("segment {i}: {} frames, manifest says {}", b.frames(), e.frames));
                }
                if let Some(out) = blocks.as_deref_mut() {
                    out.push(b);
                }
            }
            Err(err) => r.bad(Some(i), format!("segment {i}: {err}")),
        }
    }
    if hex(&head) != m.chain_head {
        r.bad(None, "chain head differs from the manifest");
    }
    for s in scan.segments().filter(|s| !used.contains(&s.offset)) {
        match s.segment {
            Some(i) => r.bad(Some(i), format!("segment {i}: record at byte {} is not listed in the manifest", s.offset)),
            None => r.bad(None, format!("segment record at byte {} is not a sealed segment and not listed in the manifest", s.offset)),
        }
    }
    (r, Some(m))
}

fn unhex_or_zero(s: &str) -> [u8; 32] {
    manifest::unhex_32(s).unwrap_or([0; 32])
}

/// The manifest record and its signature: exactly one of each, the signature right after the
/// manifest and last in the file, checked against `public`. Reports what is wrong; `None` when
/// there is no readable manifest (a truncated file names its torn segment here).
fn manifest_of(file: &File, scan: &Scan, public: &VerifyingKey, r: &mut Report, buf: &mut Vec<u8>) -> Option<(Manifest, Vec<u8>)> {
    for rec in scan.records.iter().filter(|x| matches!(x.kind, Kind::Unknown(_))) {
        if let Kind::Unknown(t) = rec.kind {
            r.bad(None, format!("record type {t:#04x} at byte {} is not understood", rec.offset));
        }
    }
    let manifests: Vec<usize> = (0..scan.records.len()).filter(|&k| scan.records[k].kind == Kind::Manifest).collect();
    if let Some(t) = scan.torn {
        let what = format!("record at byte {} cut short: the file ends at byte {} (truncated)", t.offset, scan.size);
        let next_segment = scan.segments().filter_map(|s| s.segment).max().map_or(0, |i| i + 1);
        match t.kind {
            // After the manifest, or the manifest itself: no segment is concerned.
            _ if !manifests.is_empty() => r.bad(None, what),
            Some(Kind::Manifest | Kind::Signature) => r.bad(None, format!("manifest {what}")),
            _ => {
                let i = t.segment.unwrap_or(next_segment);
                r.bad(Some(i), format!("segment {i}: {what}"));
            }
        }
    }
    let Some(&at) = manifests.first() else {
        r.bad(None, format!("no manifest record: the file ends after {} segment records (truncated, or never closed)", r.records));
        return None;
    };
    if manifests.len() > 1 {
        r.bad(None, format!("{} manifest records, one expected", manifests.len()));
    }
    if let Err(e) = records::read_payload(file, &scan.records[at], buf) {
        r.bad(None, format!("manifest unreadable: {e}"));
        return None;
    }
    let body = std::mem::take(buf);
    match scan.records.get(at + 1).filter(|x| x.kind == Kind::Signature) {
        Some(sig) => match records::read_payload(file, sig, buf) {
            Ok(()) => {
                if let Err(e) = manifest::check_signature(&body, buf, public) {
                    r.bad(None, format!("manifest: {e}"));
                }
            }
            Err(e) => r.bad(None, format!("signature unreadable: {e}")),
        },
        None => r.bad(None, "no signature record after the manifest"),
    }
    // What follows the signature is checked as amendments (`amend::check`).
    match serde_json::from_slice(&body) {
        Ok(m) => Some((m, body)),
        Err(e) => {
            r.bad(None, format!("manifest unreadable: {e}"));
            None
        }
    }
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
pub(crate) mod tests;
