//! SIP transports: UDP datagrams and TCP streams on one port, IPv4 and IPv6.
//!
//! Reader tasks frame and parse, then hand `Inbound` events to the runtime core over one bounded
//! channel; the core owns the connection table and writes through per-connection channels, so no
//! transport state is shared behind a lock.

mod tcp;
mod udp;

pub use tcp::{spawn_outbound, ConnEntry, TcpListenerTask};
pub use udp::UdpListener;

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::sip::message::{Message, ParseError};
use crate::sip::peer::{ConnId, Peer};

/// What the transports tell the core.
#[derive(Debug)]
pub enum Inbound {
    /// A parsed message, where it came from, and when it was read (the core measures how long
    /// it waited in the queue, to shed new calls when it falls behind).
    Message { message: Message, peer: Peer, received: std::time::Instant },
    /// Bytes that did not parse; the core may answer (400/505) and counts the reason.
    Garbage { error: ParseError, peer: Peer },
    /// A TCP connection is up (accepted, or our outbound connect succeeded).
    ConnOpened { id: ConnId, remote: SocketAddr, writer: mpsc::Sender<Bytes>, outbound: bool },
    /// A TCP connection is gone (closed by the peer, idle, framing error or connect failure).
    ConnClosed { id: ConnId, reason: CloseReason },
}

/// Why a connection closed; a stable code for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    PeerClosed,
    Idle,
    FramingError,
    IoError,
    ConnectFailed,
    Shutdown,
}

impl CloseReason {
    pub fn code(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Idle => "idle",
            CloseReason::FramingError => "framing_error",
            CloseReason::IoError => "io_error",
            CloseReason::ConnectFailed => "connect_failed",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// Errors binding the listeners at start; these name the address so the operator can fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The UDP socket could not be bound (in use, no permission, no such address).
    #[error("cannot listen on udp {addr}: {source}")]
    Udp { addr: SocketAddr, source: std::io::Error },
    /// The TCP listener could not be bound.
    #[error("cannot listen on tcp {addr}: {source}")]
    Tcp { addr: SocketAddr, source: std::io::Error },
}

/// Binds UDP and TCP on the same address; with port 0, finds a port free for both.
pub async fn bind_pair(addr: SocketAddr) -> Result<(UdpListener, tokio::net::TcpListener), BindError> {
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = UdpListener::bind(addr).map_err(|source| BindError::Udp { addr, source })?;
        let bound = udp.local_addr();
        match tcp::bind_listener(bound) {
            Ok(l) => return Ok((udp, l)),
            Err(source) => last = Some(BindError::Tcp { addr: bound, source }),
        }
    }
    Err(last.expect("at least one attempt was made"))
}

/// True for a datagram or stream chunk made only of CR/LF (RFC 5626 keepalive).
pub fn is_keepalive(data: &[u8]) -> bool {
    !data.is_empty() && data.iter().all(|&b| b == b'\r' || b == b'\n')
}
