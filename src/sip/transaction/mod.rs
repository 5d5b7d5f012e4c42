//! SIP transactions (RFC 3261 §17, RFC 6026): sans-IO client and server state machines with timers.
//!
//! [`TransactionLayer`] owns every transaction, keyed for matching and addressed by index handles
//! ([`ClientTxId`], [`ServerTxId`]). The runtime feeds it parsed messages and the time, and drains
//! [`Transmit`]s, [`TxEvent`]s and the next wake-up, like quinn-proto's `Endpoint`.
//!
//! # Run loop
//!
//! 1. Feed one input: `handle_request` / `handle_response` (a parsed message and the [`Peer`] it
//!    came from), `send_request` / `cancel` / `respond` (from the TU), `handle_timeout(now)` when
//!    the deadline from `poll_timeout` has passed, or `handle_transport_error`.
//! 2. Drain `poll_transmit` (send each message to its peer) and `poll_event` (hand each to the TU).
//! 3. Sleep until `poll_timeout()`, or until the next message arrives, and repeat.
//!
//! An `Err` from `handle_request` means the runtime answers statelessly (400 for a bad message,
//! 503 when the transaction limit is reached); nothing was queued.
//!
//! # Timers (T1 = 500 ms, T2 = 4 s, T4 = 5 s by default)
//!
//! | Timer | Transaction | Value | Over TCP/TLS/WS |
//! |-------|-------------|-------|-----------------|
//! | A | client INVITE, retransmit | T1, doubling | not used |
//! | B | client INVITE, give up | 64·T1 | 64·T1 |
//! | D | client INVITE, absorb finals | `timer_d` (≥ 32 s) | 0 |
//! | E | client non-INVITE, retransmit | T1 doubling up to T2; T2 in Proceeding | not used |
//! | F | client non-INVITE, give up | 64·T1 | 64·T1 |
//! | K | client non-INVITE, absorb finals | T4 | 0 |
//! | G | server INVITE, repeat non-2xx final | T1 doubling up to T2 | not used |
//! | H | server INVITE, wait for ACK | 64·T1 | 64·T1 |
//! | I | server INVITE, absorb ACKs | T4 | 0 |
//! | J | server non-INVITE, absorb requests | 64·T1 | 0 |
//! | L | server INVITE after 2xx (RFC 6026) | 64·T1 | 64·T1 |
//! | M | client INVITE after 2xx (RFC 6026) | 64·T1 | 64·T1 |
//!
//! [`Peer`]: crate::sip::peer::Peer

mod build;
mod client_invite;
mod client_non_invite;
mod error;
mod event;
mod key;
mod layer;
mod machine;
mod server_invite;
mod server_non_invite;
mod slab;
mod timer;

#[cfg(test)]
mod tests;

pub use error::TxError;
pub use event::{ClientTxId, ServerTxId, Transmit, TxEvent, TxId, TxStats};
pub use key::MAGIC_COOKIE;
pub use layer::{TransactionLayer, DEFAULT_MAX_TRANSACTIONS};
pub use timer::{ConfigError, TimerConfig, TimerName, MAX_T1, MIN_TIMER_D};

use crate::sip::message::{Message, Request, Response};

/// What a state machine asks of the layer; the layer adds the transaction's handle and peer.
#[derive(Debug)]
pub(crate) enum Action {
    /// Send to the transaction's peer; retransmissions are counted.
    Send {
        message: Message,
        retransmission: bool,
    },
    /// Client: a response for the TU.
    Response(Response),
    /// Server INVITE in Accepted: an ACK that matched it, for the TU.
    Ack(Request),
    /// A timer gave up on the transaction (B, F or H).
    Timeout(TimerName),
}
