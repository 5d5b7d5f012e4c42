//! Errors of the transaction layer, by who is at fault: the peer's message, our load, or the TU.
use crate::sip::message::{HeaderError, Method};

/// Why the transaction layer refused an input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// The peer sent garbage: a header transaction matching needs (Via, CSeq, Call-ID, From, To)
    /// is missing or malformed. A request gets a stateless 400; a response is dropped.
    #[error("unusable header: {0}")]
    BadHeader(#[from] HeaderError),
    /// The peer sent a request whose CSeq method differs from its request-line method (400).
    #[error("CSeq method {cseq} does not match the request method {method}")]
    MethodMismatch { method: Method, cseq: Method },
    /// A status code outside 100–699, from the peer or the TU.
    #[error("status code {0} is outside 100-699")]
    InvalidStatus(u16),
    /// We hold the configured maximum of transactions; the runtime answers 503 statelessly.
    #[error("transaction limit of {limit} reached")]
    Overloaded { limit: usize },
    /// A TU bug: the handle names no live transaction (it terminated, or never existed).
    #[error("no such transaction")]
    UnknownTransaction,
    /// A TU bug: the transaction's state does not allow this response (e.g. a second final).
    #[error("cannot send a {status} response in state {state}")]
    InvalidState { state: &'static str, status: u16 },
    /// A TU bug: an outgoing request's top Via has no RFC 3261 branch (`z9hG4bK…`).
    #[error("the request's top Via has no z9hG4bK branch")]
    MissingBranch,
    /// A TU bug: another live client transaction already uses this branch and method.
    #[error("branch {0} is already in use")]
    DuplicateBranch(String),
    /// A TU bug: ACK is never a client transaction; send it with `send_stateless`.
    #[error("ACK is not sent through a client transaction")]
    AckNotATransaction,
    /// A TU bug: CANCEL needs a client INVITE transaction that has seen a provisional response and
    /// no final one (RFC 3261 §9.1).
    #[error("cannot CANCEL a transaction in state {state}")]
    CannotCancel { state: &'static str },
}

impl TxError {
    /// Whether the peer's message is at fault (answer 400 to a request, drop a response).
    pub fn is_bad_message(&self) -> bool {
        matches!(
            self,
            TxError::BadHeader(_) | TxError::MethodMismatch { .. } | TxError::InvalidStatus(_)
        )
    }
}
