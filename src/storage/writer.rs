//! The CDR writer task: journal first, then the database, retrying with backoff while it is down.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::journal::{self, Loaded};
use super::{lock, Backend, CdrRecord, Shared, StorageError, StorageOptions};

/// Records taken from the channel per journal write (one fsync per batch).
const BATCH: usize = 1024;
/// Journal writes (each with its fsync) start at most this often: records arriving meanwhile
/// wait in the channel and go in the next write (group commit). At 1,000 calls/s an fsync per
/// few records cost ~5 % of the node's CPU; a record is in the page cache within this time, so a
/// `kill -9` still loses nothing (a power loss may lose this window).
const JOURNAL_EVERY: Duration = Duration::from_millis(20);
/// Journalled records go to the database at most this often (a flush or stop goes at once): each
/// move costs a rotation, a read, an insert transaction and an unlink, each with its fsync, so
/// at a thousand calls a second moving every small batch cost more CPU than the calls' SIP.
const DRAIN_EVERY: Duration = Duration::from_millis(200);
/// Drain rounds per wake-up; more work left over schedules an immediate retry instead of
/// starving the channel.
const ROUNDS: usize = 8;

/// What the handle sends the writer.
pub enum Msg {
    /// A finished call (boxed: a record is large next to the other messages).
    Record(Box<CdrRecord>),
    /// Reply once everything before this message is journalled and one insert was tried.
    Flush(oneshot::Sender<Result<(), StorageError>>),
    /// Stop after replying.
    Stop(oneshot::Sender<()>),
}

pub struct Writer {
    backend: Backend,
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Msg>,
    /// The parsed `draining.jsonl`, kept across retries so it is read once.
    loaded: Option<Loaded>,
    /// Records that could not be journalled (the disk refused); inserted directly when possible.
    unjournalled: Vec<CdrRecord>,
    retry_at: Option<Instant>,
    /// When the last move to the database started.
    last_drain: Option<Instant>,
    /// When the last journal write started.
    last_journal: Option<Instant>,
    backoff: Duration,
    retry_min: Duration,
    retry_max: Duration,
}

impl Writer {
    /// Sets the pending counter from what the journal holds from an earlier run.
    pub fn new(backend: Backend, shared: Arc<Shared>, rx: mpsc::Receiver<Msg>, options: &StorageOptions) -> Result<Writer, StorageError> {
        let on_disk = lock(&shared.journal).count_lines()?;
        shared.counters.pending.fetch_add(on_disk, Ordering::SeqCst);
        Ok(Writer {
            backend,
            shared,
            rx,
            loaded: None,
            unjournalled: Vec::new(),
            retry_at: None,
            last_drain: None,
            last_journal: None,
            backoff: options.retry_min,
            retry_min: options.retry_min,
            retry_max: options.retry_max.max(options.retry_min),
        })
    }

    pub async fn run(mut self) {
        loop {
            let retry_at = self.retry_at;
            tokio::select! {
                msg = self.rx.recv() => {
                    let Some(msg) = msg else {
                        // Every handle is gone: one last try; what fails stays journalled.
                        let _ = self.drain().await;
                        return;
                    };
                    if self.handle(msg).await {
                        return;
                    }
                }
                () = self.shared.wake.notified() => {
                    if self.retry_at.is_none() {
                        let _ = self.drain().await;
                    }
                }
                () = sleep_until(retry_at), if retry_at.is_some() => {
                    self.retry_at = None;
                    let _ = self.drain().await;
                }
            }
        }
    }

    /// Handles one message and whatever else is already queued; `true` means stop.
    async fn handle(&mut self, first: Msg) -> bool {
        // A record right after a journal write waits for the group commit (a flush or a stop
        // goes at once).
        if let (Msg::Record(_), Some(last)) = (&first, self.last_journal) {
            tokio::time::sleep_until(last + JOURNAL_EVERY).await;
        }
        let mut records = Vec::new();
        let mut flushes = Vec::new();
        let mut stop = None;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Record(r) => records.push(*r),
                Msg::Flush(reply) => flushes.push(reply),
                Msg::Stop(reply) => {
                    stop = Some(reply);
                    break;
                }
            }
            if records.len() < BATCH {
                next = self.rx.try_recv().ok();
            }
        }
        self.journal(records).await;
        // A flush forces an attempt even while backing off; plain records wait for the timer.
        let result = if !flushes.is_empty() || stop.is_some() {
            self.drain().await
        } else if self.retry_at.is_none() {
            match self.last_drain.map(|t| t + DRAIN_EVERY).filter(|&next| next > Instant::now()) {
                // Moved recently: these go with the next move (they are journalled already).
                Some(next) => {
                    self.retry_at = Some(next);
                    Ok(false)
                }
                None => self.drain().await,
            }
        } else {
            Ok(false)
        };
        for reply in flushes {
            let outcome = match &result {
                Ok(true) => Ok(()),
                _ => Err(StorageError::StillJournalled { pending: self.pending() }),
            };
            let _ = reply.send(outcome);
        }
        if let Some(reply) = stop {
            let _ = reply.send(());
            return true;
        }
        false
    }

    fn pending(&self) -> u64 {
        self.shared.counters.pending.load(Ordering::SeqCst)
    }

    /// Appends records to the journal; on a disk error keeps them in memory for a direct insert.
    /// The write and its fsync run on the blocking pool, the fsync outside the journal's lock: an
    /// fsync on a runtime worker stalled the core task with it (tokio cannot steal a worker's
    /// next task), 100-500 ms at the start of each step of the call-rate bench.
    async fn journal(&mut self, records: Vec<CdrRecord>) {
        if records.is_empty() {
            return;
        }
        self.last_journal = Some(Instant::now());
        let lines: Result<Vec<Vec<u8>>, StorageError> = records.iter().map(journal::encode).collect();
        let shared = self.shared.clone();
        let write = move || {
            let (file, path) = lock(&shared.journal).write_for_sync(&lines?)?;
            file.sync_data().map_err(|e| StorageError::io(&path, e))
        };
        let result = blocking(write).await;
        if let Err(e) = result {
            tracing::error!(error = %e, records = records.len(), "CDR journal not writable; holding records in memory");
            self.unjournalled.extend(records);
        }
    }

    /// Moves everything journalled (and anything held in memory) into the database: `Ok(true)`
    /// when nothing is left, `Ok(false)` when appends kept coming and a retry is scheduled at
    /// once. On failure schedules a retry with backoff; the records stay where they are.
    pub async fn drain(&mut self) -> Result<bool, StorageError> {
        self.last_drain = Some(Instant::now());
        let result = self.drain_rounds().await;
        match &result {
            Ok(true) => {
                self.backoff = self.retry_min;
                self.retry_at = None;
            }
            Ok(false) => {
                // More arrived while draining: come back at once, after the channel had a turn.
                self.retry_at = Some(Instant::now());
            }
            Err(e) => {
                tracing::warn!(error = %e, pending = self.pending(), retry_in_ms = self.backoff.as_millis() as u64, "CDR write failed; records stay journalled");
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(self.retry_max);
            }
        }
        result
    }

    /// `Ok(true)` when nothing is left, `Ok(false)` when work remains after `ROUNDS`.
    async fn drain_rounds(&mut self) -> Result<bool, StorageError> {
        if !self.unjournalled.is_empty() {
            self.backend.insert_cdrs(&self.unjournalled).await?;
            let n = self.unjournalled.len() as u64;
            self.unjournalled.clear();
            self.shared.counters.pending.fetch_sub(n, Ordering::SeqCst);
        }
        for _ in 0..ROUNDS {
            if self.loaded.is_none() {
                let shared = self.shared.clone();
                let next = blocking(move || {
                    let mut journal = lock(&shared.journal);
                    if !journal.rotate()? {
                        return Ok(None);
                    }
                    journal.load_draining().map(Some)
                })
                .await?;
                let Some((loaded, problems)) = next else { return Ok(true) };
                for p in problems {
                    tracing::warn!(error = %p, "CDR journal line rejected");
                }
                let counters = &self.shared.counters;
                counters.rejected.fetch_add(loaded.rejected, Ordering::SeqCst);
                counters.pending.fetch_sub(loaded.rejected, Ordering::SeqCst);
                self.loaded = Some(loaded);
            }
            let Some(loaded) = &self.loaded else { continue };
            self.backend.insert_cdrs(&loaded.records).await?;
            let n = loaded.records.len() as u64;
            let shared = self.shared.clone();
            blocking(move || lock(&shared.journal).finish_draining()).await?;
            self.loaded = None;
            self.shared.counters.pending.fetch_sub(n, Ordering::SeqCst);
        }
        Ok(false)
    }
}

/// Journal file work on the blocking pool (files and fsync never on a runtime worker).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, StorageError> + Send + 'static) -> Result<T, StorageError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(StorageError::Journal { path: "cdr-journal".into(), source: std::io::Error::other(e.to_string()) }),
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}
