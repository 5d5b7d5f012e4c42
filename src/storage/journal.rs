//! The CDR journal: JSON lines on disk that hold each record until the database has it.
//!
//! `pending.jsonl` takes appends (fsynced by the writer, see `append`). To drain, it is renamed
//! to `draining.jsonl` and a new `pending.jsonl` starts, so appends never race the drain;
//! `draining.jsonl` is deleted only after its records are committed. Lines that do not parse go to `rejected.jsonl`.
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{CdrRecord, StorageError};

pub const PENDING: &str = "pending.jsonl";
pub const DRAINING: &str = "draining.jsonl";
pub const REJECTED: &str = "rejected.jsonl";

/// The append side of the journal; the writer and overflowing callers share it under a mutex.
pub struct Journal {
    dir: PathBuf,
    pending: File,
}

/// The records of one `draining.jsonl`, parsed.
#[derive(Debug, Default)]
pub struct Loaded {
    pub records: Vec<CdrRecord>,
    /// Lines that did not parse (already moved to `rejected.jsonl`).
    pub rejected: u64,
}

impl Journal {
    /// Opens (creating) the journal directory and `pending.jsonl`. A line cut short by a crash is
    /// closed with a newline so the next append starts a fresh line.
    pub fn open(dir: &Path) -> Result<Journal, StorageError> {
        fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let path = dir.join(PENDING);
        let pending = open_append(&path)?;
        let mut journal = Journal { dir: dir.to_owned(), pending };
        if last_byte(&path)?.is_some_and(|b| b != b'\n') {
            journal.append(&[], true)?;
        }
        sync_dir(dir)?;
        Ok(journal)
    }

    /// Appends one line per entry (each without its newline), in one write, then fsyncs when
    /// `durable`; with no entries, appends a bare newline (used to close a torn line).
    ///
    /// Callers on the call path append without fsync: the line is in the kernel at once (safe
    /// from a process crash) and [`Journal::rotate`] fsyncs before the drain, so only a power
    /// cut in that short window can lose it.
    /// Writes `lines` and returns a handle to the file they went to, for a `sync_data` outside
    /// the journal's lock (one fsync covers every earlier write to that file, the core's
    /// overflow appends included; a rotation meanwhile only renames it).
    pub fn write_for_sync(&mut self, lines: &[Vec<u8>]) -> Result<(File, std::path::PathBuf), StorageError> {
        self.append(lines, false)?;
        let path = self.dir.join(PENDING);
        let file = self.pending.try_clone().map_err(|e| StorageError::io(&path, e))?;
        Ok((file, path))
    }

    pub fn append(&mut self, lines: &[Vec<u8>], durable: bool) -> Result<(), StorageError> {
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>().max(1));
        for line in lines {
            buf.extend_from_slice(line);
            buf.push(b'\n');
        }
        if lines.is_empty() {
            buf.push(b'\n');
        }
        let path = self.dir.join(PENDING);
        self.pending.write_all(&buf).map_err(|e| StorageError::io(&path, e))?;
        if durable {
            self.pending.sync_data().map_err(|e| StorageError::io(&path, e))?;
        }
        Ok(())
    }

    /// Makes `draining.jsonl` hold the next records to insert. Returns `false` when there is
    /// nothing to drain. An existing `draining.jsonl` (a failed or interrupted drain) goes first;
    /// otherwise a non-empty `pending.jsonl` is renamed and a fresh one started.
    pub fn rotate(&mut self) -> Result<bool, StorageError> {
        let draining = self.dir.join(DRAINING);
        if draining.exists() {
            return Ok(true);
        }
        let pending = self.dir.join(PENDING);
        let len = self.pending.metadata().map_err(|e| StorageError::io(&pending, e))?.len();
        if len == 0 {
            return Ok(false);
        }
        self.pending.sync_data().map_err(|e| StorageError::io(&pending, e))?;
        fs::rename(&pending, &draining).map_err(|e| StorageError::io(&pending, e))?;
        self.pending = open_append(&pending)?;
        sync_dir(&self.dir)?;
        Ok(true)
    }

    /// Reads and parses `draining.jsonl`. Corrupt lines are appended to `rejected.jsonl` and the
    /// file is rewritten without them, so they are reported once.
    pub fn load_draining(&self) -> Result<(Loaded, Vec<StorageError>), StorageError> {
        let path = self.dir.join(DRAINING);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Loaded::default(), Vec::new())),
            Err(e) => return Err(StorageError::io(&path, e)),
        };
        let mut loaded = Loaded::default();
        let mut problems = Vec::new();
        let mut good = Vec::with_capacity(bytes.len());
        let mut bad = Vec::new();
        for (index, line) in lines(&bytes).enumerate() {
            match serde_json::from_slice::<CdrRecord>(line) {
                Ok(record) if !record.id.is_empty() => {
                    loaded.records.push(record);
                    good.extend_from_slice(line);
                    good.push(b'\n');
                }
                Ok(_) => bad.push(line),
                Err(source) => {
                    problems.push(StorageError::CorruptJournalLine {
                        path: path.display().to_string(),
                        line: index as u64 + 1,
                        source,
                    });
                    bad.push(line);
                }
            }
        }
        if !bad.is_empty() {
            let rejected_path = self.dir.join(REJECTED);
            let mut rejected = open_append(&rejected_path)?;
            for line in &bad {
                rejected.write_all(line).and_then(|()| rejected.write_all(b"\n")).map_err(|e| StorageError::io(&rejected_path, e))?;
            }
            rejected.sync_data().map_err(|e| StorageError::io(&rejected_path, e))?;
            replace_file(&self.dir, DRAINING, &good)?;
            loaded.rejected = bad.len() as u64;
        }
        Ok((loaded, problems))
    }

    /// Deletes `draining.jsonl` once its records are committed.
    pub fn finish_draining(&self) -> Result<(), StorageError> {
        let path = self.dir.join(DRAINING);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io(&path, e)),
        }
        sync_dir(&self.dir)
    }

    /// Non-blank lines in `pending.jsonl` and `draining.jsonl`: what the database has not taken.
    pub fn count_lines(&self) -> Result<u64, StorageError> {
        let mut n = 0;
        for name in [PENDING, DRAINING] {
            let path = self.dir.join(name);
            match fs::read(&path) {
                Ok(bytes) => n += lines(&bytes).count() as u64,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(&path, e)),
            }
        }
        Ok(n)
    }
}

/// One record as a journal line (no newline).
pub fn encode(record: &CdrRecord) -> Result<Vec<u8>, StorageError> {
    // A CdrRecord has string keys and finite numbers (see `sanitise`), so this cannot fail;
    // map it anyway rather than panic.
    serde_json::to_vec(record).map_err(|source| StorageError::CorruptJournalLine { path: String::new(), line: 0, source })
}

/// Non-blank lines of a journal file.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace))
}

/// The last byte of a file, without reading the rest.
fn last_byte(path: &Path) -> Result<Option<u8>, StorageError> {
    let mut file = File::open(path).map_err(|e| StorageError::io(path, e))?;
    let len = file.metadata().map_err(|e| StorageError::io(path, e))?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(len - 1))
        .and_then(|_| file.read_exact(&mut byte))
        .map_err(|e| StorageError::io(path, e))?;
    Ok(Some(byte[0]))
}

fn open_append(path: &Path) -> Result<File, StorageError> {
    OpenOptions::new().create(true).append(true).open(path).map_err(|e| StorageError::io(path, e))
}

/// Replaces `dir/name` with `contents` atomically (write a temporary file, fsync, rename).
fn replace_file(dir: &Path, name: &str, contents: &[u8]) -> Result<(), StorageError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(|e| StorageError::io(&tmp, e))?;
    fs::rename(&tmp, dir.join(name)).map_err(|e| StorageError::io(&tmp, e))?;
    sync_dir(dir)
}

/// Makes renames, creations and deletions in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StorageError::io(dir, e))
}
