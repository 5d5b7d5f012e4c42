//! Call recording: every answered call's audio forked off the relay, decoded, time-aligned and
//! appended to one file per call as encrypted, hash-chained segments closed by a signed manifest.
//!
//! - [`tap`]: the fork on the relay path (bounded queue, `try_send`, drops counted).
//! - [`mixer`] (sans-IO): decode per payload type, place on the call's timeline, cut blocks.
//! - [`container`]: one block sealed with AES-256-GCM into a self-contained segment.
//! - [`records`]: the append-only file `<call-id>.nrec`: a header, then framed records
//!   (segments, the manifest, its signature); room for video streams by record type.
//! - [`manifest`]: the SHA-256 chain, the manifest and its Ed25519 signature (RFC 3161 hook).
//! - [`amend`]: tags attached after the close, appended as signed amendments.
//! - [`keys`]: the segment key and the node's signing key, generated on first start.
//! - [`store`]: where files go, verification (first bad segment named), WAV export.
//! - [`writer`]: the per-call task and start-up recovery; [`Recorder`] is what the runtime holds.
//!
//! Streams are keyed by [`Track`] (leg + media kind) so video tracks and the legs of a transfer
//! or agent change can be added without changing the files: today two audio legs are mixed into
//! a two-channel timeline (customer left, agent right).

pub mod amend;
mod append;
mod close;
mod durable;
pub mod container;
pub mod keys;
pub mod manifest;
pub mod mixer;
pub mod records;
pub mod store;
pub mod tap;
pub mod writer;

pub use tap::{Frame, SideCodecs, Tap};
pub use writer::{Amender, AnswerInfo, EndInfo, Recorder, RecorderHooks};

use std::path::PathBuf;
use std::time::Duration;

/// What kind of media a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
}

/// A recorded stream: one leg of the call (0 = customer, 1 = agent, more for later legs) and
/// its media kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Track {
    pub leg: u8,
    pub kind: MediaKind,
}

impl Track {
    pub fn audio(leg: u8) -> Track {
        Track { leg, kind: MediaKind::Audio }
    }

    /// The channel of the two-channel mix this track goes to, if any.
    pub fn audio_side(self) -> Option<usize> {
        (self.kind == MediaKind::Audio && self.leg < 2).then_some(usize::from(self.leg))
    }

    pub fn role(self) -> &'static str {
        match self.leg {
            0 => "customer",
            1 => "agent",
            _ => "other",
        }
    }
}

/// `[recording]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingConfig {
    pub enabled: bool,
    /// The AES-256 segment key file; `DATA_DIR/recording.key` when unset.
    pub key_file: Option<PathBuf>,
    /// Length of one segment record (what a `kill -9` can lose at most).
    pub segment: Duration,
    /// Packets a call's queue holds before the fork drops.
    pub queue: usize,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig { enabled: true, key_file: None, segment: Duration::from_secs(4), queue: 1024 }
    }
}

/// What the recorder could not do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    /// A key file is unreadable, malformed or could not be created.
    #[error("recording key {path}: {reason}")]
    Key { path: String, reason: String },
    /// A recording file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The index could not be read or written.
    #[error("recordings index: {0}")]
    Index(#[from] crate::storage::StorageError),
    /// No recording with this call id.
    #[error("no recording for call {0}")]
    NotFound(String),
    /// The recording cannot take an amendment: not closed yet, or its file is damaged.
    #[error("{path}: {why}")]
    NotClosed { path: String, why: &'static str },
}

impl RecordingError {
    /// Stable cause code for logs.
    pub fn cause_code(&self) -> &'static str {
        match self {
            RecordingError::Key { .. } => "recording.key",
            RecordingError::Io { .. } => "recording.io",
            RecordingError::Index(_) => "recording.index",
            RecordingError::NotFound(_) => "recording.not_found",
            RecordingError::NotClosed { .. } => "recording.not_closed",
        }
    }
}
