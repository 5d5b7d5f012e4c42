//! The runtime side of recording: [`Recorder`] starts one task per answered call, which feeds the
//! forked packets to the [`Mixer`], seals each block and appends it as a segment record to the
//! call's one file (file I/O on the blocking pool, never on the relay's threads), extends the
//! hash chain, and at the end appends the signed manifest and closes the index row.
//! [`Recorder::recover`] closes what a crash left open.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::append::write_block;
use super::container::SegmentKey;
use super::keys::Keys;
use super::manifest::{self, Gap, ManifestTimestamper};
use super::mixer::{Mixer, SAMPLE_RATE};
use super::records::RecordingFile;
use super::store;
use super::close::{close, participants, recover_one, Chain};
use super::{Frame, RecordingConfig, RecordingError, Tap};
use crate::storage::{RecordingIndex, RecordingRow};

/// How long after a block's end the writer waits for late packets before sealing it.
const JITTER_MARGIN: Duration = Duration::from_millis(300);
/// How often a call's queue is drained; the queue must hold this long's packets.
const DRAIN_EVERY: Duration = Duration::from_millis(100);

/// The audio one segment holds. `recording.segment_s` is the crash horizon: a block is sealed
/// `JITTER_MARGIN` after its end, noticed at the next drain, so a `kill -9` loses the open
/// block plus those two — cut blocks that much shorter than the segment and the loss stays
/// within one segment. (A segment of 1 s holds 600 ms of audio, one of 4 s holds 3.6 s.)
pub fn block_length(segment: Duration) -> Duration {
    segment.saturating_sub(JITTER_MARGIN + DRAIN_EVERY).max(DRAIN_EVERY)
}

/// The call, as known when it is answered.
#[derive(Debug, Clone)]
pub struct AnswerInfo {
    pub call_id: String,
    pub caller: String,
    pub callee: String,
    pub answered_ms: i64,
    /// The same moment on the engine's clock (arrival times are measured from it).
    pub at: Instant,
    /// Payload types of the relayed stream per side (customer, agent) from that leg's SDP (beyond
    /// the static G.711/G.722 ones): the legs differ when the call is transcoded.
    pub codecs: [Vec<(u8, crate::media::codec::CodecConfig)>; 2],
}

/// The call, as known when it ends.
#[derive(Debug, Clone, Default)]
pub struct EndInfo {
    pub ended_ms: i64,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// Test hooks: `pause` set to `true` stops the writer from reading its queue (a slow recorder).
#[derive(Debug, Clone, Default)]
pub struct RecorderHooks {
    pub pause: Option<watch::Receiver<bool>>,
    /// The write of this segment fails halfway (as on a full disk).
    #[cfg(test)]
    pub(super) fail_segment: Option<u32>,
}

pub(super) struct Context {
    pub(super) data_dir: PathBuf,
    pub(super) key: SegmentKey,
    pub(super) secret: [u8; 32],
    pub(super) signing: SigningKey,
    pub(super) index: Option<RecordingIndex>,
    pub(super) tsa: Option<Arc<dyn ManifestTimestamper>>,
    pub(super) config: RecordingConfig,
    pub(super) hooks: RecorderHooks,
}

struct Active {
    tap: Arc<Tap>,
    end: oneshot::Sender<EndInfo>,
    task: JoinHandle<()>,
}

/// Signs and appends tag amendments with the node's key (blocking file I/O).
#[derive(Clone)]
pub struct Amender {
    ctx: Arc<Context>,
}

impl Amender {
    /// Appends `tags` to the closed recording at `path` (relative to the data directory, as the
    /// index row has it), signed as attached by `by`.
    pub fn amend_tags(&self, path: &str, call_id: &str, tags: &BTreeMap<String, String>, by: &str, at_ms: i64) -> Result<super::amend::Amendment, RecordingError> {
        let file = self.ctx.data_dir.join(path);
        super::amend::amend_tags(&file, call_id, tags, by, at_ms, &self.ctx.signing, self.ctx.tsa.as_deref())
    }
}

/// Owns the node's recordings in progress.
pub struct Recorder {
    ctx: Arc<Context>,
    active: HashMap<String, Active>,
    closing: Vec<JoinHandle<()>>,
}

impl Recorder {
    /// Loads (or generates) the keys under `data_dir`.
    pub fn open(data_dir: &Path, config: RecordingConfig, index: Option<RecordingIndex>, hooks: RecorderHooks) -> Result<Recorder, RecordingError> {
        let keys = Keys::load_or_create(data_dir, config.key_file.as_deref())?;
        let ctx = Context {
            data_dir: data_dir.to_owned(),
            key: SegmentKey::new(&keys.segment),
            secret: keys.segment,
            signing: keys.signing,
            index,
            tsa: None,
            config,
            hooks,
        };
        Ok(Recorder { ctx: Arc::new(ctx), active: HashMap::new(), closing: Vec::new() })
    }

    /// Plugs in an RFC 3161 timestamping authority for the manifests of recordings started from
    /// now on (before the first `start`, while no task shares the context).
    pub fn with_timestamper(mut self, tsa: Arc<dyn ManifestTimestamper>) -> Recorder {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            ctx.tsa = Some(tsa);
        }
        self
    }

    /// What appends signed tag amendments to closed recordings (the admin API holds one).
    pub fn amender(&self) -> Amender {
        Amender { ctx: self.ctx.clone() }
    }

    pub fn enabled(&self) -> bool {
        self.ctx.config.enabled
    }

    /// Recordings in progress.
    pub fn active(&self) -> usize {
        self.active.len()
    }

    /// Starts recording an answered call; the returned tap goes on its media session.
    pub fn start(&mut self, call: AnswerInfo) -> Option<Arc<Tap>> {
        if !self.ctx.config.enabled || self.active.contains_key(&call.call_id) || store::safe_id(&call.call_id).is_none() {
            return None;
        }
        let (tap, rx) = Tap::new(self.ctx.config.queue);
        let tap = Arc::new(tap);
        let (end_tx, end_rx) = oneshot::channel();
        let id = call.call_id.clone();
        let task = tokio::spawn(run(self.ctx.clone(), call, rx, end_rx, tap.clone()));
        self.active.insert(id, Active { tap: tap.clone(), end: end_tx, task });
        Some(tap)
    }

    /// Ends a call's recording (no-op for a call that was not recorded).
    pub fn finish(&mut self, call_id: &str, end: EndInfo) {
        if let Some(a) = self.active.remove(call_id) {
            let _ = a.end.send(end);
            drop(a.tap);
            self.closing.retain(|t| !t.is_finished());
            self.closing.push(a.task);
        }
    }

    /// Waits (bounded) for recordings being closed; those still open are closed as `node_stop`.
    pub async fn shutdown(&mut self, wait: Duration) {
        for (_, a) in self.active.drain() {
            drop(a.end);
            self.closing.push(a.task);
        }
        let all = futures_join(std::mem::take(&mut self.closing));
        let _ = tokio::time::timeout(wait, all).await;
    }

    /// Closes recordings a crash left in state `recording`: the intact segments are chained and
    /// signed, the state becomes `incomplete` with reason `node_restart`. Returns how many.
    pub async fn recover(&self) -> Result<usize, RecordingError> {
        let Some(index) = &self.ctx.index else { return Ok(0) };
        let filter = crate::storage::RecordingFilter { state: Some("recording".into()), ..Default::default() };
        let rows = index.list(&filter).await?;
        let n = rows.len();
        for row in rows {
            let ctx = self.ctx.clone();
            let closed = tokio::task::spawn_blocking(move || recover_one(&ctx, row)).await;
            match closed {
                Ok(Ok(row)) => {
                    tracing::info!(call = %row.call_id, segments = row.segments, state = %row.state, "recording closed after restart");
                    index.update(&row).await?;
                }
                Ok(Err(e)) => tracing::warn!(cause = e.cause_code(), error = %e, "recording not recovered"),
                Err(e) => tracing::warn!(error = %e, "recovery task failed"),
            }
        }
        Ok(n)
    }
}

/// The node's recorder (`None` when `[recording] enabled = false`), after closing what a previous
/// run left open.
pub async fn open_for_node(settings: &crate::config::Settings, storage: &crate::storage::Storage) -> Result<Option<Recorder>, RecordingError> {
    if !settings.recording.enabled {
        return Ok(None);
    }
    let rec = Recorder::open(&settings.data_dir, settings.recording.clone(), Some(storage.recordings()), RecorderHooks::default())?;
    match rec.recover().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(recordings = n, cause = "recording.node_restart", "recordings left open by the previous run were closed"),
        Err(e) => tracing::warn!(cause = e.cause_code(), error = %e, "recordings left open were not closed"),
    }
    Ok(Some(rec))
}

/// What the recorder takes from a call's record when it ends.
pub fn end_of(s: &crate::b2bua::CallSummary) -> EndInfo {
    EndInfo { ended_ms: s.ended_ms, agent: s.agent.clone(), queue: s.queue.clone(), tags: s.tags.clone() }
}

/// The next multiple of `DRAIN_EVERY` on the process's clock.
fn aligned(now: tokio::time::Instant) -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| now);
    let step = DRAIN_EVERY.as_nanos();
    let since = now.saturating_duration_since(epoch).as_nanos();
    epoch + Duration::from_nanos(since.div_ceil(step).saturating_mul(step) as u64)
}

async fn futures_join(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}


async fn run(ctx: Arc<Context>, call: AnswerInfo, mut rx: mpsc::Receiver<Frame>, mut end_rx: oneshot::Receiver<EndInfo>, tap: Arc<Tap>) {
    let path = store::recording_path(&ctx.data_dir, &call.call_id, call.answered_ms);
    let rel = path.strip_prefix(&ctx.data_dir).unwrap_or(&path).display().to_string();
    let mut salt = [0u8; 8];
    let create = path.clone();
    let made = tokio::task::spawn_blocking(move || RecordingFile::create(&create)).await;
    let file = match made {
        Ok(Ok(f)) if super::keys::random(&mut salt).is_ok() => Arc::new(Mutex::new(f)),
        Ok(Err(e)) => {
            tracing::error!(call = %call.call_id, cause = e.cause_code(), error = %e, "cannot create the recording file; call not recorded");
            return;
        }
        _ => {
            tracing::error!(call = %call.call_id, cause = "recording.io", path = %path.display(), "cannot create the recording file; call not recorded");
            return;
        }
    };
    let mut row = RecordingRow::started(&call.call_id, rel, call.answered_ms);
    row.participants = participants(&ctx.secret, &call.caller, Some(&call.callee));
    if let Some(index) = &ctx.index {
        if let Err(e) = index.insert(&row).await {
            tracing::warn!(call = %call.call_id, error = %e, "recording not indexed at start");
        }
    }
    let mut mixer = Mixer::new(block_length(ctx.config.segment), JITTER_MARGIN);
    for (side, codecs) in call.codecs.iter().enumerate() {
        for (pt, codec) in codecs {
            mixer.set_codec(side, *pt, codec.clone());
        }
    }
    let mut chain = Chain { entries: Vec::new(), head: manifest::genesis(&call.call_id), bytes: 0, failed: Vec::new() };
    // The queue is drained on a timer, not per packet: the relay's `try_send` then never has a
    // task to wake, and the writer runs ten times a second per call instead of a hundred.
    // Every call's timer fires on the same 100 ms grid, so one timer turn wakes them together.
    let mut tick = tokio::time::interval_at(aligned(tokio::time::Instant::now()), DRAIN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pause = ctx.hooks.pause.clone();
    let mut paused = pause.as_ref().is_some_and(|p| *p.borrow());
    let end = loop {
        tokio::select! {
            biased;
            end = &mut end_rx => break end.ok(),
            changed = async { match pause.as_mut() { Some(p) => p.changed().await, None => std::future::pending().await } } => {
                if changed.is_err() { pause = None; }
                paused = pause.as_ref().is_some_and(|p| *p.borrow());
            }
            _ = tick.tick() => {
                // Not `while let (false, Ok(f)) = (paused, rx.try_recv())`: that would take (and
                // lose) one frame per tick while paused.
                if let Some(codecs) = tap.take_codecs() {
                    for (side, list) in codecs.into_iter().enumerate() {
                        for (pt, codec) in list {
                            mixer.set_codec(side, pt, codec);
                        }
                    }
                }
                if !paused {
                    while let Ok(f) = rx.try_recv() {
                        mixer.push(f.track, f.at.saturating_duration_since(call.at), &f.data, f.dropped_before);
                    }
                }
            }
        }
        while let Some(b) = mixer.poll(now().saturating_duration_since(call.at)) {
            write_block(&ctx, &call.call_id, &file, salt, b, &mut chain, &mut mixer).await;
        }
    };
    while let Ok(f) = rx.try_recv() {
        mixer.push(f.track, f.at.saturating_duration_since(call.at), &f.data, f.dropped_before);
    }
    let mut gaps = mixer.gaps().to_vec();
    let tail = tap.take_pending();
    let end_ms = end.as_ref().map_or_else(|| call.answered_ms + now().saturating_duration_since(call.at).as_millis() as i64, |e| e.ended_ms);
    let length = Duration::from_millis((end_ms - call.answered_ms).max(0) as u64);
    for (leg, n) in tail.into_iter().enumerate().filter(|(_, n)| *n > 0) {
        gaps.push(Gap { track: super::Track::audio(leg as u8).role().into(), from_ms: 0, to_ms: length.as_millis() as u64, packets: u64::from(n) });
    }
    for b in mixer.finish(length) {
        write_block(&ctx, &call.call_id, &file, salt, b, &mut chain, &mut mixer).await;
    }
    let stopped = end.is_none();
    let end = end.unwrap_or(EndInfo { ended_ms: end_ms, ..Default::default() });
    let mut tags = end.tags.clone();
    if let Some(index) = &ctx.index {
        if let Ok(Some(r)) = index.get(&call.call_id).await {
            tags.extend(r.tags);
        }
    }
    let dropped = mixer.stats().dropped + tail.iter().map(|n| u64::from(*n)).sum::<u64>();
    for (_, start, frames) in &chain.failed {
        let ms = |f: u64| f * 1000 / u64::from(SAMPLE_RATE);
        gaps.push(Gap { track: "all".into(), from_ms: ms(*start), to_ms: ms(start + frames), packets: 0 });
    }
    let reason = if stopped {
        Some("node_stop")
    } else if !chain.failed.is_empty() {
        Some("write_failed")
    } else if dropped > 0 {
        Some("recorder_overflow")
    } else {
        None
    };
    let state = if reason.is_some() { "incomplete" } else { "complete" };
    row.ended_at = Some(end.ended_ms);
    row.duration_ms = Some(length.as_millis() as i64);
    row.participants = participants(&ctx.secret, &call.caller, end.agent.as_deref().or(Some(&call.callee)));
    row.agent = end.agent.clone();
    row.queue = end.queue.clone();
    row.tags = tags;
    row.dropped_packets = dropped as i64;
    row.gaps = gaps.iter().filter_map(|g| serde_json::to_value(g).ok()).collect();
    row.state = state.into();
    row.reason = reason.map(str::to_owned);
    let ctx2 = ctx.clone();
    let closed = tokio::task::spawn_blocking(move || close(&ctx2, &mut file.lock().unwrap_or_else(|e| e.into_inner()), row, chain, gaps)).await;
    match closed {
        Ok(Ok(row)) => {
            tracing::info!(call = %row.call_id, segments = row.segments, state = %row.state, dropped, "recording closed");
            if let Some(index) = &ctx.index {
                if let Err(e) = index.update(&row).await {
                    tracing::warn!(call = %row.call_id, error = %e, "recording index not updated");
                }
            }
        }
        Ok(Err(e)) => tracing::error!(call = %call.call_id, cause = e.cause_code(), error = %e, "recording manifest not written"),
        Err(e) => tracing::error!(call = %call.call_id, error = %e, "recording close task failed"),
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
