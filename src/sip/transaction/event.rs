//! What the transaction layer hands out: transaction handles, messages to send, events for the TU,
//! and counters for metrics.
use super::slab::Handle;
use super::timer::TimerName;
use crate::sip::message::{Message, Request, Response};
use crate::sip::peer::Peer;

/// A client transaction (a request we sent). Stale once its `Terminated` event was polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(pub(crate) Handle);

/// A server transaction (a request we received). Stale once its `Terminated` event was polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(pub(crate) Handle);

/// Either kind of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxId {
    Client(ClientTxId),
    Server(ServerTxId),
}

/// A message for the runtime to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: Peer,
    pub message: Message,
}

/// What happened, for the transaction user (dialog layer / B2BUA).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxEvent {
    /// A new request (never a retransmission). INVITEs were already answered with 100 Trying.
    Request {
        tx: ServerTxId,
        request: Request,
        from: Peer,
    },
    /// An ACK that belongs to no INVITE transaction we still hold a non-2xx for: the ACK for a 2xx,
    /// for the dialog layer (RFC 3261 §13.3.1.4, RFC 6026 §8.7).
    Ack { request: Request, from: Peer },
    /// A CANCEL matched this INVITE before its final response. The layer already answered the
    /// CANCEL with 200; the TU now sends 487 (or whatever final it has) on the INVITE.
    Cancelled { invite_tx: ServerTxId },
    /// A response to our request: provisionals, the final, and in Accepted every further 2xx
    /// (retransmissions and forks) so the dialog layer can ACK each (RFC 6026).
    Response { tx: ClientTxId, response: Response },
    /// Our request got no final response: Timer B (INVITE) or F (non-INVITE) fired. The TU
    /// treats it as a 408 (RFC 3261 §8.1.3.1).
    Timeout { tx: ClientTxId, timer: TimerName },
    /// We sent a non-2xx final to an INVITE and no ACK came before Timer H.
    AckTimeout { tx: ServerTxId },
    /// The runtime reported the transport to this transaction's peer as failed.
    TransportError { tx: TxId },
    /// The transaction is gone; its handle is stale from now on.
    Terminated { tx: TxId },
    /// A response that matches no client transaction (late, forked after Timer M, or forged).
    StrayResponse { response: Response, from: Peer },
}

/// Counters for the metrics layer. Gauges are live counts; the rest only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxStats {
    pub client_invite: usize,
    pub client_non_invite: usize,
    pub server_invite: usize,
    pub server_non_invite: usize,
    /// Requests and responses we sent again (Timers A, E, G, re-ACKs, answers to retransmissions).
    pub retransmissions_sent: u64,
    /// Retransmitted requests we received and absorbed.
    pub retransmissions_received: u64,
    /// Responses matching no client transaction.
    pub stray_responses: u64,
    /// Timers B, F and H that fired.
    pub timeouts: u64,
    /// New transactions refused at the limit.
    pub overloads: u64,
}

impl TxStats {
    /// All live transactions.
    pub fn active(&self) -> usize {
        self.client_invite + self.client_non_invite + self.server_invite + self.server_non_invite
    }
}
