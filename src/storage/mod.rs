//! Call records and registrar users in a database, behind one `Storage` handle.
//!
//! The default (and for now only) backend is SQLite through sqlx: one file,
//! `DATA_DIR/ncgw.sqlite3`, in WAL mode with `synchronous=FULL` (a CDR whose journal line has been
//! removed must survive a power cut). Migrations under `src/storage/migrations/` are compiled into
//! the binary and run at open.
//!
//! ## Writes never block call handling
//!
//! [`Storage::submit_cdr`] is synchronous: it hands the record to a writer task over a bounded
//! channel. The writer appends it as one JSON line to `DATA_DIR/cdr-journal/pending.jsonl`
//! (write + fsync), renames that file to `draining.jsonl`, inserts every line with
//! `INSERT … ON CONFLICT(id) DO NOTHING`, and only then deletes `draining.jsonl`. A crash between
//! any two steps leaves the record in a journal file, and the replay at the next open inserts it
//! at most once because `id` is the primary key. When the database is unavailable (locked,
//! read-only, full, gone) the files stay and the writer retries with exponential backoff. A
//! database file deleted under a running node counts as unavailable until the next open, which
//! creates a fresh database and replays the journal into it (the pool is not rebuilt live).
//!
//! When the channel is full, the caller appends the line to `pending.jsonl` itself: one small
//! `write` under a mutex that is never held across a database call, and no fsync, so a burst of
//! call ends does not stall the core on the disk. The line is then safe from a process crash; the
//! writer fsyncs the file before draining it, so only a power cut in between can lose it.
//! Journal lines that do not parse are moved to `rejected.jsonl` and counted.
//!
//! One node owns a data directory; two processes sharing one would drain each other's journal.
//!
//! ## PostgreSQL later
//!
//! The SQL already uses `$n` placeholders and `ON CONFLICT … DO NOTHING`, which PostgreSQL reads
//! as is. A PostgreSQL backend needs: the sqlx `postgres` feature, a `Backend::Postgres(PgPool)`
//! arm next to `Backend::Sqlite`, its own migration set (`INTEGER` → `BIGINT`, the `*_json` text
//! columns → `JSONB`), no PRAGMAs, and a connection URL in the configuration. The journal and the
//! writer are backend-neutral and stay as they are.

mod agents;
mod cdr;
mod journal;
mod recordings;
mod sqlite;
mod users;
mod writer;

#[cfg(test)]
mod tests;

pub use agents::{format_skills, parse_queues, parse_skills, AgentChange, AgentRecord};
pub use cdr::{CdrRecord, EndedBy, LegMediaStats, Outcome};
pub use recordings::{RecordingFilter, RecordingIndex, RecordingRow};
pub use users::{
    ha1_md5, ha1_sha256, validate_id, validate_password, UserCredentials, UserInfo, MAX_ID_LEN, MIN_PASSWORD_LEN,
};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};

use journal::Journal;
use sqlite::SqliteBackend;
use writer::{Msg, Writer};

/// The database file inside the data directory.
pub const DB_FILE: &str = "ncgw.sqlite3";
/// The CDR journal directory inside the data directory.
pub const JOURNAL_DIR: &str = "cdr-journal";

/// Something storage could not do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database is locked, read-only, full, corrupt or gone; CDRs wait in the journal.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A query failed for a reason that retrying will not fix (a bug in our SQL or schema).
    #[error("database query failed: {0}")]
    Query(#[source] sqlx::Error),
    /// The schema could not be brought up to date (newer than this binary, edited, or bad SQL).
    #[error("database migration failed: {0}")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// A journal line was not a CDR; it was moved to `rejected.jsonl` and counted.
    #[error("{path}:{line}: corrupt journal line moved to rejected.jsonl: {source}")]
    CorruptJournalLine {
        path: String,
        line: u64,
        #[source]
        source: serde_json::Error,
    },
    /// A journal file or the data directory could not be read or written.
    #[error("{path}: {source}")]
    Journal {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The caller passed a value that is not accepted; `field` names it.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: &'static str },
    /// A user with this id already exists.
    #[error("user {id} already exists (for an agent: `ncgw agents set {id} --password NEW`)")]
    UserExists { id: String },
    /// An agent with this id already exists.
    #[error("agent {id} already exists (change it with `ncgw agents set {id}`)")]
    AgentExists { id: String },
    /// A stored row (a CDR or an agent, by id) did not decode (a hand-edited database or a bug).
    #[error("row {id}: column {column} holds an unreadable value")]
    CorruptRow { id: String, column: &'static str },
    /// `flush` finished but the database did not take everything; these records wait in the journal.
    #[error("{pending} records wait in the journal for the database")]
    StillJournalled { pending: u64 },
    /// The writer task has stopped (the storage was closed or the runtime is shutting down).
    #[error("storage writer has stopped")]
    WriterStopped,
}

impl StorageError {
    /// Sorts a sqlx error into "retry later" (`Unavailable`) or "will not get better" (`Query`).
    pub(crate) fn from_sqlx(e: sqlx::Error) -> Self {
        let transient = match &e {
            sqlx::Error::Database(db) => {
                // SQLite primary result codes: BUSY, LOCKED, READONLY, IOERR, CORRUPT, FULL,
                // CANTOPEN, NOTADB. Extended codes carry the primary one in the low byte.
                let code = db.code().and_then(|c| c.parse::<i64>().ok()).map(|c| c & 0xff);
                matches!(code, Some(5 | 6 | 8 | 10 | 11 | 13 | 14 | 26))
            }
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
            _ => false,
        };
        if transient {
            StorageError::Unavailable(e)
        } else {
            StorageError::Query(e)
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StorageError::Journal { path: path.display().to_string(), source }
    }
}

/// Tuning knobs; the defaults suit a node, tests shorten the waits.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// How long SQLite waits on a lock before a write counts as "database unavailable".
    pub busy_timeout: Duration,
    /// Records the writer channel holds before callers journal directly.
    pub channel_capacity: usize,
    /// First retry delay after a failed write; doubles up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            busy_timeout: Duration::from_secs(5),
            channel_capacity: 1024,
            retry_min: Duration::from_millis(200),
            retry_max: Duration::from_secs(30),
        }
    }
}

/// The database behind a [`Storage`]; one arm per supported engine.
#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite(SqliteBackend),
}

impl Backend {
    /// Inserts records in one transaction; an id already present is left as it is.
    pub async fn insert_cdrs(&self, records: &[CdrRecord]) -> Result<(), StorageError> {
        if records.is_empty() {
            return Ok(());
        }
        match self {
            Backend::Sqlite(b) => b.insert_cdrs(records).await,
        }
    }
}

/// Counters shared by the handle and the writer.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Records submitted or found in the journal and not yet in the database.
    pub pending: AtomicU64,
    /// Journal lines that did not parse and were moved to `rejected.jsonl`.
    pub rejected: AtomicU64,
    /// Records the caller journalled itself because the channel was full.
    pub overflowed: AtomicU64,
}

/// What the handle and the writer share.
pub(crate) struct Shared {
    pub journal: Mutex<Journal>,
    pub counters: Counters,
    /// Wakes the writer after a caller journalled a record directly.
    pub wake: Notify,
}

/// The handle to call records and users. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct Storage {
    backend: Backend,
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    writer: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Storage {
    /// Opens (creating if needed) the database and journal under `data_dir`, runs migrations,
    /// replays journalled CDRs and starts the writer. Must run inside a tokio runtime.
    pub async fn open(data_dir: &Path) -> Result<Storage, StorageError> {
        Storage::open_with(data_dir, StorageOptions::default()).await
    }

    /// [`Storage::open`] with explicit options.
    pub async fn open_with(data_dir: &Path, options: StorageOptions) -> Result<Storage, StorageError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StorageError::io(data_dir, e))?;
        let journal_dir: PathBuf = data_dir.join(JOURNAL_DIR);
        let journal = Journal::open(&journal_dir)?;
        let shared = Arc::new(Shared {
            journal: Mutex::new(journal),
            counters: Counters::default(),
            wake: Notify::new(),
        });
        let backend = Backend::Sqlite(SqliteBackend::open(&data_dir.join(DB_FILE), options.busy_timeout).await?);

        let (tx, rx) = mpsc::channel(options.channel_capacity.max(1));
        let mut writer = Writer::new(backend.clone(), shared.clone(), rx, &options)?;
        if let Err(e) = writer.drain().await {
            tracing::warn!(error = %e, "journalled CDRs not replayed at open; the writer will retry");
        }
        let handle = tokio::spawn(writer.run());
        Ok(Storage { backend, tx, shared, writer: Arc::new(Mutex::new(Some(handle))) })
    }

    /// Hands a finished call's record to the writer; never waits on the database.
    ///
    /// If the writer's channel is full (or the writer has stopped), the record is appended to
    /// the journal here and the writer picks it up. An error means the record could not be kept
    /// anywhere (the journal is not writable) or was refused (`id` is empty).
    pub fn submit_cdr(&self, mut record: CdrRecord) -> Result<(), StorageError> {
        if record.id.is_empty() {
            return Err(StorageError::InvalidInput { field: "id", reason: "is empty" });
        }
        sanitise(&mut record);
        let counters = &self.shared.counters;
        counters.pending.fetch_add(1, Ordering::SeqCst);
        let record = match self.tx.try_send(Msg::Record(Box::new(record))) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Full(Msg::Record(r)) | mpsc::error::TrySendError::Closed(Msg::Record(r))) => r,
            // Only records are sent with try_send.
            Err(_) => return Ok(()),
        };
        let result = journal::encode(&record).and_then(|line| lock(&self.shared.journal).append(&[line], false));
        match result {
            Ok(()) => {
                counters.overflowed.fetch_add(1, Ordering::Relaxed);
                self.shared.wake.notify_one();
                Ok(())
            }
            Err(e) => {
                counters.pending.fetch_sub(1, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// Records submitted (or found in the journal at open) that are not yet in the database.
    pub fn pending(&self) -> u64 {
        self.shared.counters.pending.load(Ordering::SeqCst)
    }

    /// Journal lines that did not parse and were moved to `rejected.jsonl`.
    pub fn rejected(&self) -> u64 {
        self.shared.counters.rejected.load(Ordering::SeqCst)
    }

    /// Records that callers journalled themselves because the writer channel was full.
    pub fn overflowed(&self) -> u64 {
        self.shared.counters.overflowed.load(Ordering::Relaxed)
    }

    /// Waits until everything submitted before this call is in the database or journalled, and
    /// tries the database once more. `Ok` when nothing is pending; `StillJournalled` when the
    /// database did not take everything (the records are safe on disk and will be retried).
    pub async fn flush(&self) -> Result<(), StorageError> {
        let (reply, done) = oneshot::channel();
        self.tx.send(Msg::Flush(reply)).await.map_err(|_| StorageError::WriterStopped)?;
        done.await.map_err(|_| StorageError::WriterStopped)?
    }

    /// Flushes, stops the writer and closes the database. Other clones of this handle keep
    /// working for queries, and their submissions go to the journal for the next open.
    pub async fn close(&self) -> Result<(), StorageError> {
        let flushed = self.flush().await;
        let (reply, done) = oneshot::channel();
        if self.tx.send(Msg::Stop(reply)).await.is_ok() {
            let _ = done.await;
        }
        let handle = lock(&self.writer).take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
        match &self.backend {
            Backend::Sqlite(b) => b.close().await,
        }
        flushed
    }

    /// Inserts records now, in one transaction, bypassing the journal; an id already present is
    /// left as it is (the start-up's records of calls a crash cut short).
    pub async fn insert_cdrs(&self, records: &[CdrRecord]) -> Result<(), StorageError> {
        self.backend.insert_cdrs(records).await
    }

    /// One record by id.
    pub async fn get_cdr(&self, id: &str) -> Result<Option<CdrRecord>, StorageError> {
        match &self.backend {
            Backend::Sqlite(b) => b.get_cdr(id).await,
        }
    }

    /// Records that started at or after `since` (unix ms), newest first, at most `limit`.
    pub async fn list_cdrs(&self, since: Option<i64>, limit: u32) -> Result<Vec<CdrRecord>, StorageError> {
        match &self.backend {
            Backend::Sqlite(b) => b.list_cdrs(since, limit).await,
        }
    }

    /// Adds a registrar user. Stores HA1 for MD5 and SHA-256, never the password.
    pub async fn add_user(&self, id: &str, display: Option<&str>, password: &str, realm: &str) -> Result<(), StorageError> {
        users::validate_id(id)?;
        users::validate_password(password)?;
        users::validate_realm(realm)?;
        if let Some(display) = display {
            users::validate_display(display)?;
        }
        let creds = UserCredentials {
            id: id.to_owned(),
            realm: realm.to_owned(),
            ha1_md5: ha1_md5(id, realm, password),
            ha1_sha256: ha1_sha256(id, realm, password),
        };
        match &self.backend {
            Backend::Sqlite(b) => b.add_user(&creds, display, now_ms()).await,
        }
    }

    /// Removes a user; `false` when there was none with this id.
    pub async fn remove_user(&self, id: &str) -> Result<bool, StorageError> {
        users::validate_id(id)?;
        match &self.backend {
            Backend::Sqlite(b) => b.remove_user(id).await,
        }
    }

    /// All users, by id, without secrets.
    pub async fn list_users(&self) -> Result<Vec<UserInfo>, StorageError> {
        match &self.backend {
            Backend::Sqlite(b) => b.list_users().await,
        }
    }

    /// The digest secrets of one user. An id that could never have been added (the user part of
    /// a REGISTER is network input) is simply not found.
    pub async fn get_credentials(&self, id: &str) -> Result<Option<UserCredentials>, StorageError> {
        if users::validate_id(id).is_err() {
            return Ok(None);
        }
        match &self.backend {
            Backend::Sqlite(b) => b.get_credentials(Some(id)).await.map(|mut v| v.pop()),
        }
    }

    /// The digest secrets of every user, for the registrar's cache.
    pub async fn all_credentials(&self) -> Result<Vec<UserCredentials>, StorageError> {
        match &self.backend {
            Backend::Sqlite(b) => b.get_credentials(None).await,
        }
    }
}

/// JSON has no NaN or infinity: serde_json would write `null` and the line would not read back.
fn sanitise(record: &mut CdrRecord) {
    for leg in &mut record.media {
        if !leg.jitter_ms.is_finite() {
            leg.jitter_ms = 0.0;
        }
    }
}

/// Locks a mutex even if a holder panicked: the journal's state is on disk, not in the guard.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Wall-clock unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
