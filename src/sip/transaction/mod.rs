//! SIP transactions (RFC 3261 §17, RFC 6026): sans-IO client and server state machines with timers.
//!
//! [`TransactionLayer`] owns every transaction, keyed for matching and addressed by index handles
//! ([`ClientTxId`], [`ServerTxId`]). The runtime feeds it parsed messages and the time, and drains
//! [`Transmit`]s, [`TxEvent`]s and the next wake-up, like quinn-proto's `Endpoint`.

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
