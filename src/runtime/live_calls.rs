//! Call records for calls a crash cut short. Once a second the core hands the records its live
//! calls would get if the node died now (cause `node.restart`, see
//! `CallManager::live_summaries`); they are written to `DATA_DIR/cdr-journal/live.jsonl`
//! (a temporary file, then a rename: the file is always one whole snapshot). At the next start,
//! after the journal's replay, each of them is inserted unless the call's own record is already
//! there (`ON CONFLICT DO NOTHING`: a call that ended before the crash keeps its real record),
//! and the file is removed. A `kill -9` thus loses no call's record, only up to a second of its
//! end time; a clean stop ends every call first, so its last snapshot is empty.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::storage::{CdrRecord, Storage, JOURNAL_DIR};

/// The snapshot's file name inside the journal directory.
pub const FILE: &str = "live.jsonl";

pub struct LiveCalls {
    path: PathBuf,
    /// A snapshot is being written (the next one waits for the next second).
    writing: Arc<AtomicBool>,
    /// The file on disk holds calls (an empty snapshot is written once, then nothing).
    on_disk: bool,
}

fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(JOURNAL_DIR).join(FILE)
}

impl LiveCalls {
    pub fn new(data_dir: &Path) -> LiveCalls {
        LiveCalls { path: path_in(data_dir), writing: Arc::new(AtomicBool::new(false)), on_disk: true }
    }

    /// Writes `records` as the current snapshot on the blocking pool (the handle of that write,
    /// or `None` when skipped: while the previous one is still being written, and when nothing
    /// changed from an empty snapshot).
    pub fn snapshot(&mut self, records: Vec<CdrRecord>) -> Option<tokio::task::JoinHandle<()>> {
        if records.is_empty() && !self.on_disk {
            return None;
        }
        if self.writing.swap(true, Ordering::AcqRel) {
            return None;
        }
        self.on_disk = !records.is_empty();
        let (path, writing) = (self.path.clone(), self.writing.clone());
        // Serialised on the blocking pool too: the core only collects the records.
        Some(tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::with_capacity(records.len() * 512);
            for r in &records {
                if serde_json::to_writer(&mut bytes, r).is_ok() {
                    bytes.push(b'\n');
                }
            }
            if let Err(e) = write(&path, &bytes) {
                tracing::warn!(cause = "cdr.live_snapshot", path = %path.display(), error = %e, "live calls not snapshotted: a crash now would lose their records");
            }
            writing.store(false, Ordering::Release);
        }))
    }
}

impl LiveCalls {
    /// A clean stop: every call has its own record, the snapshot is not needed.
    pub fn clear(&mut self) {
        let _ = write(&self.path, b"");
        self.on_disk = false;
    }
}

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if bytes.is_empty() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// At start: the records of the calls the previous run left up, inserted where the call has no
/// record yet; then the snapshot is removed. Returns how many records the snapshot held.
pub async fn recover(data_dir: &Path, storage: &Storage) -> usize {
    let path = path_in(data_dir);
    let Ok(text) = std::fs::read_to_string(&path) else { return 0 };
    let mut records = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str::<CdrRecord>(line) {
            Ok(r) => records.push(r),
            Err(e) => tracing::warn!(cause = "cdr.live_snapshot", path = %path.display(), line = n + 1, error = %e, "unreadable live call record skipped"),
        }
    }
    if let Err(e) = storage.insert_cdrs(&records).await {
        // Kept for the next start: the database may be back by then.
        tracing::warn!(cause = "cdr.live_snapshot", error = %e, calls = records.len(), "records of the calls cut short not written yet");
        return records.len();
    }
    if !records.is_empty() {
        tracing::warn!(cause = "node.restart", calls = records.len(), "the previous run stopped with calls up: their records were written from its last snapshot");
    }
    let _ = std::fs::remove_file(&path);
    records.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, cause: &str) -> CdrRecord {
        let mut r: CdrRecord = serde_json::from_value(serde_json::json!({
            "id": id, "call_id_in": "x", "call_id_out": null, "caller": "+8613800000000", "callee": "95555",
            "source": "untrusted", "dialplan_rule": null, "queue": null, "agent": null, "wait_ms": null,
            "outcome": "answered", "started_at": 1000, "ringing_at": null, "answered_at": 2000, "ended_at": 9000,
            "setup_ms": 1000, "talk_ms": 7000, "cause": "normal", "ended_by": "caller",
            "sip_code_in": 200, "sip_code_out": 200
        }))
        .expect("a CDR");
        r.cause = cause.into();
        r
    }

    #[tokio::test]
    async fn a_snapshot_survives_the_process_and_never_overrides_a_real_record() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).await.unwrap();
        storage.insert_cdrs(&[record("c1", "normal")]).await.unwrap();
        let mut live = LiveCalls::new(dir.path());
        let written = live.snapshot(vec![record("c1", "node.restart"), record("c2", "node.restart")]).expect("a write");
        assert!(live.snapshot(Vec::new()).is_none(), "one write at a time");
        written.await.unwrap();
        let file = path_in(dir.path());
        assert!(file.exists());
        assert_eq!(recover(dir.path(), &storage).await, 2);
        assert_eq!(storage.get_cdr("c1").await.unwrap().unwrap().cause, "normal", "the call's own record wins");
        assert_eq!(storage.get_cdr("c2").await.unwrap().unwrap().cause, "node.restart");
        assert!(!file.exists(), "removed once written");
        assert_eq!(recover(dir.path(), &storage).await, 0);
    }

    #[test]
    fn an_empty_snapshot_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE);
        write(&file, b"{}\n").unwrap();
        write(&file, b"").unwrap();
        assert!(!file.exists());
        write(&file, b"").unwrap();
    }
}
