//! Media: RTP/RTCP packet views, the sans-IO relay of a bridged call, RTP port allocation, the
//! socket-owning engine that drives relays, and the audio codecs for transcoding.
//!
//! `rtp` and `relay` never touch sockets or the clock; `ports` binds sockets and `engine` owns them
//! in tokio tasks. The call logic talks to the engine with `SessionId`s and hears back through a
//! channel of `SessionEvent`s.
pub mod codec;
pub mod engine;
pub mod fastpath;
pub mod fork;
mod mmsg;
pub mod player;
pub mod ports;
pub mod relay;
mod relay_threads;
pub mod rtp;
pub mod transcode;
pub mod transcoding_session;

#[cfg(test)]
mod testpkt;

use std::net::SocketAddr;
use std::ops::RangeInclusive;

pub use engine::{LegAddrs, MediaEngine, SessionEvent, SessionId, SessionInfo, SessionStats};
pub use ports::{PortAllocator, PortLease, PortPair};
pub use relay::{Bridge, Channel, DropReason, LegStats, MediaEvent, RelayConfig, Remote, Side, Verdict};

/// Why the media layer refused a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// Our configuration: every even/odd pair in the RTP range is in use or failed to bind.
    #[error("no free RTP port pair in {}-{}", range.start(), range.end())]
    PortsExhausted { range: RangeInclusive<u16> },
    /// Our configuration: the RTP range holds no even/odd pair at all.
    #[error("RTP port range {}-{} holds no even/odd pair", range.start(), range.end())]
    EmptyRange { range: RangeInclusive<u16> },
    /// A bound socket could not be handed to the runtime (no tokio runtime, or the OS refused).
    #[error("cannot register the socket {addr} with the runtime: {source}")]
    Register { addr: SocketAddr, source: std::io::Error },
    /// A caller bug: `open_session` was called outside a tokio runtime.
    #[error("media sessions need a tokio runtime with I/O enabled")]
    NoRuntime,
    /// A caller bug: the session id names no open session.
    #[error("no media session {0}")]
    UnknownSession(SessionId),
}
